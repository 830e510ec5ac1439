"""Reduced-size JPEG decoding: choice of the factor, rescaled regions, agreement with full size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import base_dataset, write_jpeg, write_native_rgb
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from echoground.dicom import DicomConfig, process_file
from echoground.dicom.header import read_header
from echoground.dicom.reduction import choose_reduction
from echoground.dicom.regions import UltrasoundRegion

ROWS, COLUMNS = 480, 640


def _large_frames(
    n_frames: int, fan_box: tuple[int, int, int, int], seed: int = 0, grain: int = 4
) -> np.ndarray:
    """Return frames of moving speckle inside an ellipse filling ``fan_box`` (x0, y0, x1, y1), text outside.

    ``grain`` is the side in pixels of the square speckle cells.
    """
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = fan_box
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    inside = ((x - centre_x) / ((x1 - x0) / 2)) ** 2 + ((y - centre_y) / ((y1 - y0) / 2)) ** 2 <= 1
    frames = np.zeros((n_frames, ROWS, COLUMNS, 3), dtype=np.uint8)
    for index in range(n_frames):
        speckle = rng.integers(40, 200, size=(ROWS // grain, COLUMNS // grain), dtype=np.uint8)
        smooth = np.kron(speckle, np.ones((grain, grain), dtype=np.uint8))
        frames[index][inside] = smooth[inside][:, None]
        frames[index, 4:14, 4:120] = (255, 255, 0)
    return frames


def _dataset(n_frames: int, region_box: tuple[int, int, int, int]) -> Dataset:
    ds = base_dataset(n_frames)
    ds.Rows, ds.Columns = ROWS, COLUMNS
    region = ds.SequenceOfUltrasoundRegions[0]
    region.RegionLocationMinX0, region.RegionLocationMinY0 = region_box[0], region_box[1]
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = region_box[2], region_box[3]
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.02
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    return ds


@pytest.fixture(scope="module")
def large_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "large.dcm"
    box = (60, 40, 580, 460)
    # Speckle cells of 40 px are about 8 output pixels, so both decodes resolve them.
    return write_jpeg(path, _large_frames(6, box, grain=40), ds=_dataset(6, box), quality=95)


def _header_with_region(path: Path, width: int, height: int):
    info = read_header(path)
    region = replace(info.regions[0], x0=0, y0=0, x1=width - 1, y1=height - 1)
    return replace(info, rows=1000, columns=1000, regions=[region])


@pytest.mark.parametrize(
    ("width", "expected"),
    [(446, 1), (448, 2), (892, 2), (896, 4), (1784, 4), (1792, 8)],
)
def test_reduction_factor_choice(large_jpeg: Path, width: int, expected: int) -> None:
    info = _header_with_region(large_jpeg, width, 100)
    assert choose_reduction(info, DicomConfig(size=224)) == expected


def test_reduction_off_or_not_jpeg(large_jpeg: Path, tmp_path: Path) -> None:
    assert choose_reduction(read_header(large_jpeg), DicomConfig(size=64, reduced_decode=False)) == 1
    native = write_native_rgb(
        tmp_path / "native.dcm", _large_frames(2, (60, 40, 580, 460)), ds=_dataset(2, (60, 40, 580, 460))
    )
    assert choose_reduction(read_header(native), DicomConfig(size=64)) == 1


def test_region_reduced_bounds() -> None:
    region = UltrasoundRegion(1, 1, 61, 40, 579, 461, 3, 3, 0.02, 0.03)
    half = region.reduced(2)
    assert (half.x0, half.y0, half.x1, half.y1) == (30, 20, 289, 230)
    assert half.delta_x == pytest.approx(0.04)
    assert half.delta_y == pytest.approx(0.06)
    assert region.reduced(1) is region


def test_reduced_matches_full_decode(large_jpeg: Path) -> None:
    reduced = process_file(large_jpeg, DicomConfig(n_frames=6, size=112))
    full = process_file(large_jpeg, DicomConfig(n_frames=6, size=112, reduced_decode=False))
    assert reduced.decode_reduction == 4
    assert full.decode_reduction == 1
    for reduced_edge, full_edge in zip(reduced.crop_box, full.crop_box, strict=True):
        assert abs(reduced_edge - full_edge) <= 2 * reduced.decode_reduction
    assert reduced.cm_per_pixel_x == pytest.approx(full.cm_per_pixel_x, rel=0.03)
    assert reduced.cm_per_pixel_y == pytest.approx(full.cm_per_pixel_y, rel=0.03)
    overlap = (reduced.mask & full.mask).sum() / (reduced.mask | full.mask).sum()
    assert overlap > 0.95
    both = reduced.mask & full.mask
    difference = np.abs(reduced.frames.astype(np.int16) - full.frames.astype(np.int16))[:, both]
    # Inside the speckle cells both decodes agree; only cell edges, where the two resamplings place the
    # edge up to one output pixel apart, differ.
    assert np.median(difference) <= 3
    assert difference.mean() < 12.0


def test_small_sector_decodes_finer(tmp_path: Path) -> None:
    # The region spans the whole image, which at 1/8 still gives 80 px for a 64 px output, but the data
    # fills only a 150 px wide area: 1/8 and 1/4 would enlarge it, so the stage settles on 1/2.
    frames = _large_frames(4, (200, 150, 350, 270))
    path = write_jpeg(tmp_path / "small.dcm", frames, ds=_dataset(4, (0, 0, COLUMNS - 1, ROWS - 1)))
    result = process_file(path, DicomConfig(n_frames=4, size=64))
    assert result.decode_reduction == 2
    x0, y0, x1, y1 = result.crop_box
    assert max(x1 - x0, y1 - y0) / result.decode_reduction >= 64
