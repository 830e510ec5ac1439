"""Geometry measured back from the pixels and the spacing matches the study's measurements within 5 %."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

# Half-way between blood (grey level about 6) and myocardium (mean 170, speckle factor 0.75-1.4).
EDGE_LEVEL = 88.0


def _profile(grey: np.ndarray, axis: str, x: float, y: float) -> tuple[np.ndarray, float]:
    """Return the grey profile along the line through (x, y) averaged over 5 lines, and the centre index."""
    if axis == "vertical":
        column = int(np.floor(x))
        return grey[:, column - 2 : column + 3].mean(axis=1), y - 0.5
    row = int(np.floor(y))
    return grey[row - 2 : row + 3, :].mean(axis=0), x - 0.5


def _crossing(profile: np.ndarray, start: int, step: int, dark_inside: bool) -> float:
    """Walk from ``start`` by ``step`` until the profile crosses EDGE_LEVEL; return the sub-pixel position."""
    index = start
    while 0 <= index + step < len(profile):
        here, there = profile[index], profile[index + step]
        crossed = there >= EDGE_LEVEL if dark_inside else there < EDGE_LEVEL
        if crossed:
            fraction = (EDGE_LEVEL - here) / (there - here)
            return index + step * fraction
        index += step
    raise AssertionError("no edge found along the measurement line")


def _half_level_edge(profile: np.ndarray, inside: float, step: int, plateau: float) -> float:
    """Refine an edge near ``inside`` to where the profile crosses half-way between its two plateaus."""
    index = round(inside)
    far = profile[index + 4 * step] if 0 <= index + 4 * step < len(profile) else profile[index + step]
    level = (plateau + far) / 2
    position = index - 3 * step
    while 0 <= position + step < len(profile):
        here, there = profile[position], profile[position + step]
        if (here - level) * (there - level) <= 0 and here != there:
            return position + step * (level - here) / (there - level + level - here)
        position += step
    return inside


def measure_lv(grey: np.ndarray, axis: str, x: float, y: float) -> tuple[float, float]:
    """Return (cavity diameter, septal wall thickness) in pixels along the LV line.

    Edges between blood and myocardium are taken at EDGE_LEVEL; the outer edge of the septum, which may
    border tissue rather than blood, is taken half-way between the wall's median and the level beyond it.
    """
    profile, centre = _profile(grey, axis, x, y)
    start = round(centre)
    assert profile[start] < EDGE_LEVEL, "the LV centre is not dark"
    near = _crossing(profile, start, -1, dark_inside=True)
    far = _crossing(profile, start, +1, dark_inside=True)
    wall_end = _crossing(profile, int(np.floor(near)), -1, dark_inside=False)
    wall = profile[int(np.ceil(wall_end)) : int(np.floor(near)) + 1]
    wall_end = _half_level_edge(profile, wall_end, -1, float(np.median(wall)))
    return far - near, near - wall_end


def measure_dark_run(grey: np.ndarray, axis: str, x: float, y: float) -> float:
    profile, centre = _profile(grey, axis, x, y)
    start = round(centre)
    return _crossing(profile, start, +1, True) - _crossing(profile, start, -1, True)


@pytest.fixture(scope="module")
def measured_clips(cohort_dir: Path) -> pd.DataFrame:
    truth = pd.read_csv(cohort_dir / "ground_truth" / "dicoms.csv", keep_default_na=False)
    clips = truth[(truth["clip_kind"] == "b_mode_2d") & (truth["lv_axis"] != "")].copy()
    numeric = [
        "cm_per_pixel",
        "ed_frame",
        "es_frame",
        "lv_center_x_px",
        "lv_center_y_px",
        "lv_diameter_px",
        "lv_es_diameter_px",
        "wall_thickness_px",
    ]
    clips[numeric] = clips[numeric].apply(pd.to_numeric)
    return clips


def _grey_frame(path: Path, index: int) -> np.ndarray:
    pixels = pydicom.dcmread(path).pixel_array
    frame = pixels[index] if pixels.ndim == 4 else pixels
    return frame.astype(np.float64).mean(axis=2)


def test_lv_geometry_from_pixels(cohort_dir: Path, measured_clips: pd.DataFrame) -> None:
    values = pd.read_csv(cohort_dir / "ground_truth" / "measurements.csv")
    lookup = {(row.study_id, row.measurement): row.value for row in values.itertuples()}
    assert len(measured_clips) >= 3
    for row in measured_clips.itertuples():
        grey = _grey_frame(cohort_dir / "mimic-iv-echo" / row.dicom_filepath, int(row.ed_frame))
        diameter_px, wall_px = measure_lv(grey, row.lv_axis, row.lv_center_x_px, row.lv_center_y_px)
        lvedd_cm = lookup[(row.study_id, "lvedd")]
        septum_cm = lookup[(row.study_id, "septal_thickness")]
        assert diameter_px * row.cm_per_pixel == pytest.approx(lvedd_cm, rel=0.05), (
            row.dicom_filepath,
            row.view,
        )
        assert wall_px * row.cm_per_pixel == pytest.approx(septum_cm, rel=0.05), (
            row.dicom_filepath,
            row.view,
        )


def test_lv_contracts_at_end_systole(cohort_dir: Path, measured_clips: pd.DataFrame) -> None:
    for row in measured_clips.itertuples():
        grey = _grey_frame(cohort_dir / "mimic-iv-echo" / row.dicom_filepath, int(row.es_frame))
        diameter_px, _ = measure_lv(grey, row.lv_axis, row.lv_center_x_px, row.lv_center_y_px)
        assert diameter_px == pytest.approx(row.lv_es_diameter_px, rel=0.05), row.dicom_filepath
        assert row.lv_es_diameter_px <= row.lv_diameter_px


def test_la_geometry_from_pixels(cohort_dir: Path, measured_clips: pd.DataFrame) -> None:
    with_la = measured_clips[measured_clips["la_axis"] != ""]
    assert len(with_la) >= 1
    numeric = ["la_center_x_px", "la_center_y_px", "la_diameter_px"]
    with_la = with_la.assign(**{name: pd.to_numeric(with_la[name]) for name in numeric})
    for row in with_la.itertuples():
        grey = _grey_frame(cohort_dir / "mimic-iv-echo" / row.dicom_filepath, int(row.ed_frame))
        diameter_px = measure_dark_run(grey, row.la_axis, row.la_center_x_px, row.la_center_y_px)
        assert diameter_px == pytest.approx(row.la_diameter_px, rel=0.05), (row.dicom_filepath, row.view)
