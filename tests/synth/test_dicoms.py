"""Every synthetic DICOM decodes with pydicom and shows the intended colours, regions and PHI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from echoground.synth import phantoms
from echoground.synth.real_files import REAL_FILES, locate


@pytest.fixture(scope="module")
def dicom_truth(cohort_dir: Path) -> pd.DataFrame:
    return pd.read_csv(cohort_dir / "ground_truth" / "dicoms.csv", dtype=str, keep_default_na=False)


def _first_frame(ds: pydicom.Dataset) -> np.ndarray:
    pixels = ds.pixel_array
    return pixels[0] if int(ds.get("NumberOfFrames", 1) or 1) > 1 else pixels


def test_headers_match_ground_truth(cohort_dir: Path, dicom_truth: pd.DataFrame) -> None:
    for row in dicom_truth.itertuples():
        ds = pydicom.dcmread(cohort_dir / "mimic-iv-echo" / row.dicom_filepath, stop_before_pixels=True)
        assert str(ds.file_meta.TransferSyntaxUID) == row.transfer_syntax, row.dicom_filepath
        assert ds.PhotometricInterpretation == row.photometric, row.dicom_filepath
        assert int(ds.get("NumberOfFrames", 1) or 1) == int(row.n_frames), row.dicom_filepath


def test_every_file_decodes(cohort_dir: Path, dicom_truth: pd.DataFrame) -> None:
    for row in dicom_truth.itertuples():
        ds = pydicom.dcmread(cohort_dir / "mimic-iv-echo" / row.dicom_filepath)
        pixels = ds.pixel_array
        assert pixels.dtype == np.uint8, row.dicom_filepath
        expected_frames = int(row.n_frames)
        if expected_frames > 1:
            assert pixels.shape[0] == expected_frames, row.dicom_filepath


def test_ecg_trace_is_green(cohort_dir: Path, dicom_truth: pd.DataFrame) -> None:
    colour = dicom_truth[
        (dicom_truth["source"] == "synthetic")
        & (dicom_truth["photometric"] != "MONOCHROME2")
        & (dicom_truth["clip_kind"] != "other")
    ]
    assert len(colour) > 0
    for row in colour.itertuples():
        frame = _first_frame(pydicom.dcmread(cohort_dir / "mimic-iv-echo" / row.dicom_filepath)).astype(int)
        ecg_row = int(row.ecg_row_px)
        band = frame[ecg_row - 2 : ecg_row + 3, int(frame.shape[1] * 0.1) : int(frame.shape[1] * 0.7)]
        green = band[..., 1] - np.maximum(band[..., 0], band[..., 2])
        # Pure ECG_RGB is (40, 230, 60): green exceeds the other channels by about 170 before JPEG.
        assert green.max() > 120, f"{row.dicom_filepath}: no green ECG pixel near row {ecg_row}"
        best = band.reshape(-1, 3)[int(np.argmax(green))]
        assert np.abs(best - np.array(phantoms.ECG_RGB)).max() <= 45, f"{row.dicom_filepath}: {best}"


def test_colour_bar_red_and_blue(cohort_dir: Path, dicom_truth: pd.DataFrame) -> None:
    colour = dicom_truth[
        (dicom_truth["clip_kind"] == "color_doppler") & (dicom_truth["source"] == "synthetic")
    ]
    assert len(colour) > 0
    for row in colour.itertuples():
        frame = _first_frame(pydicom.dcmread(cohort_dir / "mimic-iv-echo" / row.dicom_filepath)).astype(int)
        rows, cols = frame.shape[:2]
        screen = phantoms.make_screen(rows, cols, phantoms.VIEW_DEPTH_CM[row.view])
        x0, y0, x1, y1 = phantoms.colour_bar_box(screen)
        middle = (y0 + y1) // 2
        red = frame[y0 + 2 : middle - 2, x0 + 2 : x1 - 2].reshape(-1, 3).mean(axis=0)
        blue = frame[middle + 2 : y1 - 2, x0 + 2 : x1 - 2].reshape(-1, 3).mean(axis=0)
        assert np.abs(red - np.array(phantoms.COLOUR_BAR_RED)).max() <= 30, f"{row.dicom_filepath}: {red}"
        assert np.abs(blue - np.array(phantoms.COLOUR_BAR_BLUE)).max() <= 30, f"{row.dicom_filepath}: {blue}"


def test_regions_inside_image(cohort_dir: Path, dicom_truth: pd.DataFrame) -> None:
    synthetic = dicom_truth[dicom_truth["source"] == "synthetic"]
    for row in synthetic.itertuples():
        ds = pydicom.dcmread(cohort_dir / "mimic-iv-echo" / row.dicom_filepath, stop_before_pixels=True)
        regions = ds.get("SequenceOfUltrasoundRegions", [])
        if row.clip_kind != "other":
            assert len(regions) >= 1, row.dicom_filepath
        for region in regions:
            assert 0 <= region.RegionLocationMinX0 < region.RegionLocationMaxX1 < ds.Columns, (
                row.dicom_filepath
            )
            assert 0 <= region.RegionLocationMinY0 < region.RegionLocationMaxY1 < ds.Rows, row.dicom_filepath
            assert region.PhysicalDeltaX > 0
            assert region.PhysicalDeltaY > 0


def test_b_mode_spacing_matches_ground_truth(cohort_dir: Path, dicom_truth: pd.DataFrame) -> None:
    b_mode = dicom_truth[(dicom_truth["clip_kind"] == "b_mode_2d") & (dicom_truth["source"] == "synthetic")]
    for row in b_mode.itertuples():
        ds = pydicom.dcmread(cohort_dir / "mimic-iv-echo" / row.dicom_filepath, stop_before_pixels=True)
        region = ds.SequenceOfUltrasoundRegions[0]
        assert region.PhysicalUnitsXDirection == 3
        assert region.RegionDataType == 1
        assert region.PhysicalDeltaX == pytest.approx(float(row.cm_per_pixel), rel=1e-3)


def test_headers_carry_planted_phi(cohort_dir: Path, dicom_truth: pd.DataFrame) -> None:
    row = dicom_truth[dicom_truth["source"] == "synthetic"].iloc[0]
    ds = pydicom.dcmread(cohort_dir / "mimic-iv-echo" / row["dicom_filepath"], stop_before_pixels=True)
    assert str(ds.PatientName)
    assert ds.PatientBirthDate
    assert ds.InstitutionName
    assert str(ds.OperatorsName)


def test_timing_styles_present(dicom_truth: pd.DataFrame) -> None:
    cines = dicom_truth[(dicom_truth["source"] == "synthetic") & (dicom_truth["n_frames"].astype(int) > 1)]
    assert set(cines["timing_style"]) <= {"frame_time", "frame_time_vector", "cine_rate"}
    assert "frame_time" in set(cines["timing_style"])


@pytest.mark.real_dicom
def test_real_files_copied_byte_for_byte(cohort_dir: Path, dicom_truth: pd.DataFrame) -> None:
    real = dicom_truth[dicom_truth["source"] == "real_public"]
    available = [item for item in REAL_FILES if locate(item) is not None]
    assert len(real) == len(available)
    copied = {
        hashlib.sha256((cohort_dir / "mimic-iv-echo" / p).read_bytes()).hexdigest()
        for p in real["dicom_filepath"]
    }
    originals = {hashlib.sha256(locate(item).read_bytes()).hexdigest() for item in available}
    assert copied == originals
    a4c = real[real["view"] == "A4C"]
    assert len(a4c) == 1
