"""Cardiologist inputs of the labels table: a missing grade leaves no input, the text "None" is source text.

MIMIC-IV-ECHO structured measurements record "no regurgitation" as the result text "None". The label
inputs keep that text next to the grade it maps to ("normal"). A missing result never becomes the
string "None".
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from echoground.build.study_stage import _labels
from echoground.labels.study import StudyInput, label_study


@pytest.mark.parametrize("missing", [None, "", float("nan"), pd.NA])
def test_missing_grade_leaves_no_input(missing) -> None:
    study = StudyInput(study_id=1, sex="F", measurements=[], cardiologist={"aortic_regurg": missing})

    label = label_study(study).labels["aortic_regurgitation"]

    assert label.state == "not_assessed"
    assert label.inputs == []


def test_none_text_kept_as_source_text() -> None:
    study = StudyInput(study_id=1, sex="F", measurements=[], cardiologist={"aortic_regurg": "None"})

    label = label_study(study).labels["aortic_regurgitation"]

    assert label.state == "absent"
    assert label.inputs == [{"name": "aortic_regurg", "value": "None", "grade": "normal"}]


def _labels_table(result: object) -> pd.DataFrame:
    studies = pd.DataFrame({"study_id": [90000001], "sex": ["F"]})
    long_rows = pd.DataFrame(
        {
            "study_id": [90000001],
            "test_type": ["tte"],
            "measurement": ["aortic_regurg"],
            "result": pd.Series([result], dtype="string"),
            "unit": pd.Series([None], dtype="string"),
        }
    )
    reports = pd.DataFrame({"study_id": [90000001], "report_text": pd.Series([None], dtype="string")})
    return _labels(studies, long_rows, reports).set_index("label_id")


def test_build_labels_missing_result_has_no_none_text() -> None:
    row = _labels_table(None).loc["aortic_regurgitation"]

    assert row["state"] == "not_assessed"
    assert "None" not in row["inputs"]
    assert pd.isna(row["severity"])


def test_build_labels_keep_none_result_text() -> None:
    row = _labels_table("None").loc["aortic_regurgitation"]

    assert row["state"] == "absent"
    assert json.loads(row["inputs"]) == [{"grade": "normal", "name": "aortic_regurg", "value": "None"}]
    assert pd.isna(row["severity"])
