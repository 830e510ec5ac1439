"""The records that every dataset reader returns, and the helpers the readers share."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.path import Path as PolygonPath

from echoground.splits import DEFAULT_RATIOS, SPLIT_NAMES, check_ratios

logger = logging.getLogger(__name__)

SEGMENT = "segment"
LANDMARK = "landmark"

# Spellings of split names seen in public copies, mapped to the names used here.
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validate": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


@dataclass
class Sample:
    """One loaded image with its target.

    Attributes:
        sample_id: A unique id naming the source file, and the frame or phase where it matters.
        image: uint8 pixels ``(H, W)`` or ``(H, W, 3)``.
        mask: For segmentation, uint8 class indices ``(H, W)``; 0 is background.
        points: For landmarks, ``(K, 2)`` float coordinates ``(x, y)`` in pixels of ``image``.
        spacing_mm: ``(row_mm, column_mm)`` pixel spacing, or None where the dataset gives none.
    """

    sample_id: str
    image: np.ndarray
    mask: np.ndarray | None = None
    points: np.ndarray | None = None
    spacing_mm: tuple[float, float] | None = None


@dataclass
class Record:
    """An entry of a dataset: its id and split, and a function that loads the pixels when needed."""

    sample_id: str
    split: str
    loader: Callable[[], Sample] = field(repr=False)
    meta: dict[str, object] = field(default_factory=dict)

    def load(self) -> Sample:
        return self.loader()


@dataclass
class DownstreamDataset:
    """Records of one dataset for one task, with the names of its classes or landmarks.

    Attributes:
        name: ``camus``, ``echonet-dynamic``, ``echonet-pediatric`` or ``echonet-lvh``.
        task: ``segment`` or ``landmark``.
        root: The dataset root directory.
        labels: For segmentation, class names with index 0 the background; for landmarks, point names.
        measurements: For landmarks, ``{name: (first point index, second point index)}``: each measurement
            is the distance between two landmarks.
        records: The dataset entries.
    """

    name: str
    task: str
    root: Path
    labels: tuple[str, ...]
    records: list[Record]
    measurements: dict[str, tuple[int, int]] = field(default_factory=dict)

    def split(self, name: str) -> list[Record]:
        """Return the records of one split (``train``, ``val`` or ``test``)."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"split {name!r} is invalid; use one of {list(SPLIT_NAMES)}")
        return [record for record in self.records if record.split == name]

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def normalise_split(value: object, source: Path, row_id: str) -> str:
    """Map a split value such as ``TRAIN``, ``Train`` or ``validation`` to ``train``, ``val`` or ``test``."""
    text = str(value).strip().lower()
    if text in _SPLIT_ALIASES:
        return _SPLIT_ALIASES[text]
    raise ValueError(
        f"{source}: split value {value!r} for {row_id} is invalid; use train, val or test (any case)"
    )


def hash_split(key: str, salt: str = "echovlm-downstream-v1") -> str:
    """Assign a split from a SHA-256 hash of ``key``, in the default 80/10/10 proportions.

    Used when a dataset copy has no split column, so that every run splits it the same way.
    """
    ratios = check_ratios(DEFAULT_RATIOS)
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / float(1 << 64)
    upper = 0.0
    for name in SPLIT_NAMES:
        upper += ratios[name]
        if fraction < upper:
            return name
    return SPLIT_NAMES[-1]


def read_csv_tolerant(path: Path, required: list[str]) -> pd.DataFrame:
    """Read a CSV file, drop pandas index columns (``Unnamed: 0``) and rename columns to the expected case.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if a required column is missing (compared without case or surrounding spaces).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    frame = pd.read_csv(path)
    frame = frame.loc[:, [not str(column).startswith("Unnamed:") for column in frame.columns]]
    by_lower = {str(column).strip().lower(): column for column in frame.columns}
    renames = {}
    for name in required:
        column = by_lower.get(name.lower())
        if column is None:
            raise ValueError(
                f"{path}: required column {name!r} is missing; columns are {list(frame.columns)}"
            )
        renames[column] = name
    return frame.rename(columns=renames)


def find_column(frame: pd.DataFrame, name: str) -> str | None:
    """Return the column of ``frame`` named ``name`` ignoring case and spaces, or None."""
    for column in frame.columns:
        if str(column).strip().lower() == name.lower():
            return column
    return None


def rasterise_polygon(points: np.ndarray, height: int, width: int, value: int = 1) -> np.ndarray:
    """Fill a polygon given as ``(N, 2)`` ``(x, y)`` vertices: a pixel is inside when its centre is.

    Pixel ``(row, column)`` has its centre at ``(x, y) = (column, row)``, the convention of the
    tracing coordinates in the EchoNet files.
    """
    mask = np.zeros((height, width), np.uint8)
    if len(points) < 3:
        return mask
    x_min, y_min = np.floor(points.min(axis=0)).astype(int)
    x_max, y_max = np.ceil(points.max(axis=0)).astype(int)
    x_min, y_min = max(x_min, 0), max(y_min, 0)
    x_max, y_max = min(x_max, width - 1), min(y_max, height - 1)
    if x_max < x_min or y_max < y_min:
        return mask
    rows, columns = np.mgrid[y_min : y_max + 1, x_min : x_max + 1]
    centres = np.column_stack([columns.ravel(), rows.ravel()]).astype(float)
    inside = PolygonPath(points).contains_points(centres).reshape(rows.shape)
    mask[y_min : y_max + 1, x_min : x_max + 1][inside] = value
    return mask


def to_uint8(array: np.ndarray, source: Path) -> np.ndarray:
    """Return uint8 pixels, scaling other dtypes linearly from their min-max range."""
    if array.dtype == np.uint8:
        return array
    low, high = float(array.min()), float(array.max())
    if high <= low:
        logger.warning("image %s is constant (%s); it carries no information", source, low)
        return np.zeros(array.shape, np.uint8)
    return np.clip((array.astype(np.float64) - low) / (high - low) * 255.0 + 0.5, 0, 255).astype(np.uint8)
