"""Selection profiles: which accepted clips become samples, with a ledger reason for each one left out."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from echoground.ledger import LedgerEntry, Status

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
STAGE = "selection"


@dataclass(frozen=True)
class Profile:
    """One selection profile of profiles.yaml."""

    name: str
    require_measurements: bool
    require_report: bool
    standard_views_only: bool
    clips_per_view_per_study: int | None
    clip_kinds: tuple[str, ...]
    paper_counts: dict[str, int] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "require_measurements": self.require_measurements,
            "require_report": self.require_report,
            "standard_views_only": self.standard_views_only,
            "clips_per_view_per_study": self.clips_per_view_per_study,
            "clip_kinds": list(self.clip_kinds),
            "paper_counts": self.paper_counts,
        }


@cache
def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    """Read the selection profiles file."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return {
        name: Profile(
            name=name,
            require_measurements=bool(entry["require_measurements"]),
            require_report=bool(entry["require_report"]),
            standard_views_only=bool(entry["standard_views_only"]),
            clips_per_view_per_study=entry.get("clips_per_view_per_study"),
            clip_kinds=tuple(entry["clip_kinds"]),
            paper_counts=entry.get("paper_counts"),
        )
        for name, entry in data.items()
    }


def get_profile(name: str) -> Profile:
    """Return the named profile.

    Raises:
        ValueError: the name is not in profiles.yaml.
    """
    profiles = load_profiles()
    if name not in profiles:
        raise ValueError(
            f"unknown selection profile {name!r}: {PROFILES_FILE} defines {sorted(profiles)}; "
            "use one of them or add the profile to that file"
        )
    return profiles[name]


def select_clips(
    clips: pd.DataFrame,
    standard_views: set[str],
    studies_with_measurements: set[int],
    studies_with_report: set[int],
    profile: Profile,
    non_transthoracic: set[int] | frozenset[int] = frozenset(),
) -> tuple[pd.Series, list[LedgerEntry]]:
    """Decide which clips the profile keeps.

    Args:
        clips: accepted clips with ``clip_id, subject_id, study_id, clip_kind, view, view_confidence`` and
            ``view_rejected`` (True when the view stage found no usable frames).
        standard_views: fine view names that count as standard views.
        studies_with_measurements: studies with at least one canonical measurement.
        studies_with_report: studies with linked report text.
        profile: the selection profile.
        non_transthoracic: studies whose structured measurements are tagged with a test type other than
            ``tte`` (stress or transoesophageal echo). Every profile skips their clips: the caption
            templates describe transthoracic views, and a TEE image is not one.

    Returns:
        A boolean Series aligned with ``clips`` (True: kept) and one ledger entry per clip.
    """
    keep = pd.Series(True, index=clips.index)
    reasons: dict[Any, str] = {}
    for index, clip in clips.iterrows():
        study_id = int(clip["study_id"])
        view = clip["view"]
        if study_id in non_transthoracic:
            reasons[index] = "not_transthoracic"
        elif bool(clip["view_rejected"]):
            reasons[index] = "view_rejected"
        elif clip["clip_kind"] not in profile.clip_kinds:
            reasons[index] = "clip_kind_not_selected"
        elif profile.standard_views_only and (pd.isna(view) or view not in standard_views):
            reasons[index] = "not_standard_view"
        elif profile.require_measurements and study_id not in studies_with_measurements:
            reasons[index] = "study_without_measurements"
        elif profile.require_report and study_id not in studies_with_report:
            reasons[index] = "study_without_report"
    keep[list(reasons)] = False

    limit = profile.clips_per_view_per_study
    if limit is not None:
        candidates = clips.loc[keep].copy()
        candidates["_confidence"] = candidates["view_confidence"].astype("float64").fillna(-1.0)
        candidates["_view"] = candidates["view"].astype("string").fillna(candidates["clip_kind"])
        ordered = candidates.sort_values(
            ["study_id", "_view", "_confidence", "clip_id"],
            ascending=[True, True, False, True],
            kind="stable",
        )
        extra = ordered.groupby(["study_id", "_view"], sort=False).cumcount() >= limit
        for index in ordered.index[extra.to_numpy()]:
            reasons[index] = "extra_clip_of_view"
            keep[index] = False

    entries = []
    for index, clip in clips.iterrows():
        subject, study, clip_id = int(clip["subject_id"]), int(clip["study_id"]), str(clip["clip_id"])
        if keep[index]:
            message = (
                f"clip {clip_id} (study {study}, view {clip['view']!r}, kind {clip['clip_kind']}): "
                f"kept by profile {profile.name}"
            )
            entries.append(
                LedgerEntry(STAGE, "clip", clip_id, Status.ACCEPTED, "selected", message, subject, study)
            )
        else:
            reason = reasons[index]
            message = (
                f"clip {clip_id} (study {study}, view {clip['view']!r}): left out by profile {profile.name}"
            )
            entries.append(
                LedgerEntry(STAGE, "clip", clip_id, Status.SKIPPED, reason, message, subject, study)
            )
    return keep, entries
