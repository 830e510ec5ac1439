"""``echoground audit``: the caption audit report, and the export and scoring of human reviews."""

from __future__ import annotations

import json
from pathlib import Path

import click

DEFAULT_COMMAND = "report"


class DefaultCommandGroup(click.Group):
    """A group that runs :data:`DEFAULT_COMMAND` when the first argument names no subcommand.

    So ``echoground audit RUN_DIR`` means ``echoground audit report RUN_DIR``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


RUN_DIR = click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
def audit() -> None:
    """Audit the captions of a run folder written by 'echoground build'.

    'echoground audit RUN_DIR' writes RUN_DIR/audit/report.html and issues.json; 'sample' and
    'score' run the human review round-trip.
    """


@audit.command(name=DEFAULT_COMMAND)
@RUN_DIR
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for report.html and issues.json. Default: RUN_DIR/audit.",
)
@click.option(
    "--gallery",
    "gallery_size",
    type=click.IntRange(0),
    default=24,
    show_default=True,
    help="Captions shown in the gallery (count); captions failing a check come first.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the gallery draw.")
@click.option(
    "--fail-on-issues/--no-fail-on-issues",
    default=False,
    show_default=True,
    help="Exit with status 1 when a caption check fails (label source conflicts do not count).",
)
def report(run_dir: Path, out: Path | None, gallery_size: int, seed: int, fail_on_issues: bool) -> None:
    """Check every caption of RUN_DIR and write the self-contained HTML report."""
    from echoground.audit.artifacts import publish_artifacts
    from echoground.audit.report import write_report
    from echoground.audit.run_folder import RunFolderError

    try:
        result = write_report(run_dir, out, gallery_size=gallery_size, seed=seed)
    except RunFolderError as error:
        raise click.ClickException(str(error)) from error
    publish_artifacts(result)
    click.echo(
        f"{result.caption_issue_count} caption issues, {len(result.issues['label_sources'])} label "
        f"source conflicts; report: {result.report_path}"
    )
    if fail_on_issues and result.caption_issue_count:
        raise SystemExit(1)


@audit.command(name="sample")
@RUN_DIR
@click.option("--n", "n", type=click.IntRange(1), required=True, help="Captions to sample (count).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write. Default: RUN_DIR/audit/review_sample.csv.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the stratified draw.")
def sample(run_dir: Path, n: int, out: Path | None, seed: int) -> None:
    """Export N captions, stratified by view and template, as a CSV for human raters."""
    from echoground.audit.review import export_sample
    from echoground.audit.run_folder import RunFolderError

    out = out or run_dir / "audit" / "review_sample.csv"
    try:
        frame = export_sample(run_dir, out, n, seed)
    except RunFolderError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {len(frame)} captions for review to {out}")


@audit.command(name="score")
@RUN_DIR
@click.argument(
    "ratings", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the tables as JSON to this file.",
)
def score(run_dir: Path, ratings: tuple[Path, ...], json_path: Path | None) -> None:
    """Score completed RATINGS CSV files (one or more raters) against RUN_DIR.

    Prints error rates per template, rule and view and Cohen's kappa between raters, as markdown.
    """
    from echoground.audit.review import RatingsError, score_ratings
    from echoground.audit.run_folder import RunFolderError

    try:
        result = score_ratings(run_dir, list(ratings))
    except (RatingsError, RunFolderError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(result.to_markdown())
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_dict(), indent=1) + "\n", encoding="utf-8")
