"""Patient-level train/val/test assignment by a salted hash of the subject id.

A patient's split depends only on its ``subject_id`` and the salt, so adding studies or patients to a
cohort never moves an existing patient, and no patient can appear in two splits.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

import pandas as pd

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_RATIOS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
DEFAULT_SALT = "echoground-v1"

# 2**64: the hash's first 8 bytes, read as an unsigned integer, divided by this give a uniform [0, 1).
_HASH_RANGE = float(1 << 64)


def check_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    """Validate split ratios and return them in the fixed order train, val, test.

    Raises:
        ValueError: if a split name is unknown or missing, a ratio is negative or not finite, or the
            ratios do not sum to 1 (within 1e-6).
    """
    unknown = sorted(set(ratios) - set(SPLIT_NAMES))
    missing = [name for name in SPLIT_NAMES if name not in ratios]
    if unknown or missing:
        raise ValueError(
            f"split ratios must name exactly {list(SPLIT_NAMES)}; unknown {unknown}, missing {missing}"
        )
    checked = {name: float(ratios[name]) for name in SPLIT_NAMES}
    for name, ratio in checked.items():
        if not math.isfinite(ratio) or ratio < 0:
            raise ValueError(f"split ratio for {name!r} is {ratio}; use a finite number between 0 and 1")
    total = sum(checked.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split ratios {checked} sum to {total}; they must sum to 1")
    return checked


def subject_fraction(subject_id: int | str, salt: str = DEFAULT_SALT) -> float:
    """Map a subject id to a number in [0, 1) by SHA-256 of ``"{salt}:{subject_id}"``."""
    digest = hashlib.sha256(f"{salt}:{int(subject_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_RANGE


def split_for_subject(
    subject_id: int | str, salt: str = DEFAULT_SALT, ratios: Mapping[str, float] = DEFAULT_RATIOS
) -> str:
    """Return the split ("train", "val" or "test") of one patient.

    Args:
        subject_id: MIMIC ``subject_id``; a string of digits is accepted and read as the same integer.
        salt: changes the whole assignment; keep it fixed across releases of one dataset.
        ratios: fraction of patients per split, summing to 1.
    """
    checked = check_ratios(ratios)
    return _split_from_fraction(subject_fraction(subject_id, salt), checked)


def assign_splits(
    subject_ids: Iterable[int | str], salt: str = DEFAULT_SALT, ratios: Mapping[str, float] = DEFAULT_RATIOS
) -> dict[int, str]:
    """Return ``{subject_id: split}`` for every distinct subject id."""
    checked = check_ratios(ratios)
    return {
        int(subject_id): _split_from_fraction(subject_fraction(subject_id, salt), checked)
        for subject_id in subject_ids
    }


def add_split_column(
    frame: pd.DataFrame, salt: str = DEFAULT_SALT, ratios: Mapping[str, float] = DEFAULT_RATIOS
) -> pd.DataFrame:
    """Return a copy of ``frame`` with a ``split`` column computed from its ``subject_id`` column."""
    if "subject_id" not in frame.columns:
        raise ValueError(f"cannot assign splits: no 'subject_id' column among {list(frame.columns)}")
    mapping = assign_splits(frame["subject_id"].unique(), salt, ratios)
    result = frame.copy()
    result["split"] = frame["subject_id"].map(lambda subject_id: mapping[int(subject_id)]).astype("string")
    return result


def _split_from_fraction(fraction: float, ratios: Mapping[str, float]) -> str:
    upper = 0.0
    for name in SPLIT_NAMES:
        upper += ratios[name]
        if fraction < upper:
            return name
    # Rounding can leave the cumulative sum a hair below 1: the last split with a share takes the rest.
    return next(name for name in reversed(SPLIT_NAMES) if ratios[name] > 0)
