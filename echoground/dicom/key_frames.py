"""Estimate of the end-diastolic and end-systolic frames among the kept frames of a B-mode clip.

Blood is dark and myocardium bright in B-mode, so the mean grey level inside the sector is lowest
when the ventricles are largest (end-diastole) and highest when they are smallest and their walls
thickest (end-systole). The estimate picks the kept frames at those two extremes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoground.dicom.config import DicomConfig
from echoground.dicom.mask import grey

KEY_FRAME_SOURCE = "sector_intensity"


@dataclass(frozen=True)
class KeyFrames:
    """Source frame indices of end-diastole and end-systole, or None, and the rule behind them."""

    end_diastole: int | None
    end_systole: int | None
    source: str


NO_KEY_FRAMES = KeyFrames(None, None, "none")


def estimate_key_frames(
    frames: np.ndarray, mask: np.ndarray, indices: list[int], clip_kind: str, config: DicomConfig
) -> KeyFrames:
    """Estimate end-diastole and end-systole from the sector's mean grey level over the kept frames.

    Args:
        frames: Output frames (T, S, S, 3) uint8, zero outside ``mask``.
        mask: Output sector mask (S, S).
        indices: Source frame index of each of the T frames.
        clip_kind: Only ``b_mode_2d`` clips get key frames; colour overlays and traces would dominate
            the mean grey level of the other kinds.
        config: ``key_frame_min_swing`` sets the smallest range of the mean grey level (0-255) that
            counts as cardiac motion rather than noise.

    Returns:
        The key frames, or ``NO_KEY_FRAMES`` when the clip kind, fewer than 3 kept frames, an empty mask
        or a mean grey level that swings less than ``key_frame_min_swing`` rules the estimate out.
    """
    if clip_kind != "b_mode_2d" or len(frames) < 3 or not mask.any():
        return NO_KEY_FRAMES
    # NOTE: not checked against ECG or annotated frames. In four-chamber views the atria grow while the
    # ventricles shrink, which weakens the swing, so the estimate can pick a neighbouring frame.
    # The frames are zero outside the mask, so channel sums over the whole frame are sums over the sector.
    means = grey(frames).sum(axis=(1, 2)) / mask.sum()
    if float(means.max() - means.min()) < config.key_frame_min_swing:
        return NO_KEY_FRAMES
    return KeyFrames(indices[int(np.argmin(means))], indices[int(np.argmax(means))], KEY_FRAME_SOURCE)
