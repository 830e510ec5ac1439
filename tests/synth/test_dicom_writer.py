"""write_dicom: every encoding round-trips through pydicom with the right colours and timing tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from echoground.synth.dicom_writer import ENCODINGS, FrameTiming, UltrasoundRegion, write_dicom

RED = (220, 30, 30)


def _frames(n: int = 3) -> np.ndarray:
    frames = np.zeros((n, 48, 64, 3), dtype=np.uint8)
    frames[:, 8:40, 8:32] = RED
    frames[:, 8:40, 40:56] = (40, 200, 60)
    for index in range(n):
        frames[index, 44, index * 4 : index * 4 + 4] = 255
    return frames


@pytest.mark.parametrize("encoding", ["jpeg_baseline", "rle", "rgb_planar0", "rgb_planar1"])
def test_colour_encodings_keep_colour(tmp_path: Path, encoding: str) -> None:
    frames = _frames()
    path = write_dicom(tmp_path / "clip.dcm", frames, encoding=encoding, timing=FrameTiming(25.0, 70))
    decoded = pydicom.dcmread(path).pixel_array
    assert decoded.shape == frames.shape
    red_patch = decoded[1, 16:32, 12:28].reshape(-1, 3).mean(axis=0)
    tolerance = 12 if encoding == "jpeg_baseline" else 0
    assert np.abs(red_patch - np.array(RED)).max() <= tolerance, red_patch
    if encoding != "jpeg_baseline":
        assert np.array_equal(decoded, frames)


def test_jpeg_baseline_header(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "clip.dcm", _frames(), encoding="jpeg_baseline", timing=FrameTiming(25.0))
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert ds.SamplesPerPixel == 3
    assert ds.PlanarConfiguration == 0
    assert ds.NumberOfFrames == 3
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"


@pytest.mark.parametrize("encoding", ["jpeg_lossless", "mono"])
def test_grey_encodings_are_lossless(tmp_path: Path, encoding: str) -> None:
    grey = (np.arange(48 * 64) % 251).astype(np.uint8).reshape(48, 64)
    path = write_dicom(tmp_path / "still.dcm", grey, encoding=encoding)
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.6.1"
    assert np.array_equal(ds.pixel_array, grey)


@pytest.mark.parametrize(
    ("style", "present", "absent"),
    [
        ("frame_time", "FrameTime", "FrameTimeVector"),
        ("frame_time_vector", "FrameTimeVector", "FrameTime"),
        ("cine_rate", "CineRate", "FrameTime"),
    ],
)
def test_timing_styles(tmp_path: Path, style: str, present: str, absent: str) -> None:
    path = write_dicom(
        tmp_path / "clip.dcm", _frames(4), encoding="rgb_planar0", timing=FrameTiming(20.0, 60, style)
    )
    ds = pydicom.dcmread(path)
    assert present in ds
    assert absent not in ds
    assert ds.HeartRate == 60


def test_regions_written(tmp_path: Path) -> None:
    region = UltrasoundRegion(2, 3, 60, 40, 1, 1, 3, 3, 0.05, 0.05)
    path = write_dicom(tmp_path / "still.dcm", _frames(1)[0], encoding="rle", regions=[region])
    item = pydicom.dcmread(path).SequenceOfUltrasoundRegions[0]
    assert (item.RegionLocationMinX0, item.RegionLocationMaxY1) == (2, 40)
    assert item.PhysicalDeltaX == pytest.approx(0.05)


def test_bad_arguments_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown DICOM encoding 'jpeg2000'"):
        write_dicom(tmp_path / "x.dcm", _frames(), encoding="jpeg2000", timing=FrameTiming(20.0))
    with pytest.raises(ValueError, match="needs a FrameTiming"):
        write_dicom(tmp_path / "x.dcm", _frames(), encoding="rle")
    with pytest.raises(ValueError, match="must be uint8"):
        write_dicom(tmp_path / "x.dcm", _frames().astype(np.int16), encoding="rle", timing=FrameTiming(20.0))
    assert set(ENCODINGS) == {"jpeg_baseline", "rle", "rgb_planar0", "rgb_planar1", "jpeg_lossless", "mono"}
