"""Derived quantities reach the measurements table with their inputs, unless measured directly."""

from __future__ import annotations

import pytest

from echoground.build.study_stage import _derived_rows


def test_lavi_row_names_inputs() -> None:
    rows = _derived_rows({"la_volume": 68.0, "bsa": 2.0}, study_id=90000001, measurement_id=1090000001)
    by_name = {row["name"]: row for row in rows}
    assert by_name["la_volume_index"]["value"] == pytest.approx(34.0)
    assert by_name["la_volume_index"]["unit"] == "mL/m2"
    assert by_name["la_volume_index"]["measurement_id"] == "derived:1090000001"
    assert "la_volume=68" in by_name["la_volume_index"]["raw_value"]
    assert "bsa=2" in by_name["la_volume_index"]["raw_value"]


def test_measured_value_not_duplicated() -> None:
    record = {"mv_e": 80.0, "e_prime_septal": 8.0, "e_prime_lateral": 12.0, "e_e_prime": 9.5}
    names = [row["name"] for row in _derived_rows(record, study_id=1, measurement_id=2)]
    assert "e_e_prime" not in names


def test_rvsp_marks_assumed_rap() -> None:
    rows = _derived_rows({"tr_velocity": 3.0}, study_id=1, measurement_id=2)
    rvsp = next(row for row in rows if row["name"] == "rvsp")
    assert rvsp["value"] == pytest.approx(4 * 9 + 8)
    assert "assumed: rap" in rvsp["raw_value"]
