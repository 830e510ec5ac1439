"""Clip kind (b_mode_2d, color_doppler, spectral_doppler, m_mode, other) from regions, checked on pixels.

The regions decide first, by the most specific image region present: spectral (RegionSpatialFormat 3
or RegionDataType 3/4) over M-mode (format 2) over colour flow (2D with RegionDataType 2) over tissue
(2D with RegionDataType 1). The pixels then confirm or override the 2D kinds: colour flow must show
saturated chroma inside the sector, and tissue-only regions over a colour-coded sector become colour
Doppler. Without valid regions the pixels decide alone: a single frame that fills a wide rectangle
is M-mode when its grey level is banded horizontally (see :func:`banding_ratio`), else spectral Doppler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from echoground.dicom.config import DicomConfig
from echoground.dicom.header import HeaderInfo
from echoground.dicom.mask import grey, grid_stride, region_mask
from echoground.dicom.regions import (
    DATA_COLOUR_FLOW,
    DATA_CW_SPECTRAL,
    DATA_PW_SPECTRAL,
    DATA_TISSUE,
    SPATIAL_2D,
    SPATIAL_M_MODE,
    SPATIAL_SPECTRAL,
    image_regions,
)

VOCABULARY_PATH = Path(__file__).resolve().parent.parent / "views" / "vocabulary.yaml"


def clip_kinds() -> list[str]:
    """Return the clip kind names fixed in the view vocabulary (``clip_kinds``)."""
    with VOCABULARY_PATH.open(encoding="utf-8") as handle:
        return list(yaml.safe_load(handle)["clip_kinds"])


@dataclass(frozen=True)
class ClipKindDecision:
    """The clip kind, its source (regions, pixels, regions_overridden) and the measured colour fraction."""

    kind: str
    source: str
    colour_fraction: float


def kind_from_regions(info: HeaderInfo) -> str | None:
    """Return the clip kind implied by the valid image regions, or None when they imply none."""
    if not info.regions_valid:
        return None
    regions = image_regions(info.regions)
    formats = {region.spatial_format for region in regions}
    data_types = {region.data_type for region in regions}
    if SPATIAL_SPECTRAL in formats or data_types & {DATA_PW_SPECTRAL, DATA_CW_SPECTRAL}:
        return "spectral_doppler"
    if SPATIAL_M_MODE in formats:
        return "m_mode"
    two_d_types = {region.data_type for region in regions if region.spatial_format == SPATIAL_2D}
    if DATA_COLOUR_FLOW in two_d_types:
        return "color_doppler"
    if DATA_TISSUE in two_d_types:
        return "b_mode_2d"
    return "other"


def colour_fraction(frames: np.ndarray, area: np.ndarray, config: DicomConfig) -> float:
    """Return the fraction of ``area`` pixels whose chroma reaches ``colour_chroma_min`` in any frame."""
    if not area.any():
        return 0.0
    step = max(1, len(frames) // 4)
    stride = grid_stride(*frames.shape[1:3])
    sample = frames[::step, ::stride, ::stride]
    red, green, blue = sample[..., 0], sample[..., 1], sample[..., 2]
    # Elementwise maximum and minimum are much faster than a reduction over the 3-long channel axis.
    chroma = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    coloured = (chroma >= config.colour_chroma_min).any(axis=0)
    grid_area = area[::stride, ::stride]
    if not grid_area.any():
        return 0.0
    return float(coloured[grid_area].mean())


def _rectangular(fan: np.ndarray) -> bool:
    rows = np.flatnonzero(fan.any(axis=1))
    columns = np.flatnonzero(fan.any(axis=0))
    if rows.size == 0:
        return False
    box = (rows[-1] - rows[0] + 1) * (columns[-1] - columns[0] + 1)
    width = columns[-1] - columns[0] + 1
    height = rows[-1] - rows[0] + 1
    # A spectral trace fills its rectangle and is wider than tall; a 2D sector fills about 60-70 % of its box.
    return fan.sum() / box >= 0.9 and width >= 1.2 * height


def banding_ratio(frame: np.ndarray, area: np.ndarray, config: DicomConfig) -> float:
    """Return how much more the grey level changes down the columns than along the rows inside ``area``.

    An M-mode trace shows each depth along time, so tissue layers run as horizontal bands and
    neighbouring columns are alike: the ratio is well above 1. A spectral Doppler trace is speckle of
    similar grain in both directions under its velocity envelope, so the ratio is near 1. Only pairs
    of pixels where either one is brighter than ``config.intensity_threshold`` count, so the black
    background of a spectral trace does not dilute it.

    NOTE: the ``m_mode_anisotropy_min`` cut between the two was set on synthetic traces only.
    """
    rows = np.flatnonzero(area.any(axis=1))
    columns = np.flatnonzero(area.any(axis=0))
    if rows.size < 2 or columns.size < 2:
        return 0.0
    luma = grey(frame[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1])
    bright = luma > config.intensity_threshold
    down = np.abs(np.diff(luma, axis=0))[bright[1:] | bright[:-1]]
    along = np.abs(np.diff(luma, axis=1))[bright[:, 1:] | bright[:, :-1]]
    if down.size == 0 or along.size == 0:
        return 0.0
    return float(down.mean() / max(float(along.mean()), 1e-6))


def decide_clip_kind(
    info: HeaderInfo, frames: np.ndarray, fan: np.ndarray, config: DicomConfig
) -> ClipKindDecision:
    """Decide the clip kind from the regions, the kept frames (T, rows, columns, 3) and the data fan."""
    from_regions = kind_from_regions(info)
    if from_regions is not None:
        area = region_mask(info, (SPATIAL_2D,))
        if not area.any():
            area = region_mask(info, (SPATIAL_2D, SPATIAL_M_MODE, SPATIAL_SPECTRAL))
    else:
        area = fan
    fraction = colour_fraction(frames, area, config)
    coloured = fraction >= config.colour_fraction_min

    if from_regions == "color_doppler" and not coloured:
        return ClipKindDecision("b_mode_2d", "regions_overridden", fraction)
    if from_regions == "b_mode_2d" and coloured:
        return ClipKindDecision("color_doppler", "regions_overridden", fraction)
    if from_regions is not None:
        return ClipKindDecision(from_regions, "regions", fraction)

    if coloured:
        return ClipKindDecision("color_doppler", "pixels", fraction)
    if info.n_frames == 1 and _rectangular(area):
        if banding_ratio(frames[0], area, config) >= config.m_mode_anisotropy_min:
            return ClipKindDecision("m_mode", "pixels", fraction)
        return ClipKindDecision("spectral_doppler", "pixels", fraction)
    if not area.any():
        return ClipKindDecision("other", "pixels", fraction)
    return ClipKindDecision("b_mode_2d", "pixels", fraction)
