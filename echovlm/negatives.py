"""Kinds of counterfactual captions: a grade flip, or a polarity flip in one of two directions."""

from __future__ import annotations

from typing import Any

TO_PRESENT = "polarity:to_present"
TO_ABSENT = "polarity:to_absent"


def negative_kind(item: dict[str, Any], meta: dict[str, Any]) -> str:
    """Return the flip kind of a counterfactual: ``grade``, or ``polarity`` with its direction.

    A polarity flip of a finding the sample has is ``polarity:to_absent`` (the counterfactual denies
    it), and of a finding it lacks ``polarity:to_present``. Captions mention absent findings far more
    often than present ones, so the two directions are scored apart.
    """
    flip = str(item.get("flip", "unknown"))
    if flip != "polarity":
        return flip
    if item.get("state") in ("present", "absent"):
        # Captions contract 1.1.0 stores the state that a negative asserts. Older shards lack it.
        return TO_PRESENT if item["state"] == "present" else TO_ABSENT
    state = ((meta.get("labels") or {}).get(item.get("label")) or {}).get("state")
    if state == "present":
        return TO_ABSENT
    if state == "absent":
        return TO_PRESENT
    return flip
