"""Required literals of the rule patterns: every match contains one, so skipping on their absence is exact."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from echoground.reports.nlp import build_pipeline
from echoground.reports.regex_literals import required_literals


def _rule_patterns() -> list[re.Pattern[str]]:
    nlp = build_pipeline()
    matchers = (
        nlp.get_pipe("medspacy_target_matcher")._TargetMatcher__matcher,
        nlp.get_pipe("medspacy_context")._ConText__matcher,
    )
    return [
        pattern
        for matcher in matchers
        for patterns in matcher._MedspacyMatcher__regex_matcher._patterns.values()
        for pattern in patterns
    ]


PATTERNS = _rule_patterns()
# Words from the rule files and report layout, so random texts often match.
WORDS = [
    "no",
    "not",
    "is",
    "are",
    "mild",
    "moderate",
    "severe",
    "to",
    "(",
    ")",
    "1",
    "2",
    "3",
    "+",
    "-",
    "/",
    "LV",
    "RV",
    "LA",
    "RA",
    "left",
    "right",
    "ventricular",
    "atrial",
    "systolic",
    "diastolic",
    "function",
    "dysfunction",
    "cavity",
    "size",
    "wall",
    "thickness",
    "normal",
    "dilated",
    "aortic",
    "mitral",
    "tricuspid",
    "valve",
    "stenosis",
    "regurgitation",
    "MR",
    "AS",
    "effusion",
    "pericardial",
    "pleural",
    "cannot",
    "be",
    "excluded",
    "trace",
    "global",
    "regional",
    "hypokinesis",
    "grade",
    "II",
    "relaxation",
    "pulmonary",
    "artery",
    "pressure",
    "but",
    "with",
]


def test_literals_of_alternation() -> None:
    pattern = re.compile(r"\b(?:LVEF|ejection fraction)\b", re.IGNORECASE)
    assert required_literals(pattern) == frozenset({"lvef", "ejection fraction"})


def test_literals_skip_optional_parts() -> None:
    pattern = re.compile(r"\b(?:dilated |ischemic )?cardiomyopathy\b", re.IGNORECASE)
    assert required_literals(pattern) == frozenset({"cardiomyopathy"})


def test_literals_unknown_without_literal() -> None:
    assert required_literals(re.compile(r"\b\w+\b")) is None
    assert required_literals(re.compile(r"(?:a|\d)")) is None


def test_every_rule_pattern_has_literals() -> None:
    missing = [pattern.pattern for pattern in PATTERNS if required_literals(pattern) is None]
    assert missing == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), st.sampled_from([" ", "  ", " ("]))
def test_matches_contain_a_literal(words: list[str], separator: str) -> None:
    text = separator.join(words)
    for pattern in PATTERNS:
        literals = required_literals(pattern)
        for match in pattern.finditer(text):
            found = match.group().lower()
            assert any(literal in found for literal in literals), (pattern.pattern, found)
