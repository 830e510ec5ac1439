"""Structured and text measurements: name map, units, result parsing, plausibility, derived quantities.

Entry points: :func:`to_wide` (long MIMIC table -> one row per study, with a ledger),
:func:`derive` (BSA, LAVI, LV mass, LVMI, RWT, E/e', RVSP) and :func:`extract_measurements` (values stated
in report text). Names, units and limits live in names.yaml, categorical grades in categorical.yaml and
text patterns in text_patterns.yaml.
"""

from echoground.measurements.catalog import load_catalog
from echoground.measurements.categorical import SEVERITY_ORDER, parse_grade
from echoground.measurements.derived import Derived, derive, mosteller_bsa
from echoground.measurements.parse import ParsedResult, ResultParseError, parse_result
from echoground.measurements.text import TextMeasurement, extract_measurements
from echoground.measurements.wide import to_wide

__all__ = [
    "SEVERITY_ORDER",
    "Derived",
    "ParsedResult",
    "ResultParseError",
    "TextMeasurement",
    "derive",
    "extract_measurements",
    "load_catalog",
    "mosteller_bsa",
    "parse_grade",
    "parse_result",
    "to_wide",
]
