"""Findings that the echo phantom draws from the labels: each grade changes the right place the right way.

A finding left at grade 0 (or no wall, or TAPSE 0) must draw exactly the shapes drawn before the findings
existed, so the digests below pin the shapes of three hearts without findings.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np
import pytest

from echoground.synth import phantoms
from echoground.synth.cohort import PRESENT, UNCERTAIN, Label, make_patient, make_study
from echoground.synth.generate import _heart
from echoground.synth.phantoms import LEVEL_BLOOD, LEVEL_BRIGHT, Ellipse, Heart, Polygon

NORMAL = Heart(lvid_d=5.0, lvid_s=3.3, ivs=1.0, lvpw=1.0, la_d=3.8, rv_d=3.6)
SMALL = Heart(lvid_d=4.0, lvid_s=2.4, ivs=1.5, lvpw=1.4, la_d=3.2, rv_d=2.9, mr_grade=1)
DILATED = Heart(
    lvid_d=7.0,
    lvid_s=6.2,
    ivs=0.8,
    lvpw=0.9,
    la_d=5.5,
    rv_d=5.4,
    ra_scale=1.3,
    effusion_cm=1.2,
    mr_grade=3,
    ar_grade=2,
    tr_grade=3,
)
PHASES = (0.0, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9)
END_SYSTOLE = phantoms.SYSTOLE_FRACTION
ROWS, COLS = 300, 400
# Grey level half-way between blood and myocardium, as the geometry tests use.
EDGE_LEVEL = 88.0
# Calcified leaflets are drawn brighter than LEVEL_BRIGHT; anti-aliased edges of normal ones never are.
CALCIFIED = LEVEL_BRIGHT + 1.0
# Below this grey level a pixel is blood: LEVEL_BLOOD is 6 and the darkest tissue is 55 x 0.7.
BLOOD_LEVEL = 20.0

# Shape digests of NORMAL, SMALL and DILATED at PHASES, taken from the phantom before the findings were
# added (coordinates rounded to 1e-6 cm so that the last bit of libm does not matter).
LEGACY_DIGESTS = {
    "normal": {
        "A2C": "cc7a2e89b4ba9eee",
        "A3C": "e1f143377dc8fc6d",
        "A4C": "78a19840330e6ea0",
        "A5C": "663c44e765b41140",
        "PLAX": "4cff74b3cefc95a8",
        "PSAX_AV": "20fa209e824cf837",
        "PSAX_MV": "3bb6079ce7cb679a",
        "PSAX_PM": "3f724e9f542dcd5b",
        "PSAX_APEX": "70a287abe884ab03",
        "SUBCOSTAL_4C": "1d30e63ac2a525cf",
        "SUBCOSTAL_IVC": "30c6666969607030",
        "SUPRASTERNAL": "ca0433ba31e2f2a1",
    },
    "small": {
        "A2C": "7f21f23683e49501",
        "A3C": "e7a23438ee46a086",
        "A4C": "40e5f0ece2172e13",
        "A5C": "748aadf61db79149",
        "PLAX": "8ab857e03c861b0c",
        "PSAX_AV": "fb821c109251e9aa",
        "PSAX_MV": "1a48b7c971e79753",
        "PSAX_PM": "3f9ec13a0b878b06",
        "PSAX_APEX": "7b85858c562062c3",
        "SUBCOSTAL_4C": "fc653f07e32c49e3",
        "SUBCOSTAL_IVC": "30c6666969607030",
        "SUPRASTERNAL": "ca0433ba31e2f2a1",
    },
    "dilated": {
        "A2C": "c628164c391b3972",
        "A3C": "edd235f6cfd7f074",
        "A4C": "1d25ac811bff9fa8",
        "A5C": "dcb5bae8c9b7abfb",
        "PLAX": "51a31d6c82818135",
        "PSAX_AV": "f56e905ccf10bc71",
        "PSAX_MV": "51e9e82eef921b72",
        "PSAX_PM": "2ca3add98a462382",
        "PSAX_APEX": "43dc59aa681a4445",
        "SUBCOSTAL_4C": "509fcb54d2771f34",
        "SUBCOSTAL_IVC": "30c6666969607030",
        "SUPRASTERNAL": "ca0433ba31e2f2a1",
    },
}
HEARTS = {"normal": NORMAL, "small": SMALL, "dilated": DILATED}

# Views whose shapes each finding may change (at some phase).
RV_VIEWS = {"PLAX", "A4C", "A5C", "PSAX_MV", "PSAX_PM", "PSAX_APEX", "SUBCOSTAL_4C"}
CHANGED_VIEWS = {
    "as_grade": {"PLAX", "PSAX_AV", "A5C"},
    "ms_grade": {"PLAX", "PSAX_MV", "A4C", "A5C", "A2C", "A3C", "SUBCOSTAL_4C"},
    "ph_grade": {"PSAX_AV", "PSAX_MV", "PSAX_APEX"},
}
RWMA_VIEWS = {
    "apical": {"A4C", "A5C", "A2C", "A3C", "PSAX_APEX", "SUBCOSTAL_4C"},
    "anteroseptal": {"PLAX", "A3C", "PSAX_MV", "PSAX_PM"},
    "inferolateral": {"PLAX", "A3C", "PSAX_MV", "PSAX_PM"},
    "inferior": {"A2C", "PSAX_MV", "PSAX_PM"},
    "anterior": {"A2C", "PSAX_MV", "PSAX_PM"},
}
# Rotation of the LV long axis from +x in each view that draws a wall segment (degrees).
LV_ANGLE = {
    "PLAX": 0.0,
    "A2C": -90.0,
    "A3C": -90.0,
    "A4C": -90.0,
    "A5C": -90.0,
    "PSAX_MV": 0.0,
    "PSAX_PM": 0.0,
}


def _rounded(shape: phantoms.Shape) -> tuple:
    values: list = []
    for value in vars(shape).values():
        if isinstance(value, tuple):
            values.append(tuple(tuple(round(c, 6) for c in point) for point in value))
        else:
            values.append(round(value, 6))
    return (type(shape).__name__, *values)


def _digest(view: str, heart: Heart) -> str:
    digest = hashlib.sha256()
    for phase in PHASES:
        shapes, lv_line, la_line = phantoms.ANATOMY[view](heart, phase)
        digest.update(repr([_rounded(shape) for shape in shapes]).encode())
        lines = tuple(
            None if line is None else tuple(round(c, 6) for c in line) for line in (lv_line, la_line)
        )
        digest.update(repr(lines).encode())
    return digest.hexdigest()[:16]


def _shapes(view: str, heart: Heart, phase: float) -> list[phantoms.Shape]:
    return phantoms.ANATOMY[view](heart, phase)[0]


def _screen(view: str) -> phantoms.Screen:
    return phantoms.make_screen(ROWS, COLS, phantoms.VIEW_DEPTH_CM[view])


def _render(view: str, heart: Heart, phase: float) -> np.ndarray:
    screen = _screen(view)
    return phantoms.render_grey(screen, _shapes(view, heart, phase)) * phantoms.sector_mask(screen)


def _pixel(view: str, x: float, y: float) -> tuple[float, float]:
    """Return the (column, row) position of the point (x, y) in cm."""
    screen = _screen(view)
    return screen.apex_x + x / screen.cm_per_pixel, screen.apex_y + y / screen.cm_per_pixel


def _disc(view: str, centre: tuple[float, float], radius_cm: float) -> np.ndarray:
    screen = _screen(view)
    column, row = _pixel(view, *centre)
    rows, columns = np.mgrid[0:ROWS, 0:COLS]
    return np.hypot(columns + 0.5 - column, rows + 0.5 - row) <= radius_cm / screen.cm_per_pixel


def _inside_ellipse(view: str, ellipse: Ellipse, margin_cm: float) -> np.ndarray:
    screen = _screen(view)
    s = screen.cm_per_pixel
    rows, columns = np.mgrid[0:ROWS, 0:COLS]
    x = (columns + 0.5 - screen.apex_x) * s - ellipse.cx
    y = (rows + 0.5 - screen.apex_y) * s - ellipse.cy
    rad = math.radians(ellipse.angle)
    u = x * math.cos(rad) + y * math.sin(rad)
    v = -x * math.sin(rad) + y * math.cos(rad)
    return (u / (ellipse.a + margin_cm)) ** 2 + (v / (ellipse.b + margin_cm)) ** 2 <= 1.0


def _lv_centre(view: str, heart: Heart) -> tuple[float, float]:
    """Return the LV centre in cm. PSAX_MV and PSAX_APEX share the centre of the PSAX_PM LV line."""
    line_view = "PSAX_PM" if view.startswith("PSAX") else view
    centre = phantoms.ANATOMY[line_view](heart, 0.0)[1]
    assert centre is not None
    return centre


def _views_changed(heart: Heart, changed: Heart) -> set[str]:
    return {
        view
        for view in phantoms.B_MODE_VIEWS
        if any(_shapes(view, heart, phase) != _shapes(view, changed, phase) for phase in PHASES)
    }


# --------------------------------------------------------------------------------------------------
# Hearts without findings and the Heart contract


@pytest.mark.parametrize("name", sorted(HEARTS))
def test_hearts_without_findings_draw_legacy_shapes(name: str) -> None:
    digests = {view: _digest(view, HEARTS[name]) for view in phantoms.B_MODE_VIEWS}
    assert digests == LEGACY_DIGESTS[name]


@pytest.mark.parametrize(
    "changes",
    [{"as_grade": 4}, {"ms_grade": -1}, {"ph_grade": 2.5}, {"rwma_wall": "lateral"}, {"tapse_cm": -0.1}],
)
def test_heart_rejects_invalid_finding(changes: dict) -> None:
    name = next(iter(changes))
    with pytest.raises(ValueError, match=name):
        replace(NORMAL, **changes)


@pytest.mark.parametrize("field", sorted(CHANGED_VIEWS))
@pytest.mark.parametrize("grade", [1, 2, 3])
def test_graded_finding_changes_only_its_views(field: str, grade: int) -> None:
    for heart in (NORMAL, DILATED):
        assert _views_changed(heart, replace(heart, **{field: grade})) == CHANGED_VIEWS[field]


@pytest.mark.parametrize("wall", sorted(RWMA_VIEWS))
def test_rwma_changes_only_views_of_its_wall(wall: str) -> None:
    assert _views_changed(NORMAL, replace(NORMAL, rwma_wall=wall)) == RWMA_VIEWS[wall]


def test_tapse_changes_only_rv_views() -> None:
    assert _views_changed(NORMAL, replace(NORMAL, tapse_cm=2.0)) == RV_VIEWS


@pytest.mark.parametrize("grade", [1, 2, 3])
def test_pulmonary_hypertension_keeps_measurement_views(grade: int) -> None:
    views = set(phantoms.LV_LINE_VIEWS) | set(phantoms.LA_LINE_VIEWS)
    for heart in (NORMAL, SMALL, DILATED):
        with_ph = replace(heart, ph_grade=grade)
        for view in views:
            for phase in PHASES:
                assert phantoms.ANATOMY[view](heart, phase) == phantoms.ANATOMY[view](with_ph, phase), view


# --------------------------------------------------------------------------------------------------
# Aortic stenosis


def _aortic_root_psax(heart: Heart) -> Ellipse:
    """Return the aortic lumen of PSAX_AV, the only blood circle of that view."""
    (lumen,) = [
        shape
        for shape in _shapes("PSAX_AV", heart, 0.0)
        if isinstance(shape, Ellipse) and shape.level == LEVEL_BLOOD and shape.a == shape.b
    ]
    return lumen


def test_aortic_stenosis_narrows_psax_av_orifice() -> None:
    lumen = _aortic_root_psax(NORMAL)
    # Open normal cusps leave a central orifice of half the lumen radius; the whole lumen is checked
    # for calcium.
    orifice = _disc("PSAX_AV", (lumen.cx, lumen.cy), lumen.a / 2)
    inside = _disc("PSAX_AV", (lumen.cx, lumen.cy), lumen.a - 0.1)
    open_phase = 0.25
    dark, calcified = {}, {}
    for grade in (0, 1, 3):
        grey = _render("PSAX_AV", replace(NORMAL, as_grade=grade), open_phase)
        dark[grade] = int((grey[orifice] < EDGE_LEVEL).sum())
        calcified[grade] = int((grey[inside] > CALCIFIED).sum())
    assert dark[0] == orifice.sum()
    assert dark[0] > dark[1] > dark[3]
    assert dark[3] < 0.5 * dark[0]
    assert calcified[0] == 0
    assert 0 < calcified[1] < calcified[3]


def _cusps(view: str, heart: Heart, phase: float, half_length: float) -> list[Ellipse]:
    return [
        shape
        for shape in _shapes(view, heart, phase)
        if isinstance(shape, Ellipse) and math.isclose(shape.a, half_length)
    ]


@pytest.mark.parametrize(("view", "half_length"), [("PLAX", 0.55), ("A5C", 0.45)])
def test_aortic_stenosis_thickens_and_brightens_cusps(view: str, half_length: float) -> None:
    styles = {}
    for grade in (0, 1, 3):
        cusps = _cusps(view, replace(NORMAL, as_grade=grade), 0.0, half_length)
        assert cusps, (view, grade)
        styles[grade] = (cusps[0].b, cusps[0].level)
    assert styles[0] == (0.07, LEVEL_BRIGHT)
    assert styles[0][0] < styles[1][0] < styles[3][0]
    assert styles[3][0] == pytest.approx(0.37)
    assert LEVEL_BRIGHT < styles[1][1] < styles[3][1] <= 255.0


def test_aortic_stenosis_plax_cusps_open_less() -> None:
    # At end-systole the cusps of a normal valve lie 10 degrees from the aortic axis.
    swing = {}
    for grade in (0, 1, 3):
        top, bottom = _cusps("PLAX", replace(NORMAL, as_grade=grade), END_SYSTOLE, 0.55)
        assert top.angle == pytest.approx(-bottom.angle)
        swing[grade] = top.angle
    assert swing[0] == pytest.approx(10.0)
    assert swing[0] < swing[1] < swing[3]


def test_aortic_stenosis_plax_calcified_pixels_near_cusps() -> None:
    before = _render("PLAX", NORMAL, 0.0)
    counts = {}
    for grade in (1, 3):
        heart = replace(NORMAL, as_grade=grade)
        grey = _render("PLAX", heart, 0.0)
        near_cusps = np.zeros_like(grey, dtype=bool)
        for cusp in _cusps("PLAX", heart, 0.0, 0.55):
            near_cusps |= _inside_ellipse("PLAX", cusp, 0.1)
        changed = np.abs(grey - before) > 1e-3
        assert changed.any()
        assert not (changed & ~near_cusps).any(), "pixels changed away from the aortic cusps"
        counts[grade] = int((grey > CALCIFIED).sum())
    assert (before > CALCIFIED).sum() == 0
    assert 0 < counts[1] < counts[3]


# --------------------------------------------------------------------------------------------------
# Mitral stenosis


def _dark_run(grey: np.ndarray, column: int, row: int) -> int:
    """Return the length of the run of dark pixels through (column, row) along the column."""
    assert grey[row, column] < EDGE_LEVEL
    top = row
    while grey[top - 1, column] < EDGE_LEVEL:
        top -= 1
    bottom = row
    while grey[bottom + 1, column] < EDGE_LEVEL:
        bottom += 1
    return bottom - top + 1


def test_mitral_stenosis_narrows_psax_mv_gap() -> None:
    # The leaflets open widest at phase 0.5 in PSAX_MV; the LV centre lies in the orifice between them.
    column, row = (round(value - 0.5) for value in _pixel("PSAX_MV", *_lv_centre("PSAX_MV", NORMAL)))
    gap = {}
    for grade in (0, 1, 3):
        grey = _render("PSAX_MV", replace(NORMAL, ms_grade=grade), 0.5)
        gap[grade] = _dark_run(grey, column, row)
    assert gap[0] > gap[1] > gap[3]
    assert gap[3] < 0.5 * gap[0]


@pytest.mark.parametrize("view", ["PLAX", "PSAX_MV", "A4C", "A2C", "A3C"])
def test_mitral_stenosis_brightens_leaflets(view: str) -> None:
    counts = {}
    for grade in (0, 1, 3):
        counts[grade] = int((_render(view, replace(NORMAL, ms_grade=grade), 0.0) > CALCIFIED).sum())
    assert counts[0] == 0
    assert 0 < counts[1] < counts[3]


@pytest.mark.parametrize(
    ("view", "half_length", "closed_angle"),
    [("PLAX", 0.8, 100.0), ("A4C", 0.75, -60.0), ("A2C", 0.75, -60.0)],
)
def test_mitral_stenosis_reduces_diastolic_swing(view: str, half_length: float, closed_angle: float) -> None:
    # At end-diastole (phase 0) the leaflets are drawn fully open.
    swing = {}
    for grade in (0, 1, 3):
        (leaflet,) = _cusps(view, replace(NORMAL, ms_grade=grade), 0.0, half_length)
        swing[grade] = abs(leaflet.angle - closed_angle)
        assert leaflet.b == pytest.approx(0.07 + 0.1 * grade)
    assert swing[0] > swing[1] > swing[3] > 0.0


# --------------------------------------------------------------------------------------------------
# Pulmonary hypertension


def _pulmonary_artery(heart: Heart) -> Ellipse:
    (artery,) = [
        shape
        for shape in _shapes("PSAX_AV", heart, 0.0)
        if isinstance(shape, Ellipse) and shape.level == LEVEL_BLOOD and shape.angle == -30
    ]
    return artery


def test_pulmonary_hypertension_widens_pulmonary_artery() -> None:
    before = _render("PSAX_AV", NORMAL, 0.0)
    # Every grade's artery lies inside the grade 0 artery or the grade 3 one.
    widest = _inside_ellipse("PSAX_AV", _pulmonary_artery(replace(NORMAL, ph_grade=3)), 0.1)
    widths, blood = {}, {0: int((before[widest] < BLOOD_LEVEL).sum())}
    normal_artery = _inside_ellipse("PSAX_AV", _pulmonary_artery(NORMAL), 0.1)
    for grade in (1, 3):
        heart = replace(NORMAL, ph_grade=grade)
        grey = _render("PSAX_AV", heart, 0.0)
        artery = _pulmonary_artery(heart)
        widths[grade] = 2 * artery.a
        changed = np.abs(grey - before) > 1e-3
        assert changed.any()
        either_artery = normal_artery | _inside_ellipse("PSAX_AV", artery, 0.1)
        assert not (changed & ~either_artery).any(), "pixels changed outside the pulmonary artery"
        blood[grade] = int((grey[widest] < BLOOD_LEVEL).sum())
    assert 2 * _pulmonary_artery(NORMAL).a == pytest.approx(1.8)
    assert widths[1] > 2.5  # ESC/ERS 2015 sign: main pulmonary artery diameter above 2.5 cm
    assert widths[3] > widths[1]
    assert blood[0] < blood[1] < blood[3]


def _septum_and_cavity_top(grey: np.ndarray, column: int, start_row: int) -> tuple[int, int]:
    """Walk down a column from the RV cavity and return the rows of the septum top and the LV cavity top."""
    row = start_row
    assert grey[row, column] < EDGE_LEVEL, "the walk does not start in the RV cavity"
    while grey[row, column] < EDGE_LEVEL:
        row += 1
    septum_top = row
    while grey[row, column] >= EDGE_LEVEL:
        row += 1
    return septum_top, row


@pytest.mark.parametrize("view", ["PSAX_MV", "PSAX_APEX"])
@pytest.mark.parametrize("grade", [1, 2, 3])
def test_pulmonary_hypertension_flattens_septum(view: str, grade: int) -> None:
    heart = replace(NORMAL, ph_grade=grade)
    s = phantoms.lv_state(NORMAL, 0.0)
    scale, wall_scale = (0.45, 1.3) if view == "PSAX_APEX" else (1.0, 1.0)
    radius, septum = s.b * scale, s.septum * wall_scale
    cx, cy = _lv_centre(view, NORMAL)
    column = round(_pixel(view, cx, cy)[0] - 0.5)
    start = round(_pixel(view, cx, cy - radius - septum - 0.3)[1])
    cm_per_pixel = _screen(view).cm_per_pixel
    normal_top, normal_cavity = _septum_and_cavity_top(_render(view, NORMAL, 0.0), column, start)
    flat_top, flat_cavity = _septum_and_cavity_top(_render(view, heart, 0.0), column, start)
    depth = 2 * radius * (1 - 1 / phantoms.SEPTAL_FLATTENING_EI[grade])
    # The septum moves toward the LV centre by the cut depth and keeps its thickness.
    assert (flat_cavity - normal_cavity) * cm_per_pixel == pytest.approx(depth, abs=0.1)
    assert (flat_cavity - flat_top) * cm_per_pixel == pytest.approx(septum, abs=0.1)
    assert (flat_top - normal_top) * cm_per_pixel == pytest.approx(depth, abs=0.1)


@pytest.mark.parametrize("grade", [1, 2, 3])
def test_pulmonary_hypertension_apical_eccentricity_index(grade: int) -> None:
    grey = _render("PSAX_APEX", replace(NORMAL, ph_grade=grade), 0.0)
    column, row = (round(value - 0.5) for value in _pixel("PSAX_APEX", *_lv_centre("PSAX_APEX", NORMAL)))
    height = _dark_run(grey, column, row)
    width = _dark_run(grey.T, row, column)
    # ESC/ERS 2015 counts an eccentricity index above 1.1 as a sign of PH.
    assert phantoms.SEPTAL_FLATTENING_EI[grade] > 1.1
    assert phantoms.SEPTAL_FLATTENING_EI[grade] > phantoms.SEPTAL_FLATTENING_EI[grade - 1]
    assert width / height == pytest.approx(phantoms.SEPTAL_FLATTENING_EI[grade], rel=0.06)


# --------------------------------------------------------------------------------------------------
# Regional wall motion abnormality


@pytest.mark.parametrize("wall", phantoms.RWMA_WALLS)
def test_rwma_keeps_lv_line_pixels(wall: str) -> None:
    for heart in (NORMAL, SMALL, DILATED):
        scarred = replace(heart, rwma_wall=wall)
        for view, axis in phantoms.LV_LINE_VIEWS.items():
            x, y = _pixel(view, *_lv_centre(view, heart))
            for phase in (0.0, 0.2, END_SYSTOLE):
                before, after = _render(view, heart, phase), _render(view, scarred, phase)
                # The measurement averages 5 lines around the LV line; 4 pixels each side keep a margin.
                if axis == "vertical":
                    band = np.s_[:, math.floor(x) - 4 : math.floor(x) + 5]
                else:
                    band = np.s_[math.floor(y) - 4 : math.floor(y) + 5, :]
                assert np.array_equal(before[band], after[band]), (wall, view, phase)


def _wall_run_cm(
    view: str,
    grey: np.ndarray,
    centre: tuple[float, float],
    direction: tuple[float, float],
    outside_cm: float,
) -> tuple[float, float]:
    """Walk from ``outside_cm`` toward the LV centre and return the first bright run's thickness and peak.

    Walking inward from just outside the wall keeps papillary muscles and leaflets out of the measurement.
    """
    step = 0.01
    samples = []
    distance = outside_cm
    while distance > 0.0:
        column, row = _pixel(view, centre[0] + direction[0] * distance, centre[1] + direction[1] * distance)
        samples.append(float(grey[int(row), int(column)]))
        distance -= step
    values = np.array(samples)
    assert values[0] < EDGE_LEVEL, "the walk starts inside a bright structure"
    first = int(np.argmax(values >= EDGE_LEVEL))
    assert values[first] >= EDGE_LEVEL, "no wall found along the ray"
    last = first + int(np.argmax(values[first:] < EDGE_LEVEL))
    return (last - first) * step, float(values[first:last].max())


def _segment_ray(view: str, wall: str) -> tuple[tuple[float, float], float]:
    """Return the unit direction and distance from the LV centre to the middle of a segment's outer border."""
    t0, t1 = phantoms.RWMA_SEGMENTS[view][wall]
    t = math.radians((t0 + t1) / 2)
    s = phantoms.lv_state(NORMAL, 0.0)
    long_axis = s.b if view.startswith("PSAX") else s.a  # the short-axis LV is a circle
    mean, shift = (s.septum + s.posterior) / 2, (s.posterior - s.septum) / 2
    u, v = (long_axis + mean) * math.cos(t), shift + (s.b + mean) * math.sin(t)
    rad = math.radians(LV_ANGLE[view])
    dx, dy = u * math.cos(rad) - v * math.sin(rad), u * math.sin(rad) + v * math.cos(rad)
    length = math.hypot(dx, dy)
    return (dx / length, dy / length), length


SEGMENT_CASES = [(view, wall) for view, walls in phantoms.RWMA_SEGMENTS.items() for wall in walls]


@pytest.mark.parametrize(("view", "wall"), SEGMENT_CASES)
def test_rwma_segment_thin_bright_and_akinetic(view: str, wall: str) -> None:
    scarred = replace(NORMAL, rwma_wall=wall)
    direction, outer = _segment_ray(view, wall)
    centre = _lv_centre(view, NORMAL)

    def wall_at(heart: Heart, phase: float) -> tuple[float, float]:
        return _wall_run_cm(view, _render(view, heart, phase), centre, direction, outer + 0.25)

    normal_ed, normal_es = wall_at(NORMAL, 0.0), wall_at(NORMAL, END_SYSTOLE)
    scar_ed, scar_es = wall_at(scarred, 0.0), wall_at(scarred, END_SYSTOLE)
    # The ray crosses the wall obliquely, so it reads a little more than the drawn thickness. The scar's
    # outer edge borders the wall at end-diastole and tissue or blood at end-systole, which moves its
    # anti-aliased edge by up to 2 pixels.
    edge_tolerance = 2 * _screen(view).cm_per_pixel
    assert scar_ed[0] < 0.7 * normal_ed[0], "scar is not thinner than the wall"
    assert scar_ed[1] > phantoms.LEVEL_MYOCARDIUM + 20, "scar is not brighter than myocardium"
    assert normal_es[0] > normal_ed[0] + 0.15, "the normal wall should thicken in systole"
    assert scar_es[0] == pytest.approx(scar_ed[0], abs=edge_tolerance), "scar thickens in systole"


@pytest.mark.parametrize(("view", "wall"), SEGMENT_CASES)
def test_rwma_scar_band_does_not_move(view: str, wall: str) -> None:
    scarred = replace(NORMAL, rwma_wall=wall)
    bands = [
        [
            shape
            for shape in _shapes(view, scarred, phase)
            if isinstance(shape, Polygon) and shape.level == LEVEL_BRIGHT
        ]
        for phase in PHASES
    ]
    assert len(bands[0]) == 1
    assert all(band == bands[0] for band in bands)


def test_rwma_apical_ring_in_psax_apex() -> None:
    scarred = replace(NORMAL, rwma_wall="apical")
    centre = _lv_centre("PSAX_APEX", NORMAL)
    s = phantoms.lv_state(NORMAL, 0.0)
    # PSAX_APEX draws the LV at 0.45 of its radius with walls 1.3 times as thick.
    outer = 0.45 * s.b + 1.3 * max(s.septum, s.posterior)
    edge_tolerance = 2 * _screen("PSAX_APEX").cm_per_pixel
    for angle in (0.0, 90.0, 180.0):
        direction = (math.cos(math.radians(angle)), math.sin(math.radians(angle)))
        normal_ed = _wall_run_cm(
            "PSAX_APEX", _render("PSAX_APEX", NORMAL, 0.0), centre, direction, outer + 0.25
        )
        scar_ed = _wall_run_cm(
            "PSAX_APEX", _render("PSAX_APEX", scarred, 0.0), centre, direction, outer + 0.25
        )
        scar_es = _wall_run_cm(
            "PSAX_APEX", _render("PSAX_APEX", scarred, END_SYSTOLE), centre, direction, outer + 0.25
        )
        assert scar_ed[0] < 0.5 * normal_ed[0], angle
        assert scar_ed[1] > phantoms.LEVEL_MYOCARDIUM + 20, angle
        assert scar_es[0] == pytest.approx(scar_ed[0], abs=edge_tolerance), angle


# --------------------------------------------------------------------------------------------------
# RV systolic function


def test_rv_same_at_end_diastole_for_any_tapse() -> None:
    for tapse in (0.6, 1.7, 2.7):
        for view in phantoms.B_MODE_VIEWS:
            assert _shapes(view, NORMAL, 0.0) == _shapes(view, replace(NORMAL, tapse_cm=tapse), 0.0), view


def _a4c_rv_area(heart: Heart, phase: float) -> int:
    """Return the blood pixels of the A4C RV: left of the septum of ``phase`` and above the LV base."""
    ed, now = phantoms.lv_state(heart, 0.0), phantoms.lv_state(heart, phase)
    lv_cx, lv_cy = _lv_centre("A4C", heart)
    screen = _screen("A4C")
    grey = _render("A4C", heart, phase)
    right = math.floor(_pixel("A4C", lv_cx - now.b - now.septum - 0.3, 0.0)[0])
    bottom = math.floor(_pixel("A4C", 0.0, lv_cy + 0.92 * ed.a)[1])
    inside = phantoms.sector_mask(screen)[:bottom, :right] > 0
    return int((grey[:bottom, :right][inside] < BLOOD_LEVEL).sum())


def test_rv_area_change_follows_tapse() -> None:
    change = {}
    for tapse in (0.0, 0.8, 1.7, 2.2):
        heart = replace(NORMAL, tapse_cm=tapse)
        change[tapse] = 1.0 - _a4c_rv_area(heart, END_SYSTOLE) / _a4c_rv_area(heart, 0.0)
    # With TAPSE 0 the RV keeps its size and only follows the septum, as the region does. The sector edge
    # clips a little less of it in systole.
    assert change[0.0] == pytest.approx(0.0, abs=0.05)
    assert change[0.0] < change[0.8] < change[1.7] < change[2.2]
    assert change[0.8] < 0.2  # severe dysfunction: the RV barely shortens
    assert change[2.2] > 0.3  # normal TAPSE: the RV shortens clearly


def test_rv_free_wall_moves_in_plax() -> None:
    column = round(_pixel("PLAX", *_lv_centre("PLAX", NORMAL))[0] - 0.5)
    s = phantoms.lv_state(NORMAL, END_SYSTOLE)
    above_septum = round(_pixel("PLAX", 0.0, _lv_centre("PLAX", NORMAL)[1] - s.b - s.septum - 0.3)[1])
    depth = {}
    for tapse in (0.0, 0.8, 2.2):
        grey = _render("PLAX", replace(NORMAL, tapse_cm=tapse), END_SYSTOLE)
        depth[tapse] = _dark_run(grey, column, above_septum)
    assert depth[0.0] > depth[0.8] > depth[2.2]


# --------------------------------------------------------------------------------------------------
# Wiring from the study labels


def test_heart_fields_follow_study_labels() -> None:
    study = make_study(0, make_patient(0, 0), 0)
    labels = dict(study.labels)
    labels["aortic_stenosis"] = Label(PRESENT, "severe")
    labels["mitral_stenosis"] = Label(PRESENT, "mild")
    labels["pulmonary_hypertension"] = Label(UNCERTAIN)
    labels["regional_wall_motion_abnormality"] = Label(PRESENT)
    heart = _heart(replace(study, labels=labels, rwma_walls="inferior"))
    assert heart.as_grade == 3
    assert heart.ms_grade == 1
    assert heart.ph_grade == 0
    assert heart.rwma_wall == "inferior"
    assert heart.tapse_cm == study.measurements["tapse"]

    labels["pulmonary_hypertension"] = Label(PRESENT, "moderate")
    labels["regional_wall_motion_abnormality"] = Label(UNCERTAIN)
    heart = _heart(replace(study, labels=labels, rwma_walls="inferior"))
    assert heart.ph_grade == 2
    assert heart.rwma_wall == ""
