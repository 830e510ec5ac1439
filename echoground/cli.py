"""The ``echoground`` command: one entry point whose subcommands live beside their stages.

Each stage package exposes a click command or group in its own ``cli.py``. This module only maps
subcommand names to those objects and imports a stage when its subcommand runs. ``--help`` therefore
stays fast, and a broken optional dependency of one stage does not break the others.
"""

from __future__ import annotations

import importlib
import logging

import click

from echoground import __version__
from echoground.logs import USER_INPUT_ERRORS, setup_logging, user_error_message

# Subcommand name -> "module:attribute" of a click command. A stage registers itself by adding one line.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("echoground.synth.cli:synth", "Write the synthetic MIMIC-IV-ECHO-shaped demo cohort."),
    "dicom": ("echoground.dicom.cli:dicom", "Inspect and extract echo DICOM files (DICOM stage)."),
    "views": ("echoground.views.cli:views", "Train, predict and evaluate the view classifier."),
    "report": ("echoground.reports.cli:report", "Parse echo report text into sections and findings."),
    "labels": ("echoground.labels.cli:labels", "Compute guideline labels for one study from JSON."),
    "build": ("echoground.build_cli:build", "Rebuild the dataset into validated WebDataset shards."),
    "audit": ("echoground.audit.cli:audit", "Write the caption-quality audit report of a run."),
    "evaluate": (
        "echoground.evaluation.cli:evaluate",
        "Compare a run's labels with a synthetic cohort's ground truth.",
    ),
}


class UserErrorGroup(click.Group):
    """A click group that prints errors caused by the user's input (``USER_INPUT_ERRORS``) as one line.

    Such an error exits with status 1 and no traceback, unless the logger ``logger_name`` is at DEBUG.
    """

    logger_name = "echoground"

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            # click.exceptions.Exit (from --help and --version) is a RuntimeError: let click handle it.
            raise
        except USER_INPUT_ERRORS as error:
            if logging.getLogger(self.logger_name).isEnabledFor(logging.DEBUG):
                raise
            raise click.ClickException(user_error_message(error)) from error


class LazyGroup(UserErrorGroup):
    """A click group that imports a subcommand's module only when that subcommand is used.

    It also turns errors caused by the user's input (see ``USER_INPUT_ERRORS``) into a one-line
    message and exit status 1, unless the log level is DEBUG.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Lists the short help from SUBCOMMANDS so that '--help' imports no stage.
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        target, short_help = SUBCOMMANDS[cmd_name]
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):
                return _unavailable_command(cmd_name, short_help, module_name)
            raise
        command = getattr(module, attribute)
        if not command.short_help:
            command.short_help = short_help
        return command


def _unavailable_command(name: str, short_help: str, module_name: str) -> click.Command:
    """Return a placeholder for a subcommand whose stage module is not installed in this version."""

    @click.command(name=name, short_help=f"{short_help} (not available in this version)")
    def unavailable() -> None:
        raise click.ClickException(f"'echoground {name}' is not available: module {module_name} is missing.")

    return unavailable


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="echoground")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    envvar="ECHOGROUND_LOG_LEVEL",
    help="Minimum severity of log records written to stderr.",
)
@click.option(
    "--log-json/--no-log-json",
    default=False,
    envvar="ECHOGROUND_LOG_JSON",
    help="Write log records as one JSON object per line (for log collectors) instead of plain text.",
)
def main(log_level: str, log_json: bool) -> None:
    """EchoGround: rebuild a measurement-grounded echocardiography image-text dataset.

    Run 'echoground COMMAND --help' for the options of each command.
    """
    setup_logging(level=getattr(logging, log_level.upper()), json_lines=log_json)


if __name__ == "__main__":  # pragma: no cover
    main()
