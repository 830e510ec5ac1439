"""The study stage of one batch: structured measurements, report linking and parsing, and labels.

Reads a batch folder of the plan (studies.parquet, measurements.parquet, notes.parquet) and writes
measurements.parquet (one row per study and canonical measurement), reports.parquet (one row per study
with its linked echo section), labels.parquet (one row per study and label) and ledger.parquet.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from echoground.labels import StudyInput, label_studies
from echoground.ledger import Ledger
from echoground.measurements import derive, load_catalog, to_wide
from echoground.measurements.catalog import normalise_key
from echoground.measurements.categorical import load_categorical
from echoground.reports import link_notes

logger = logging.getLogger(__name__)

MEASUREMENT_COLUMNS = ["study_id", "name", "value", "unit", "measurement_id", "raw_value", "raw_unit"]

# Derived quantities (echoground.measurements.derive) under the names the caption templates use.
DERIVED_NAMES = {
    "lavi": "la_volume_index",
    "lvmi": "lv_mass_index",
    "lv_mass": "lv_mass",
    "rwt": "relative_wall_thickness",
    "e_e_prime": "e_e_prime",
    "tr_velocity": "tr_velocity",
    "rvsp": "rvsp",
    "bsa": "bsa",
}
LABEL_COLUMNS = ["study_id", "label_id", "state", "severity", "source", "rule_id", "inputs", "conflict"]
REPORT_COLUMNS = ["study_id", "subject_id", "note_id", "distance_days", "report_text"]


def process_studies(batch_dir: Path, out_dir: Path) -> None:
    """Write the measurements, reports, labels and ledger tables of one batch into ``out_dir``."""
    batch_dir, out_dir = Path(batch_dir), Path(out_dir)
    studies = pd.read_parquet(batch_dir / "studies.parquet")
    long_rows = pd.read_parquet(batch_dir / "measurements.parquet")
    notes = pd.read_parquet(batch_dir / "notes.parquet")
    ledger = Ledger()

    measurements = _measurements(long_rows, studies, ledger)
    reports = _reports(studies, notes, ledger)
    labels = _labels(studies, long_rows, reports)

    measurements.to_parquet(out_dir / "measurements.parquet", index=False)
    reports.to_parquet(out_dir / "reports.parquet", index=False)
    labels.to_parquet(out_dir / "labels.parquet", index=False)
    ledger.write(out_dir / "ledger.parquet")
    logger.info(
        "study batch %s: %d studies, %d measurements, %d with report text",
        batch_dir.name,
        len(studies),
        len(measurements),
        int(reports["report_text"].notna().sum()),
    )


def _measurements(long_rows: pd.DataFrame, studies: pd.DataFrame, ledger: Ledger) -> pd.DataFrame:
    """Return the long canonical table (study, name, value in the canonical unit, raw value and unit)."""
    source = long_rows.drop(columns=["study_id"], errors="ignore")
    if "measurement_description" not in source.columns:
        source["measurement_description"] = pd.NA
    wide, wide_ledger = to_wide(source)
    ledger.extend(wide_ledger.entries)
    if wide.empty:
        return _typed_measurements(pd.DataFrame(columns=MEASUREMENT_COLUMNS))

    catalog = load_catalog()
    study_of = studies.dropna(subset=["measurement_id"]).set_index("measurement_id")["study_id"]
    raw: dict[tuple[int, str], tuple[str, str]] = {}
    for row in long_rows.itertuples(index=False):
        name = catalog.canonical_name(row.measurement)
        if name is not None:
            raw.setdefault((int(row.measurement_id), name), (_text(row.result), _text(row.unit)))

    rows = []
    for record in wide.to_dict("records"):
        measurement_id = int(record["measurement_id"])
        for name, spec in catalog.specs.items():
            value = record.get(name)
            if value is None or pd.isna(value):
                continue
            raw_value, raw_unit = raw.get((measurement_id, name), ("", ""))
            rows.append(
                {
                    "study_id": int(study_of[measurement_id]),
                    "name": name,
                    "value": float(value),
                    "unit": spec.unit,
                    "measurement_id": str(measurement_id),
                    "raw_value": raw_value,
                    "raw_unit": raw_unit,
                }
            )
        rows.extend(_derived_rows(record, int(study_of[measurement_id]), measurement_id))
    frame = pd.DataFrame(rows, columns=MEASUREMENT_COLUMNS)
    return _typed_measurements(frame.sort_values(["study_id", "name"], kind="stable").reset_index(drop=True))


def _derived_rows(record: dict, study_id: int, measurement_id: int) -> list[dict]:
    """Return rows for the derived quantities of one study that were not measured directly.

    ``raw_value`` names the formula inputs with their canonical values and units, so every derived
    number in a caption traces back to the measured rows it came from.
    """
    rows = []
    measured = {name for name, value in record.items() if value is not None and not pd.isna(value)}
    for source_name, item in derive(record).items():
        name = DERIVED_NAMES.get(source_name)
        if name is None or name in measured:
            continue
        inputs = ", ".join(f"{key}={value:.4g}" for key, value in sorted(item.inputs.items()))
        assumed = f"; assumed: {', '.join(item.assumed)}" if item.assumed else ""
        rows.append(
            {
                "study_id": study_id,
                "name": name,
                "value": float(item.value),
                "unit": item.unit,
                "measurement_id": f"derived:{measurement_id}",
                "raw_value": f"derived from {inputs}{assumed}",
                "raw_unit": "",
            }
        )
    return rows


def _typed_measurements(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"study_id": "int64", "value": "float64"})
    for column in ("name", "unit", "measurement_id", "raw_value", "raw_unit"):
        frame[column] = frame[column].astype("string")
    return frame


def _reports(studies: pd.DataFrame, notes: pd.DataFrame, ledger: Ledger) -> pd.DataFrame:
    """Link each study to its discharge-summary echo section; every study gets a ledger row."""
    links, link_ledger = link_notes(studies[["subject_id", "study_id", "study_datetime"]], notes)
    ledger.extend(link_ledger.entries)
    links = links[REPORT_COLUMNS].copy()
    links["study_id"] = links["study_id"].astype("int64")
    links["subject_id"] = links["subject_id"].astype("int64")
    for column in ("note_id", "report_text"):
        links[column] = links[column].astype("string")
    links["distance_days"] = links["distance_days"].astype("float64")
    return links.sort_values("study_id", kind="stable").reset_index(drop=True)


def _labels(studies: pd.DataFrame, long_rows: pd.DataFrame, reports: pd.DataFrame) -> pd.DataFrame:
    """Label every study from its measurements, cardiologist grades and report text."""
    categorical = load_categorical()
    text_of = reports.set_index("study_id")["report_text"]
    rows_of: dict[int, list[dict]] = {}
    cardiologist_of: dict[int, dict[str, str]] = {}
    for row in long_rows.itertuples(index=False):
        study_id = int(row.study_id)
        if str(row.test_type).strip().lower() != "tte":
            continue
        field = normalise_key(row.measurement)
        if field in categorical.field_labels:
            cardiologist_of.setdefault(study_id, {})[str(row.measurement)] = _text(row.result)
        else:
            rows_of.setdefault(study_id, []).append(
                {"name": str(row.measurement), "result": _text(row.result), "unit": _text(row.unit) or None}
            )

    inputs = []
    for study in studies.itertuples(index=False):
        study_id = int(study.study_id)
        text = text_of.get(study_id)
        inputs.append(
            StudyInput(
                study_id=study_id,
                sex=None if pd.isna(study.sex) else str(study.sex),
                measurements=rows_of.get(study_id, []),
                report_text=None if text is None or pd.isna(text) else str(text),
                cardiologist=cardiologist_of.get(study_id, {}),
            )
        )
    labels = label_studies(inputs).rename(columns={"label": "label_id", "rule": "rule_id"})
    labels = labels[LABEL_COLUMNS].copy()
    labels["study_id"] = labels["study_id"].astype("int64")
    for column in ("label_id", "state", "severity", "source", "rule_id", "inputs"):
        labels[column] = labels[column].astype("string")
    labels["conflict"] = labels["conflict"].astype("bool")
    return labels.sort_values(["study_id", "label_id"], kind="stable").reset_index(drop=True)


def _text(value: object) -> str:
    return "" if value is None or pd.isna(value) else str(value)
