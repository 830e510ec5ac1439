"""Parse cardiologist categorical fields ('Moderate-severe (3+)', '0 (nl)', 'II') into canonical grades."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd
import yaml

# The ordered severity scale shared by text findings, categorical fields and label rules.
SEVERITY_ORDER = ("mild", "mild_to_moderate", "moderate", "moderate_to_severe", "severe")
DIASTOLIC_GRADES = ("I", "II", "III")
_PLACEHOLDER = re.compile(r"\[\*\*.*?\*\*\]|_{2,}")


@dataclass(frozen=True)
class CategoricalTable:
    version: str
    field_labels: dict[str, str | None]
    patterns: tuple[tuple[re.Pattern[str], str], ...]


@cache
def load_categorical() -> CategoricalTable:
    """Read categorical.yaml once per process."""
    text = resources.files(__package__).joinpath("categorical.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    labels = {field: entry["label"] for field, entry in data["fields"].items()}
    patterns = tuple((re.compile(item["pattern"], re.IGNORECASE), item["grade"]) for item in data["values"])
    return CategoricalTable(str(data["version"]), labels, patterns)


def parse_grade(value: object) -> str | None:
    """Return the canonical grade of one categorical value, or None when the text matches no pattern.

    Empty values and values made only of de-identification placeholders give ``not_assessed``.
    """
    if value is None or value is pd.NA:
        return "not_assessed"
    text = _PLACEHOLDER.sub(" ", str(value)).strip()
    if not text or text.lower() == "nan":
        return "not_assessed"
    for pattern, grade in load_categorical().patterns:
        if pattern.search(text):
            return grade
    return None
