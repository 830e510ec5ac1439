"""Command line of the label evaluation: agreement of a run's labels with a cohort's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

TABLE_COLUMNS = [
    "studies",
    "truth_present",
    "truth_absent",
    "agreement",
    "sensitivity",
    "specificity",
    "uncertain_rate",
    "not_assessed_rate",
    "graded",
    "severity_agreement",
]


@click.command("evaluate")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("cohort", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="Print the metrics and disagreements as one JSON object."
)
@click.option(
    "--disagreements",
    "disagreement_limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Number of disagreeing study-label rows listed in the text output (count).",
)
def evaluate(run: Path, cohort: Path, as_json: bool, disagreement_limit: int) -> None:
    """Compare the labels of the built run in RUN with the ground truth of the synthetic cohort in COHORT.

    RUN is the output folder of `echoground build` (it reads labels.parquet); COHORT is the folder written
    by `echoground synth` (it reads ground_truth/studies.csv).
    """
    from echoground.evaluation.ground_truth import evaluate_run

    try:
        evaluation = evaluate_run(run, cohort)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error

    if as_json:
        click.echo(json.dumps(evaluation.to_json(), indent=2))
        return

    with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_rows", None):
        click.echo("Overall")
        click.echo(evaluation.overall[TABLE_COLUMNS].to_string(index=False))
        click.echo("\nPer source")
        click.echo(evaluation.per_source.set_index("source")[TABLE_COLUMNS].to_string())
        click.echo("\nPer label")
        click.echo(evaluation.per_label.set_index("label_id")[TABLE_COLUMNS].to_string())
        click.echo("\nPer label and source")
        per_label_source = evaluation.per_label_source.set_index(["label_id", "source"])
        click.echo(per_label_source[TABLE_COLUMNS].to_string())
        disagreements = evaluation.disagreements()
        shown_count = min(disagreement_limit, len(disagreements))
        click.echo(f"\nDisagreements: {len(disagreements)} (first {shown_count})")
        columns = ["study_id", "label_id", "truth_state", "state", "source", "rule_id", "quirk", "note_link"]
        click.echo(disagreements[columns].head(disagreement_limit).to_string(index=False))
    click.echo(f"\nStudies only in the run: {evaluation.studies_only_in_run}")
    click.echo(f"Studies only in the ground truth: {evaluation.studies_only_in_truth}")
