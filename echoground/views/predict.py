"""The view stage: classify 2D B-mode clips, give other clip kinds their Doppler or kind class.

Public entry point: :func:`predict_clips` over a clips table and its frames folder;
:func:`predict_files` runs the DICOM stage and the classifier on DICOM files directly.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from echoground.ledger import Ledger, Status
from echoground.logs import RateLimitedLogger
from echoground.views.classifier import ViewClassifier
from echoground.views.frames import read_dicom_clip, read_frames_file
from echoground.views.preprocess import ClipFramesError
from echoground.views.vocabulary import B_MODE, UnknownViewError, Vocabulary, load_vocabulary

logger = logging.getLogger(__name__)

STAGE = "views"
UNCERTAIN = "uncertain"
DEFAULT_THRESHOLD = 0.5
OUTPUT_COLUMNS = ["clip_id", "view", "view_coarse", "view_confidence", "view_probabilities"]


class ClassMapError(ValueError):
    """A model class name matches no fine or coarse view of the vocabulary."""


@dataclass(frozen=True)
class ClassTarget:
    """One model output class: its fine view (coarse class for coarse models) and its coarse view."""

    view: str
    coarse: str


def map_classes(classifier: ViewClassifier, vocabulary: Vocabulary) -> list[ClassTarget]:
    """Map each model class to a view: an exact fine name, else an exact coarse name, else an alias.

    Raises:
        ClassMapError: a class is not in the vocabulary; the message names the class and the model.
    """
    fine_upper = {name.upper(): name for name in vocabulary.fine}
    coarse_upper = {name.upper(): name for name in vocabulary.coarse}
    targets = []
    for name in classifier.classes:
        key = name.upper()
        if key in fine_upper:
            fine = fine_upper[key]
            targets.append(ClassTarget(fine, vocabulary.fine[fine].coarse))
        elif key in coarse_upper:
            targets.append(ClassTarget(coarse_upper[key], coarse_upper[key]))
        else:
            try:
                fine = vocabulary.to_fine(name, source=f"the class list of view model {classifier.source}")
            except UnknownViewError as error:
                raise ClassMapError(str(error)) from error
            targets.append(ClassTarget(fine, vocabulary.fine[fine].coarse))
    if classifier.vocabulary_version is not None and classifier.vocabulary_version != vocabulary.version:
        logger.warning(
            "view model %s was written against vocabulary version %s, the loaded vocabulary is version %s",
            classifier.source,
            classifier.vocabulary_version,
            vocabulary.version,
        )
    return targets


def decide_view(
    probabilities: np.ndarray, targets: Sequence[ClassTarget], threshold: float
) -> tuple[str, str, float]:
    """Return (view, coarse view, confidence) for one clip's calibrated probabilities.

    The view is the top class when its probability reaches ``threshold``, else ``uncertain``. The
    coarse view sums the probabilities of the classes that share a coarse view, so a clip torn between
    two PSAX levels is still PSAX when their sum reaches the threshold.
    """
    top = int(np.argmax(probabilities))
    confidence = float(probabilities[top])
    view = targets[top].view if confidence >= threshold else UNCERTAIN
    coarse_totals: dict[str, float] = {}
    for target, probability in zip(targets, probabilities, strict=True):
        coarse_totals[target.coarse] = coarse_totals.get(target.coarse, 0.0) + float(probability)
    coarse, coarse_probability = max(coarse_totals.items(), key=lambda item: item[1])
    return view, coarse if coarse_probability >= threshold else UNCERTAIN, confidence


def _probabilities_json(classes: Sequence[str], probabilities: np.ndarray) -> str:
    return json.dumps(
        {name: round(float(value), 6) for name, value in zip(classes, probabilities, strict=True)}
    )


def _non_b_mode_row(
    clip_id: str, clip_kind: str, window: str | None, vocabulary: Vocabulary
) -> dict[str, Any]:
    return {
        "clip_id": clip_id,
        "view": clip_kind,
        "view_coarse": vocabulary.coarse_for_clip(clip_kind, window=window),
        "view_confidence": math.nan,
        "view_probabilities": None,
    }


def _kind_message(clip_id: str, row: dict[str, Any], window: str | None) -> str:
    return (
        f"clip {clip_id}: view {row['view']!r} from its clip kind, not classified "
        f"(coarse view {row['view_coarse']!r}, acoustic window {window!r})"
    )


def _prediction_message(clip_id: str, view: str, top_class: str, confidence: float, threshold: float) -> str:
    if view == UNCERTAIN:
        return (
            f"clip {clip_id}: view uncertain, top class {top_class!r} has confidence {confidence:.4f}, "
            f"below the threshold {threshold:g}"
        )
    return (
        f"clip {clip_id}: view {view!r} (class {top_class!r}) with confidence {confidence:.4f}, "
        f"at or above the threshold {threshold:g}"
    )


def predict_clips(
    clips_df: pd.DataFrame,
    frames_dir: Path,
    model: ViewClassifier,
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = 32,
    vocabulary: Vocabulary | None = None,
    ledger: Ledger | None = None,
) -> pd.DataFrame:
    """Classify the 2D B-mode clips of a clips table.

    Args:
        clips_df: Needs ``clip_id`` and ``clip_kind``; uses ``window`` (acoustic window) and
            ``frames_path`` (relative to ``frames_dir``) when present, and ``subject_id`` and
            ``study_id`` for ledger rows.
        frames_dir: Folder of the clips' frames (see :func:`read_frames_file`).
        model: A loaded view classifier.
        threshold: Calibrated probability below which a clip's view is ``uncertain``.
        batch_size: Clips loaded and classified together.
        vocabulary: View vocabulary; default: the shipped one.
        ledger: When given, a clip with no usable frames gets a ``rejected/no_usable_frames`` row and
            a null view, and the other clips get ``accepted/view_predicted`` or ``accepted/view_from_kind``.
            Without it, such a clip raises.

    Returns:
        One row per clip: clip_id, view, view_coarse, view_confidence (NaN when not classified) and
        view_probabilities (JSON object of class to probability; null when not classified).

    Raises:
        ValueError: a required column is missing or ``threshold`` is outside [0, 1].
        ClipFramesError: a B-mode clip has no usable frames and no ledger was given.
    """
    missing = [column for column in ("clip_id", "clip_kind") if column not in clips_df.columns]
    if missing:
        raise ValueError(f"clips table is missing columns {missing}; found {list(clips_df.columns)}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"view threshold must be within [0, 1], got {threshold}")
    vocabulary = vocabulary or load_vocabulary()
    targets = map_classes(model, vocabulary)
    warnings = RateLimitedLogger(logger)
    records = clips_df.to_dict("records")
    rows: dict[str, dict[str, Any]] = {}

    def record(clip: dict[str, Any], status: Status, reason: str, message: str = "") -> None:
        if ledger is not None:
            subject = clip.get("subject_id")
            study = clip.get("study_id")
            ledger.add(
                STAGE,
                "clip",
                str(clip["clip_id"]),
                status,
                reason,
                message,
                None if subject is None or pd.isna(subject) else int(subject),
                None if study is None or pd.isna(study) else int(study),
            )

    b_mode = []
    for clip in records:
        clip_id = str(clip["clip_id"])
        if clip["clip_kind"] == B_MODE:
            b_mode.append(clip)
            continue
        window = clip.get("window")
        window = None if window is None or (isinstance(window, float) and math.isnan(window)) else str(window)
        rows[clip_id] = _non_b_mode_row(clip_id, str(clip["clip_kind"]), window, vocabulary)
        record(clip, Status.ACCEPTED, "view_from_kind", _kind_message(clip_id, rows[clip_id], window))

    for start in range(0, len(b_mode), batch_size):
        batch, frames = [], []
        for clip in b_mode[start : start + batch_size]:
            clip_id = str(clip["clip_id"])
            try:
                clip_frames = read_frames_file(frames_dir, clip_id, clip.get("frames_path") or None)
                frames.append(model.clip_tensors(clip_frames, clip_id))
            except ClipFramesError as error:
                if ledger is None:
                    raise
                warnings.warning("no_usable_frames", "view stage: %s", error)
                record(clip, Status.REJECTED, "no_usable_frames", str(error))
                rows[clip_id] = {"clip_id": clip_id, "view": None, "view_coarse": None}
                rows[clip_id] |= {"view_confidence": math.nan, "view_probabilities": None}
                continue
            batch.append(clip)
        if not batch:
            continue
        probabilities = model.probabilities(model.logits_from_tensors(frames))
        for clip, clip_probabilities in zip(batch, probabilities, strict=True):
            clip_id = str(clip["clip_id"])
            view, coarse, confidence = decide_view(clip_probabilities, targets, threshold)
            rows[clip_id] = {
                "clip_id": clip_id,
                "view": view,
                "view_coarse": coarse,
                "view_confidence": confidence,
                "view_probabilities": _probabilities_json(model.classes, clip_probabilities),
            }
            top_class = model.classes[int(np.argmax(clip_probabilities))]
            message = _prediction_message(clip_id, view, top_class, confidence, threshold)
            record(
                clip, Status.ACCEPTED, "view_predicted" if view != UNCERTAIN else "view_uncertain", message
            )

    ordered = [rows[str(clip["clip_id"])] for clip in records]
    result = pd.DataFrame(ordered, columns=OUTPUT_COLUMNS)
    logger.info(
        "view stage: %d clips, %d B-mode classified, %d uncertain",
        len(result),
        len(b_mode),
        int((result["view"] == UNCERTAIN).sum()),
    )
    return result


def predict_files(
    paths: Sequence[Path],
    model: ViewClassifier,
    threshold: float = DEFAULT_THRESHOLD,
    vocabulary: Vocabulary | None = None,
) -> list[dict[str, Any]]:
    """Run the DICOM stage and the classifier on DICOM files; return one result dict per file.

    Each dict holds ``path``, ``clip_kind``, ``view``, ``view_coarse``, ``confidence`` and
    ``probabilities`` (class to probability; empty for clips other than 2D B-mode, whose view is
    their clip kind because a file alone does not give the acoustic window).

    Raises:
        ClipFramesError: a file has no usable frames or the DICOM stage rejected it.
    """
    vocabulary = vocabulary or load_vocabulary()
    targets = map_classes(model, vocabulary)
    results = []
    for path in paths:
        clip = read_dicom_clip(Path(path))
        if clip.clip_kind != B_MODE:
            row = _non_b_mode_row(str(path), clip.clip_kind, None, vocabulary)
            results.append(
                {
                    "path": str(path),
                    "clip_kind": clip.clip_kind,
                    "view": row["view"],
                    "view_coarse": row["view_coarse"],
                }
                | {"confidence": None, "probabilities": {}}
            )
            continue
        probabilities = model.predict_proba([clip.frames], [str(path)])[0]
        view, coarse, confidence = decide_view(probabilities, targets, threshold)
        results.append(
            {
                "path": str(path),
                "clip_kind": clip.clip_kind,
                "view": view,
                "view_coarse": coarse,
                "confidence": confidence,
                "probabilities": {
                    name: float(value) for name, value in zip(model.classes, probabilities, strict=True)
                },
            }
        )
    return results
