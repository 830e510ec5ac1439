"""Caption every clip of a run: from the clips, measurements and labels tables to the captions table."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable

import pandas as pd

from echoground.captions.compose import caption_clip
from echoground.captions.records import ClipInput, LabelInput, MeasurementInput
from echoground.captions.templates import CaptionTemplates, load_templates
from echoground.ledger import LedgerEntry, Status

logger = logging.getLogger(__name__)

STAGE = "captions"
CAPTION_COLUMNS = [
    "clip_id",
    "subject_id",
    "study_id",
    "level",
    "template",
    "template_version",
    "seed",
    "caption",
    "negatives",
    "provenance",
    "findings_key",
]

# Accepted spellings of input columns, first match wins; the canonical name comes first.
_MEASUREMENT_COLUMNS = {
    "name": ("name", "measurement", "canonical_name"),
    "value": ("value",),
    "unit": ("unit", "canonical_unit"),
    "measurement_id": ("measurement_id",),
    "raw_value": ("raw_value", "result"),
    "raw_unit": ("raw_unit",),
}


def findings_key(labels: Iterable[LabelInput]) -> str:
    """Hash a study's label states and severities (first 16 hex digits of SHA-256).

    Two studies with the same key have the same findings, so a contrastive loss can treat their
    captions as positives for each other.
    """
    parts = sorted(f"{label.label_id}={label.state}:{label.severity or ''}" for label in labels)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def build_captions(
    clips: pd.DataFrame,
    measurements: pd.DataFrame,
    labels: pd.DataFrame,
    seed: int = 0,
    templates: CaptionTemplates | None = None,
) -> tuple[pd.DataFrame, list[LedgerEntry]]:
    """Caption each clip and record each clip's fate in ledger entries.

    Args:
        clips: one row per clip with ``clip_id, subject_id, study_id, clip_kind`` and, once the view
            classifier has run, ``view, view_coarse, view_confidence``.
        measurements: one row per study and canonical measurement with ``study_id, name, value, unit,
            measurement_id, raw_value, raw_unit``.
        labels: one row per study and label with ``study_id, label_id, state, severity, source,
            rule_id`` and optionally ``conflict``.
        seed: paraphrase seed.
        templates: caption templates; defaults to the packaged ``templates.yaml``.

    Returns:
        The captions table (columns ``CAPTION_COLUMNS``, sorted by clip id) and one ledger entry per clip.
    """
    templates = templates or load_templates()
    _require(clips, ("clip_id", "subject_id", "study_id", "clip_kind"), "clips")
    _require(labels, ("study_id", "label_id", "state"), "labels")
    measurements_by_study = _measurement_inputs(measurements)
    labels_by_study = _label_inputs(labels)

    rows = []
    ledger: list[LedgerEntry] = []
    for clip in _clip_inputs(clips):
        study_labels = labels_by_study.get(clip.study_id, [])
        caption, reason = caption_clip(
            clip, measurements_by_study.get(clip.study_id, []), study_labels, seed=seed, templates=templates
        )
        if caption is None:
            ledger.append(
                LedgerEntry(
                    STAGE,
                    "clip",
                    clip.clip_id,
                    Status.SKIPPED,
                    reason,
                    f"clip {clip.clip_id} (view {clip.view!r}, kind {clip.clip_kind}): no caption, {reason}",
                    clip.subject_id,
                    clip.study_id,
                )
            )
            continue
        message = (
            f"clip {clip.clip_id}: {caption.level}-level caption from template {caption.template!r} "
            f"version {caption.template_version}"
        )
        ledger.append(
            LedgerEntry(
                STAGE, "clip", clip.clip_id, Status.ACCEPTED, reason, message, clip.subject_id, clip.study_id
            )
        )
        rows.append(
            {
                "clip_id": caption.clip_id,
                "subject_id": caption.subject_id,
                "study_id": caption.study_id,
                "level": caption.level,
                "template": caption.template,
                "template_version": caption.template_version,
                "seed": seed,
                "caption": caption.text,
                "negatives": json.dumps([negative.to_dict() for negative in caption.negatives]),
                "provenance": json.dumps(caption.provenance, sort_keys=True),
                "findings_key": findings_key(study_labels),
            }
        )

    frame = pd.DataFrame(rows, columns=CAPTION_COLUMNS)
    for column in ("subject_id", "study_id", "template_version", "seed"):
        frame[column] = frame[column].astype("int64")
    for column in ("clip_id", "level", "template", "caption", "negatives", "provenance", "findings_key"):
        frame[column] = frame[column].astype("string")
    logger.info("captioned %d of %d clips", len(frame), len(clips))
    return frame.sort_values("clip_id", kind="stable").reset_index(drop=True), ledger


def _require(frame: pd.DataFrame, columns: Iterable[str], table: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{table} table is missing columns {missing}; it has {list(frame.columns)}")


def _optional(value: object) -> object | None:
    return None if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)) else value


def _clip_inputs(clips: pd.DataFrame) -> list[ClipInput]:
    inputs = []
    for row in clips.sort_values("clip_id", kind="stable").to_dict("records"):
        confidence = _optional(row.get("view_confidence"))
        inputs.append(
            ClipInput(
                clip_id=str(row["clip_id"]),
                subject_id=int(row["subject_id"]),
                study_id=int(row["study_id"]),
                clip_kind=str(row["clip_kind"]),
                view=_optional(row.get("view")),
                view_coarse=_optional(row.get("view_coarse")),
                view_confidence=None if confidence is None else float(confidence),
            )
        )
    return inputs


def _measurement_inputs(measurements: pd.DataFrame) -> dict[int, list[MeasurementInput]]:
    columns = {}
    for field, spellings in _MEASUREMENT_COLUMNS.items():
        found = next((name for name in spellings if name in measurements.columns), None)
        if found is None:
            raise ValueError(
                f"measurements table has no {field!r} column (accepted: {list(spellings)}); "
                f"it has {list(measurements.columns)}"
            )
        columns[field] = found
    if "study_id" not in measurements.columns:
        raise ValueError(f"measurements table has no 'study_id' column; it has {list(measurements.columns)}")

    by_study: dict[int, list[MeasurementInput]] = {}
    for row in measurements.to_dict("records"):
        value = _optional(row[columns["value"]])
        if value is None:
            continue
        by_study.setdefault(int(row["study_id"]), []).append(
            MeasurementInput(
                name=str(row[columns["name"]]),
                value=float(value),
                unit=str(row[columns["unit"]]),
                measurement_id=str(row[columns["measurement_id"]]),
                raw_value=str(_optional(row[columns["raw_value"]]) or ""),
                raw_unit=str(_optional(row[columns["raw_unit"]]) or ""),
            )
        )
    return by_study


def _label_inputs(labels: pd.DataFrame) -> dict[int, list[LabelInput]]:
    by_study: dict[int, list[LabelInput]] = {}
    for row in labels.to_dict("records"):
        severity = _optional(row.get("severity"))
        source = _optional(row.get("source"))
        # The label engine names this column "rule"; "rule_id" is accepted as well.
        rule_id = _optional(row.get("rule_id", row.get("rule")))
        conflict = _optional(row.get("conflict"))
        by_study.setdefault(int(row["study_id"]), []).append(
            LabelInput(
                label_id=str(row["label_id"]),
                state=str(row["state"]),
                severity=None if severity is None else str(severity),
                source=None if source is None else str(source),
                rule_id=None if rule_id is None else str(rule_id),
                conflict=bool(conflict) if conflict is not None else False,
            )
        )
    return by_study
