"""Ledger messages of the measurements stage: the accepted study row counts the measurements it kept."""

from __future__ import annotations

import pandas as pd

from echoground.measurements.wide import to_wide


def _long(rows: list[dict]) -> pd.DataFrame:
    base = {"subject_id": 10000001, "measurement_datetime": "2018-01-01 10:00", "measurement_description": ""}
    return pd.DataFrame([base | {"test_type": "tte"} | row for row in rows])


def _accepted_messages(rows: list[dict]) -> dict[str, str]:
    _, ledger = to_wide(_long(rows))
    return {entry.item_id: entry.message for entry in ledger.entries if entry.reason == "tte_study"}


def test_tte_study_message_counts_values() -> None:
    rows = [
        {"measurement_id": 1, "measurement": "lvedd", "result": "5.2", "unit": "cm"},
        {"measurement_id": 1, "measurement": "lvef", "result": "55-60", "unit": "%"},
        {"measurement_id": 1, "measurement": "mitral_regurg", "result": "Trace", "unit": ""},
        {"measurement_id": 1, "measurement": "mystery", "result": "1", "unit": "cm"},
    ]

    messages = _accepted_messages(rows)

    assert messages == {"1": "measurement_id 1: test_type 'tte', 3 measurements kept in the wide row"}


def test_tte_study_message_with_no_values() -> None:
    rows = [{"measurement_id": 7, "measurement": "lvedd", "result": "", "unit": "cm"}]

    messages = _accepted_messages(rows)

    assert messages == {"7": "measurement_id 7: test_type 'tte', 0 measurements kept in the wide row"}


def test_every_measurement_row_has_message() -> None:
    rows = [
        {"measurement_id": 1, "measurement": "lvedd", "result": "5.2", "unit": "cm"},
        {"measurement_id": 1, "measurement": "la_vol", "result": "50", "unit": "furlong"},
        {"measurement_id": 2, "measurement": "lvedd", "result": "5.0", "unit": "cm", "test_type": "stress"},
    ]

    _, ledger = to_wide(_long(rows))

    assert ledger.entries
    for entry in ledger.entries:
        assert entry.message, entry
