"""Report NLP regression set: every pattern kind in regression.yaml gives its expected label states."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from echoground.reports import parse_reports

CASES = yaml.safe_load((Path(__file__).with_name("regression.yaml")).read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="module")
def parsed_cases():
    return parse_reports([case["text"] for case in CASES])


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case["kind"] for case in CASES])
def test_regression_case(index: int, parsed_cases) -> None:
    case = CASES[index]
    labels = parsed_cases[index].labels
    for label, (state, severity) in case["expect"].items():
        if state == "missing":
            assert label not in labels, f"{case['text']!r}: {label} should not be found"
            continue
        assert label in labels, f"{case['text']!r}: {label} not found"
        assert labels[label].state == state, f"{case['text']!r}: {label}"
        assert labels[label].severity == (None if severity is None else str(severity)), f"{case['text']!r}"
