"""Selection profiles: each reason a clip is left out, and one clip per view per study."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from echoground.build.selection import get_profile, select_clips
from echoground.build_cli import build

STANDARD = {"A4C", "PLAX"}


def _clips(rows: list[dict]) -> pd.DataFrame:
    defaults = {"subject_id": 1, "study_id": 10, "clip_kind": "b_mode_2d", "view": "A4C"}
    defaults |= {"view_confidence": 0.9, "view_rejected": False}
    return pd.DataFrame([defaults | row for row in rows])


def _reasons(clips: pd.DataFrame, profile: str, measured=frozenset({10}), reported=frozenset({10})):
    keep, entries = select_clips(clips, STANDARD, set(measured), set(reported), get_profile(profile))
    return list(keep), {entry.item_id: entry.reason for entry in entries}


def test_default_keeps_doppler_and_uncertain() -> None:
    clips = _clips(
        [
            {"clip_id": "a", "clip_kind": "color_doppler", "view": None},
            {"clip_id": "b", "view": "uncertain"},
            {"clip_id": "c"},
            {"clip_id": "d"},
        ]
    )
    keep, reasons = _reasons(clips, "default", measured=set(), reported=set())
    assert keep == [True, True, True, True]
    assert set(reasons.values()) == {"selected"}


def test_default_skips_other_kind() -> None:
    keep, reasons = _reasons(_clips([{"clip_id": "a", "clip_kind": "other", "view": None}]), "default")
    assert keep == [False]
    assert reasons["a"] == "clip_kind_not_selected"


def test_view_rejected_skipped() -> None:
    keep, reasons = _reasons(_clips([{"clip_id": "a", "view": None, "view_rejected": True}]), "default")
    assert keep == [False]
    assert reasons["a"] == "view_rejected"


@pytest.mark.parametrize(
    ("row", "measured", "reported", "reason"),
    [
        ({"clip_kind": "color_doppler", "view": None}, {10}, {10}, "clip_kind_not_selected"),
        ({"view": "uncertain"}, {10}, {10}, "not_standard_view"),
        ({"view": "SUBCOSTAL_IVC"}, {10}, {10}, "not_standard_view"),
        ({}, set(), {10}, "study_without_measurements"),
        ({}, {10}, set(), "study_without_report"),
        ({}, {10}, {10}, "selected"),
    ],
)
def test_mimic_profile_reasons(row, measured, reported, reason) -> None:
    keep, reasons = _reasons(_clips([{"clip_id": "a"} | row]), "echoground-mimic", measured, reported)
    assert keep == [reason == "selected"]
    assert reasons["a"] == reason


def test_mimic_keeps_best_clip_per_view() -> None:
    clips = _clips(
        [
            {"clip_id": "a", "view_confidence": 0.7},
            {"clip_id": "b", "view_confidence": 0.95},
            {"clip_id": "c", "view": "PLAX", "view_confidence": 0.6},
            {"clip_id": "d", "study_id": 11, "view_confidence": 0.5},
        ]
    )
    keep, reasons = _reasons(clips, "echoground-mimic", measured={10, 11}, reported={10, 11})
    assert keep == [False, True, True, True]
    assert reasons["a"] == "extra_clip_of_view"


def test_unknown_profile_names_choices() -> None:
    with pytest.raises(ValueError, match="echoground-mimic"):
        get_profile("paper")


def test_cli_without_view_model_stops(tmp_path) -> None:
    roots = [tmp_path / name for name in ("echo", "note", "hosp")]
    arguments = ["--echo-root", str(roots[0]), "--note-root", str(roots[1]), "--hosp-root", str(roots[2])]
    result = CliRunner().invoke(build, [*arguments, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "--view-model" in result.output
    assert "--view-labels" in result.output


@pytest.mark.parametrize("profile", ["default", "echoground-mimic"])
def test_non_transthoracic_study_skipped(profile: str) -> None:
    clips = _clips([{"clip_id": "a"}, {"clip_id": "b", "study_id": 11}])
    keep, entries = select_clips(
        clips, STANDARD, {10, 11}, {10, 11}, get_profile(profile), non_transthoracic={11}
    )
    reasons = {entry.item_id: entry.reason for entry in entries}
    assert list(keep) == [True, False]
    assert reasons["b"] == "not_transthoracic"
