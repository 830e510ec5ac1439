"""Read EchoNet-Dynamic and EchoNet-Pediatric: LV segmentation at the traced ED and ES frames.

Layout of a dataset root (one view folder, e.g. ``A4C/`` of EchoNet-Pediatric, has the same layout)::

    FileList.csv        FileName, EF, ESV, EDV, FrameHeight, FrameWidth, FPS, NumberOfFrames, Split
    VolumeTracings.csv  FileName, X1, Y1, X2, Y2, Frame   (EchoNet-Dynamic)
                        FileName, X, Y, Frame             (EchoNet-Pediatric)
    Videos/<FileName>.avi

EchoNet-Dynamic traces each frame as line segments. The first row of a frame is the long axis of the
LV. Every later row is a chord across the cavity from (X1, Y1) on one wall to (X2, Y2) on the other.
The cavity outline is the X1/Y1 ends in order followed by the X2/Y2 ends in reverse.
EchoNet-Pediatric lists the outline points (X, Y) in order. Of the two traced frames, the one with the
larger cavity is end-diastole (ED) and the other end-systole (ES).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from echoground.logs import RateLimitedLogger
from echovlm.downstream.avi import read_listed_frame
from echovlm.downstream.samples import (
    SEGMENT,
    DownstreamDataset,
    Record,
    Sample,
    find_column,
    hash_split,
    normalise_split,
    rasterise_polygon,
    read_csv_tolerant,
)

logger = logging.getLogger(__name__)

FILE_LIST = "FileList.csv"
VOLUME_TRACINGS = "VolumeTracings.csv"
VIDEOS = "Videos"
LABELS = ("background", "lv")

# NOTE: EchoNet-Pediatric numbers its Split column as cross-validation folds 0-9. These defaults hold
# out fold 8 for validation and fold 9 for testing; pass other folds where a paper used another choice.
DEFAULT_VAL_FOLD = 8
DEFAULT_TEST_FOLD = 9


def _video_name(value: object) -> str:
    name = str(value).strip()
    return name if name.lower().endswith(".avi") else f"{name}.avi"


def _outline(rows: pd.DataFrame, paired: bool) -> np.ndarray:
    if paired:
        chords = rows.iloc[1:]
        first = chords[["X1", "Y1"]].to_numpy(float)
        second = chords[["X2", "Y2"]].to_numpy(float)[::-1]
        return np.concatenate([first, second])
    return rows[["X", "Y"]].to_numpy(float)


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _split_of(value: object, file_list: Path, file_name: str, val_fold: int, test_fold: int) -> str:
    if isinstance(value, int | float | np.integer | np.floating) and not pd.isna(value):
        fold = int(value)
        if fold == test_fold:
            return "test"
        if fold == val_fold:
            return "val"
        return "train"
    text = str(value).strip()
    if text.isdigit():
        return _split_of(int(text), file_list, file_name, val_fold, test_fold)
    return normalise_split(text, file_list, file_name)


def _load_frame(
    video: Path,
    frame: int,
    outline: np.ndarray,
    sample_id: str,
    expected_size: tuple[int, int] | None,
    file_list: Path,
) -> Sample:
    image = read_listed_frame(
        video,
        frame,
        expected_size,
        listed_in=f"traced frame {frame} in {VOLUME_TRACINGS}",
        size_columns=f"FrameHeight {{0}} and FrameWidth {{1}} in {file_list}",
        fix_hint="fix the FileList row or the video",
    )
    height, width = image.shape[:2]
    return Sample(sample_id=sample_id, image=image[..., 0], mask=rasterise_polygon(outline, height, width))


def read_echonet(
    root: str | Path, val_fold: int = DEFAULT_VAL_FOLD, test_fold: int = DEFAULT_TEST_FOLD
) -> DownstreamDataset:
    """Index an EchoNet-Dynamic or EchoNet-Pediatric root for LV segmentation.

    Only the listing files are read here; each record decodes its frame when loaded.

    Args:
        root: The folder holding ``FileList.csv``, ``VolumeTracings.csv`` and ``Videos/``.
        val_fold: For numeric (cross-validation fold) Split values, the fold used for validation.
        test_fold: For numeric Split values, the fold used for testing.

    Raises:
        FileNotFoundError: if a listing file is missing, or a video with tracings is missing.
        ValueError: if a required column is missing, a split value is invalid, or a traced frame has
            fewer than three outline points.
    """
    root = Path(root)
    file_list_path = root / FILE_LIST
    tracings_path = root / VOLUME_TRACINGS
    files = read_csv_tolerant(file_list_path, ["FileName"])
    tracings = read_csv_tolerant(tracings_path, ["FileName", "Frame"])
    paired = all(find_column(tracings, name) for name in ("X1", "Y1", "X2", "Y2"))
    if not paired and not all(find_column(tracings, name) for name in ("X", "Y")):
        raise ValueError(
            f"{tracings_path}: needs columns X1, Y1, X2, Y2 (EchoNet-Dynamic) or X, Y (EchoNet-Pediatric); "
            f"columns are {list(tracings.columns)}"
        )
    coordinates = ("X1", "Y1", "X2", "Y2") if paired else ("X", "Y")
    tracings = tracings.rename(columns={find_column(tracings, name): name for name in coordinates})
    tracings["FileName"] = tracings["FileName"].map(_video_name)
    files["FileName"] = files["FileName"].map(_video_name)
    split_column = find_column(files, "Split")
    height_column, width_column = find_column(files, "FrameHeight"), find_column(files, "FrameWidth")
    name = "echonet-dynamic" if paired else "echonet-pediatric"
    if split_column is None:
        logger.warning(
            "%s has no Split column: splitting its videos 80/10/10 by a hash of FileName", file_list_path
        )

    traced = dict(tuple(tracings.groupby("FileName", sort=False)))
    listed = set(files["FileName"])
    unlisted = sorted(set(traced) - listed)
    if unlisted:
        logger.warning(
            "%s traces %d videos that %s does not list (first: %s); they are ignored",
            tracings_path,
            len(unlisted),
            file_list_path,
            unlisted[0],
        )
    untraced = RateLimitedLogger(logger)
    records: list[Record] = []
    for row_values in files.to_dict("records"):
        file_name = row_values["FileName"]
        if file_name not in traced:
            untraced.warning("untraced", "video %s has no rows in %s; skipped", file_name, tracings_path)
            continue
        video = root / VIDEOS / file_name
        if not video.is_file():
            raise FileNotFoundError(
                f"{video} not found: {file_list_path} lists {file_name}; copy the video or remove its row"
            )
        split = (
            _split_of(row_values[split_column], file_list_path, file_name, val_fold, test_fold)
            if split_column
            else hash_split(file_name)
        )
        expected_size = None
        if height_column and width_column:
            expected_size = (int(row_values[height_column]), int(row_values[width_column]))
        outlines = {}
        for frame, rows in traced[file_name].groupby("Frame", sort=False):
            outline = _outline(rows, paired)
            if len(outline) < 3:
                raise ValueError(
                    f"{tracings_path}: {file_name} frame {frame} has {len(outline)} outline points; "
                    "a tracing needs at least 3"
                )
            outlines[int(frame)] = outline
        by_area = sorted(outlines, key=lambda frame: _polygon_area(outlines[frame]), reverse=True)
        phases = {by_area[0]: "ED"} if len(by_area) == 1 else {by_area[0]: "ED", by_area[-1]: "ES"}
        for frame, phase in phases.items():
            sample_id = f"{Path(file_name).stem}_{phase}_f{frame}"
            loader = functools.partial(
                _load_frame, video, frame, outlines[frame], sample_id, expected_size, file_list_path
            )
            meta = {"file": file_name, "frame": frame, "phase": phase}
            for column in ("EF", "EDV", "ESV"):
                source = find_column(files, column)
                if source is not None:
                    meta[column] = float(row_values[source])
            records.append(Record(sample_id, split, loader, meta))
    skipped = untraced.summary().get("untraced", 0)
    if skipped:
        logger.warning("%s: %d listed videos have no tracings and were skipped", file_list_path, skipped)
    logger.info("%s: %d traced frames from %d listed videos in %s", name, len(records), len(files), root)
    return DownstreamDataset(name=name, task=SEGMENT, root=root, labels=LABELS, records=records)
