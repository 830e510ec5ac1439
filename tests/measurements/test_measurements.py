"""Measurement stage: result parsing, units, plausibility, long-to-wide, derived values, text values."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from echoground.measurements import (
    ResultParseError,
    derive,
    extract_measurements,
    mosteller_bsa,
    parse_grade,
    parse_result,
    to_wide,
)
from echoground.measurements.derived import right_atrial_pressure


@pytest.mark.parametrize(
    ("text", "value", "qualifier", "low", "high"),
    [
        ("55", 55.0, "=", None, None),
        (">2.8", 2.8, ">", None, None),
        ("< 0.8", 0.8, "<", None, None),
        ("≥40", 40.0, ">=", None, None),
        ("1.5-2.0", 1.75, "range", 1.5, 2.0),
        ("55 - 60", 57.5, "range", 55.0, 60.0),
        ("70% to 75%", 72.5, "range", 70.0, 75.0),
        ("20.0MMHG", 20.0, "=", None, None),
        (".9", 0.9, "=", None, None),
    ],
)
def test_parse_result_forms(text, value, qualifier, low, high) -> None:
    parsed = parse_result(text)
    assert parsed is not None
    assert parsed.value == pytest.approx(value)
    assert parsed.qualifier == qualifier
    assert parsed.low == low
    assert parsed.high == high


@pytest.mark.parametrize("text", ["", "   ", None, float("nan"), pd.NA])
def test_parse_result_empty_is_missing(text) -> None:
    assert parse_result(text) is None


@pytest.mark.parametrize("text", ["abc", "___", "60-55", ">55-60", "[** 55 **]"])
def test_parse_result_rejects_junk(text) -> None:
    with pytest.raises(ResultParseError):
        parse_result(text)


@given(st.text(max_size=40))
def test_parse_result_any_text(text: str) -> None:
    try:
        parsed = parse_result(text)
    except ResultParseError:
        return
    assert parsed is None or math.isfinite(parsed.value)


@given(st.text(max_size=300))
def test_extract_measurements_any_text(text: str) -> None:
    for item in extract_measurements(text):
        assert 0 <= item.start < item.end <= len(text)


def _long(rows):
    base = {"subject_id": 10000001, "measurement_datetime": "2018-01-01 10:00", "measurement_description": ""}
    return pd.DataFrame([base | row for row in rows])


def test_to_wide_units_and_rejects() -> None:
    rows = [
        {"measurement_id": 1, "test_type": "tte", "measurement": "lvedd", "result": "5.2", "unit": "cm"},
        {
            "measurement_id": 1,
            "test_type": "tte",
            "measurement": "sept_e_prime",
            "result": "0.06",
            "unit": "m/s",
        },
        {"measurement_id": 1, "test_type": "tte", "measurement": "tapse", "result": "1.8", "unit": "cm"},
        {"measurement_id": 1, "test_type": "tte", "measurement": "lvef", "result": "55-60", "unit": "%"},
        {
            "measurement_id": 1,
            "test_type": "tte",
            "measurement": "septal_thickness",
            "result": "11",
            "unit": "cm",
        },
        {"measurement_id": 1, "test_type": "tte", "measurement": "mystery", "result": "1", "unit": "cm"},
        {"measurement_id": 1, "test_type": "tte", "measurement": "la_vol", "result": "50", "unit": "furlong"},
        {
            "measurement_id": 1,
            "test_type": "tte",
            "measurement": "mitral_regurg",
            "result": "Moderate-severe (3+)",
            "unit": "",
        },
        {"measurement_id": 2, "test_type": "stress", "measurement": "lvedd", "result": "5.0", "unit": "cm"},
    ]
    wide, ledger = to_wide(_long(rows))
    assert list(wide["measurement_id"]) == [1]
    row = wide.iloc[0]
    assert row["lvidd"] == pytest.approx(5.2)
    assert row["e_prime_septal"] == pytest.approx(6.0)
    assert row["tapse"] == pytest.approx(18.0)
    assert row["lvef"] == pytest.approx(57.5)
    assert row["lvef_qualifier"] == "range"
    assert row["mitral_regurg"] == "moderate_to_severe"
    assert "ivsd" not in wide.columns or pd.isna(row.get("ivsd"))
    reasons = {entry.reason for entry in ledger.entries}
    assert {"implausible_value", "unknown_measurement", "unknown_unit", "not_transthoracic"} <= reasons


def test_to_wide_string_dtype_empty_cells() -> None:
    # The MIMIC readers use pandas "string" columns, where an empty cell is pd.NA, not NaN.
    rows = [
        {"measurement_id": 1, "test_type": "tte", "measurement": "mv_peak_e_a", "result": "1.4", "unit": ""},
        {"measurement_id": 1, "test_type": "tte", "measurement": "lvef", "result": "", "unit": "%"},
        {
            "measurement_id": 1,
            "test_type": "tte",
            "measurement": "mv_prolapse",
            "result": "Absent",
            "unit": "",
        },
    ]
    frame = _long(rows).astype({"result": "string", "unit": "string", "measurement": "string"})
    frame[["result", "unit"]] = frame[["result", "unit"]].replace("", pd.NA)
    wide, ledger = to_wide(frame)
    row = wide.iloc[0]
    assert row["mv_e_a"] == pytest.approx(1.4)
    assert "lvef" not in wide.columns or pd.isna(row.get("lvef"))
    assert row["mv_prolapse"] == "normal"
    assert [entry.reason for entry in ledger.entries if entry.status == "rejected"] == []


def test_to_wide_missing_column() -> None:
    with pytest.raises(ValueError, match="missing columns"):
        to_wide(pd.DataFrame({"subject_id": [1]}))


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        ("Moderate-severe (3+)", "moderate_to_severe"),
        ("Mild (1+)", "mild"),
        ("0 (nl)", "normal"),
        ("II", "II"),
        ("Indeterminate", "indeterminate"),
        ("Unable to assess", "not_assessed"),
        ("Trace", "trace"),
        ("Physiologic", "trace"),
        ("Severely depressed", "severe"),
        ("Critical", "severe"),
        ("critical (AVA < 0.6 cm2)", "severe"),
        ("Moderate", "moderate"),
        ("", "not_assessed"),
    ],
)
def test_parse_grade(value, grade) -> None:
    assert parse_grade(value) == grade


def test_derived_values() -> None:
    derived = derive(
        {
            "height": 170,
            "weight": 70,
            "la_volume": 60,
            "lvidd": 5.0,
            "ivsd": 1.0,
            "lvpwd": 1.0,
            "mv_e": 80,
            "e_prime_septal": 6,
            "e_prime_lateral": 10,
            "tr_velocity": 3.0,
        }
    )
    bsa = mosteller_bsa(170, 70)
    assert derived["bsa"].value == pytest.approx(bsa)
    assert derived["lavi"].value == pytest.approx(60 / bsa)
    assert derived["lv_mass"].value == pytest.approx(0.8 * 1.04 * (7.0**3 - 5.0**3) + 0.6)
    assert derived["rwt"].value == pytest.approx(0.4)
    assert derived["e_e_prime"].value == pytest.approx(10.0)
    assert derived["rvsp"].value == pytest.approx(4 * 9 + 8)
    assert derived["rvsp"].assumed == ("rap",)


def test_measured_bsa_is_kept() -> None:
    assert "bsa" not in derive({"bsa": 1.9, "height": 170, "weight": 70})


@pytest.mark.parametrize(
    ("ivc", "collapse", "rap"), [(2.0, 60, 3), (2.2, 40, 15), (2.0, 40, 8), (2.2, 60, 8)]
)
def test_right_atrial_pressure(ivc, collapse, rap) -> None:
    assert right_atrial_pressure(ivc, collapse) == (rap, False)


def test_text_values_and_reference_ranges() -> None:
    text = (
        "Height: (in) 68 Weight (lb): 180 BSA (m2): 1.95 m2\nOverall LVEF >55%. LA volume index "
        "(normal <=34) 40 ml/m2. LVEF ___%. BSA: [** 1.9 **]"
    )
    found = {(m.name, m.qualifier): m for m in extract_measurements(text)}
    assert found[("height", "=")].value == pytest.approx(68 * 2.54)
    assert found[("weight", "=")].value == pytest.approx(180 * 0.45359237)
    assert found[("bsa", "=")].value == pytest.approx(1.95)
    assert found[("lvef", ">")].value == 55
    assert found[("lavi", "=")].value == 40
    assert len([m for m in found.values() if m.name == "lvef"]) == 1
    assert len([m for m in found.values() if m.name == "bsa"]) == 1
    lvef = found[("lvef", ">")]
    assert text[lvef.start : lvef.end] == "LVEF >55%"
