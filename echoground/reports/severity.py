"""Grade severity words ("Moderate to severe (3+)", "mildly", "small") onto one ordered scale."""

from __future__ import annotations

import re

from echoground.measurements.categorical import DIASTOLIC_GRADES, SEVERITY_ORDER

_BRACKET = re.compile(r"([0-4])\s*(?:-\s*([0-4]))?\s*\+")
_WORDS = re.compile(r"\b(mild|moderate|severe|small|large|massive|critical)", re.IGNORECASE)
# "Critical" aortic stenosis lies beyond severe for some readers; the scale stops at severe.
_WORD_GRADE = {"mild": 0, "small": 0, "moderate": 2, "severe": 4, "large": 4, "massive": 4, "critical": 4}
# Bracketed regurgitation grades: 1+ mild, 2+ moderate, 3+ moderate-to-severe, 4+ severe.
_BRACKET_GRADE = {1: 0, 2: 2, 3: 3, 4: 4}


def grade_severity(text: str) -> str | None:
    """Return the grade that a severity phrase states, or None when it states none ("0+").

    A bracketed number decides when present, because de-identification can blank a word of the grade
    ("Moderate to ___ (3+)"). Two words ("mild to moderate", "moderate-severe") give the grade between.
    """
    bracket = _BRACKET.search(text)
    if bracket:
        low = int(bracket.group(1))
        high = int(bracket.group(2) or low)
        if high == 0:
            return None
        if low != high:
            # "1-2+" lies between mild and moderate, "2-3+" between moderate and severe.
            return SEVERITY_ORDER[min(_BRACKET_GRADE.get(low, 0), 3) + 1] if low else SEVERITY_ORDER[0]
        return SEVERITY_ORDER[_BRACKET_GRADE[high]] if high in _BRACKET_GRADE else None
    words = [_WORD_GRADE[word.lower()] for word in _WORDS.findall(text)]
    if not words:
        return None
    if len(words) >= 2 and words[0] != words[-1]:
        return SEVERITY_ORDER[(min(words[0], words[-1]) + max(words[0], words[-1])) // 2]
    return SEVERITY_ORDER[words[0]]


def severity_rank(severity: str | None) -> int:
    """Return the position of ``severity`` on its scale (-1 for None), for picking the highest."""
    if severity in SEVERITY_ORDER:
        return SEVERITY_ORDER.index(severity)
    if severity in DIASTOLIC_GRADES:
        return DIASTOLIC_GRADES.index(severity) * 2
    return -1
