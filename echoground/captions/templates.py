"""Load and check the caption templates (``templates.yaml``)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATES_PATH = Path(__file__).with_name("templates.yaml")

POLICIES = ("study_level", "none")
SENTENCE_KINDS = {
    "measurement_graded": {"name", "value", "unit", "grade"},
    "measurement": {"name", "value", "unit"},
    "finding_absent": {"name"},
    "finding_present": {"name", "severity"},
    "finding_present_unspecified": {"name"},
}


@dataclass(frozen=True)
class MeasurementFormat:
    """Format of one canonical measurement: display name, unit, decimals and grade words."""

    key: str
    name: str
    unit: str
    decimals: int
    grade_label: str | None
    grade_words: dict[str, str]


@dataclass(frozen=True)
class FindingFormat:
    """Format of one finding (label): display name, severity words and hard-negative severities."""

    label_id: str
    name: str
    severity_words: dict[str, str]
    grade_flips: tuple[str, ...]
    absent_flip_severity: str | None


@dataclass(frozen=True)
class ViewTemplate:
    """Content of one view caption (or the study-level caption): phrase, measurements, findings."""

    key: str
    phrase: str
    measurements: tuple[str, ...]
    findings: tuple[str, ...]


@dataclass(frozen=True)
class CaptionTemplates:
    """All caption templates of one ``templates.yaml`` version."""

    version: int
    uncertain_view_policy: str
    units: dict[str, str]
    sentences: dict[str, tuple[str, ...]]
    measurements: dict[str, MeasurementFormat]
    findings: dict[str, FindingFormat]
    views: dict[str, ViewTemplate]
    doppler: dict[str, ViewTemplate]
    study_level: ViewTemplate


@lru_cache(maxsize=4)
def load_templates(path: Path = TEMPLATES_PATH) -> CaptionTemplates:
    """Read a templates file and check that every reference in it resolves.

    Raises:
        ValueError: naming the file and the entry, if a key is missing, a view names an unknown
            measurement or finding, a unit has no display text, or a sentence pattern uses a field
            that its kind does not provide.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    try:
        return _parse(raw, path)
    except KeyError as error:
        raise ValueError(f"{path}: missing key {error} in the caption templates") from error


def _parse(raw: dict[str, Any], path: Path) -> CaptionTemplates:
    policy = raw["uncertain_view_policy"]
    if policy not in POLICIES:
        raise ValueError(f"{path}: uncertain_view_policy is {policy!r}; use one of {list(POLICIES)}")

    units = {str(unit): str(text) for unit, text in raw["units"].items()}
    sentences = {kind: tuple(patterns) for kind, patterns in raw["sentences"].items()}
    for kind, fields in SENTENCE_KINDS.items():
        patterns = sentences.get(kind)
        if not patterns:
            raise ValueError(f"{path}: sentences.{kind} needs at least one pattern")
        for pattern in patterns:
            used = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
            if used - fields:
                raise ValueError(f"{path}: sentences.{kind} pattern {pattern!r} uses {sorted(used - fields)}")

    measurements = {}
    for key, entry in raw["measurements"].items():
        unit = str(entry["unit"])
        if unit not in units:
            raise ValueError(f"{path}: measurements.{key} unit {unit!r} has no display text under 'units'")
        measurements[key] = MeasurementFormat(
            key=key,
            name=entry["name"],
            unit=unit,
            decimals=int(entry["decimals"]),
            grade_label=entry.get("grade_label"),
            grade_words={str(grade): words for grade, words in (entry.get("grade_words") or {}).items()},
        )

    findings = {
        label_id: FindingFormat(
            label_id=label_id,
            name=entry["name"],
            severity_words={str(severity): words for severity, words in entry["severity_words"].items()},
            grade_flips=tuple(str(severity) for severity in entry["grade_flips"]),
            absent_flip_severity=entry.get("absent_flip_severity"),
        )
        for label_id, entry in raw["findings"].items()
    }
    for finding in findings.values():
        for severity in (*finding.grade_flips, finding.absent_flip_severity):
            if severity is not None and severity not in finding.severity_words:
                raise ValueError(
                    f"{path}: findings.{finding.label_id} flips to severity {severity!r}, "
                    "which has no entry in its severity_words"
                )

    def view(key: str, entry: dict[str, Any]) -> ViewTemplate:
        template = ViewTemplate(key, entry["phrase"], tuple(entry["measurements"]), tuple(entry["findings"]))
        for name in template.measurements:
            if name not in measurements:
                raise ValueError(
                    f"{path}: view {key} lists measurement {name!r}, not defined under 'measurements'"
                )
        for label_id in template.findings:
            if label_id not in findings:
                raise ValueError(
                    f"{path}: view {key} lists finding {label_id!r}, not defined under 'findings'"
                )
        return template

    return CaptionTemplates(
        version=int(raw["version"]),
        uncertain_view_policy=policy,
        units=units,
        sentences=sentences,
        measurements=measurements,
        findings=findings,
        views={key: view(key, entry) for key, entry in raw["views"].items()},
        doppler={key: view(key, entry) for key, entry in raw["doppler"].items()},
        study_level=view("study_level", raw["study_level"]),
    )
