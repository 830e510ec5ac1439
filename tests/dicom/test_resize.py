"""The two resize backends of the DICOM stage: same filter, same output within one grey level."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from pydicom.data import get_testdata_file

from echoground.dicom import DicomConfig, process_file
from echoground.dicom.geometry import resize_frames


def _speckle(frames: int, rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """Blurred colour speckle with a bright block, so edges and texture both reach the filter."""
    rng = np.random.default_rng(seed)
    out = np.empty((frames, rows, columns, 3), dtype=np.uint8)
    for index in range(frames):
        noise = rng.integers(0, 256, size=(rows, columns, 3), dtype=np.uint8)
        out[index] = np.asarray(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(1.5)))
        out[index, rows // 4 : rows // 2, columns // 3 : columns // 2] = 250
    return out


@pytest.mark.parametrize(("rows", "columns", "height", "width"), [(317, 408, 174, 224), (120, 90, 224, 168)])
def test_backends_agree_within_one_level(rows: int, columns: int, height: int, width: int) -> None:
    frames = _speckle(3, rows, columns)
    by_torch = resize_frames(frames, height, width, "torch")
    by_pillow = resize_frames(frames, height, width, "pillow")
    assert by_torch.shape == by_pillow.shape == (3, height, width, 3)
    assert by_torch.dtype == np.uint8
    difference = np.abs(by_torch.astype(int) - by_pillow.astype(int))
    assert difference.max() <= 1
    # The frames are not uniform, so agreement is not trivial: the output varies across the image.
    assert by_torch.std() > 10


def test_pillow_backend_matches_pillow_resize() -> None:
    frames = _speckle(2, 100, 140, seed=1)
    expected = np.asarray(Image.fromarray(frames[1]).resize((70, 50), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(resize_frames(frames, 50, 70, "pillow")[1], expected)


def test_same_size_returns_copy() -> None:
    frames = _speckle(2, 40, 50)
    out = resize_frames(frames, 40, 50, "torch")
    np.testing.assert_array_equal(out, frames)
    out[0, 0, 0, 0] ^= 0xFF
    assert out[0, 0, 0, 0] != frames[0, 0, 0, 0]


def test_torch_resize_restores_threads() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        resize_frames(_speckle(1, 60, 60), 30, 30, "torch")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_unknown_backend_rejected() -> None:
    with pytest.raises(ValueError, match="opencv"):
        resize_frames(_speckle(1, 20, 20), 10, 10, "opencv")
    with pytest.raises(ValueError, match=r"resize_backend.*'opencv'"):
        DicomConfig(resize_backend="opencv")


def test_real_cine_same_with_both_backends() -> None:
    path = get_testdata_file("examples_ybr_color.dcm")
    by_torch = process_file(path, DicomConfig(n_frames=4, resize_backend="torch"))
    by_pillow = process_file(path, DicomConfig(n_frames=4, resize_backend="pillow"))
    np.testing.assert_array_equal(by_torch.mask, by_pillow.mask)
    assert by_torch.frame_indices == by_pillow.frame_indices
    assert np.abs(by_torch.frames.astype(int) - by_pillow.frames.astype(int)).max() <= 1
    # Outside the mask both are exactly zero.
    assert not by_torch.frames[:, ~by_torch.mask].any()
