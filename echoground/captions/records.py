"""Typed input and output records of the caption stage.

The inputs mirror one row of the clips, measurements and labels tables; :mod:`echoground.captions.table`
builds them from those DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClipInput:
    """One clip: its ids, clip kind and the view classifier's output."""

    clip_id: str
    subject_id: int
    study_id: int
    clip_kind: str
    view: str | None = None
    view_coarse: str | None = None
    view_confidence: float | None = None


@dataclass(frozen=True)
class MeasurementInput:
    """One canonical measurement of a study, with the raw value and unit it was read from."""

    name: str
    value: float
    unit: str
    measurement_id: str
    raw_value: str
    raw_unit: str


@dataclass(frozen=True)
class LabelInput:
    """One label of a study as the label engine decided it."""

    label_id: str
    state: str
    severity: str | None = None
    source: str | None = None
    rule_id: str | None = None
    conflict: bool = False


@dataclass(frozen=True)
class HardNegative:
    """A counterfactual caption with one fact flipped.

    ``flip`` is "polarity" or "grade". ``state`` is the label state ("present" or "absent") that the
    counterfactual caption asserts for ``label``, so readers need not parse the text to find it.
    """

    text: str
    label: str
    flip: str
    state: str

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "label": self.label, "flip": self.flip, "state": self.state}


@dataclass
class Caption:
    """A caption with its provenance and hard negatives.

    ``provenance["numbers"]`` has one entry per number in ``text``: the measurement id, raw value and
    unit, and the ``[start, end)`` character span of the number. ``provenance["findings"]`` has one
    entry per stated finding or grade: the label id, state, severity, source and rule id.
    """

    clip_id: str
    subject_id: int
    study_id: int
    text: str
    level: str
    template: str
    template_version: int
    provenance: dict[str, Any] = field(default_factory=dict)
    negatives: list[HardNegative] = field(default_factory=list)
