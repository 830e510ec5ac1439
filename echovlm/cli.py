"""The ``echovlm`` command: train, evaluate and use the EchoVLM model."""

from __future__ import annotations

import logging

import click

from echoground.logs import setup_logging
from echovlm import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="echovlm")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    envvar="ECHOGROUND_LOG_LEVEL",
    help="Minimum severity of log records written to stderr.",
)
def main(log_level: str) -> None:
    """EchoVLM: a CLIP-style echo image-text model trained on EchoGround shards."""
    setup_logging(level=getattr(logging, log_level.upper()))


if __name__ == "__main__":  # pragma: no cover
    main()
