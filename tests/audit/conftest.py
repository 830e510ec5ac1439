"""A small built run folder, made with the captions library, for the audit tests.

Two patients, three studies and five captioned clips: three A4C clips, one PLAX clip and one
study-level clip without a view. Frames are ``.npy`` files, two studies have a linked report, and one
label's sources disagree, so no caption states it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from echoground.captions import build_captions
from echoground.ledger import Ledger, Status

REPORT_ONE = (
    "TTE (Complete) Done at 10:00 FINAL\n"
    "LEFT VENTRICLE: The left ventricle is dilated. LVEF = 35 %.\n"
    "PERICARDIUM: No pericardial effusion.\n\n"
    "CONCLUSIONS: Moderate LV systolic dysfunction. Mild (1+) MR."
)
REPORT_TWO = "TTE (Complete) Done at 09:00 FINAL\nCONCLUSIONS: Normal LV function. No AS."

MEASUREMENTS = [
    # study_id, name, value, unit, measurement_id, raw_value, raw_unit
    (90000001, "lvef", 35.0, "%", "1001", "35", "%"),
    (90000001, "lvidd", 6.1, "cm", "1001", "6.1", "cm"),
    (90000001, "tapse", 21.0, "mm", "1001", "2.1", "cm"),
    (90000001, "la_volume_index", 40.0, "mL/m2", "1001", "40", "ml/m2"),
    (90000002, "lvef", 62.0, "%", "1002", "62", "%"),
    (90000002, "av_peak_velocity", 1.2, "m/s", "1002", "1.2", "m/s"),
    (90000003, "lvef", 58.0, "%", "1003", "58", "%"),
]
LABELS = [
    # study_id, label_id, state, severity, source, rule_id, conflict
    (90000001, "lv_systolic_dysfunction", "present", "moderate", "measurements", "lvef_lang2015_t4", False),
    (90000001, "lv_dilation", "present", "mild", "measurements", "lvidd_lang2015", False),
    (90000001, "rv_systolic_dysfunction", "absent", None, "measurements", "tapse_lang2015", False),
    (90000001, "la_enlargement", "present", "mild", "measurements", "lavi_lang2015", False),
    (90000001, "pericardial_effusion", "absent", None, "report_text", "report_nlp", False),
    (90000001, "mitral_regurgitation", "present", "mild", "report_text", "report_nlp", False),
    (90000001, "tricuspid_regurgitation", "present", "mild", "cardiologist", "cardiologist:tr", True),
    (90000002, "lv_systolic_dysfunction", "absent", None, "measurements", "lvef_lang2015_t4", False),
    (90000002, "aortic_stenosis", "absent", None, "measurements", "as_baumgartner2017", False),
    (90000002, "pericardial_effusion", "absent", None, "cardiologist", "cardiologist:pe", False),
    (90000003, "lv_systolic_dysfunction", "absent", None, "measurements", "lvef_lang2015_t4", False),
]
CLIPS = [
    # clip_id, subject_id, study_id, view, view_coarse, split
    ("p10_p10000001_s90000001_0001", 10000001, 90000001, "A4C", "apical", "train"),
    ("p10_p10000001_s90000001_0002", 10000001, 90000001, "A4C", "apical", "train"),
    ("p10_p10000001_s90000001_0003", 10000001, 90000001, None, None, "train"),
    ("p10_p10000002_s90000002_0001", 10000002, 90000002, "PLAX", "parasternal", "test"),
    ("p10_p10000002_s90000003_0001", 10000002, 90000003, "A4C", "apical", "test"),
]


def write_run(run_dir: Path) -> Path:
    """Write a run folder (tables, frames, reports, ledger) the way the build lays it out."""
    run_dir.mkdir(parents=True, exist_ok=True)
    frames_dir = run_dir / "frames"
    frames_dir.mkdir()
    rng = np.random.default_rng(0)
    clip_rows = []
    for clip_id, subject_id, study_id, view, coarse, split in CLIPS:
        path = frames_dir / f"{clip_id}.npy"
        np.save(path, rng.integers(0, 255, size=(4, 224, 224, 3), dtype=np.uint8))
        clip_rows.append(
            {
                "clip_id": clip_id,
                "subject_id": subject_id,
                "study_id": study_id,
                "clip_kind": "b_mode_2d",
                "view": view,
                "view_coarse": coarse,
                "view_confidence": 0.9 if view else 0.3,
                "split": split,
                "frames_path": str(path),
            }
        )
    clips = pd.DataFrame(clip_rows)
    measurements = pd.DataFrame(
        MEASUREMENTS, columns=["study_id", "name", "value", "unit", "measurement_id", "raw_value", "raw_unit"]
    )
    labels = pd.DataFrame(
        LABELS, columns=["study_id", "label_id", "state", "severity", "source", "rule_id", "conflict"]
    )
    labels["inputs"] = "[]"
    captions, caption_entries = build_captions(clips, measurements, labels, seed=0)
    ledger = Ledger(caption_entries)
    for study_id in (90000001, 90000002, 90000003):
        ledger.add("build", "study", str(study_id), Status.ACCEPTED, "samples_written", study_id=study_id)
    ledger.add(
        "dicom", "file", "p10/p10000002/s90000002/90000002_0009.dcm", Status.REJECTED, "not_ultrasound"
    )
    reports = pd.DataFrame(
        {
            "study_id": [90000001, 90000002, 90000003],
            "subject_id": [10000001, 10000002, 10000002],
            "note_id": ["10000001-DS-1", "10000002-DS-1", None],
            "distance_days": [1.0, 0.0, None],
            "report_text": [REPORT_ONE, REPORT_TWO, None],
        }
    )
    clips.to_parquet(run_dir / "clips.parquet", index=False)
    measurements.to_parquet(run_dir / "measurements.parquet", index=False)
    labels.to_parquet(run_dir / "labels.parquet", index=False)
    captions.to_parquet(run_dir / "captions.parquet", index=False)
    reports.to_parquet(run_dir / "reports.parquet", index=False)
    ledger.write(run_dir / "ledger.parquet")
    pd.DataFrame(
        {"study_id": [90000001, 90000002, 90000003], "subject_id": [10000001, 10000002, 10000002]}
    ).to_parquet(run_dir / "studies.parquet", index=False)
    return run_dir


@pytest.fixture(scope="session")
def built_run(tmp_path_factory) -> Path:
    """A clean run folder shared by read-only tests."""
    return write_run(tmp_path_factory.mktemp("audit") / "run")


@pytest.fixture
def run_copy(built_run, tmp_path) -> Path:
    """A private copy of the clean run folder that a test may change."""
    target = tmp_path / "run"
    shutil.copytree(built_run, target)
    clips = pd.read_parquet(target / "clips.parquet")
    clips["frames_path"] = [str(target / "frames" / Path(path).name) for path in clips["frames_path"]]
    clips.to_parquet(target / "clips.parquet", index=False)
    return target


@pytest.fixture(scope="session")
def new_run(tmp_path_factory):
    """Return a function that writes a fresh clean run folder under a new temporary folder."""
    return lambda name: write_run(tmp_path_factory.mktemp(name) / "run")
