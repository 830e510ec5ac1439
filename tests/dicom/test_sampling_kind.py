"""Frame sampling, heart-rate bounds, clip kind decisions, colour threshold, calibration and clip ids."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import DELTA_CM, base_dataset, cine_frames, fan_box, write_native_rgb

from echoground.dicom import DicomConfig, process_file
from echoground.dicom.clip_kind import clip_kinds, colour_fraction
from echoground.dicom.header import read_header
from echoground.dicom.sampling import heart_rate, select_frames
from echoground.dicom.stage import clip_id_from_path


@pytest.fixture(scope="module")
def cine_header(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("cine") / "cine.dcm"
    write_native_rgb(path, cine_frames(90))
    return read_header(path)


def test_window_spans_one_cycle(cine_header) -> None:
    # 60 bpm -> 1000 ms cycle; 20 ms frames -> the window needs 51 frames (0..50).
    selection = select_frames(cine_header, DicomConfig(n_frames=16))
    assert selection.indices[0] == 0
    assert selection.indices[-1] == 50
    assert len(selection.indices) == 16
    assert selection.times_ms[-1] - selection.times_ms[0] >= 1000.0
    assert selection.frame_rate_hz == pytest.approx(50.0)


def test_frame_rate_rounded_to_millihertz(cine_header) -> None:
    for frame_time, rate in ((33.333, 30.0), (33.3, 30.03), (16.7, 59.88)):
        timed = replace(cine_header, frame_time_ms=frame_time)
        selection = select_frames(timed, DicomConfig(n_frames=16))
        assert selection.frame_rate_hz == rate


def test_short_cine_keeps_all_frames(cine_header) -> None:
    short = replace(cine_header, n_frames=10, frame_times_ms=[i * 20.0 for i in range(10)])
    assert select_frames(short, DicomConfig(n_frames=16)).indices == list(range(10))


@pytest.mark.parametrize(
    ("value", "expected_source"),
    [(19.0, "default"), (20.0, "header"), (250.0, "header"), (251.0, "default"), (None, "default")],
)
def test_heart_rate_bounds(cine_header, value: float | None, expected_source: str) -> None:
    bpm, source = heart_rate(replace(cine_header, heart_rate_header=value), DicomConfig())
    assert source == expected_source
    assert bpm == (value if expected_source == "header" else 75.0)


def test_colour_fraction_threshold() -> None:
    config = DicomConfig(colour_chroma_min=80)
    frames = np.zeros((1, 10, 10, 3), dtype=np.uint8)
    frames[0, 0, 0] = (100, 21, 21)  # chroma 79: below
    frames[0, 0, 1] = (100, 20, 20)  # chroma 80: at the threshold
    area = np.zeros((10, 10), dtype=bool)
    area[0, :2] = True
    assert colour_fraction(frames, area, config) == pytest.approx(0.5)


def _clip(tmp_path: Path, colour: bool, data_type: int, n_frames: int = 6) -> Path:
    ds = base_dataset(n_frames)
    ds.SequenceOfUltrasoundRegions[0].RegionDataType = data_type
    return write_native_rgb(
        tmp_path / f"clip_{colour}_{data_type}.dcm", cine_frames(n_frames, colour=colour), ds=ds
    )


@pytest.mark.parametrize(
    ("colour", "data_type", "kind", "source"),
    [
        (False, 1, "b_mode_2d", "regions"),
        (True, 2, "color_doppler", "regions"),
        (True, 1, "color_doppler", "regions_overridden"),
        (False, 2, "b_mode_2d", "regions_overridden"),
    ],
)
def test_clip_kind_regions_vs_pixels(
    tmp_path: Path, colour: bool, data_type: int, kind: str, source: str
) -> None:
    result = process_file(_clip(tmp_path, colour, data_type), DicomConfig(n_frames=4, size=64))
    assert result.clip_kind == kind
    assert result.clip_kind_source == source
    assert result.clip_kind in clip_kinds()


def test_spectral_from_regions(tmp_path: Path) -> None:
    ds = base_dataset(1)
    region = ds.SequenceOfUltrasoundRegions[0]
    region.RegionSpatialFormat = 3
    region.RegionDataType = 3
    result = process_file(write_native_rgb(tmp_path / "pw.dcm", cine_frames(1), ds=ds), DicomConfig(size=64))
    assert result.clip_kind == "spectral_doppler"
    assert result.mask_source == "regions"


def test_spectral_from_pixels(tmp_path: Path) -> None:
    ds = base_dataset(1)
    del ds.SequenceOfUltrasoundRegions
    frame = np.zeros((1, 120, 160, 3), dtype=np.uint8)
    frame[0, 40:110, 10:150] = np.random.default_rng(1).integers(30, 220, size=(70, 140, 1), dtype=np.uint8)
    result = process_file(write_native_rgb(tmp_path / "still.dcm", frame, ds=ds), DicomConfig(size=64))
    assert result.clip_kind == "spectral_doppler"
    assert result.clip_kind_source == "pixels"


def test_calibration_after_resize(tmp_path: Path) -> None:
    result = process_file(_clip(tmp_path, False, 1), DicomConfig(n_frames=4, size=64))
    x0, y0, x1, y1 = result.crop_box
    box = fan_box()
    assert x0 >= box[0]
    assert x1 <= box[2] + 1
    scale = 64 / max(x1 - x0, y1 - y0)
    assert result.cm_per_pixel_x == pytest.approx(DELTA_CM / scale)
    assert result.cm_per_pixel_y == pytest.approx(DELTA_CM / scale)
    assert result.mask_source == "regions_and_data"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("files/p10/p10000032/s90000001/90000001_0001.dcm", "p10_p10000032_s90000001_0001"),
        ("/data/echo/files/p11/p11223344/s95555555/95555555_0047.dcm", "p11_p11223344_s95555555_0047"),
        ("some/dir/clip.v2.dcm", "some_dir_clip_v2"),
    ],
)
def test_clip_id_from_path(path: str, expected: str) -> None:
    assert clip_id_from_path(path) == expected
    assert "." not in clip_id_from_path(path)
