"""Layout and columns of the synthetic MIMIC roots match the reference description of the releases."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd

from echoground.synth.cohort import LABELS

ECHO_PATH = re.compile(r"^files/p(\d\d)/p(\d{8})/s(\d{8})/(\d{8})_(\d{4})\.dcm$")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_record_list_columns_and_paths(cohort_dir: Path) -> None:
    records = _read(cohort_dir / "mimic-iv-echo" / "echo-record-list.csv")
    assert list(records.columns) == ["subject_id", "study_id", "acquisition_datetime", "dicom_filepath"]
    for row in records.itertuples():
        match = ECHO_PATH.match(row.dicom_filepath)
        assert match, row.dicom_filepath
        folder_prefix, subject, study, file_study, _ = match.groups()
        assert folder_prefix == row.subject_id[:2]
        assert subject == row.subject_id
        assert study == row.study_id == file_study
        assert 10_000_000 <= int(row.subject_id) <= 19_999_999
        assert (cohort_dir / "mimic-iv-echo" / row.dicom_filepath).is_file()


def test_study_list_columns_and_links(cohort_dir: Path) -> None:
    studies = _read(cohort_dir / "mimic-iv-echo" / "echo-study-list.csv")
    assert list(studies.columns) == [
        "subject_id",
        "study_id",
        "study_datetime",
        "note_id",
        "note_seq",
        "note_charttime",
        "measurement_id",
        "measurement_datetime",
    ]
    assert studies["study_id"].is_unique
    records = _read(cohort_dir / "mimic-iv-echo" / "echo-record-list.csv")
    assert set(records["study_id"]) == set(studies["study_id"])
    measurements = pd.read_csv(
        cohort_dir / "mimic-iv-echo" / "structured-measurement.csv.gz", dtype=str, keep_default_na=False
    )
    linked = studies[studies["measurement_id"] != ""]
    assert set(linked["measurement_id"]) <= set(measurements["measurement_id"])


def test_measurement_table_quirks(cohort_dir: Path) -> None:
    table = pd.read_csv(
        cohort_dir / "mimic-iv-echo" / "structured-measurement.csv.gz", dtype=str, keep_default_na=False
    )
    assert list(table.columns) == [
        "subject_id",
        "measurement_id",
        "measurement_datetime",
        "test_type",
        "measurement",
        "measurement_description",
        "result",
        "unit",
    ]
    assert "tte" in set(table["test_type"])
    units = dict(zip(table["measurement"], table["unit"], strict=False))
    assert units["lvedd"] == "cm"
    assert units["tapse"] == "cm"
    assert units["tr_velocity"] == "m/s"
    assert units["la_vol"] == "mL"
    assert "diastolic_grade" in set(table["measurement"])
    grades = set(table.loc[table["measurement"] == "diastolic_grade", "result"])
    assert grades <= {"0 (nl)", "I", "II", "III", "Indeterminate", "Unable to assess"}


def test_gzip_members_have_zero_mtime(cohort_dir: Path) -> None:
    for path in cohort_dir.rglob("*.csv.gz"):
        header = path.read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b", path
        assert header[4:8] == b"\x00\x00\x00\x00", path
        with gzip.open(path, "rt") as handle:
            assert handle.readline().strip()


def test_discharge_and_patient_tables(cohort_dir: Path) -> None:
    notes = pd.read_csv(cohort_dir / "mimic-iv-note" / "discharge.csv.gz", dtype=str, keep_default_na=False)
    assert list(notes.columns) == [
        "note_id",
        "subject_id",
        "hadm_id",
        "note_type",
        "note_seq",
        "charttime",
        "storetime",
        "text",
    ]
    assert (notes["note_type"] == "DS").all()
    assert notes["note_id"].str.match(r"^\d{8}-DS-\d+$").all()
    patients = pd.read_csv(
        cohort_dir / "mimic-iv" / "hosp" / "patients.csv.gz", dtype=str, keep_default_na=False
    )
    assert list(patients.columns) == [
        "subject_id",
        "gender",
        "anchor_age",
        "anchor_year",
        "anchor_year_group",
        "dod",
    ]
    assert set(patients["gender"]) <= {"M", "F"}


def test_ground_truth_studies_columns(cohort_dir: Path) -> None:
    truth = _read(cohort_dir / "ground_truth" / "studies.csv")
    for label in LABELS:
        assert set(truth[label]) <= {"present", "absent", "uncertain"}, label
        grades = set(truth[f"{label}_grade"])
        allowed = (
            {"", "I", "II", "III"} if label == "diastolic_dysfunction" else {"", "mild", "moderate", "severe"}
        )
        assert grades <= allowed, label
    assert set(truth["note_link"]) <= {"within", "outside", "none", "no_echo_section"}
    assert (cohort_dir / "ground_truth" / "README.md").is_file()
