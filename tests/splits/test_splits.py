"""Patient-level split assignment: ratios, stability, disjointness and input checks."""

from __future__ import annotations

import pandas as pd
import pytest

from echoground.splits import (
    DEFAULT_RATIOS,
    add_split_column,
    assign_splits,
    check_ratios,
    split_for_subject,
)

SUBJECT_IDS = list(range(10_000_000, 10_010_000))


def test_default_ratios_within_tolerance():
    splits = assign_splits(SUBJECT_IDS, salt="test-salt")
    counts = pd.Series(list(splits.values())).value_counts()
    for name, ratio in DEFAULT_RATIOS.items():
        # Binomial standard deviation for 10k draws at p=0.1 is 30; 1.5 % is five of them.
        assert abs(counts[name] / len(SUBJECT_IDS) - ratio) < 0.015, (name, counts[name])


def test_custom_ratios_within_tolerance():
    ratios = {"train": 0.5, "val": 0.3, "test": 0.2}
    splits = assign_splits(SUBJECT_IDS, salt="test-salt", ratios=ratios)
    counts = pd.Series(list(splits.values())).value_counts()
    for name, ratio in ratios.items():
        assert abs(counts[name] / len(SUBJECT_IDS) - ratio) < 0.02, (name, counts[name])


def test_zero_ratio_split_stays_empty():
    splits = assign_splits(SUBJECT_IDS[:2000], ratios={"train": 0.9, "val": 0.0, "test": 0.1})
    assert "val" not in set(splits.values())


def test_split_stable_when_cohort_grows():
    small = assign_splits(SUBJECT_IDS[:1000], salt="s")
    large = assign_splits(SUBJECT_IDS, salt="s")
    for subject_id, split in small.items():
        assert large[subject_id] == split


def test_split_depends_on_salt():
    first = assign_splits(SUBJECT_IDS[:1000], salt="a")
    second = assign_splits(SUBJECT_IDS[:1000], salt="b")
    changed = sum(first[subject_id] != second[subject_id] for subject_id in first)
    assert changed > 100


def test_string_and_int_ids_agree():
    assert split_for_subject("10000032", salt="s") == split_for_subject(10000032, salt="s")


def test_no_patient_in_two_splits():
    rows = [
        {"subject_id": subject_id, "study_id": study}
        for subject_id in SUBJECT_IDS[:500]
        for study in (1, 2, 3)
    ]
    frame = add_split_column(pd.DataFrame(rows), salt="s")
    splits_per_patient = frame.groupby("subject_id")["split"].nunique()
    assert splits_per_patient.max() == 1
    assert set(frame["split"]) <= {"train", "val", "test"}


def test_add_split_column_requires_subject_id():
    with pytest.raises(ValueError, match="subject_id"):
        add_split_column(pd.DataFrame({"study_id": [1]}))


@pytest.mark.parametrize(
    "ratios, message",
    [
        ({"train": 0.8, "val": 0.1}, "missing"),
        ({"train": 0.8, "val": 0.1, "test": 0.1, "holdout": 0.0}, "unknown"),
        ({"train": 0.9, "val": 0.2, "test": -0.1}, "between 0 and 1"),
        ({"train": 0.8, "val": 0.1, "test": 0.2}, "sum to"),
        ({"train": float("nan"), "val": 0.5, "test": 0.5}, "finite"),
    ],
)
def test_bad_ratios_rejected(ratios, message):
    with pytest.raises(ValueError, match=message):
        check_ratios(ratios)
