"""Ledger messages of the build: every row names its item and the value or rule behind its reason."""

from __future__ import annotations

import pandas as pd

from echoground.build.selection import get_profile, select_clips


def test_no_ledger_row_has_empty_message(built_run) -> None:
    _, summary = built_run
    ledger = pd.read_parquet(summary.parent / "ledger.parquet")

    empty = ledger.loc[ledger["message"].fillna("") == "", ["stage", "reason", "item_id"]]

    assert len(ledger) > 0
    assert empty.empty, empty.groupby(["stage", "reason"]).size().to_dict()


def test_view_uncertain_rows_give_threshold(built_run) -> None:
    config, summary = built_run
    ledger = pd.read_parquet(summary.parent / "ledger.parquet")
    views = ledger.loc[
        (ledger["stage"] == "views") & ledger["reason"].isin(["view_predicted", "view_uncertain"])
    ]

    assert len(views) > 0
    for message in views["message"]:
        assert f"threshold {config.view_threshold:g}" in message


def test_selected_row_names_clip_and_profile() -> None:
    clips = pd.DataFrame(
        [
            {
                "clip_id": "c1",
                "subject_id": 1,
                "study_id": 10,
                "clip_kind": "b_mode_2d",
                "view": "A4C",
                "view_confidence": 0.9,
                "view_rejected": False,
            }
        ]
    )

    _, entries = select_clips(clips, {"A4C"}, {10}, {10}, get_profile("default"))

    assert [entry.reason for entry in entries] == ["selected"]
    assert entries[0].message == "clip c1 (study 10, view 'A4C', kind b_mode_2d): kept by profile default"
