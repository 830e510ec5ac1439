"""The sector mask: which pixels are ultrasound data, so that text, ECG traces and labels are zeroed.

The data-derived fan starts from the pixels that are bright in any kept frame or whose grey level
changes across the kept frames. A morphological opening cuts thin ECG traces and text strokes away,
the largest connected region is kept (inside a valid 2D region: every sizeable one), and its convex hull
is filled (a sector up to 180 degrees is
convex, so dark cavities inside it stay in the mask). Valid ultrasound regions bound the mask: a 2D
region's rectangle is intersected with the fan; M-mode and spectral regions are used as rectangles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from echoground.dicom.config import DicomConfig
from echoground.dicom.errors import DicomRejected
from echoground.dicom.header import HeaderInfo
from echoground.dicom.regions import SPATIAL_2D, image_regions


@dataclass(frozen=True)
class SectorMask:
    """Boolean (rows, columns) mask of ultrasound data and where it came from (regions, data, or both)."""

    mask: np.ndarray
    source: str


# The fan is searched on a grid of about this many pixels along the shorter side, then drawn at full size.
ANALYSIS_SIDE = 160


def grid_stride(rows: int, columns: int) -> int:
    """Return the pixel stride of the analysis grid for an image of ``rows`` x ``columns``."""
    return max(1, min(rows, columns) // ANALYSIS_SIDE)


def grey(frames: np.ndarray) -> np.ndarray:
    """Return the (T, rows, columns) float32 luma of RGB uint8 frames.

    The ITU-R BT.601 weights are taken as the 8-bit fixed-point 77/256, 150/256 and 29/256 (within
    0.5 grey level of 0.299, 0.587 and 0.114), which keeps the sum in uint16 and is several times
    faster than float arithmetic on large frames.
    """
    total = frames[..., 0].astype(np.uint16) * 77
    total += frames[..., 1].astype(np.uint16) * 150
    total += frames[..., 2].astype(np.uint16) * 29
    return total.astype(np.float32) * np.float32(1 / 256)


def data_fan(frames: np.ndarray, config: DicomConfig, within: np.ndarray | None = None) -> np.ndarray:
    """Return the data-derived sector of ``frames`` (T, rows, columns, 3), possibly all False.

    With ``within`` (a boolean (rows, columns) mask of valid 2D regions), only pixels inside it count,
    and every sizeable bright or moving component inside it joins the hull, not only the largest. The
    region already excludes text and ECG. The anatomy of one sector often falls apart into several
    components (dark cavities between bright walls), and the largest piece alone cuts chambers off.
    """
    rows, columns = frames.shape[1:3]
    stride = grid_stride(rows, columns)
    luma = grey(frames[:, ::stride, ::stride])
    candidate = luma.max(axis=0) > config.intensity_threshold
    if len(frames) > 1:
        candidate |= luma.std(axis=0) > config.motion_threshold
    if within is not None and within.any():
        candidate &= within[::stride, ::stride]
        return _clean(candidate, config, stride, (rows, columns), keep_all=True)
    return _clean(candidate, config, stride, (rows, columns))


# Inside a region, components smaller than this share of the largest one are speckle and are dropped.
_MIN_COMPONENT_SHARE = 0.02


def _clean(
    candidate: np.ndarray, config: DicomConfig, stride: int, shape: tuple[int, int], keep_all: bool = False
) -> np.ndarray:
    rows, columns = candidate.shape
    radius = max(2, round(min(rows, columns) * 0.01))
    structure = np.ones((2 * radius + 1, 2 * radius + 1), dtype=bool)
    opened = ndimage.binary_opening(candidate, structure=structure)
    labels, count = ndimage.label(opened)
    if count == 0:
        return np.zeros(shape, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    if keep_all:
        kept_labels = np.flatnonzero(sizes >= _MIN_COMPONENT_SHARE * sizes.max()) + 1
        kept = np.isin(labels, kept_labels)
    else:
        kept = labels == (int(np.argmax(sizes)) + 1)
    if kept.mean() < config.min_sector_fraction:
        return np.zeros(shape, dtype=bool)
    return _convex_fill(kept, stride, shape)


def _convex_fill(mask: np.ndarray, stride: int, shape: tuple[int, int]) -> np.ndarray:
    """Draw the convex hull of the grid ``mask`` at full size, closing dark cavities inside a sector."""
    # Only the leftmost and rightmost cell of each row can be hull vertices, so the others are skipped.
    occupied = np.flatnonzero(mask.any(axis=1))
    first = mask[occupied].argmax(axis=1)
    last = mask.shape[1] - 1 - mask[occupied, ::-1].argmax(axis=1)
    rows = np.concatenate([occupied, occupied])
    columns = np.concatenate([first, last])
    # Each grid cell covers stride x stride source pixels; the hull goes through the cells' corners.
    corners = [(columns, rows), (columns + 1, rows), (columns, rows + 1), (columns + 1, rows + 1)]
    points = np.concatenate([np.column_stack(corner) for corner in corners]).astype(np.float64) * stride
    points -= 0.5
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    try:
        hull = ConvexHull(points)
    except QhullError:
        return np.zeros(shape, dtype=bool)
    ImageDraw.Draw(canvas).polygon([tuple(points[index]) for index in hull.vertices], fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def region_mask(info: HeaderInfo, spatial_formats: tuple[int, ...]) -> np.ndarray:
    """Return the union of the rectangles of valid image regions with the given spatial formats."""
    mask = np.zeros((info.rows, info.columns), dtype=bool)
    for region in image_regions(info.regions):
        if region.spatial_format in spatial_formats:
            mask[region.y0 : region.y1 + 1, region.x0 : region.x1 + 1] = True
    return mask


def sector_mask(info: HeaderInfo, fan: np.ndarray, clip_kind: str, config: DicomConfig) -> SectorMask:
    """Build the mask of one clip from its valid regions and its data-derived fan (see :func:`data_fan`).

    Raises:
        DicomRejected: neither the regions nor the pixels show any ultrasound data.
    """
    min_area = config.min_sector_fraction * info.rows * info.columns
    if info.regions_valid:
        if clip_kind in ("spectral_doppler", "m_mode"):
            rectangles = region_mask(info, (1, 2, 3))
            if rectangles.sum() >= min_area:
                return SectorMask(rectangles, "regions")
        rectangles = region_mask(info, (SPATIAL_2D,))
        if rectangles.sum() >= min_area:
            combined = rectangles & fan
            if combined.sum() >= min_area:
                return SectorMask(combined, "regions_and_data")
            return SectorMask(rectangles, "regions")
    if fan.sum() >= min_area:
        return SectorMask(fan, "data")
    raise DicomRejected(
        "no_sector_found",
        f"{info.path}: no ultrasound sector found (no valid 2D region and no moving or bright area covering "
        f"{config.min_sector_fraction:.0%} of the image)",
    )
