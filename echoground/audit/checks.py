"""Consistency checks of a run's captions against the measurements and labels they were written from.

Each check returns :class:`Issue` records that name the clip, study and item. Checks of kind
``caption`` find caption errors, so a correct build yields none. The check of kind ``labels`` lists
labels whose sources (measurements, cardiologist grades, report text) disagree: that is a property of
the data for a reviewer to look at, not a caption error.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from echoground.captions.templates import CaptionTemplates, load_templates

STATED_STATES = ("present", "absent")
# A number in caption text: digits not glued to letters or hyphens, so "A4C" and "4-chamber" do not count.
NUMBER_PATTERN = re.compile(r"(?<![\w\-.])\d+(?:\.\d+)?(?![\w\-])")


@dataclass(frozen=True)
class CheckInfo:
    """Name, kind (``caption`` or ``labels``) and one-line description of one check."""

    name: str
    kind: str
    description: str


CHECKS: tuple[CheckInfo, ...] = (
    CheckInfo("number_value", "caption", "each number in a caption equals its source measurement"),
    CheckInfo("number_unit", "caption", "each number's unit equals its source measurement's unit"),
    CheckInfo("number_provenance", "caption", "each number in a caption has a provenance entry"),
    CheckInfo("finding_label", "caption", "each stated finding's polarity and grade equal its label"),
    CheckInfo("finding_text", "caption", "each finding's words in the caption match its label"),
    CheckInfo("study_agreement", "caption", "captions of one study state the same numbers and findings"),
    CheckInfo("negatives", "caption", "each hard negative differs from its caption and flips a stated fact"),
    CheckInfo("label_sources", "labels", "measurement, cardiologist and report labels that disagree"),
)
CHECK_NAMES = tuple(check.name for check in CHECKS)


@dataclass(frozen=True)
class Issue:
    """One failing item of one check: where it is, what was expected and what was found."""

    check: str
    study_id: int
    clip_id: str | None
    item: str
    expected: str
    found: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(
    captions: pd.DataFrame,
    measurements: pd.DataFrame,
    labels: pd.DataFrame,
    templates: CaptionTemplates | None = None,
) -> dict[str, list[Issue]]:
    """Run every check on a run's tables.

    Args:
        captions: the captions table (``clip_id, study_id, caption, provenance, negatives, findings_key``).
        measurements: the measurements table (``study_id, name, value, unit, measurement_id``).
        labels: the labels table (``study_id, label_id, state, severity, source, rule_id, conflict``).
        templates: the caption templates the run was built with; defaults to the packaged ones.

    Returns:
        ``{check name: issues}`` with every name of :data:`CHECK_NAMES`, empty lists included.
    """
    templates = templates or load_templates()
    measurement_rows = _index(measurements, "name")
    label_rows = _index(labels, "label_id")
    issues: dict[str, list[Issue]] = {name: [] for name in CHECK_NAMES}

    for row in captions.to_dict("records"):
        text = str(row["caption"])
        study_id = int(row["study_id"])
        clip_id = str(row["clip_id"])
        provenance = json.loads(row["provenance"])
        numbers = provenance.get("numbers", [])
        findings = provenance.get("findings", [])
        for number in numbers:
            found = _check_number(text, number, measurement_rows.get(study_id, {}), templates)
            for check, item, expected, value, message in found:
                issues[check].append(Issue(check, study_id, clip_id, item, expected, value, message))
        for issue in _uncovered_numbers(text, numbers, study_id, clip_id):
            issues["number_provenance"].append(issue)
        for finding in findings:
            study_labels = label_rows.get(study_id, {})
            for check, item, expected, value, message in _check_finding(
                text, finding, study_labels, templates
            ):
                issues[check].append(Issue(check, study_id, clip_id, item, expected, value, message))
        negatives = json.loads(row["negatives"]) if isinstance(row.get("negatives"), str) else []
        issues["negatives"].extend(_check_negatives(text, negatives, findings, study_id, clip_id))

    issues["study_agreement"].extend(_study_agreement(captions))
    issues["label_sources"].extend(_label_conflicts(labels))
    return issues


def _index(frame: pd.DataFrame, key: str) -> dict[int, dict[str, dict[str, Any]]]:
    result: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in frame.to_dict("records"):
        result[int(row["study_id"])].setdefault(str(row[key]), row)
    return result


def _text_of(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def _check_number(
    text: str, number: Mapping[str, Any], study_measurements: Mapping[str, Mapping[str, Any]], templates
) -> list[tuple[str, str, str, str, str]]:
    """Return (check, item, expected, found, message) for each fault of one provenance number."""
    name = str(number.get("measurement", ""))
    start, end = (int(position) for position in number["span"])
    shown = text[start:end]
    faults = []
    source = study_measurements.get(name)
    if source is None:
        return [
            ("number_value", name, "a measurement row", shown, f"no {name!r} row in the measurements table")
        ]

    fmt = templates.measurements.get(name)
    decimals = fmt.decimals if fmt is not None else _decimals(shown)
    source_value = float(source["value"])
    expected = f"{source_value:.{decimals}f}"
    if shown != expected:
        faults.append(
            (
                "number_value",
                name,
                expected,
                shown,
                f"caption shows {shown!r}, measurement {name} is {source_value:g}",
            )
        )
    if str(number.get("measurement_id")) != _text_of(source.get("measurement_id")):
        faults.append(
            (
                "number_value",
                name,
                _text_of(source.get("measurement_id")),
                str(number.get("measurement_id")),
                "provenance names another measurement id than the measurements table",
            )
        )

    source_unit = _text_of(source.get("unit"))
    if str(number.get("unit")) != source_unit:
        faults.append(
            (
                "number_unit",
                name,
                source_unit,
                str(number.get("unit")),
                "provenance unit differs from the table",
            )
        )
    if fmt is not None and fmt.unit != source_unit:
        faults.append(
            ("number_unit", name, fmt.unit, source_unit, f"template expects {name} in {fmt.unit!r}")
        )
    display = templates.units.get(source_unit)
    following = text[end:]
    if display is None:
        faults.append(
            ("number_unit", name, source_unit, following[:8], f"unit {source_unit!r} has no display text")
        )
    elif not _unit_follows(following, display):
        faults.append(
            (
                "number_unit",
                name,
                display.strip() or "(no unit)",
                following[:8].strip(),
                "caption shows another unit",
            )
        )
    return faults


def _decimals(shown: str) -> int:
    return len(shown.split(".", 1)[1]) if "." in shown else 0


def _unit_follows(following: str, display: str) -> bool:
    """Return whether ``following`` starts with the unit's display text and then ends the unit."""
    if not following.startswith(display):
        return False
    rest = following[len(display) :]
    # A dimensionless value ("1") has no display text, so any unit word after it is a wrong unit.
    return not rest or not (rest[0].isalnum() or rest[0] in "%²/")


def _uncovered_numbers(
    text: str, numbers: Iterable[Mapping[str, Any]], study_id: int, clip_id: str
) -> list[Issue]:
    spans = [tuple(int(position) for position in number["span"]) for number in numbers]
    issues = []
    for match in NUMBER_PATTERN.finditer(text):
        if any(start <= match.start() and match.end() <= end for start, end in spans):
            continue
        issues.append(
            Issue(
                "number_provenance",
                study_id,
                clip_id,
                match.group(),
                "a provenance entry",
                f"characters {match.start()}-{match.end()}",
                f"number {match.group()!r} in the caption has no provenance entry",
            )
        )
    return issues


def _check_finding(
    text: str,
    finding: Mapping[str, Any],
    study_labels: Mapping[str, Mapping[str, Any]],
    templates: CaptionTemplates,
) -> list[tuple[str, str, str, str, str]]:
    label_id = str(finding.get("label_id"))
    start, end = (int(position) for position in finding["span"])
    shown = text[start:end]
    label = study_labels.get(label_id)
    if label is None:
        return [("finding_label", label_id, "a label row", shown, f"no {label_id!r} row in the labels table")]

    state = _text_of(label.get("state"))
    severity = _text_of(label.get("severity"))
    faults = []
    if state not in STATED_STATES or bool(label.get("conflict")):
        faults.append(
            (
                "finding_label",
                label_id,
                "present or absent, no conflict",
                f"{state}{' (conflict)' if label.get('conflict') else ''}",
                "the caption states a label that is not definite",
            )
        )
    if _text_of(finding.get("state")) != state:
        faults.append(
            (
                "finding_label",
                label_id,
                state,
                _text_of(finding.get("state")),
                "polarity differs from the label",
            )
        )
    elif state == "present" and _text_of(finding.get("severity")) != severity:
        faults.append(
            (
                "finding_label",
                label_id,
                severity,
                _text_of(finding.get("severity")),
                "grade differs from the label",
            )
        )
    for key in ("source", "rule_id"):
        if _text_of(finding.get(key)) != _text_of(label.get(key)):
            faults.append(
                (
                    "finding_label",
                    label_id,
                    _text_of(label.get(key)),
                    _text_of(finding.get(key)),
                    f"{key} differs",
                )
            )

    expected = expected_finding_texts(label_id, state, severity, templates)
    if expected and shown not in expected:
        faults.append(
            (
                "finding_text",
                label_id,
                " | ".join(sorted(expected)),
                shown,
                f"caption words do not say {state}{' ' + severity if severity else ''}",
            )
        )
    return faults


def expected_finding_texts(label_id: str, state: str, severity: str, templates: CaptionTemplates) -> set[str]:
    """Return every text the templates can write for a label in this state and severity.

    Includes the grade words of each measurement graded by the label and each finding sentence for
    the label, in lower and sentence case (a caption capitalises the first letter of a sentence).
    """
    grade_key = "absent" if state == "absent" else severity
    texts: set[str] = set()
    for fmt in templates.measurements.values():
        if fmt.grade_label == label_id and grade_key in fmt.grade_words:
            texts.add(fmt.grade_words[grade_key])
    finding = templates.findings.get(label_id)
    if finding is not None and state in STATED_STATES:
        if state == "absent":
            kind, fields = "finding_absent", {"name": finding.name}
        elif severity in finding.severity_words:
            kind, fields = (
                "finding_present",
                {"name": finding.name, "severity": finding.severity_words[severity]},
            )
        else:
            kind, fields = "finding_present_unspecified", {"name": finding.name}
        for pattern in templates.sentences[kind]:
            sentence = string.Formatter().vformat(pattern, (), fields)
            texts.add(sentence)
            texts.add(sentence[0].upper() + sentence[1:])
    return texts


def _check_negatives(
    text: str,
    negatives: list[Mapping[str, Any]],
    findings: list[Mapping[str, Any]],
    study_id: int,
    clip_id: str,
) -> list[Issue]:
    stated = {str(finding.get("label_id")) for finding in findings}
    issues = []
    for negative in negatives:
        label_id = str(negative.get("label"))
        if negative.get("text") == text:
            issues.append(
                Issue(
                    "negatives",
                    study_id,
                    clip_id,
                    label_id,
                    "a changed caption",
                    "the caption itself",
                    "hard negative equals its caption",
                )
            )
        if label_id not in stated:
            issues.append(
                Issue(
                    "negatives",
                    study_id,
                    clip_id,
                    label_id,
                    f"one of {sorted(stated)}",
                    label_id,
                    "hard negative flips a label the caption does not state",
                )
            )
    return issues


def _study_agreement(captions: pd.DataFrame) -> list[Issue]:
    values: dict[tuple[int, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in captions.to_dict("records"):
        study_id, clip_id = int(row["study_id"]), str(row["clip_id"])
        provenance = json.loads(row["provenance"])
        for number in provenance.get("numbers", []):
            item = f"measurement {number.get('measurement')}"
            values[(study_id, item)][f"{number.get('text')} {number.get('unit')}"].add(clip_id)
        for finding in provenance.get("findings", []):
            item = f"label {finding.get('label_id')}"
            state = f"{finding.get('state')} {_text_of(finding.get('severity'))}".strip()
            values[(study_id, item)][state].add(clip_id)
        values[(study_id, "findings_key")][_text_of(row.get("findings_key"))].add(clip_id)

    issues = []
    for (study_id, item), by_value in sorted(values.items()):
        if len(by_value) < 2:
            continue
        ordered = sorted(by_value.items(), key=lambda pair: (-len(pair[1]), pair[0]))
        majority = ordered[0][0]
        for value, clip_ids in ordered[1:]:
            for clip_id in sorted(clip_ids):
                issues.append(
                    Issue(
                        "study_agreement",
                        study_id,
                        clip_id,
                        item,
                        majority,
                        value,
                        f"study {study_id}: {len(by_value)} different values of {item} across its captions",
                    )
                )
    return issues


def _label_conflicts(labels: pd.DataFrame) -> list[Issue]:
    if "conflict" not in labels.columns:
        return []
    issues = []
    for row in labels.loc[labels["conflict"].fillna(False).astype(bool)].to_dict("records"):
        chosen = f"{_text_of(row.get('state'))} {_text_of(row.get('severity'))}".strip()
        issues.append(
            Issue(
                "label_sources",
                int(row["study_id"]),
                None,
                str(row["label_id"]),
                "one state from every source",
                f"{chosen} from {_text_of(row.get('source'))} ({_text_of(row.get('rule_id'))})",
                f"sources disagree; inputs: {_text_of(row.get('inputs'))}",
            )
        )
    return issues


def flagged_clips(issues: Mapping[str, list[Issue]]) -> dict[str, set[str]]:
    """Return ``{clip id: names of the caption checks it fails}``."""
    kinds = {check.name: check.kind for check in CHECKS}
    result: dict[str, set[str]] = defaultdict(set)
    for name, found in issues.items():
        if kinds.get(name) != "caption":
            continue
        for issue in found:
            if issue.clip_id is not None:
                result[issue.clip_id].add(name)
    return dict(result)
