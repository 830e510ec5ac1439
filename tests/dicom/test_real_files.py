"""The real public echo DICOMs of pydicom and pydicom-data, with colours checked against pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_color_lut, pixel_array

from echoground.dicom import DicomConfig, process_file
from echoground.dicom.decode import decode_frames
from echoground.dicom.header import read_header

pytestmark = pytest.mark.real_dicom
data_store = pytest.importorskip("data_store")
DATA = Path(data_store.__file__).parent / "data"


def _path(name: str) -> Path:
    if name == "examples_ybr_color.dcm":
        return Path(get_testdata_file(name))
    return DATA / name


def _reference(path: Path, index: int) -> np.ndarray:
    """Decode one frame through pydicom's own pipeline: RGB once, palette applied, 16-bit scaled."""
    import pydicom

    dataset = pydicom.dcmread(path)
    frame = pixel_array(path, index=index)
    if dataset.PhotometricInterpretation == "PALETTE COLOR":
        frame = apply_color_lut(frame, dataset)[..., :3]
        if frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    return frame


REAL_FILES = [
    "examples_ybr_color.dcm",
    "color3d_jpeg_baseline.dcm",
    "US1_UNCR.dcm",
    "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "gdcm-US-ALOKA-16.dcm",
    "gdcm-US-ALOKA-16_big.dcm",
    "OBXXXX1A.dcm",
    "OBXXXX1A_expb.dcm",
    "OBXXXX1A_rle.dcm",
    "OBXXXX1A_rle_2frame.dcm",
]


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_patch_matches_pydicom(name: str) -> None:
    path = _path(name)
    info = read_header(path)
    decoded, _ = decode_frames(info, [info.n_frames - 1])
    reference = _reference(path, info.n_frames - 1)
    rows, columns = info.rows, info.columns
    patch = (slice(rows // 4, rows // 2), slice(columns // 4, columns // 2))
    ours = decoded[0][patch].reshape(-1, 3).mean(axis=0)
    theirs = reference[patch].reshape(-1, 3).mean(axis=0)
    assert np.abs(ours - theirs).max() < 1.5, (ours, theirs)


def test_ybr_jpeg_not_green() -> None:
    path = _path("color3d_jpeg_baseline.dcm")
    decoded, _ = decode_frames(read_header(path), [0])
    # Grey B-mode speckle: a second YCbCr->RGB conversion would push green far above red and blue.
    sector = decoded[0, 150:300, 250:400].reshape(-1, 3).astype(float).mean(axis=0)
    assert abs(sector[1] - sector[0]) < 3
    assert abs(sector[1] - sector[2]) < 3
    assert sector.mean() > 10


def test_power_doppler_known_colour() -> None:
    path = _path("US1_UNCR.dcm")
    decoded, _ = decode_frames(read_header(path), [0])
    reference = _reference(path, 0)
    hot = np.argwhere((reference[..., 0] > 200) & (reference[..., 2] < 60))
    assert len(hot) > 100
    y, x = hot[len(hot) // 2]
    assert np.array_equal(decoded[0, y, x], reference[y, x])
    assert decoded[0, y, x, 0] > 200


@pytest.mark.parametrize(
    ("name", "kind", "mask_source"),
    [
        ("color3d_jpeg_baseline.dcm", "b_mode_2d", "regions_and_data"),
        ("examples_ybr_color.dcm", "b_mode_2d", "data"),
        ("US1_UNCR.dcm", "color_doppler", "data"),
        ("gdcm-US-ALOKA-16.dcm", "b_mode_2d", "regions_and_data"),
    ],
)
def test_real_clip_kind_and_mask(name: str, kind: str, mask_source: str) -> None:
    result = process_file(_path(name), DicomConfig(n_frames=8, size=96))
    assert result.clip_kind == kind
    assert result.mask_source == mask_source
    assert result.frames is not None and result.mask is not None
    assert not result.frames[:, ~result.mask].any()


def test_real_calibration_after_resize() -> None:
    result = process_file(_path("color3d_jpeg_baseline.dcm"), DicomConfig(n_frames=4, size=224))
    x0, y0, x1, y1 = result.crop_box
    scale = 224 / max(x1 - x0, y1 - y0)
    assert result.cm_per_pixel_x == pytest.approx(0.05104970559477806 / scale)
    assert result.cm_per_pixel_y == pytest.approx(0.05104970559477806 / scale)
