"""Decoding of every encoding echo archives hold, with colours checked against the written frames."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import (
    TEXT_COLOUR,
    cine_frames,
    write_jpeg,
    write_monochrome,
    write_native_rgb,
    write_palette,
    write_rle,
)
from PIL import Image

from echoground.dicom.decode import decode_frames
from echoground.dicom.header import read_header

INDICES = [0, 3, 5]


def _decode(path: Path, indices: list[int] = INDICES) -> tuple[np.ndarray, str]:
    return decode_frames(read_header(path), indices)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return cine_frames(6, colour=True)


@pytest.mark.parametrize("planar", [0, 1])
def test_native_rgb_exact(tmp_path: Path, frames: np.ndarray, planar: int) -> None:
    decoded, _ = _decode(write_native_rgb(tmp_path / "rgb.dcm", frames, planar=planar))
    assert np.array_equal(decoded, frames[INDICES])


def test_rle_exact(tmp_path: Path, frames: np.ndarray) -> None:
    decoded, _ = _decode(write_rle(tmp_path / "rle.dcm", frames))
    assert np.array_equal(decoded, frames[INDICES])


@pytest.mark.parametrize("big_endian", [False, True])
def test_monochrome_exact(tmp_path: Path, frames: np.ndarray, big_endian: bool) -> None:
    decoded, _ = _decode(write_monochrome(tmp_path / "mono.dcm", frames, big_endian=big_endian))
    grey = frames.max(axis=3)[INDICES]
    assert np.array_equal(decoded[..., 0], grey)
    assert np.array_equal(decoded[..., 2], grey)


@pytest.mark.parametrize("bits", [8, 16])
def test_palette_lut_applied(tmp_path: Path, frames: np.ndarray, bits: int) -> None:
    decoded, _ = _decode(write_palette(tmp_path / "palette.dcm", frames, bits=bits))
    yellow = np.all(frames[INDICES] == TEXT_COLOUR, axis=3)
    assert yellow.any()
    assert np.array_equal(decoded[yellow][0], np.array(TEXT_COLOUR, dtype=np.uint8))
    grey = frames.max(axis=3)[INDICES]
    speckle = ~yellow & (grey < 250)
    assert np.abs(decoded[..., 1][speckle].astype(int) - grey[speckle]).max() <= 1


def test_jpeg_colour_once(tmp_path: Path, frames: np.ndarray) -> None:
    decoded, decoder = _decode(write_jpeg(tmp_path / "jpeg.dcm", frames))
    assert decoder == "pillow_direct"
    reference = []
    for index in INDICES:
        buffer = io.BytesIO()
        Image.fromarray(frames[index]).save(buffer, format="JPEG", quality=95)
        reference.append(np.asarray(Image.open(buffer).convert("RGB")))
    assert np.array_equal(decoded, np.stack(reference))
    red_patch = decoded[:, 55:70, 70:90].reshape(-1, 3).mean(axis=0)
    assert red_patch[0] > 180
    assert red_patch[1] < 70
    assert red_patch[2] < 70


def test_jpeg_matches_pydicom(tmp_path: Path, frames: np.ndarray) -> None:
    from pydicom.pixels import pixel_array

    path = write_jpeg(tmp_path / "jpeg.dcm", frames)
    decoded, _ = _decode(path)
    for position, index in enumerate(INDICES):
        expected = pixel_array(path, index=index)
        assert np.abs(decoded[position].astype(int) - expected).mean() < 1.0
