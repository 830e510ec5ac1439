"""Parse a measurement result written as text ("55", ">2.8", "1.5-2.0", "70% to 75%") into a value."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd


class ResultParseError(ValueError):
    """A result text that is neither empty nor a number, bound or range."""


@dataclass(frozen=True)
class ParsedResult:
    """A numeric result: ``value`` is the number, or a range's midpoint with ``low`` and ``high`` set.

    ``qualifier`` is one of ``=``, ``>``, ``>=``, ``<``, ``<=`` or ``range``.
    """

    value: float
    qualifier: str
    low: float | None = None
    high: float | None = None

    def interval(self) -> tuple[float, float]:
        """Return the closed interval of true values this result allows (bounds are open-ended)."""
        if self.qualifier == "range":
            return (self.low, self.high)  # type: ignore[return-value]
        if self.qualifier in (">", ">="):
            return (self.value, math.inf)
        if self.qualifier in ("<", "<="):
            return (-math.inf, self.value)
        return (self.value, self.value)


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_OPERATORS = {"≥": ">=", "≤": "<=", "=>": ">=", "=<": "<=", "~": "=", "": "="}
# A trailing unit word is allowed ("20.0MMHG", "55 %") and ignored: the unit column is authoritative.
_UNIT_TAIL = r"\s*(?:%|[a-z][a-z/0-9^²]*)?"
_RESULT = re.compile(
    rf"^\s*(?P<op><=|>=|=<|=>|≥|≤|<|>|=|~)?\s*(?P<a>{_NUMBER}){_UNIT_TAIL}"
    rf"(?:\s*(?:-|–|to)\s*(?P<b>{_NUMBER}){_UNIT_TAIL})?\s*$",
    re.IGNORECASE,
)


def parse_result(text: object) -> ParsedResult | None:
    """Parse one ``result`` cell.

    Returns:
        The parsed result, or None when the cell is empty (missing value).

    Raises:
        ResultParseError: when the text is not a number, a bound or a range, or a range runs backwards.
    """
    if text is None or text is pd.NA or (isinstance(text, float) and math.isnan(text)):
        return None
    if isinstance(text, int | float):
        return ParsedResult(float(text), "=")
    raw = str(text)
    if not raw.strip() or raw.strip().lower() in ("nan", "none", "n/a"):
        return None
    match = _RESULT.match(raw)
    if match is None:
        raise ResultParseError(f"result {raw[:60]!r} is not a number, bound (>2.8) or range (55-60)")
    operator = _OPERATORS.get(match["op"] or "", match["op"] or "=")
    first = float(match["a"])
    if match["b"] is None:
        if not math.isfinite(first):
            raise ResultParseError(f"result {raw[:60]!r} is not a finite number")
        return ParsedResult(first, operator)
    second = float(match["b"])
    if operator != "=":
        raise ResultParseError(f"result {raw[:60]!r} mixes a bound ({match['op']}) with a range")
    if second < first:
        raise ResultParseError(f"result {raw[:60]!r} is a range whose high end is below its low end")
    return ParsedResult((first + second) / 2, "range", first, second)
