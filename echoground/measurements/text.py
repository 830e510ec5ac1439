"""Read measurement values stated in report text, with their qualifier and character span."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from echoground.measurements.catalog import load_catalog, normalise_unit
from echoground.measurements.parse import ResultParseError, parse_result

# Conversions for units that text states but the structured catalogue does not hold for the kind.
_TEXT_ONLY_UNITS = {"ml/m2": ("mL/m2", 1.0), "ml/m²": ("mL/m2", 1.0)}
_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+)"
_VALUE = re.compile(
    rf"(?P<op><=|>=|=<|=>|≥|≤|<|>|=|~)?\s*(?P<a>{_NUMBER})\s*%?"
    rf"(?:\s*(?:-|–|to)\s*(?P<b>{_NUMBER}))?"
    r"\s*(?P<unit>%|mm\s?hg|mmhg|m/s(?:ec)?|cm/s(?:ec)?|cm2|cm\^2|cm²|ml/m2|ml/m²|m2|m²|mm|cm|ml|kg|lbs?|in)?"
    r"(?![a-z0-9])",
    re.IGNORECASE,
)
_REFERENCE = re.compile(r"\((?:\s*(?:normal|nl|ref(?:erence)?|norm)\b)[^()]*\)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\[\*\*.*?\*\*\]|_{2,}", re.DOTALL)
_FILLER = re.compile(
    r"^[\s:=(,]*(?:(?:is|was|of|at|about|approximately|estimated|calculated|measured|measures|"
    r"visually|quantitative|quantitatively|biplane|3d|the|to be|be|peak|mean)\b[\s:=(,]*)*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TextMeasurement:
    """A value read from report text, converted to the canonical unit, with its span in the text."""

    name: str
    value: float
    unit: str
    qualifier: str
    low: float | None
    high: float | None
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class _Pattern:
    name: str
    default_unit: str
    regex: re.Pattern[str]


@cache
def _load_patterns() -> tuple[int, tuple[_Pattern, ...]]:
    text = resources.files(__package__).joinpath("text_patterns.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    patterns = []
    for key, entry in data["measurements"].items():
        name = entry.get("canonical", key)
        regex = re.compile("|".join(f"(?:{p})" for p in entry["names"]), re.IGNORECASE)
        patterns.append(_Pattern(name, str(entry["default_unit"]), regex))
    return int(data["max_gap"]), tuple(patterns)


def _blank(match: re.Match[str]) -> str:
    # Same length, so character offsets into the original text stay valid.
    return "".join("\n" if char == "\n" else " " for char in match.group(0))


def _mask(text: str) -> str:
    masked = _REFERENCE.sub(_blank, text)
    return _PLACEHOLDER.sub(lambda m: "_" * len(m.group(0)), masked)


def extract_measurements(text: str) -> list[TextMeasurement]:
    """Find the values that ``text`` states for the names in text_patterns.yaml.

    The first value after a name is taken, unless a placeholder or another number sits between them.
    Values outside the plausibility limits of names.yaml are dropped, as are values with a unit that does
    not fit the measurement.
    """
    max_gap, patterns = _load_patterns()
    masked = _mask(text)
    found: list[TextMeasurement] = []
    taken: set[tuple[int, int]] = set()
    for pattern in patterns:
        for name_match in pattern.regex.finditer(masked):
            window = masked[name_match.end() : name_match.end() + max_gap + 40]
            value_match = _VALUE.search(window)
            if value_match is None or not _FILLER.match(window[: value_match.start()]):
                continue
            if value_match.start() > max_gap:
                continue
            start = name_match.end() + value_match.start()
            end = name_match.end() + value_match.end()
            if (start, end) in taken:
                continue
            measurement = _to_measurement(pattern, value_match, text, name_match.start(), start, end)
            if measurement is not None:
                taken.add((start, end))
                found.append(measurement)
    return sorted(found, key=lambda item: (item.start, item.name))


def _to_measurement(
    pattern: _Pattern, match: re.Match[str], text: str, name_start: int, start: int, end: int
) -> TextMeasurement | None:
    raw = f"{match['op'] or ''}{match['a']}" + (f"-{match['b']}" if match["b"] else "")
    try:
        parsed = parse_result(raw)
    except ResultParseError:
        return None
    if parsed is None:
        return None
    unit_text = match["unit"] or pattern.default_unit
    converted = _convert(pattern.name, parsed.value, unit_text)
    if converted is None:
        return None
    value, unit, factor = converted
    low = None if parsed.low is None else parsed.low * factor
    high = None if parsed.high is None else parsed.high * factor
    return TextMeasurement(
        pattern.name, value, unit, parsed.qualifier, low, high, text[name_start:end], name_start, end
    )


def _convert(name: str, value: float, unit_text: str) -> tuple[float, str, float] | None:
    unit_key = normalise_unit(unit_text).replace(" ", "")
    if name == "lavi":
        if unit_key not in _TEXT_ONLY_UNITS:
            return None
        unit, factor = _TEXT_ONLY_UNITS[unit_key]
        return (value * factor, unit, factor) if 5 <= value * factor <= 300 else None
    catalog = load_catalog()
    spec = catalog.specs[name]
    try:
        converted, _ = catalog.to_canonical_unit(name, value, unit_key)
    except ValueError:
        return None
    if not spec.minimum <= converted <= spec.maximum:
        return None
    return converted, spec.unit, (converted / value if value else 1.0)
