"""``echoground labels``: compute guideline labels for one study described as JSON."""

from __future__ import annotations

import json

import click


@click.command("labels")
@click.argument("path", type=click.Path(allow_dash=True, dir_okay=False))
def labels(path: str) -> None:
    """Print derived values and every canonical label for the study JSON in PATH ('-' reads stdin).

    The JSON contains "sex" (M or F), optional "height_cm" and "weight_kg", "measurements" (rows with MIMIC
    "name", text "result" and raw "unit"), optional "report_text" and "cardiologist" ({field: value}).
    """
    from echoground.labels.study import StudyInput, label_study
    from echoground.reports.cli import read_text_input

    text = read_text_input(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise click.ClickException(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from error
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected a JSON object with 'sex' and 'measurements'")
    measurements = data.get("measurements") or []
    if not isinstance(measurements, list) or not all(isinstance(row, dict) for row in measurements):
        raise click.ClickException(
            f"{path}: 'measurements' must be a list of objects with name, result, unit"
        )
    study = StudyInput(
        study_id=data.get("study_id"),
        sex=data.get("sex"),
        height_cm=data.get("height_cm"),
        weight_kg=data.get("weight_kg"),
        measurements=measurements,
        report_text=data.get("report_text"),
        cardiologist=data.get("cardiologist") or {},
    )
    click.echo(json.dumps(label_study(study).to_json(), indent=2))
