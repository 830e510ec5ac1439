"""Label evaluation against ground truth: metric definitions on hand-made tables and a built run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from echoground.evaluation import evaluate_run
from echoground.evaluation.cli import evaluate
from echoground.evaluation.ground_truth import compare_labels, load_ground_truth, summarise
from echoground.labels import label_ids

# Floors for a built synthetic run. On the 24-patient demo cohort (seed 0) overall agreement is 0.959 and
# agreement is 0.996 for labels decided by measurements and 1.000 for cardiologist fields. Almost all
# disagreements are labels the pipeline cannot assess (wall motion that the report leaves unmentioned or
# that has no linked report). One label wrong in every study would lower overall agreement by 1/16
# (6.25 points), so 0.92 catches that while leaving room for the sampling spread of a 5-patient cohort.
OVERALL_AGREEMENT_FLOOR = 0.92
SOURCE_AGREEMENT_FLOOR = 0.95
SENSITIVITY_FLOOR = 0.9


def labels_row(study_id: int, label_id: str, state: str, severity: str | None = None, source=None) -> dict:
    return {
        "study_id": study_id,
        "label_id": label_id,
        "state": state,
        "severity": severity,
        "source": source,
        "rule_id": None,
        "inputs": "[]",
        "conflict": False,
    }


def truth_row(study_id: int, label_id: str, state: str, grade: str | None = None) -> dict:
    return {
        "study_id": study_id,
        "label_id": label_id,
        "truth_state": state,
        "truth_grade": grade,
        "test_type": "tte",
        "note_link": "within",
        "quirk": None,
    }


def test_metrics_count_uncertain_as_disagreement() -> None:
    labels = pd.DataFrame(
        [
            labels_row(1, "aortic_stenosis", "present", "mild", "measurements"),
            labels_row(2, "aortic_stenosis", "uncertain", None, "measurements"),
            labels_row(3, "aortic_stenosis", "absent", None, "cardiologist"),
            labels_row(4, "aortic_stenosis", "present", "mild", "report_text"),
            labels_row(5, "aortic_stenosis", "not_assessed"),
            labels_row(6, "aortic_stenosis", "absent", None, "cardiologist"),
        ]
    )
    truth = pd.DataFrame(
        [
            truth_row(1, "aortic_stenosis", "present", "mild"),
            truth_row(2, "aortic_stenosis", "present", "moderate"),
            truth_row(3, "aortic_stenosis", "absent"),
            truth_row(4, "aortic_stenosis", "absent"),
            truth_row(5, "aortic_stenosis", "absent"),
            truth_row(6, "aortic_stenosis", "uncertain"),
        ]
    )
    metrics = summarise(compare_labels(labels, truth)).iloc[0]

    assert metrics["studies"] == 6
    assert metrics["truth_uncertain"] == 1
    assert metrics["agreement"] == pytest.approx(2 / 5, abs=1e-4)
    assert metrics["sensitivity"] == pytest.approx(1 / 2, abs=1e-4)
    assert metrics["specificity"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["uncertain_rate"] == pytest.approx(1 / 6, abs=1e-4)
    assert metrics["not_assessed_rate"] == pytest.approx(1 / 6, abs=1e-4)
    assert metrics["graded"] == 1
    assert metrics["severity_agreement"] == 1.0


def test_metrics_split_by_source() -> None:
    labels = pd.DataFrame(
        [
            labels_row(1, "mitral_regurgitation", "present", "moderate", "cardiologist"),
            labels_row(2, "mitral_regurgitation", "absent", None, "report_text"),
            labels_row(3, "mitral_regurgitation", "not_assessed"),
        ]
    )
    truth = pd.DataFrame(
        [
            truth_row(1, "mitral_regurgitation", "present", "moderate"),
            truth_row(2, "mitral_regurgitation", "present", "mild"),
            truth_row(3, "mitral_regurgitation", "absent"),
        ]
    )
    per_source = summarise(compare_labels(labels, truth), ["source"]).set_index("source")

    assert per_source.loc["cardiologist", "agreement"] == 1.0
    assert per_source.loc["report_text", "agreement"] == 0.0
    assert per_source.loc["none", "not_assessed_rate"] == 1.0
    assert per_source.loc["none", "specificity"] == 0.0


def test_intermediate_grade_counts_as_higher() -> None:
    labels = pd.DataFrame(
        [
            labels_row(1, "tricuspid_regurgitation", "present", "moderate_to_severe", "cardiologist"),
            labels_row(2, "tricuspid_regurgitation", "present", "mild_to_moderate", "cardiologist"),
        ]
    )
    truth = pd.DataFrame(
        [
            truth_row(1, "tricuspid_regurgitation", "present", "severe"),
            truth_row(2, "tricuspid_regurgitation", "present", "mild"),
        ]
    )
    metrics = summarise(compare_labels(labels, truth)).iloc[0]

    assert metrics["graded"] == 2
    assert metrics["severity_agreement"] == 0.5


def test_empty_denominator_gives_none() -> None:
    labels = pd.DataFrame([labels_row(1, "mitral_stenosis", "absent", None, "cardiologist")])
    truth = pd.DataFrame([truth_row(1, "mitral_stenosis", "absent")])
    metrics = summarise(compare_labels(labels, truth)).iloc[0]

    assert metrics["sensitivity"] is None
    assert metrics["severity_agreement"] is None
    assert metrics["specificity"] == 1.0


def write_truth(folder: Path, **overrides: str) -> Path:
    cells = {"subject_id": "10000001", "study_id": "90000001", "test_type": "tte", "note_link": "within"}
    cells["cardiologist_disagrees"] = "lv_hypertrophy"
    cells["report_not_mentioned"] = "lv_hypertrophy;mitral_stenosis"
    for label in label_ids():
        cells[label] = "absent"
        cells[f"{label}_grade"] = ""
    cells.update(overrides)
    (folder / "ground_truth").mkdir(parents=True)
    pd.DataFrame([cells]).to_csv(folder / "ground_truth" / "studies.csv", index=False)
    return folder


def test_ground_truth_lists_quirks(tmp_path: Path) -> None:
    truth = load_ground_truth(write_truth(tmp_path)).set_index("label_id")

    assert len(truth) == len(label_ids())
    assert truth.loc["lv_hypertrophy", "quirk"] == "cardiologist_disagrees;report_not_mentioned"
    assert truth.loc["mitral_stenosis", "quirk"] == "report_not_mentioned"
    assert truth.loc["aortic_stenosis", "quirk"] is None


def test_ground_truth_rejects_unknown_state(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="study 90000001 column aortic_stenosis has state 'maybe'"):
        load_ground_truth(write_truth(tmp_path, aortic_stenosis="maybe"))


def test_missing_ground_truth_names_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ground_truth/studies\.csv"):
        load_ground_truth(tmp_path)


@pytest.mark.slow
def test_built_run_agreement_above_floor(evaluated_run, evaluated_cohort) -> None:
    evaluation = evaluate_run(evaluated_run, evaluated_cohort)
    overall = evaluation.overall.iloc[0]
    per_source = evaluation.per_source.set_index("source")

    assert evaluation.studies_only_in_truth == []
    assert overall["studies"] == len(set(evaluation.comparison["study_id"])) * len(label_ids())
    assert overall["agreement"] >= OVERALL_AGREEMENT_FLOOR, evaluation.disagreements().to_string()
    assert overall["sensitivity"] >= SENSITIVITY_FLOOR, evaluation.disagreements().to_string()
    for source in ("measurements", "cardiologist"):
        assert per_source.loc[source, "agreement"] >= SOURCE_AGREEMENT_FLOOR, source


@pytest.mark.slow
def test_flipped_labels_fall_below_floor(evaluated_run, evaluated_cohort, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    labels = pd.read_parquet(evaluated_run / "labels.parquet")
    flipped = labels["label_id"] == "lv_dilation"
    labels.loc[flipped, "state"] = labels.loc[flipped, "state"].replace(
        {"present": "absent", "absent": "present"}
    )
    labels.to_parquet(run / "labels.parquet", index=False)

    per_label = evaluate_run(run, evaluated_cohort).per_label.set_index("label_id")

    assert per_label.loc["lv_dilation", "agreement"] < SOURCE_AGREEMENT_FLOOR


@pytest.mark.slow
def test_cli_json_matches_library(evaluated_run, evaluated_cohort) -> None:
    result = CliRunner().invoke(evaluate, [str(evaluated_run), str(evaluated_cohort), "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    overall = evaluate_run(evaluated_run, evaluated_cohort).overall.iloc[0]
    assert data["overall"]["agreement"] == overall["agreement"]
    assert len(data["per_label"]) == len(label_ids())


def test_cli_reports_missing_labels(tmp_path: Path) -> None:
    cohort = write_truth(tmp_path / "cohort")
    (tmp_path / "run").mkdir()
    result = CliRunner().invoke(evaluate, [str(tmp_path / "run"), str(cohort)])

    assert result.exit_code == 1
    assert "labels.parquet: labels not found" in result.output


def test_run_without_truth_row_is_listed(tmp_path: Path) -> None:
    cohort = write_truth(tmp_path / "cohort")
    run = tmp_path / "run"
    run.mkdir()
    rows = [
        labels_row(study, label, "absent", None, "cardiologist")
        for study in (90000001, 90000002)
        for label in label_ids()
    ]
    pd.DataFrame(rows).to_parquet(run / "labels.parquet", index=False)
    evaluation = evaluate_run(run, cohort)

    assert evaluation.studies_only_in_run == [90000002]
    assert evaluation.overall.iloc[0]["agreement"] == 1.0
