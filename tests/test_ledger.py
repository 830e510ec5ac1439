"""The run ledger: reason codes, Parquet round trip, stable order and counts."""

from __future__ import annotations

import pytest

from echoground.ledger import Ledger, LedgerEntry, Status


def make_ledger() -> Ledger:
    ledger = Ledger()
    ledger.add(
        "dicom",
        "file",
        "files/p10/p10000002/s90000002/90000002_0002.dcm",
        "rejected",
        "truncated",
        "file ends inside the pixel data",
        subject_id=10000002,
        study_id=90000002,
    )
    ledger.add(
        "dicom",
        "file",
        "files/p10/p10000001/s90000001/90000001_0001.dcm",
        Status.ACCEPTED,
        "ok",
        subject_id=10000001,
        study_id=90000001,
    )
    ledger.add(
        "reports",
        "study",
        "90000001",
        Status.SKIPPED,
        "no_note_within_window",
        "nearest discharge summary is 9.0 days away",
        subject_id=10000001,
        study_id=90000001,
    )
    return ledger


def test_reason_must_be_snake_case() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        LedgerEntry("dicom", "file", "a.dcm", Status.REJECTED, "Not DICOM")


def test_unknown_status_rejected() -> None:
    with pytest.raises(ValueError):
        Ledger().add("dicom", "file", "a.dcm", "lost", "ok")


def test_parquet_round_trip(tmp_path) -> None:
    ledger = make_ledger()
    path = ledger.write(tmp_path / "run" / "ledger.parquet")
    restored = Ledger.read(path)
    assert sorted(restored.entries, key=lambda e: e.item_id) == sorted(
        ledger.entries, key=lambda e: e.item_id
    )
    assert not (tmp_path / "run" / "ledger.parquet.partial").exists()


def test_frame_sorted_and_typed() -> None:
    frame = make_ledger().to_frame()
    assert list(frame["stage"]) == ["dicom", "dicom", "reports"]
    assert frame["item_id"].iloc[0].endswith("90000001_0001.dcm")
    assert str(frame["study_id"].dtype) == "Int64"


def test_counts_per_stage_and_reason() -> None:
    counts = make_ledger().counts()
    assert counts["dicom"] == {"accepted/ok": 1, "rejected/truncated": 1}
    assert counts["reports"] == {"skipped/no_note_within_window": 1}


def test_read_rejects_other_tables(tmp_path) -> None:
    import pandas as pd

    path = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(ValueError, match="missing columns"):
        Ledger.read(path)
