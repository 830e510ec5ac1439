"""Turn the clips, captions, labels and measurements tables into WebDataset shards per split."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from echoground.shards.writer import JPEG_QUALITY, ShardSample, SplitSummary, make_sample, write_split
from echoground.splits import SPLIT_NAMES

logger = logging.getLogger(__name__)

FrameLoader = Callable[[Mapping[str, Any]], np.ndarray]


@dataclass(frozen=True)
class ShardConfig:
    """Shard settings: size limits per shard, whether to store all frames, the JPEG quality and fsync.

    ``fsync`` False skips the fsync before each rename (see :func:`write_split`), for file systems
    where fsync is slow and a rerun after a power loss is acceptable.
    """

    max_samples: int | None = 1000
    max_bytes: int | None = 512 * 1024**2
    include_frames: bool = True
    jpeg_quality: int = JPEG_QUALITY
    fsync: bool = True


def load_frames_from_path(clip: Mapping[str, Any]) -> np.ndarray:
    """Load a clip's uint8 (T, 224, 224, 3) frames from the ``.npy`` file in its ``frames_path`` column."""
    path = clip.get("frames_path")
    if not path:
        raise ValueError(
            f"clip {clip.get('clip_id')}: no 'frames_path'; pass a frame loader for this clips table"
        )
    return np.load(Path(path), allow_pickle=False)


def key_frame_index(frame_count: int) -> int:
    """Return the index of the key frame stored as ``KEY.jpg``: the middle frame of the clip."""
    return frame_count // 2


def write_shards(
    shards_dir: Path,
    clips: pd.DataFrame,
    captions: pd.DataFrame,
    labels: pd.DataFrame,
    measurements: pd.DataFrame,
    config: ShardConfig = ShardConfig(),
    load_frames: FrameLoader = load_frames_from_path,
) -> dict[str, SplitSummary]:
    """Write one sample per captioned clip into ``shards_dir/{train,val,test}/``.

    Args:
        shards_dir: the run's ``shards`` folder.
        clips: clips table with ``clip_id, subject_id, study_id, clip_kind, split`` and optionally
            ``view, view_coarse, view_confidence, cm_per_pixel_x, cm_per_pixel_y, frame_times_ms``
            and ``frames_path``.
        captions: captions table (:data:`echoground.captions.CAPTION_COLUMNS`); clips without a caption
            get no sample.
        labels: labels table with ``study_id, label_id, state, severity``.
        measurements: measurements table with ``study_id, name, value, unit, measurement_id``.
        config: shard size limits and contents.
        load_frames: returns the uint8 (T, 224, 224, 3) frames of a clip row.

    Returns:
        The summary of each split, including empty ones.
    """
    if "split" not in clips.columns:
        raise ValueError("clips table has no 'split' column; assign splits (echoground.splits) first")
    clip_rows = {str(row["clip_id"]): row for row in clips.to_dict("records")}
    labels_by_study = _labels_by_study(labels)
    measurements_by_study = _measurements_by_study(measurements)

    caption_rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLIT_NAMES}
    for caption in captions.sort_values("clip_id", kind="stable").to_dict("records"):
        clip = clip_rows.get(str(caption["clip_id"]))
        if clip is None:
            raise ValueError(f"caption for clip {caption['clip_id']} has no row in the clips table")
        split = str(clip["split"])
        if split not in caption_rows:
            raise ValueError(
                f"clip {caption['clip_id']} has split {split!r}; expected one of {list(SPLIT_NAMES)}"
            )
        caption_rows[split].append(caption)

    summaries = {}
    for split, rows in caption_rows.items():
        samples = _samples(rows, clip_rows, labels_by_study, measurements_by_study, config, load_frames)
        summaries[split] = write_split(
            samples,
            Path(shards_dir) / split,
            max_samples=config.max_samples,
            max_bytes=config.max_bytes,
            fsync=config.fsync,
        )
    return summaries


def _samples(
    captions: list[dict[str, Any]],
    clip_rows: Mapping[str, Mapping[str, Any]],
    labels_by_study: Mapping[int, dict[str, dict[str, Any]]],
    measurements_by_study: Mapping[int, dict[str, dict[str, Any]]],
    config: ShardConfig,
    load_frames: FrameLoader,
) -> Iterator[ShardSample]:
    for caption in captions:
        clip = clip_rows[str(caption["clip_id"])]
        study_id = int(clip["study_id"])
        frames = load_frames(clip)
        if frames.ndim != 4 or frames.shape[0] == 0:
            raise ValueError(
                f"clip {caption['clip_id']}: frames have shape {frames.shape}, expected (T, 224, 224, 3)"
            )
        metadata = {
            "subject_id": int(clip["subject_id"]),
            "study_id": study_id,
            "clip_id": str(clip["clip_id"]),
            "split": str(clip["split"]),
            "view": _value(clip.get("view")),
            "view_coarse": _value(clip.get("view_coarse")),
            "view_confidence": _value(clip.get("view_confidence")),
            "clip_kind": str(clip["clip_kind"]),
            "caption": str(caption["caption"]),
            "negatives": json.loads(caption["negatives"]),
            "labels": labels_by_study.get(study_id, {}),
            "findings_key": str(caption["findings_key"]),
            "measurements": measurements_by_study.get(study_id, {}),
            "provenance": json.loads(caption["provenance"]),
            "cm_per_pixel_x": _value(clip.get("cm_per_pixel_x")),
            "cm_per_pixel_y": _value(clip.get("cm_per_pixel_y")),
            "frame_times_ms": _value(clip.get("frame_times_ms")),
        }
        yield make_sample(
            key=str(clip["clip_id"]),
            key_frame=frames[key_frame_index(frames.shape[0])],
            caption=str(caption["caption"]),
            metadata=metadata,
            frames=frames if config.include_frames else None,
            jpeg_quality=config.jpeg_quality,
        )


def _value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return [float(item) for item in value]
    return None if pd.isna(value) else value


def _labels_by_study(labels: pd.DataFrame) -> dict[int, dict[str, dict[str, Any]]]:
    result: dict[int, dict[str, dict[str, Any]]] = {}
    for row in labels.to_dict("records"):
        result.setdefault(int(row["study_id"]), {})[str(row["label_id"])] = {
            "state": str(row["state"]),
            "severity": _value(row.get("severity")),
        }
    return result


def _measurements_by_study(measurements: pd.DataFrame) -> dict[int, dict[str, dict[str, Any]]]:
    name_column = "name" if "name" in measurements.columns else "measurement"
    result: dict[int, dict[str, dict[str, Any]]] = {}
    for row in measurements.to_dict("records"):
        result.setdefault(int(row["study_id"]), {})[str(row[name_column])] = {
            "value": _value(row.get("value")),
            "unit": _value(row.get("unit")),
            "measurement_id": _value(row.get("measurement_id")),
        }
    return result
