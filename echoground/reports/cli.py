"""``echoground report``: parse echo report text into sections, findings and stated measurements."""

from __future__ import annotations

import json
import logging
import sys

import click

logger = logging.getLogger(__name__)


def read_text_input(path: str) -> str:
    """Read a file (or stdin for ``-``) as UTF-8; undecodable bytes become U+FFFD and are logged."""
    data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()  # noqa: SIM115
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        logger.warning("%s: not valid UTF-8 (%s); undecodable bytes replaced with U+FFFD", path, error.reason)
        return data.decode("utf-8", errors="replace")


@click.group()
def report() -> None:
    """Parse echo report text (BIDMC layout)."""


@report.command("parse")
@click.argument("path", type=click.Path(allow_dash=True, dir_okay=False))
def parse(path: str) -> None:
    """Print the sections, findings and measurements of the report in PATH ('-' reads stdin) as JSON."""
    from echoground.reports.parsed import parse_report

    text = read_text_input(path)
    try:
        parsed = parse_report(text)
    except ValueError as error:
        raise click.ClickException(f"{path}: {error}") from error
    click.echo(json.dumps(parsed.to_json(), indent=2))
