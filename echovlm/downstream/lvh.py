"""Read EchoNet-LVH: landmarks of the septum, LV cavity and posterior wall in parasternal long-axis frames.

Layout::

    MeasurementsList.csv   HashedFileName, Calc, CalcValue, Frame, X1, X2, Y1, Y2,
                           Frames, Width, Height, split
    Batch1/<HashedFileName>.avi ... Batch4/

Each row is one caliper: the measurement ``Calc`` (IVSd, LVIDd, LVIDs, LVPWd), its value ``CalcValue``
in cm, and its two end points in video pixels on frame ``Frame``. A sample here is one diastolic frame
with all of IVSd, LVIDd and LVPWd: six landmarks, the two ends of each caliper. The ends of a caliper
are ordered by depth: the first is the end nearer the transducer (smaller y). The pixel spacing of a
video is CalcValue divided by the caliper length in pixels, averaged over its three calipers; square
pixels are assumed.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from echoground.logs import RateLimitedLogger
from echovlm.downstream.avi import read_listed_frame
from echovlm.downstream.samples import (
    LANDMARK,
    DownstreamDataset,
    Record,
    Sample,
    find_column,
    hash_split,
    normalise_split,
    read_csv_tolerant,
)

logger = logging.getLogger(__name__)

MEASUREMENTS_LIST = "MeasurementsList.csv"
DIASTOLIC_CALIPERS = ("IVSd", "LVIDd", "LVPWd")
LANDMARKS = tuple(f"{caliper}_{end}" for caliper in DIASTOLIC_CALIPERS for end in ("near", "far"))
MEASUREMENTS = {caliper: (2 * index, 2 * index + 1) for index, caliper in enumerate(DIASTOLIC_CALIPERS)}
# Calipers of one frame whose spacings differ by more than this fraction get a warning: the annotation
# or the CalcValue unit is probably wrong.
SPACING_TOLERANCE = 0.1


def index_videos(root: Path) -> dict[str, Path]:
    """Map the stem of every ``.avi`` file in ``root`` and its ``Batch*``/``Videos`` folders to its path."""
    folders = [root, root / "Videos", *sorted(path for path in root.glob("Batch*") if path.is_dir())]
    videos: dict[str, Path] = {}
    for folder in folders:
        if folder.is_dir():
            for path in folder.glob("*.avi"):
                videos.setdefault(path.stem, path)
    return videos


def _load(
    video: Path,
    frame: int,
    points: np.ndarray,
    sample_id: str,
    expected_size: tuple[int, int] | None,
    spacing_mm: float,
) -> Sample:
    image = read_listed_frame(
        video,
        frame,
        expected_size,
        listed_in=f"Frame {frame} in {MEASUREMENTS_LIST}",
        size_columns=f"Height {{0}} and Width {{1}} in {MEASUREMENTS_LIST}",
        fix_hint="fix the rows or re-export the video",
    )
    return Sample(
        sample_id=sample_id, image=image[..., 0], points=points, spacing_mm=(spacing_mm, spacing_mm)
    )


def read_lvh(root: str | Path) -> DownstreamDataset:
    """Index an EchoNet-LVH root: one record per video frame that has all three diastolic calipers.

    Raises:
        FileNotFoundError: if ``MeasurementsList.csv`` or a video it names is missing.
        ValueError: if a required column is missing or a split value is invalid.
    """
    root = Path(root)
    path = root / MEASUREMENTS_LIST
    required = ["HashedFileName", "Calc", "CalcValue", "Frame", "X1", "X2", "Y1", "Y2"]
    table = read_csv_tolerant(path, required)
    split_column = find_column(table, "split")
    width_column, height_column = find_column(table, "Width"), find_column(table, "Height")
    if split_column is None:
        logger.warning("%s has no split column: splitting videos 80/10/10 by a hash of HashedFileName", path)
    table["HashedFileName"] = table["HashedFileName"].map(lambda name: Path(str(name).strip()).stem)
    videos = index_videos(root)
    incomplete = RateLimitedLogger(logger)
    records: list[Record] = []
    for (file_name, frame), rows in table.groupby(["HashedFileName", "Frame"], sort=True):
        calipers = {str(row["Calc"]).strip(): row for row in rows.to_dict("records")}
        if not all(name in calipers for name in DIASTOLIC_CALIPERS):
            if any(name in calipers for name in DIASTOLIC_CALIPERS):
                incomplete.warning(
                    "incomplete",
                    "%s frame %s has calipers %s, not all of %s; skipped",
                    file_name,
                    frame,
                    sorted(calipers),
                    list(DIASTOLIC_CALIPERS),
                )
            continue
        video = videos.get(file_name)
        if video is None:
            raise FileNotFoundError(
                f"video {file_name}.avi listed in {path} not found in {root} or its Batch*/ folders; "
                "copy the video or remove its rows"
            )
        points = []
        spacings = []
        for name in DIASTOLIC_CALIPERS:
            row = calipers[name]
            ends = np.array([[row["X1"], row["Y1"]], [row["X2"], row["Y2"]]], float)
            ends = ends[np.argsort(ends[:, 1], kind="stable")]
            length = float(np.linalg.norm(ends[1] - ends[0]))
            if length > 0 and float(row["CalcValue"]) > 0:
                spacings.append(float(row["CalcValue"]) * 10.0 / length)
            points.append(ends)
        if not spacings:
            incomplete.warning(
                "no_spacing", "%s frame %s: every caliper has zero length; skipped", file_name, frame
            )
            continue
        if max(spacings) > (1 + SPACING_TOLERANCE) * min(spacings):
            incomplete.warning(
                "spacing",
                "%s frame %s: calipers imply spacings %s mm/pixel, more than %d%% apart",
                file_name,
                frame,
                [round(value, 4) for value in spacings],
                round(SPACING_TOLERANCE * 100),
            )
        first = calipers[DIASTOLIC_CALIPERS[0]]
        split = (
            normalise_split(first[split_column], path, file_name) if split_column else hash_split(file_name)
        )
        expected_size = None
        if width_column and height_column:
            expected_size = (int(first[height_column]), int(first[width_column]))
        sample_id = f"{file_name}_f{int(frame)}"
        spacing = float(np.mean(spacings))
        loader = functools.partial(
            _load, video, int(frame), np.concatenate(points), sample_id, expected_size, spacing
        )
        meta = {"file": video.name, "frame": int(frame), "spacing_mm": spacing}
        meta.update({name: float(calipers[name]["CalcValue"]) * 10.0 for name in DIASTOLIC_CALIPERS})
        records.append(Record(sample_id, split, loader, meta))
    for kind, count in incomplete.summary().items():
        logger.warning("%s: %d frames skipped or flagged (%s)", path, count, kind)
    logger.info("echonet-lvh: %d frames with all diastolic calipers in %s", len(records), root)
    return DownstreamDataset(
        name="echonet-lvh",
        task=LANDMARK,
        root=root,
        labels=LANDMARKS,
        records=records,
        measurements=dict(MEASUREMENTS),
    )
