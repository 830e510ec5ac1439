"""Agreement of a built run's labels with the ground truth of a synthetic cohort.

The pipeline never reads ground truth, so only evaluation and tests use this module. It joins
``RUN/labels.parquet`` with ``COHORT/ground_truth/studies.csv`` on (study_id, label_id) and counts, per
label and per label source, how often the pipeline's state matches the true state.

Definitions (pipeline states are present, absent, uncertain or not_assessed):

- agreement: share of studies whose true state is present or absent where the pipeline gives the same
  state. A pipeline uncertain or not_assessed counts as a disagreement.
- sensitivity: share of truly present labels that the pipeline calls present.
- specificity: share of truly absent labels that the pipeline calls absent.
- uncertain_rate, not_assessed_rate: share of all compared studies where the pipeline gives that state.
- severity_agreement: share of labels that both call present with a grade where the grades match.
  The ground truth counts a grade between two steps as the higher one, so the pipeline's
  mild_to_moderate counts as moderate and moderate_to_severe as severe.

Rates whose denominator is 0 are None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from echoground.labels.engine import label_ids

TRUTH_STATES = ("present", "absent", "uncertain")
PIPELINE_STATES = ("present", "absent", "uncertain", "not_assessed")
SOURCES = ("measurements", "cardiologist", "report_text")
NO_SOURCE = "none"
GRADE_EQUIVALENTS = {"mild_to_moderate": "moderate", "moderate_to_severe": "severe"}
METRIC_COLUMNS = (
    "studies",
    "truth_present",
    "truth_absent",
    "truth_uncertain",
    "agreement",
    "sensitivity",
    "specificity",
    "uncertain_rate",
    "not_assessed_rate",
    "graded",
    "severity_agreement",
)


@dataclass(frozen=True)
class Evaluation:
    """The comparison of one run with one cohort's ground truth.

    Attributes:
        comparison: one row per study and label found in both, with the true and pipeline state and grade,
            the pipeline's source and rule, and the study's quirk flags.
        overall: metrics over every compared label (one row).
        per_label: metrics per label_id.
        per_source: metrics per pipeline source (``none`` for not_assessed labels).
        per_label_source: metrics per label_id and source.
        studies_only_in_run: run studies without a ground-truth row (the real public files' patient).
        studies_only_in_truth: ground-truth studies missing from the run.
    """

    comparison: pd.DataFrame
    overall: pd.DataFrame
    per_label: pd.DataFrame
    per_source: pd.DataFrame
    per_label_source: pd.DataFrame
    studies_only_in_run: list[int]
    studies_only_in_truth: list[int]

    def disagreements(self) -> pd.DataFrame:
        """Return the compared rows whose true state is definite and differs from the pipeline's."""
        rows = self.comparison
        definite = rows["truth_state"].isin(("present", "absent"))
        return rows[definite & (rows["truth_state"] != rows["state"])].reset_index(drop=True)

    def to_json(self) -> dict[str, Any]:
        """Return the metrics and the disagreement rows as JSON-serialisable data."""
        disagreements = self.disagreements()[
            [
                "study_id",
                "label_id",
                "truth_state",
                "truth_grade",
                "state",
                "severity",
                "source",
                "rule_id",
                "quirk",
                "note_link",
                "test_type",
            ]
        ]
        return {
            "overall": _records(self.overall)[0],
            "per_label": _records(self.per_label),
            "per_source": _records(self.per_source),
            "per_label_source": _records(self.per_label_source),
            "studies_only_in_run": self.studies_only_in_run,
            "studies_only_in_truth": self.studies_only_in_truth,
            "disagreements": _records(disagreements),
        }


def load_ground_truth(cohort: Path) -> pd.DataFrame:
    """Read ``COHORT/ground_truth/studies.csv`` as one row per study and canonical label.

    Columns: study_id, label_id, truth_state, truth_grade (None when empty), test_type, note_link and
    quirk (``cardiologist_disagrees`` and/or ``report_not_mentioned``, joined by ';', else None).

    Raises:
        FileNotFoundError: the cohort has no ground-truth table.
        ValueError: a label column is missing or a state is not present, absent or uncertain.
    """
    path = Path(cohort) / "ground_truth" / "studies.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: ground truth not found; pass the folder written by `echoground synth --out`"
        )
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    labels = list(label_ids())
    missing = [label for label in labels for column in (label, f"{label}_grade") if column not in table]
    if missing:
        raise ValueError(
            f"{path}: missing label columns {missing}; regenerate the cohort with echoground synth"
        )

    rows = []
    for record in table.to_dict("records"):
        disagrees = _split_labels(record.get("cardiologist_disagrees", ""))
        not_mentioned = _split_labels(record.get("report_not_mentioned", ""))
        for label in labels:
            state = record[label]
            if state not in TRUTH_STATES:
                raise ValueError(
                    f"{path}: study {record['study_id']} column {label} has state {state!r}; "
                    f"expected one of {TRUTH_STATES}"
                )
            quirks = []
            if label in disagrees:
                quirks.append("cardiologist_disagrees")
            if label in not_mentioned:
                quirks.append("report_not_mentioned")
            rows.append(
                {
                    "study_id": int(record["study_id"]),
                    "label_id": label,
                    "truth_state": state,
                    "truth_grade": record[f"{label}_grade"] or None,
                    "test_type": record.get("test_type") or None,
                    "note_link": record.get("note_link") or None,
                    "quirk": ";".join(quirks) or None,
                }
            )
    return _with_none(pd.DataFrame(rows))


def load_run_labels(run: Path) -> pd.DataFrame:
    """Read ``RUN/labels.parquet`` with missing severity and source as None.

    Raises:
        FileNotFoundError: the run has no labels table.
        ValueError: a state is not one of the pipeline states.
    """
    path = Path(run) / "labels.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: labels not found; pass the output folder of `echoground build`")
    labels = _with_none(pd.read_parquet(path))
    unknown = sorted(set(labels["state"]) - set(PIPELINE_STATES), key=str)
    if unknown:
        raise ValueError(f"{path}: unknown label states {unknown}; expected one of {PIPELINE_STATES}")
    labels["study_id"] = labels["study_id"].astype(int)
    return labels


def compare_labels(labels: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Join pipeline labels with ground truth on (study_id, label_id), keeping pairs found in both."""
    comparison = _with_none(
        labels.merge(truth, on=["study_id", "label_id"], how="inner", validate="one_to_one")
    )
    comparison["source"] = comparison["source"].map(lambda source: source or NO_SOURCE)
    comparison["pipeline_grade"] = comparison["severity"].map(
        lambda grade: GRADE_EQUIVALENTS.get(grade, grade) if grade else None
    )
    return comparison.sort_values(["study_id", "label_id"]).reset_index(drop=True)


def summarise(comparison: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Compute the agreement metrics of the module docstring over the rows of each group in ``by``."""
    if not by:
        return pd.DataFrame([_metrics(comparison)], columns=list(METRIC_COLUMNS))
    rows = []
    for key, group in comparison.groupby(by, sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, keys, strict=True)), **_metrics(group)})
    return pd.DataFrame(rows, columns=[*by, *METRIC_COLUMNS])


def evaluate_run(run: Path, cohort: Path) -> Evaluation:
    """Compare the labels of a built run with the ground truth of the cohort it was built from."""
    labels = load_run_labels(run)
    truth = load_ground_truth(cohort)
    comparison = compare_labels(labels, truth)
    run_studies = set(labels["study_id"])
    truth_studies = set(truth["study_id"])
    return Evaluation(
        comparison=comparison,
        overall=summarise(comparison),
        per_label=summarise(comparison, ["label_id"]),
        per_source=summarise(comparison, ["source"]),
        per_label_source=summarise(comparison, ["label_id", "source"]),
        studies_only_in_run=sorted(run_studies - truth_studies),
        studies_only_in_truth=sorted(truth_studies - run_studies),
    )


def _metrics(rows: pd.DataFrame) -> dict[str, Any]:
    truth = rows["truth_state"]
    state = rows["state"]
    present = truth == "present"
    absent = truth == "absent"
    definite = present | absent
    graded = (state == "present") & present & rows["truth_grade"].notna() & rows["pipeline_grade"].notna()
    return {
        "studies": len(rows),
        "truth_present": int(present.sum()),
        "truth_absent": int(absent.sum()),
        "truth_uncertain": int((truth == "uncertain").sum()),
        "agreement": _rate((state == truth) & definite, definite),
        "sensitivity": _rate(present & (state == "present"), present),
        "specificity": _rate(absent & (state == "absent"), absent),
        "uncertain_rate": _rate(state == "uncertain", state.notna()),
        "not_assessed_rate": _rate(state == "not_assessed", state.notna()),
        "graded": int(graded.sum()),
        "severity_agreement": _rate(graded & (rows["truth_grade"] == rows["pipeline_grade"]), graded),
    }


def _rate(hits: pd.Series, among: pd.Series) -> float | None:
    total = int(among.sum())
    if total == 0:
        return None
    return round(int(hits.sum()) / total, 4)


def _with_none(table: pd.DataFrame) -> pd.DataFrame:
    # pandas string columns turn None into NaN or pd.NA, and both are truthy, so cells go back to None.
    table = table.astype(object)
    return table.where(table.notna(), None)


def _split_labels(cell: str) -> set[str]:
    return {label.strip() for label in cell.split(";") if label.strip()}


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(table.to_json(orient="records"))
