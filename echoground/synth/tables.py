"""Streaming CSV writers for the MIMIC-shaped tables and the rows of the structured-measurement table.

Writers append one row at a time, so memory does not grow with the cohort. Gzip members are written
with ``mtime=0`` and no file name, so the same rows give byte-identical files.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from echoground.synth.cohort import Study, load_config

RECORD_LIST_COLUMNS = ["subject_id", "study_id", "acquisition_datetime", "dicom_filepath"]
STUDY_LIST_COLUMNS = [
    "subject_id",
    "study_id",
    "study_datetime",
    "note_id",
    "note_seq",
    "note_charttime",
    "measurement_id",
    "measurement_datetime",
]
MEASUREMENT_COLUMNS = [
    "subject_id",
    "measurement_id",
    "measurement_datetime",
    "test_type",
    "measurement",
    "measurement_description",
    "result",
    "unit",
]
DISCHARGE_COLUMNS = [
    "note_id",
    "subject_id",
    "hadm_id",
    "note_type",
    "note_seq",
    "charttime",
    "storetime",
    "text",
]
PATIENT_COLUMNS = ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"]

# MIMIC measurement name -> (unit in the table, description, decimals shown in `result`).
MEASUREMENT_UNITS: dict[str, tuple[str, str, int]] = {
    "lvef": ("%", "Left ventricular ejection fraction", 0),
    "fs": ("%", "Fractional shortening", 0),
    "lvedd": ("cm", "Left ventricular internal diameter, end-diastole", 1),
    "lvesd": ("cm", "Left ventricular internal diameter, end-systole", 1),
    "septal_thickness": ("cm", "Interventricular septal thickness, end-diastole", 1),
    "inf_lat_thickness": ("cm", "Inferolateral wall thickness, end-diastole", 1),
    "biplane_lvedv": ("mL", "LV end-diastolic volume, biplane", 0),
    "biplane_lvesv": ("mL", "LV end-systolic volume, biplane", 0),
    "la_vol": ("mL", "Left atrial volume", 0),
    "body_surface_area": ("m2", "Body surface area", 2),
    "resting_hr": ("bpm", "Heart rate", 0),
    "resting_sbp": ("mmHg", "Systolic blood pressure", 0),
    "resting_dbp": ("mmHg", "Diastolic blood pressure", 0),
    "tapse": ("cm", "Tricuspid annular plane systolic excursion", 1),
    "rv_diam": ("cm", "Right ventricular basal diameter", 1),
    "tr_velocity": ("m/s", "Tricuspid regurgitation peak velocity", 1),
    "tr_mmhg": ("mmHg", "Tricuspid regurgitation peak gradient", 0),
    "av_pk_vel": ("m/s", "Aortic valve peak velocity", 1),
    "av_pk_grad": ("mmHg", "Aortic valve peak gradient", 0),
    "av_mean_grad": ("mmHg", "Aortic valve mean gradient", 0),
    "av_area_continuity": ("cm2", "Aortic valve area, continuity equation", 1),
    "lvot_diam": ("cm", "LV outflow tract diameter", 1),
    "lvot_vti": ("cm", "LV outflow tract velocity-time integral", 1),
    "mv_peak_e": ("m/s", "Mitral inflow E wave peak velocity", 2),
    "mv_peak_a": ("m/s", "Mitral inflow A wave peak velocity", 2),
    "mv_peak_e_a": ("", "Mitral E/A ratio", 1),
    "mv_e_decel": ("ms", "Mitral E wave deceleration time", 0),
    "sept_e_prime": ("m/s", "Septal e' velocity", 2),
    "lat_e_prime": ("m/s", "Lateral e' velocity", 2),
    "e_e_prime": ("", "Average E/e' ratio", 1),
}
CATEGORICAL_DESCRIPTIONS = {
    "lv_wall_thickness": "LV wall thickness",
    "lv_chamber_size": "LV cavity size",
    "la_size": "Left atrial size",
    "ra_size": "Right atrial size",
    "rv_chamber_size": "RV cavity size",
    "rv_function": "RV systolic function",
    "phtn_severity": "Pulmonary hypertension",
    "diastolic_grade": "Diastolic function grade",
    "aortic_stenosis": "Aortic stenosis",
    "aortic_regurg": "Aortic regurgitation",
    "mitral_regurg": "Mitral regurgitation",
    "mitral_stenosis": "Mitral stenosis",
    "tricuspid_regurg": "Tricuspid regurgitation",
    "pericardial_effusion": "Pericardial effusion",
    "mv_prolapse": "Mitral valve prolapse",
    "tamponade": "Tamponade physiology",
}
# Measurements recorded in stress and TEE sets (a subset; these rows must be filtered out by test_type).
NON_TTE_MEASUREMENTS = ("lvef", "resting_hr", "resting_sbp", "resting_dbp", "lvedd", "av_pk_vel")


class CsvWriter:
    """Write rows to a CSV file (gzip when the name ends in .gz) with a fixed header, one row at a time."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = path.open("wb")
        if path.suffix == ".gz":
            self._binary: Any = gzip.GzipFile(
                filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6
            )
        else:
            self._binary = self._raw
        self._text = io.TextIOWrapper(self._binary, encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._text, fieldnames=self.columns, lineterminator="\n")
        self._writer.writeheader()
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self._text.flush()
        self._text.detach()
        if self._binary is not self._raw:
            self._binary.close()
        self._raw.close()

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def format_datetime(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _format_number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def measurement_rows(study: Study, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Return the long-format rows of one study's measurement set, with the table's quirks applied.

    Quirks: rows left out, empty results, LVEF as a range with lvef_lower/lvef_upper rows, E/e' above 15
    written ">15", low TR velocity written "<2.0", and categorical grades as rows of the same table.
    """
    quirks = load_config()["quirks"]
    base = {
        "subject_id": study.subject_id,
        "measurement_id": study.measurement_id,
        "measurement_datetime": format_datetime(study.measurement_datetime),
        "test_type": study.test_type,
    }
    rows: list[dict[str, Any]] = []

    def add(name: str, result: str, unit: str, description: str) -> None:
        rows.append(
            base
            | {"measurement": name, "measurement_description": description, "result": result, "unit": unit}
        )

    names = NON_TTE_MEASUREMENTS if study.test_type != "tte" else tuple(MEASUREMENT_UNITS)
    for name in names:
        unit, description, decimals = MEASUREMENT_UNITS[name]
        value = study.measurements[name]
        if name not in ("body_surface_area", "lvef") and rng.random() < quirks["measurement_missing"]:
            continue
        result = _format_number(value, decimals)
        if rng.random() < quirks["result_empty"]:
            result = ""
        elif name == "lvef" and "lvef_lower" in study.extras:
            lower, upper = study.extras["lvef_lower"], study.extras["lvef_upper"]
            result = f"{lower}-{upper}"
            add("lvef_lower", str(lower), "%", "LVEF, lower bound of visual estimate")
            add("lvef_upper", str(upper), "%", "LVEF, upper bound of visual estimate")
        elif name == "e_e_prime" and value > 15 and rng.random() < quirks["e_e_prime_as_bound"]:
            result = ">15"
        elif name == "tr_velocity" and value < 2.0 and rng.random() < quirks["tr_velocity_as_bound"]:
            result = "<2.0"
        add(name, result, unit, description)
    if study.test_type == "tte":
        for name, value in study.cardiologist.items():
            add(name, value, "", CATEGORICAL_DESCRIPTIONS[name])
    return rows
