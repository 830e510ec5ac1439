"""End-diastole and end-systole estimates, and M-mode versus spectral Doppler for stills without regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dicom_factory import base_dataset, write_native_rgb

from echoground.dicom import DicomConfig, process_file
from echoground.dicom.key_frames import KEY_FRAME_SOURCE, estimate_key_frames

SIDE = 64


def _beating(radii: list[float], tissue: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Return frames of bright tissue with a dark cavity of the given radius per frame, and the mask."""
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    distance = np.hypot(x - SIDE / 2, y - SIDE / 2)
    mask = distance <= SIDE / 2 - 1
    frames = np.zeros((len(radii), SIDE, SIDE, 3), dtype=np.uint8)
    for index, radius in enumerate(radii):
        frame = np.where(distance <= radius, 10, tissue).astype(np.uint8)
        frames[index] = np.where(mask, frame, 0)[:, :, None]
    return frames, mask


def test_key_frames_largest_and_smallest_cavity() -> None:
    radii = [18, 20, 22, 19, 14, 10, 9, 12, 16]
    frames, mask = _beating(radii)
    indices = [0, 3, 6, 9, 12, 15, 18, 21, 24]
    key = estimate_key_frames(frames, mask, indices, "b_mode_2d", DicomConfig())
    assert key.source == KEY_FRAME_SOURCE
    assert key.end_diastole == 6
    assert key.end_systole == 18


@pytest.mark.parametrize(("swing", "found"), [(0.5, False), (1.5, True)])
def test_key_frames_swing_threshold(swing: float, found: bool) -> None:
    frames, mask = _beating([15.0] * 5)
    luma = frames.astype(np.float32)
    # Scale one frame's tissue so the sector mean moves by about ``swing`` grey levels.
    mean = float(luma[0][mask].mean())
    luma[2][mask] *= (mean + swing) / mean
    frames = np.clip(np.round(luma), 0, 255).astype(np.uint8)
    key = estimate_key_frames(frames, mask, list(range(5)), "b_mode_2d", DicomConfig(key_frame_min_swing=1.0))
    assert (key.source == KEY_FRAME_SOURCE) is found
    assert (key.end_systole == 2) is found


@pytest.mark.parametrize("kind", ["color_doppler", "m_mode", "spectral_doppler"])
def test_key_frames_only_b_mode(kind: str) -> None:
    frames, mask = _beating([20, 10, 20])
    key = estimate_key_frames(frames, mask, [0, 1, 2], kind, DicomConfig())
    assert key.source == "none"
    assert key.end_diastole is None


def test_key_frames_need_three_frames() -> None:
    frames, mask = _beating([20, 10])
    assert estimate_key_frames(frames, mask, [0, 1], "b_mode_2d", DicomConfig()).source == "none"


def _still(tmp_path: Path, name: str, content: np.ndarray) -> Path:
    ds = base_dataset(1)
    del ds.SequenceOfUltrasoundRegions
    frame = np.zeros((1, 120, 160, 3), dtype=np.uint8)
    frame[0, 40:110, 10:150] = content[:, :, None]
    return write_native_rgb(tmp_path / name, frame, ds=ds)


def _m_mode_trace(rng: np.random.Generator) -> np.ndarray:
    # Each depth keeps its grey level along time (columns); the layers shift a little with the beat.
    depth_profile = rng.integers(30, 230, size=90).astype(np.float32)
    columns = np.arange(140)
    shift = np.round(4 * np.sin(columns / 10.0)).astype(int)
    trace = np.stack([depth_profile[10 + shift[c] : 80 + shift[c]] for c in columns], axis=1)
    return trace.astype(np.uint8)


def test_m_mode_still_from_pixels(tmp_path: Path) -> None:
    trace = _m_mode_trace(np.random.default_rng(3))
    result = process_file(_still(tmp_path, "mmode.dcm", trace), DicomConfig(size=64))
    assert result.clip_kind == "m_mode"
    assert result.clip_kind_source == "pixels"


def test_speckle_still_stays_spectral(tmp_path: Path) -> None:
    speckle = np.random.default_rng(1).integers(30, 220, size=(70, 140), dtype=np.uint8)
    result = process_file(_still(tmp_path, "pw.dcm", speckle), DicomConfig(size=64))
    assert result.clip_kind == "spectral_doppler"
    assert result.clip_kind_source == "pixels"


def test_key_frames_in_clips_columns(tmp_path: Path) -> None:
    radii = [22, 18, 12, 9, 13, 19]
    frames, _ = _beating(radii)
    canvas = np.zeros((len(radii), 120, 160, 3), dtype=np.uint8)
    canvas[:, 28:92, 48:112] = frames
    ds = base_dataset(len(radii))
    del ds.SequenceOfUltrasoundRegions
    result = process_file(write_native_rgb(tmp_path / "beat.dcm", canvas, ds=ds), DicomConfig(size=64))
    assert result.clip_kind == "b_mode_2d"
    assert result.end_diastole_frame == 0
    assert result.end_systole_frame == 3
