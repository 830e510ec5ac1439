"""Label one study or a batch: gather values, derive quantities, apply rules and combine sources."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from echoground.labels.engine import LabelResult, SourceResult, Value, decide, grade_to_state, label_ids
from echoground.labels.measurement_rules import measurement_results
from echoground.measurements.catalog import load_catalog
from echoground.measurements.categorical import load_categorical, parse_grade
from echoground.measurements.derived import derive
from echoground.measurements.parse import ResultParseError, parse_result

logger = logging.getLogger(__name__)


@dataclass
class StudyInput:
    """Everything the engine reads for one study; measurement rows use MIMIC names and raw units."""

    study_id: int | str | None = None
    sex: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    measurements: Sequence[Mapping[str, Any]] = ()
    report_text: str | None = None
    cardiologist: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StudyLabels:
    """Derived quantities and one result per canonical label."""

    derived: dict[str, Value]
    labels: dict[str, LabelResult]
    rejected: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "derived": {
                name: {"value": round(v.value, 4), "unit": v.unit} for name, v in self.derived.items()
            },
            "labels": {label: result.to_json() for label, result in self.labels.items()},
        }


def _structured_values(
    rows: Sequence[Mapping[str, Any]], study_id: object
) -> tuple[dict[str, Value], list[str]]:
    catalog = load_catalog()
    values: dict[str, Value] = {}
    rejected = []
    for row in rows:
        raw_name = str(row.get("name", row.get("measurement", "")))
        name = catalog.canonical_name(raw_name)
        if name is None:
            rejected.append(f"{raw_name}: unknown measurement name")
            continue
        try:
            parsed = parse_result(row.get("result"))
        except ResultParseError as error:
            rejected.append(f"{raw_name}: {error}")
            continue
        if parsed is None:
            continue
        spec = catalog.specs[name]
        try:
            value, _ = catalog.to_canonical_unit(name, parsed.value, row.get("unit"))
        except ValueError as error:
            rejected.append(f"{raw_name}: {error}")
            continue
        if not spec.minimum <= value <= spec.maximum:
            rejected.append(f"{raw_name}: {value:g} {spec.unit} is outside {spec.minimum}-{spec.maximum}")
            continue
        factor = value / parsed.value if parsed.value else 1.0
        low, high = parsed.interval()
        values[name] = Value(name, value, spec.unit, parsed.qualifier, low * factor, high * factor)
    for message in rejected:
        logger.warning("study %s: measurement rejected: %s", study_id, message)
    return values, rejected


def _add_derived(values: dict[str, Value]) -> dict[str, Value]:
    derived_values: dict[str, Value] = {}
    for name, item in derive({name: v.value for name, v in values.items()}).items():
        origin = "derived, assumed " + ", ".join(item.assumed) if item.assumed else "derived"
        derived_values[name] = Value.exact(name, item.value, item.unit, origin)
    walls = [values[n].value for n in ("ivsd", "lvpwd") if n in values]
    if walls:
        derived_values["max_wall_thickness"] = Value.exact("max_wall_thickness", max(walls), "cm")
    return derived_values


def label_study(study: StudyInput, parsed_report: Any | None = None) -> StudyLabels:
    """Label one study. ``parsed_report`` (a ParsedReport) is parsed from ``report_text`` when not given."""
    values, rejected = _structured_values(study.measurements, study.study_id)
    if study.height_cm and "height" not in values:
        values["height"] = Value.exact("height", float(study.height_cm), "cm", "input")
    if study.weight_kg and "weight" not in values:
        values["weight"] = Value.exact("weight", float(study.weight_kg), "kg", "input")
    if parsed_report is None and study.report_text:
        from echoground.reports.parsed import parse_report

        parsed_report = parse_report(study.report_text)
    if parsed_report is not None:
        for item in parsed_report.measurements:
            # Values stated in the text fill gaps only; the structured table wins.
            if item.name in values or (item.name == "lvef" and "lvef_biplane" in values):
                continue
            low = (
                item.low
                if item.qualifier == "range"
                else (item.value if item.qualifier in ("=", ">", ">=") else -math.inf)
            )
            high = (
                item.high
                if item.qualifier == "range"
                else (item.value if item.qualifier in ("=", "<", "<=") else math.inf)
            )
            values[item.name] = Value(
                item.name, item.value, item.unit, item.qualifier, low, high, "report_text"
            )
    derived = _add_derived(values)
    values.update({name: v for name, v in derived.items() if name not in values})

    sex = study.sex.upper()[:1] if isinstance(study.sex, str) and study.sex.strip() else None
    sex = sex if sex in ("M", "F") else None
    measured = measurement_results(values, sex)
    cardiologist = _cardiologist_results(study.cardiologist)
    report = {}
    if parsed_report is not None:
        for label, combined in parsed_report.labels.items():
            report[label] = SourceResult(
                combined.state, combined.severity, "report_nlp", [{"mentions": combined.mentions}]
            )
    labels = {}
    for label in label_ids():
        labels[label] = decide(
            {
                "measurements": measured.get(label),
                "cardiologist": cardiologist.get(label),
                "report_text": report.get(label),
            }
        )
    shown = {name: v for name, v in derived.items() if name != "max_wall_thickness"}
    return StudyLabels(shown, labels, rejected)


def _cardiologist_results(fields: Mapping[str, Any]) -> dict[str, SourceResult]:
    table = load_categorical()
    results = {}
    for raw_field, raw_value in (fields or {}).items():
        field_name = str(raw_field).strip().lower()
        if field_name not in table.field_labels:
            logger.warning("cardiologist field %r is not in categorical.yaml; ignored", raw_field)
            continue
        label = table.field_labels[field_name]
        if label is None:
            continue
        grade = parse_grade(raw_value)
        if grade is None:
            logger.warning(
                "cardiologist field %s value %r matches no grade pattern; ignored", field_name, raw_value
            )
            continue
        mapped = grade_to_state(grade)
        if mapped is None:
            continue
        results[label] = SourceResult(
            mapped[0],
            mapped[1],
            f"cardiologist:{field_name}",
            [{"name": field_name, "value": str(raw_value), "grade": grade}],
        )
    return results


def label_studies(studies: Sequence[StudyInput], batch_size: int = 64) -> pd.DataFrame:
    """Label many studies; report texts are parsed in batches. One row per study and label."""
    from echoground.reports.parsed import parse_reports

    with_text = [i for i, study in enumerate(studies) if study.report_text]
    parsed = dict(
        zip(with_text, parse_reports([studies[i].report_text for i in with_text], batch_size), strict=True)
    )
    rows = []
    for index, study in enumerate(studies):
        result = label_study(study, parsed.get(index))
        for label, item in result.labels.items():
            rows.append(
                {
                    "study_id": study.study_id,
                    "label": label,
                    "state": item.state,
                    "severity": item.severity,
                    "source": item.source,
                    "rule": item.rule,
                    "inputs": json.dumps(item.inputs, sort_keys=True),
                    "conflict": item.conflict,
                }
            )
    return pd.DataFrame(
        rows, columns=["study_id", "label", "state", "severity", "source", "rule", "inputs", "conflict"]
    )
