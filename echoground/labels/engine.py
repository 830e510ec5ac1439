"""The label engine: guideline rules over measurements, cardiologist grades and report findings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from echoground.measurements.categorical import DIASTOLIC_GRADES, SEVERITY_ORDER

STATES = ("present", "absent", "uncertain", "not_assessed")


@dataclass(frozen=True)
class Value:
    """A measurement in its canonical unit; ``low``/``high`` bound the true value (open ends are inf)."""

    name: str
    value: float
    unit: str
    qualifier: str = "="
    low: float = -math.inf
    high: float = math.inf
    origin: str = "structured"

    @classmethod
    def exact(cls, name: str, value: float, unit: str, origin: str = "derived") -> Value:
        return cls(name, value, unit, "=", value, value, origin)

    def as_input(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 4),
            "unit": self.unit,
            "qualifier": self.qualifier,
            "origin": self.origin,
        }


@dataclass
class SourceResult:
    """The state one source gives a label, with the rule and inputs that produced it."""

    state: str
    severity: str | None
    rule: str
    inputs: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None


@dataclass(frozen=True)
class LabelResult:
    """The final state of one label for one study."""

    state: str
    severity: str | None
    source: str | None
    rule: str | None
    inputs: list[dict[str, Any]]
    conflict: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "severity": self.severity,
            "source": self.source,
            "rule": self.rule,
            "inputs": self.inputs,
            "conflict": self.conflict,
        }


@cache
def load_rules() -> dict[str, Any]:
    """Read rules.yaml once per process."""
    return yaml.safe_load(resources.files(__package__).joinpath("rules.yaml").read_text(encoding="utf-8"))


@cache
def label_ids() -> dict[str, str]:
    """Return the canonical label ids with their display names, in the order of label_ids.yaml."""
    text = resources.files(__package__).joinpath("label_ids.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text)["labels"])


def compare(op: str, low: float, high: float, threshold: float) -> bool | None:
    """Return True when every value in [low, high] meets ``op threshold``, False when none does, else None."""
    checks = {
        "<": (high < threshold, low >= threshold),
        "<=": (high <= threshold, low > threshold),
        ">": (low > threshold, high <= threshold),
        ">=": (low >= threshold, high < threshold),
        "==": (low == high == threshold, not low <= threshold <= high),
    }
    all_true, all_false = checks[op]
    if all_true:
        return True
    if all_false:
        return False
    return None


def _first_value(values: dict[str, Value], names: list[str]) -> Value | None:
    for name in names:
        if name in values:
            return values[name]
    return None


def evaluate_cutoffs(rule: dict[str, Any], values: dict[str, Value], sex: str | None) -> SourceResult | None:
    """Apply one cut-off rule; None when its input is missing; not_assessed when it needs a missing sex."""
    value = _first_value(values, rule["inputs"])
    if value is None:
        return None
    cutoffs = rule["cutoffs"]
    if "ANY" in cutoffs:
        bands = cutoffs["ANY"]
    elif sex in cutoffs:
        bands = cutoffs[sex]
    else:
        return SourceResult(
            "not_assessed",
            None,
            rule["id"],
            [value.as_input()],
            note=f"sex-specific rule needs sex M or F, got {sex!r}",
        )
    first = compare(bands[0]["op"], value.low, value.high, bands[0]["value"])
    if first is False:
        return SourceResult("absent", None, rule["id"], [value.as_input()])
    if first is None:
        return SourceResult(
            "uncertain", None, rule["id"], [value.as_input()], note="the bound or range straddles the cut-off"
        )
    severity = bands[0]["severity"]
    for band in bands[1:]:
        if compare(band["op"], value.low, value.high, band["value"]) is True:
            severity = band["severity"]
    return SourceResult("present", severity, rule["id"], [value.as_input()])


def grade_to_state(grade: str) -> tuple[str, str | None] | None:
    """Map a canonical categorical grade to (state, severity); None for not_assessed."""
    if grade in ("normal", "trace"):
        return "absent", None
    if grade in SEVERITY_ORDER or grade in DIASTOLIC_GRADES:
        return "present", grade
    if grade == "present":
        return "present", None
    if grade == "indeterminate":
        return "uncertain", None
    return None


def decide(results: dict[str, SourceResult | None]) -> LabelResult:
    """Combine per-source results by the precedence in rules.yaml (first definite state wins)."""
    order = load_rules()["source_precedence"]
    available = [(source, results[source]) for source in order if results.get(source) is not None]
    definite = [(s, r) for s, r in available if r.state in ("present", "absent")]  # type: ignore[union-attr]
    conflict = len({r.state for _, r in definite}) > 1  # type: ignore[union-attr]
    chosen = definite[0] if definite else None
    if chosen is None:
        uncertain = [(s, r) for s, r in available if r.state == "uncertain"]  # type: ignore[union-attr]
        chosen = uncertain[0] if uncertain else None
    if chosen is None:
        rules = [r for _, r in available]
        inputs = [item for r in rules for item in r.inputs]  # type: ignore[union-attr]
        rule = rules[0].rule if rules else None  # type: ignore[union-attr]
        return LabelResult("not_assessed", None, None, rule, inputs, False)
    source, result = chosen
    inputs = list(result.inputs)  # type: ignore[union-attr]
    if result.note:  # type: ignore[union-attr]
        inputs.append({"note": result.note})  # type: ignore[union-attr]
    return LabelResult(result.state, result.severity, source, result.rule, inputs, conflict)  # type: ignore[union-attr]
