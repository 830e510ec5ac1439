"""Turn the long (entity-attribute-value) structured measurement table into one row per study."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import pandas as pd

from echoground.ledger import Ledger, Status
from echoground.logs import RateLimitedLogger
from echoground.measurements.catalog import load_catalog, normalise_key
from echoground.measurements.categorical import load_categorical, parse_grade
from echoground.measurements.parse import ResultParseError, parse_result

logger = logging.getLogger(__name__)
STAGE = "measurements"
LONG_COLUMNS = (
    "subject_id",
    "measurement_id",
    "measurement_datetime",
    "test_type",
    "measurement",
    "measurement_description",
    "result",
    "unit",
)


def to_wide(long_df: pd.DataFrame) -> tuple[pd.DataFrame, Ledger]:
    """Convert structured-measurement rows into one row per ``measurement_id``.

    Each canonical numeric measurement becomes a column in its canonical unit, with ``<name>_qualifier``
    (=, >, >=, <, <=, range) beside it; cardiologist categorical fields become columns of canonical
    grades. Only ``test_type == "tte"`` studies are kept. Every row that does not reach the wide table
    gets a ledger entry: other test types are skipped, and unknown names, unknown units, unparseable
    results and implausible values are rejected, never clipped.

    Raises:
        ValueError: when a column of the long table is missing.
    """
    missing = [column for column in LONG_COLUMNS if column not in long_df.columns]
    if missing:
        raise ValueError(
            f"structured measurement table is missing columns {missing}; expected {list(LONG_COLUMNS)}"
        )
    catalog = load_catalog()
    categorical = load_categorical()
    ledger = Ledger()
    warn = RateLimitedLogger(logger)
    rows: dict[int, dict[str, object]] = {}
    skipped_studies: set[int] = set()

    for record in long_df.itertuples(index=False):
        measurement_id = int(record.measurement_id)
        subject_id = int(record.subject_id)
        item_id = f"{measurement_id}:{record.measurement}"
        test_type = str(record.test_type).strip().lower()
        if test_type != "tte":
            if measurement_id not in skipped_studies:
                skipped_studies.add(measurement_id)
                ledger.add(
                    STAGE,
                    "study",
                    str(measurement_id),
                    Status.SKIPPED,
                    "not_transthoracic",
                    f"measurement_id {measurement_id}: test_type {record.test_type!r} is not 'tte'",
                    subject_id=subject_id,
                )
            continue
        row = rows.setdefault(
            measurement_id,
            {
                "measurement_id": measurement_id,
                "subject_id": subject_id,
                "measurement_datetime": record.measurement_datetime,
            },
        )
        field = normalise_key(record.measurement)
        if field in categorical.field_labels:
            grade = parse_grade(record.result)
            if grade is None:
                ledger.add(
                    STAGE,
                    "measurement",
                    item_id,
                    Status.REJECTED,
                    "unrecognised_grade",
                    f"measurement_id {measurement_id}: {field} value {record.result!r} matches no "
                    "pattern in categorical.yaml",
                    subject_id=subject_id,
                )
                continue
            row[field] = grade
            continue
        name = catalog.canonical_name(record.measurement)
        if name is None:
            warn.warning(
                "unknown_measurement",
                "measurement_id %s: measurement name %r is not in names.yaml",
                measurement_id,
                record.measurement,
            )
            ledger.add(
                STAGE,
                "measurement",
                item_id,
                Status.REJECTED,
                "unknown_measurement",
                f"measurement_id {measurement_id}: name {record.measurement!r} is not in names.yaml; "
                "add it there if it is a real MIMIC name",
                subject_id=subject_id,
            )
            continue
        entry = _convert(catalog, name, record.result, record.unit)
        if isinstance(entry, tuple) and len(entry) == 2:
            reason, message = entry
            ledger.add(
                STAGE,
                "measurement",
                item_id,
                Status.REJECTED,
                reason,
                f"measurement_id {measurement_id}: {message}",
                subject_id=subject_id,
            )
            continue
        if entry is None:
            continue
        value, qualifier, low, high = entry
        if name in row:
            ledger.add(
                STAGE,
                "measurement",
                item_id,
                Status.REJECTED,
                "duplicate_measurement",
                f"measurement_id {measurement_id}: {name} appears twice; the first value {row[name]} is kept",
                subject_id=subject_id,
            )
            continue
        row[name] = value
        row[f"{name}_qualifier"] = qualifier
        if qualifier == "range":
            row[f"{name}_low"], row[f"{name}_high"] = low, high

    for row in rows.values():
        _fill_lvef_from_bounds(row)
        ledger.add(
            STAGE,
            "study",
            str(row["measurement_id"]),
            Status.ACCEPTED,
            "tte_study",
            f"measurement_id {row['measurement_id']}: test_type 'tte', "
            f"{_count_values(row)} measurements kept in the wide row",
            subject_id=int(row["subject_id"]),
        )  # type: ignore[arg-type]
    return _frame(rows.values()), ledger


def _count_values(row: dict[str, object]) -> int:
    """Count the measurement columns of a wide row, without its ids and qualifier and range columns."""
    meta = {"measurement_id", "subject_id", "measurement_datetime"}
    return sum(1 for key in row if key not in meta and not key.endswith(("_qualifier", "_low", "_high")))


def _convert(catalog, name: str, result: object, unit: object):
    """Return (value, qualifier, low, high), None for an empty result, or (reason, message) if rejected."""
    spec = catalog.specs[name]
    try:
        parsed = parse_result(result)
    except ResultParseError as error:
        return "unparseable_result", f"{name}: {error}"
    if parsed is None:
        return None
    # pandas string columns hold pd.NA for an empty cell, object columns float NaN.
    unit_text = (
        None if unit is None or unit is pd.NA or (isinstance(unit, float) and math.isnan(unit)) else str(unit)
    )
    try:
        value, _ = catalog.to_canonical_unit(name, parsed.value, unit_text)
    except ValueError as error:
        return "unknown_unit", str(error)
    if not spec.minimum <= value <= spec.maximum:
        return "implausible_value", (
            f"{name} = {value:g} {spec.unit} (from {result!r} {unit_text or ''}) is outside the plausible "
            f"range {spec.minimum}-{spec.maximum} {spec.unit}; check the unit"
        )
    factor = value / parsed.value if parsed.value else 1.0
    low = None if parsed.low is None else parsed.low * factor
    high = None if parsed.high is None else parsed.high * factor
    return value, parsed.qualifier, low, high


def _fill_lvef_from_bounds(row: dict[str, object]) -> None:
    # A visual LVEF estimate may come only as lvef_lower/lvef_upper; its midpoint stands for lvef.
    if "lvef" in row or "lvef_lower" not in row or "lvef_upper" not in row:
        return
    low, high = float(row["lvef_lower"]), float(row["lvef_upper"])  # type: ignore[arg-type]
    if low <= high:
        row["lvef"] = (low + high) / 2
        row["lvef_qualifier"] = "range"
        row["lvef_low"], row["lvef_high"] = low, high


def _frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=["measurement_id", "subject_id", "measurement_datetime"])
    return frame.sort_values("measurement_id", kind="stable").reset_index(drop=True)
