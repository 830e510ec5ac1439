"""Procedural echo images: per-view anatomy in centimetres, cardiac motion, speckle and screen layout.

Simplifications of this generator (what a reader must not expect from the pixels):

- Every chamber, wall, vessel and leaflet is an ellipse (or an axis-aligned rectangle, or a polygon for
  a wall scar and a flattened septum) drawn in a physical coordinate system in cm, with the transducer
  at the origin, x to the right and y in depth.
  One pixel is ``cm_per_pixel`` cm in both directions, so the drawn sizes follow the study's numbers:
  LV internal diameter (LVIDd at end-diastole), septal and posterior wall thickness (IVSd, LVPWd), LA
  anteroposterior diameter and RV diameter.
- Motion: the LV minor semi-axis moves between LVIDd/2 at end-diastole and LVIDs/2 at end-systole, where
  LVIDs is the Teichholz end-systolic diameter that gives the study's LVEF (V = 7 D^3 / (2.4 + D)). Walls
  thicken so that the wall area of a 2D ring stays constant. Systole takes the first 35 % of each cycle,
  with cosine easing. The RV shortens in systole by the study's TAPSE along its long axis (apical
  views) and by a TAPSE-scaled fraction across it. Atria and vessels keep a fixed size.
- Findings of the labels (``Heart`` fields, grade 0-3): aortic stenosis thickens, brightens and
  restricts the aortic cusps (PLAX, PSAX_AV, A5C; A3C draws no aortic valve). Mitral stenosis does the
  same to the mitral leaflets (PLAX, the apical views, PSAX_MV). Pulmonary hypertension widens the main
  pulmonary artery (PSAX_AV) and flattens the septum into a D-shaped LV (PSAX_MV, PSAX_APEX only, so
  the LV line views keep their geometry). A regional wall motion abnormality draws its wall as a thin
  bright scar that neither moves nor thickens, in the views of RWMA_SEGMENTS and, for the apex, around
  the PSAX_APEX ring. Every segment keeps clear of the LV line. RV systolic dysfunction shows only as
  less RV shortening, because no single-frame sign of it is independent of other labels.
- Measurement lines: the LV centre lies on a line along the LV minor axis (vertical in PLAX and PSAX,
  horizontal in apical views). Along it, the dark run containing the centre is the LV cavity and the
  bright run next to it on the septal side (top in PLAX/PSAX, left in apical views) is the septum (in
  A2C, the wall drawn with IVSd). The LA line is vertical in PLAX and horizontal in A4C and A2C.
- Speckle is a fixed multiplicative texture per clip, mixed with a second texture by frame so that the
  tissue shimmers; no beam formation, attenuation model or reverberation is simulated.
- Colour Doppler paints blood pixels inside the colour box with a red (towards the transducer) or blue
  (away) velocity map that follows the cardiac phase, plus a mosaic jet for regurgitation; it is not a
  flow simulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Grey levels (0-255, before speckle) of the tissue classes.
LEVEL_TISSUE = 55.0
LEVEL_MYOCARDIUM = 170.0
LEVEL_BLOOD = 6.0
LEVEL_BRIGHT = 215.0
LEVEL_LIVER = 90.0
# Stenotic (calcified) leaflets and cusps get this much brighter per grade, up to 255.
LEVEL_CALCIFIED_STEP = 12.0

SYSTOLE_FRACTION = 0.35
SECTOR_HALF_ANGLE_DEG = 37.0
ECG_RGB = (40, 230, 60)
COLOUR_BAR_RED = (230, 40, 30)
COLOUR_BAR_BLUE = (30, 60, 230)

B_MODE_VIEWS = (
    "A2C",
    "A3C",
    "A4C",
    "A5C",
    "PLAX",
    "PSAX_AV",
    "PSAX_MV",
    "PSAX_PM",
    "PSAX_APEX",
    "SUBCOSTAL_4C",
    "SUBCOSTAL_IVC",
    "SUPRASTERNAL",
)
# Imaging depth (cm) from the transducer to the bottom of the sector, per view.
VIEW_DEPTH_CM = {
    "PLAX": 16.0,
    "PSAX_AV": 14.0,
    "PSAX_MV": 14.0,
    "PSAX_PM": 14.0,
    "PSAX_APEX": 12.0,
    "A2C": 18.0,
    "A3C": 18.0,
    "A4C": 18.0,
    "A5C": 18.0,
    "SUBCOSTAL_4C": 20.0,
    "SUBCOSTAL_IVC": 18.0,
    "SUPRASTERNAL": 14.0,
}
# Views whose LV line and LA line are drawn to measurement accuracy.
LV_LINE_VIEWS = {
    "PLAX": "vertical",
    "PSAX_PM": "vertical",
    "A4C": "horizontal",
    "A2C": "horizontal",
    "A3C": "horizontal",
    "A5C": "horizontal",
}
LA_LINE_VIEWS = {"PLAX": "vertical", "A4C": "horizontal", "A2C": "horizontal"}

# Findings drawn from the study's labels. Grades run from 0 (absent) to 3 (severe). Every number below
# that is not attributed to a guideline is the authors' own estimate of what makes the finding visible.
LEAFLET_HALF_THICKNESS_CM = 0.07
# Aortic and mitral stenosis: leaflets thicken by this much (half-thickness, cm) per grade.
STENOSIS_THICKENING_CM = 0.1
# Fraction of the normal leaflet swing (or PSAX_MV leaflet gap) kept per stenosis grade. For AS these
# follow the ratio of the continuity valve-area bands of cohort.yaml (Baumgartner 2017: mild 1.6-2.0,
# moderate 1.0-1.5, severe 0.5-0.9 cm2) to the normal band (2.6-3.8 cm2); MS reuses them.
STENOSIS_OPENING = (1.0, 0.55, 0.4, 0.2)
# Main pulmonary artery diameter (cm) in PSAX_AV per PH grade. ESC/ERS 2015 lists a diameter above
# 2.5 cm as an echo sign of PH.
PULMONARY_ARTERY_DIAMETER_CM = (1.8, 2.6, 3.0, 3.4)
# LV eccentricity index (cavity diameter parallel to the septum over the one across it) drawn in PSAX_MV
# and PSAX_APEX per PH grade. ESC/ERS 2015 lists an index above 1.1 as an echo sign of PH.
SEPTAL_FLATTENING_EI = (1.0, 1.2, 1.35, 1.5)
# The tricuspid annulus moves toward the RV apex by the study's TAPSE during systole, and the RV short
# axis shortens by this fraction per cm of TAPSE. The drawn A4C RV cavity area then shrinks by about
# 40 % at TAPSE 2.2 cm and by under 20 % at 0.8 cm.
RV_RADIAL_SHORTENING_PER_CM = 0.08
# Regional wall motion abnormality: a scar this thin (cm), at most 0.6 of the thinner drawn LV wall.
SCAR_THICKNESS_CM = 0.45
RWMA_WALLS = ("inferior", "anterior", "inferolateral", "anteroseptal", "apical")
# Scar span of each wall per view: a range of the parametric angle t (degrees) of the LV
# ellipse, whose points are (a cos t, b sin t) in the LV frame. There +u runs along the long axis (to
# the base in PLAX, to the apex in apical views, to the right in PSAX) and -v points to the septum, so
# the LV line crosses the walls at t = -90 and t = 90 and every range keeps clear of it. PSAX follows
# the M-mode line, with the septum at the top and the inferolateral wall next to the bottom. The
# anterior wall is on the right and the inferior wall on the left. Apical views put the septal side on
# the left, so A3C shows the anteroseptum left and the inferolateral wall right, and A2C the inferior
# wall left and the anterior wall right. PSAX_APEX draws an apical scar around the whole ring.
RWMA_SEGMENTS: dict[str, dict[str, tuple[float, float]]] = {
    "PLAX": {"anteroseptal": (-75.0, -40.0), "inferolateral": (40.0, 75.0)},
    "A4C": {"apical": (-40.0, 40.0)},
    "A5C": {"apical": (-40.0, 40.0)},
    "A2C": {"apical": (-40.0, 40.0), "inferior": (-140.0, -105.0), "anterior": (25.0, 65.0)},
    "A3C": {"apical": (-40.0, 40.0), "anteroseptal": (-65.0, -25.0), "inferolateral": (105.0, 140.0)},
    "PSAX_MV": {
        "anteroseptal": (-65.0, -30.0),
        "anterior": (-20.0, 20.0),
        "inferolateral": (115.0, 150.0),
        "inferior": (160.0, 200.0),
    },
    "PSAX_PM": {
        "anteroseptal": (-65.0, -30.0),
        "anterior": (-20.0, 20.0),
        "inferolateral": (115.0, 150.0),
        "inferior": (160.0, 200.0),
    },
}


@dataclass(frozen=True)
class Heart:
    """Sizes in cm and finding grades that the phantom draws, taken from one study's numbers and labels.

    ``as_grade``, ``ms_grade`` and ``ph_grade`` run from 0 (absent) to 3 (severe), ``rwma_wall`` is one
    of RWMA_WALLS or empty, and ``tapse_cm`` sets the RV systolic shortening (0 keeps the RV at one
    size). A finding field left at its default draws the same shapes as a Heart without it.
    """

    lvid_d: float
    lvid_s: float
    ivs: float
    lvpw: float
    la_d: float
    rv_d: float
    ra_scale: float = 1.0
    effusion_cm: float = 0.0
    mr_grade: int = 0
    ar_grade: int = 0
    tr_grade: int = 0
    as_grade: int = 0
    ms_grade: int = 0
    ph_grade: int = 0
    rwma_wall: str = ""
    tapse_cm: float = 0.0

    def __post_init__(self) -> None:
        for name in ("as_grade", "ms_grade", "ph_grade"):
            value = getattr(self, name)
            if value not in (0, 1, 2, 3):
                raise ValueError(f"invalid Heart.{name} {value!r}: expected a grade 0 (absent) to 3 (severe)")
        if self.rwma_wall not in ("", *RWMA_WALLS):
            raise ValueError(
                f"invalid Heart.rwma_wall {self.rwma_wall!r}: expected '' or one of {RWMA_WALLS}"
            )
        if not self.tapse_cm >= 0.0:
            raise ValueError(f"invalid Heart.tapse_cm {self.tapse_cm!r}: expected a length of 0 cm or more")


@dataclass(frozen=True)
class Ellipse:
    """A filled ellipse in cm: centre, semi-axes, rotation of the ``a`` axis from +x (degrees), grey level."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float
    level: float


@dataclass(frozen=True)
class Rect:
    """A filled axis-aligned rectangle in cm."""

    x0: float
    y0: float
    x1: float
    y1: float
    level: float


@dataclass(frozen=True)
class Polygon:
    """A filled polygon in cm, given by its vertices in order (it need not be convex)."""

    points: tuple[tuple[float, float], ...]
    level: float


Shape = Ellipse | Rect | Polygon


@dataclass(frozen=True)
class Screen:
    """Pixel layout of one frame: image size, sector apex and radius, ECG strip."""

    rows: int
    cols: int
    apex_x: float
    apex_y: float
    radius_px: float
    depth_cm: float

    @property
    def cm_per_pixel(self) -> float:
        return self.depth_cm / self.radius_px

    @property
    def ecg_row(self) -> int:
        return self.rows - max(12, int(self.rows * 0.06))

    def contains_cm(self, x: float, y: float, margin_px: float = 3.0) -> bool:
        """Return True when the point (x, y) in cm lies inside the sector, ``margin_px`` from its edges."""
        radius = math.hypot(x, y) / self.cm_per_pixel
        half_angle = math.radians(SECTOR_HALF_ANGLE_DEG)
        inside_angle = y > 0 and abs(x) <= y * math.tan(
            half_angle
        ) - margin_px * self.cm_per_pixel / math.cos(half_angle)
        return inside_angle and radius <= self.radius_px - margin_px

    def sector_box(self) -> tuple[int, int, int, int]:
        """Return (min_x, min_y, max_x, max_y) of the sector, inclusive pixel bounds."""
        half = self.radius_px * math.sin(math.radians(SECTOR_HALF_ANGLE_DEG))
        return (
            math.floor(self.apex_x - half),
            int(self.apex_y),
            math.ceil(self.apex_x + half),
            math.ceil(self.apex_y + self.radius_px),
        )


def make_screen(
    rows: int,
    cols: int,
    depth_cm: float,
    top_fraction: float = 0.0,
    height_fraction: float = 1.0,
) -> Screen:
    """Place a sector in the image (or in a band of it, for the thumbnail of a Doppler or M-mode still)."""
    top = rows * top_fraction + max(8, rows * 0.045)
    bottom_margin = max(26, rows * 0.14) if height_fraction == 1.0 else 2
    radius = rows * height_fraction - (top - rows * top_fraction) - bottom_margin
    max_radius_by_width = (cols * 0.46) / math.sin(math.radians(SECTOR_HALF_ANGLE_DEG))
    radius = min(radius, max_radius_by_width)
    return Screen(rows, cols, cols / 2.0, top, radius, depth_cm)


# --------------------------------------------------------------------------------------------------
# Motion


def systolic_fraction(phase: float) -> float:
    """Return 1 at end-diastole (phase 0), 0 at end-systole (phase 0.35), with cosine easing between."""
    phase %= 1.0
    if phase < SYSTOLE_FRACTION:
        return 0.5 * (1.0 + math.cos(math.pi * phase / SYSTOLE_FRACTION))
    return 0.5 * (1.0 - math.cos(math.pi * (phase - SYSTOLE_FRACTION) / (1.0 - SYSTOLE_FRACTION)))


@dataclass(frozen=True)
class LvState:
    """LV minor semi-axis, septal and posterior wall thickness, long semi-axis (cm) at one phase."""

    b: float
    septum: float
    posterior: float
    a: float


def lv_state(heart: Heart, phase: float) -> LvState:
    """Return the LV sizes at ``phase``, conserving 2D wall area from end-diastole."""
    f = systolic_fraction(phase)
    b_ed = heart.lvid_d / 2
    b = heart.lvid_s / 2 + (b_ed - heart.lvid_s / 2) * f

    def thickness(h_ed: float) -> float:
        return math.sqrt((b_ed + h_ed) ** 2 - b_ed**2 + b**2) - b

    a_ed = 1.65 * b_ed + 0.5
    return LvState(b, thickness(heart.ivs), thickness(heart.lvpw), a_ed * (0.9 + 0.1 * f))


def rv_shortening(heart: Heart, phase: float) -> tuple[float, float]:
    """Return the tricuspid annulus travel toward the RV apex (cm) and the RV short-axis shortening."""
    contraction = 1.0 - systolic_fraction(phase)
    return heart.tapse_cm * contraction, RV_RADIAL_SHORTENING_PER_CM * heart.tapse_cm * contraction


# --------------------------------------------------------------------------------------------------
# Per-view anatomy. Each function returns the shapes of one phase in drawing order and the centres of
# the LV and LA lines in cm (or None).

Anatomy = tuple[list[Shape], tuple[float, float] | None, tuple[float, float] | None]


def _lv(cx: float, cy: float, angle: float, s: LvState, heart: Heart) -> tuple[list[Shape], list[Shape]]:
    """Return (walls, cavity) of an LV whose septum lies on the local -v side."""
    mean_wall = (s.septum + s.posterior) / 2
    shift = (s.posterior - s.septum) / 2
    rad = math.radians(angle)
    # +v in image coordinates is (-sin, cos) of the a-axis angle.
    ox, oy = cx - shift * math.sin(rad), cy + shift * math.cos(rad)
    walls: list[Shape] = []
    if heart.effusion_cm > 0:
        e = heart.effusion_cm
        walls.append(
            Ellipse(ox, oy, s.a + mean_wall + e + 0.25, s.b + mean_wall + e + 0.25, angle, LEVEL_BRIGHT)
        )
        walls.append(Ellipse(ox, oy, s.a + mean_wall + e, s.b + mean_wall + e, angle, LEVEL_BLOOD))
    walls.append(Ellipse(ox, oy, s.a + mean_wall, s.b + mean_wall, angle, LEVEL_MYOCARDIUM))
    return walls, [Ellipse(cx, cy, s.a, s.b, angle, LEVEL_BLOOD)]


def _chamber(cx: float, cy: float, a: float, b: float, angle: float, wall: float) -> tuple[Shape, Shape]:
    return Ellipse(cx, cy, a + wall, b + wall, angle, LEVEL_MYOCARDIUM), Ellipse(
        cx, cy, a, b, angle, LEVEL_BLOOD
    )


def _leaflet(
    x0: float,
    y0: float,
    length: float,
    angle: float,
    half_thickness: float = LEAFLET_HALF_THICKNESS_CM,
    level: float = LEVEL_BRIGHT,
) -> Ellipse:
    rad = math.radians(angle)
    return Ellipse(
        x0 + length / 2 * math.cos(rad),
        y0 + length / 2 * math.sin(rad),
        length / 2,
        half_thickness,
        angle,
        level,
    )


def _stenotic_leaflet_style(grade: int) -> tuple[float, float]:
    """Return the half-thickness (cm) and grey level of leaflets with stenosis ``grade``."""
    half_thickness = LEAFLET_HALF_THICKNESS_CM + STENOSIS_THICKENING_CM * grade
    return half_thickness, min(255.0, LEVEL_BRIGHT + LEVEL_CALCIFIED_STEP * grade)


def _ellipse_cap(cx: float, cy: float, a: float, b: float, cut_y: float) -> tuple[tuple[float, float], ...]:
    """Return the outline of the part of an axis-aligned ellipse above ``cut_y`` (smaller y)."""
    k = (cy - cut_y) / b
    start, stop = -math.pi + math.asin(k), -math.asin(k)
    steps = 32
    return tuple(
        (cx + a * math.cos(t), cy + b * math.sin(t))
        for t in (start + (stop - start) * i / steps for i in range(steps + 1))
    )


def _flattened_septum(cx: float, cy: float, s: LvState, grade: int) -> tuple[list[Shape], float]:
    """Return shapes that flatten the septal (top) side of a short-axis LV, and the flat cavity border y.

    The cavity loses the cap whose removal gives it the eccentricity index of ``grade``. The septum
    keeps its thickness and moves down with the cut, and the RV cavity fills the space above it.
    """
    depth = 2.0 * s.b * (1.0 - 1.0 / SEPTAL_FLATTENING_EI[grade])
    cavity_cut = cy - s.b + depth
    outer = s.b + (s.septum + s.posterior) / 2
    outer_cy = cy + (s.posterior - s.septum) / 2
    # The caps reach 0.1 cm past the circles they cover, so that no anti-aliased rim of those shows.
    shapes: list[Shape] = [
        Polygon(_ellipse_cap(cx, cy, s.b + 0.1, s.b + 0.1, cavity_cut), LEVEL_MYOCARDIUM),
        Polygon(_ellipse_cap(cx, outer_cy, outer + 0.1, outer + 0.1, cavity_cut - s.septum), LEVEL_BLOOD),
    ]
    return shapes, cavity_cut


def _scar_thickness(heart: Heart) -> float:
    return min(SCAR_THICKNESS_CM, 0.6 * min(heart.ivs, heart.lvpw))


def _scar(
    cx: float, cy: float, angle: float, s: LvState, ed: LvState, heart: Heart, span: tuple[float, float]
) -> list[Shape]:
    """Return the shapes of an akinetic scar on the LV wall over the parametric angles ``span`` (degrees).

    The scar is a thin bright band along the inside of the end-diastolic outer border of the wall. It keeps
    that place and thickness at every phase, so it neither moves nor thickens, and the cavity reaches its
    inner edge.
    """
    rad = math.radians(angle)
    cos_a, sin_a = math.cos(rad), math.sin(rad)
    mean, shift = (ed.septum + ed.posterior) / 2, (ed.posterior - ed.septum) / 2
    thickness = _scar_thickness(heart)
    inner: list[tuple[float, float]] = []
    scar_inner: list[tuple[float, float]] = []
    outer: list[tuple[float, float]] = []
    steps = 16
    for i in range(steps + 1):
        t = math.radians(span[0] + (span[1] - span[0]) * i / steps)
        cavity_u, cavity_v = ed.a * math.cos(t), ed.b * math.sin(t)
        edge_u, edge_v = (ed.a + mean) * math.cos(t), shift + (ed.b + mean) * math.sin(t)
        wall = math.hypot(edge_u - cavity_u, edge_v - cavity_v)
        scar_u = edge_u - thickness * (edge_u - cavity_u) / wall
        scar_v = edge_v - thickness * (edge_v - cavity_v) / wall
        # A point inside the cavity of this phase, so that the blood covers the wall that moved inward.
        inside_u, inside_v = 0.8 * s.a * math.cos(t), 0.8 * s.b * math.sin(t)
        for points, (u, v) in (
            (inner, (inside_u, inside_v)),
            (scar_inner, (scar_u, scar_v)),
            (outer, (edge_u, edge_v)),
        ):
            points.append((cx + u * cos_a - v * sin_a, cy + u * sin_a + v * cos_a))
    return [
        Polygon(tuple(inner + scar_inner[::-1]), LEVEL_BLOOD),
        Polygon(tuple(scar_inner + outer[::-1]), LEVEL_BRIGHT),
    ]


def _rwma_shapes(
    view: str, cx: float, cy: float, angle: float, s: LvState, ed: LvState, heart: Heart
) -> list[Shape]:
    span = RWMA_SEGMENTS.get(view, {}).get(heart.rwma_wall)
    if span is None:
        return []
    return _scar(cx, cy, angle, s, ed, heart, span)


def anatomy_plax(heart: Heart, phase: float) -> Anatomy:
    s = lv_state(heart, phase)
    ed = lv_state(heart, 0.0)
    rv_depth = min(3.2, 0.6 * heart.rv_d)
    lv_cx = -1.8
    lv_cy = 2.1 + rv_depth + heart.ivs + ed.b
    septum_top = lv_cy - s.b - s.septum
    # The RV free wall (top) moves toward the septum in systole.
    rv_depth_now = rv_depth * (1.0 - rv_shortening(heart, phase)[1])
    rv_wall, rv_cavity = _chamber(
        lv_cx + 0.5, septum_top - rv_depth_now / 2 + 0.6, 4.8, rv_depth_now / 2 + 0.6, 0, 0.45
    )
    lv_walls, lv_cavity = _lv(lv_cx, lv_cy, 0.0, s, heart)
    ao = 3.0
    ao_cx = lv_cx + ed.a + 1.0
    ao_cy = (lv_cy - ed.b - heart.ivs) + 0.15 + ao / 2
    la_cx = ao_cx + 0.3
    la_cy = ao_cy + ao / 2 + 0.35 + heart.la_d / 2
    la_a = min(2.4, 0.8 * heart.la_d)
    shapes: list[Shape] = [
        Ellipse(lv_cx + 1.0, lv_cy + 0.6, 9.0, ed.b + 4.0, 0, LEVEL_TISSUE * 0.7),  # darker mediastinum
        rv_wall,
        rv_cavity,
        *lv_walls,
        Ellipse(ao_cx, ao_cy, 2.6, ao / 2 + 0.22, 0, LEVEL_BRIGHT),
        Ellipse(la_cx, la_cy, la_a + 0.3, heart.la_d / 2 + 0.3, 0, LEVEL_MYOCARDIUM),
        *lv_cavity,
        *_rwma_shapes("PLAX", lv_cx, lv_cy, 0.0, s, ed, heart),
        Ellipse(ao_cx, ao_cy, 2.4, ao / 2, 0, LEVEL_BLOOD),
        Ellipse(la_cx, la_cy, la_a, heart.la_d / 2, 0, LEVEL_BLOOD),
        Ellipse(la_cx + 0.5, la_cy + heart.la_d / 2 + 1.6, 0.9, 0.9, 0, LEVEL_BLOOD),  # descending aorta
    ]
    f = systolic_fraction(phase)
    # Mitral leaflets open in diastole and aortic cusps in systole. Stenosis keeps part of the swing.
    opening = 55 * f * STENOSIS_OPENING[heart.ms_grade]
    cusp_swing = 50 * (1 - f) * STENOSIS_OPENING[heart.as_grade]
    cusp = _stenotic_leaflet_style(heart.as_grade)
    mitral = _stenotic_leaflet_style(heart.ms_grade)
    shapes += [
        _leaflet(ao_cx - 1.5, ao_cy - ao / 2 + 0.1, 1.1, 60 - cusp_swing, *cusp),
        _leaflet(ao_cx - 1.5, ao_cy + ao / 2 - 0.1, 1.1, -60 + cusp_swing, *cusp),
        _leaflet(lv_cx + ed.a - 0.3, lv_cy - 0.3, 1.6, 100 + opening, *mitral),
        _leaflet(lv_cx + ed.a + 0.5, lv_cy + ed.b * 0.6, 1.0, 200 - opening, *mitral),
    ]
    return shapes, (lv_cx, lv_cy), (la_cx, la_cy)


def _four_chamber(
    heart: Heart, phase: float, with_rv: bool, with_outflow: bool, with_aorta_side: bool
) -> Anatomy:
    """Apical chambers with the apex at the top; the LV lies right of the septum (vertical long axis)."""
    s = lv_state(heart, phase)
    ed = lv_state(heart, 0.0)
    # The septum sits left of the beam axis and the apex 3 cm deep, so that the lateral wall at the LV
    # centre row stays inside the sector for dilated ventricles.
    lv_cx = heart.ivs / 2 + ed.b - 1.6 if with_rv else 0.0
    lv_cy = 3.0 + ed.a
    base_y = lv_cy + ed.a * 0.92
    la_long = 1.2 * heart.la_d
    la_cy = base_y + 0.45 + la_long / 2
    la_cx = lv_cx
    shapes: list[Shape] = [Ellipse(lv_cx - 1.5, lv_cy + 2.5, 7.5, 9.5, 90, LEVEL_TISSUE * 0.7)]
    lv_walls, lv_cavity = _lv(lv_cx, lv_cy, -90.0, s, heart)
    cavities: list[Shape] = []
    if with_rv:
        septum_left = lv_cx - s.b - s.septum
        # In systole the RV apex (top) stays, the tricuspid annulus (bottom) rises by the TAPSE share
        # of this phase and the free wall moves toward the septum.
        annulus_travel, radial = rv_shortening(heart, phase)
        rv_b = 0.42 * heart.rv_d * (1.0 - radial)
        rv_wall, rv_cavity = _chamber(
            septum_left - rv_b + 0.7,
            lv_cy + 0.4 - annulus_travel / 2,
            0.8 * ed.a - annulus_travel / 2,
            rv_b + 0.7,
            90,
            0.4,
        )
        ra_b = 0.42 * heart.la_d * heart.ra_scale
        ra_cx = la_cx - heart.la_d / 2 - 0.3 - ra_b
        ra_wall, ra_cavity = _chamber(ra_cx, la_cy, la_long / 2, ra_b, 90, 0.25)
        shapes += [rv_wall, rv_cavity, ra_wall]
        cavities.append(ra_cavity)
    la_wall, la_cavity = _chamber(la_cx, la_cy, la_long / 2, heart.la_d / 2, 90, 0.3)
    if with_outflow:
        view = "A5C"
    elif with_aorta_side:
        view = "A3C"
    else:
        view = "A4C" if with_rv else "A2C"
    scar = _rwma_shapes(view, lv_cx, lv_cy, -90.0, s, ed, heart)
    shapes += [*lv_walls, la_wall, *lv_cavity, *scar, la_cavity, *cavities]
    if with_outflow:
        shapes.append(Ellipse(lv_cx - ed.b * 0.55, base_y + 0.8, 2.0, 0.9, 70, LEVEL_BLOOD))
        # NOTE: this aortic leaflet lies along the outflow tract (open) at end-diastole and across it at
        # end-systole, which is the reverse of the real valve timing. Aortic stenosis narrows its swing.
        swing = 50 * systolic_fraction(phase) * STENOSIS_OPENING[heart.as_grade]
        shapes.append(
            _leaflet(
                lv_cx - ed.b * 0.55 - 0.8,
                base_y + 0.5,
                0.9,
                20 + swing,
                *_stenotic_leaflet_style(heart.as_grade),
            )
        )
    if with_aorta_side:
        shapes.append(Ellipse(lv_cx + ed.b + 0.9, base_y + 0.9, 2.4, 0.95, 110, LEVEL_BLOOD))
    opening = 50 * systolic_fraction(phase) * STENOSIS_OPENING[heart.ms_grade]
    mitral = _stenotic_leaflet_style(heart.ms_grade)
    shapes += [
        _leaflet(lv_cx - heart.la_d / 2 + 0.1, base_y + 0.3, 1.5, -60 - opening, *mitral),
        _leaflet(lv_cx + heart.la_d / 2 - 0.1, base_y + 0.3, 1.2, -120 + opening, *mitral),
    ]
    la_line = (la_cx, la_cy) if not with_outflow and not with_aorta_side else None
    return shapes, (lv_cx, lv_cy), la_line


def _short_axis_circle(s: LvState, level: str) -> LvState:
    """Return the LV section of a PSAX level: full size at MV and PM, smaller and thicker at the apex."""
    scale = {"MV": 1.0, "PM": 1.0, "APEX": 0.45}[level]
    return LvState(
        s.b * scale,
        s.septum * (1.3 if level == "APEX" else 1.0),
        s.posterior * (1.3 if level == "APEX" else 1.0),
        s.b * scale,
    )


def _apical_ring_scar(cx: float, cy: float, ed_circle: LvState, heart: Heart) -> list[Shape]:
    """Return a thin bright scar around the whole end-diastolic apical ring, with the cavity filling it."""
    outer = ed_circle.b + (ed_circle.septum + ed_circle.posterior) / 2
    outer_cy = cy + (ed_circle.posterior - ed_circle.septum) / 2
    inner = outer - _scar_thickness(heart)
    return [
        Ellipse(cx, outer_cy, outer, outer, 0, LEVEL_BRIGHT),
        Ellipse(cx, outer_cy, inner, inner, 0, LEVEL_BLOOD),
    ]


def anatomy_psax(heart: Heart, phase: float, level: str) -> Anatomy:
    s = lv_state(heart, phase)
    ed = lv_state(heart, 0.0)
    circle = _short_axis_circle(s, level)
    cx, cy = 0.0, 2.2 + min(3.0, 0.6 * heart.rv_d) + heart.ivs + ed.b
    septum_top = cy - circle.b - circle.septum
    rv_depth = min(2.6, 0.5 * heart.rv_d) * (0.6 if level == "APEX" else 1.0)
    rv_depth *= 1.0 - rv_shortening(heart, phase)[1]
    rv_wall, rv_cavity = _chamber(
        cx - 0.6, septum_top - rv_depth / 2 + 0.9, ed.b + 2.2, rv_depth / 2 + 0.9, -8, 0.4
    )
    lv_walls, lv_cavity = _lv(cx, cy, 0.0, circle, heart)
    shapes: list[Shape] = [rv_wall, rv_cavity, *lv_walls, *lv_cavity]
    ed_circle = _short_axis_circle(ed, level)
    if level == "APEX" and heart.rwma_wall == "apical":
        shapes += _apical_ring_scar(cx, cy, ed_circle, heart)
    shapes += _rwma_shapes(f"PSAX_{level}", cx, cy, 0.0, circle, ed_circle, heart)
    # Pulmonary hypertension flattens the septum at the MV and apical levels only, because the LV line
    # of PSAX_PM must keep measuring the study's LVIDd.
    cavity_top = cy - circle.b
    if level in ("MV", "APEX") and heart.ph_grade:
        flattening, cavity_top = _flattened_septum(cx, cy, circle, heart.ph_grade)
        shapes += flattening
    if level == "MV":
        gap = 0.25 + 0.9 * systolic_fraction(phase + 0.5) * circle.b / 2.5 * STENOSIS_OPENING[heart.ms_grade]
        # Mitral stenosis thickens the leaflets outward, away from the orifice that it narrows.
        thickening = STENOSIS_THICKENING_CM * heart.ms_grade
        half_thickness = 0.12 + thickening
        leaflet_level = _stenotic_leaflet_style(heart.ms_grade)[1]
        upper_y = cy - gap - thickening
        if heart.ph_grade:
            upper_y = max(upper_y, cavity_top + half_thickness + 0.05)  # stay below the flattened septum
        shapes += [
            Ellipse(cx, upper_y, circle.b * 0.75, half_thickness, 0, leaflet_level),
            Ellipse(cx, cy + gap + thickening, circle.b * 0.7, half_thickness, 0, leaflet_level),
        ]
    if level == "PM":
        for sign in (-1, 1):
            shapes.append(
                Ellipse(cx + sign * 0.55 * circle.b, cy + 0.5 * circle.b, 0.45, 0.55, 0, LEVEL_MYOCARDIUM)
            )
    lv_line = (cx, cy) if level == "PM" else None
    return shapes, lv_line, None


def anatomy_psax_av(heart: Heart, phase: float) -> Anatomy:
    ao_cx, ao_cy, ao_r = 0.3, 6.5, 1.4
    la_cy = ao_cy + ao_r + 0.4 + heart.la_d / 2
    # Pulmonary hypertension widens the main pulmonary artery toward the aorta, and its far side stays.
    pa_half = PULMONARY_ARTERY_DIAMETER_CM[heart.ph_grade] / 2
    pa_widening = pa_half - PULMONARY_ARTERY_DIAMETER_CM[0] / 2
    pa_cx = 3.6 - pa_widening * math.cos(math.radians(-30))
    pa_cy = ao_cy - 0.6 - pa_widening * math.sin(math.radians(-30))
    shapes: list[Shape] = [
        Ellipse(-2.5, ao_cy + 1.2, 2.0 * heart.ra_scale, 1.8, 20, LEVEL_MYOCARDIUM),
        Ellipse(-2.5, ao_cy + 1.2, 1.75 * heart.ra_scale, 1.55, 20, LEVEL_BLOOD),  # RA
        Ellipse(0.6, la_cy, 2.6, heart.la_d / 2 + 0.3, 0, LEVEL_MYOCARDIUM),
        Ellipse(0.6, la_cy, 2.3, heart.la_d / 2, 0, LEVEL_BLOOD),  # LA
        Ellipse(0.4, ao_cy - 2.3, 3.6, 1.5, 8, LEVEL_MYOCARDIUM),
        Ellipse(0.4, ao_cy - 2.2, 3.3, 1.1, 8, LEVEL_BLOOD),  # RVOT
        Ellipse(pa_cx, pa_cy, pa_half, 2.2, -30, LEVEL_BLOOD),  # main pulmonary artery
        Ellipse(ao_cx, ao_cy, ao_r + 0.25, ao_r + 0.25, 0, LEVEL_BRIGHT),
        Ellipse(ao_cx, ao_cy, ao_r, ao_r, 0, LEVEL_BLOOD),
    ]
    closed = systolic_fraction(phase) > 0.5 or phase % 1.0 > SYSTOLE_FRACTION
    # Open cusps leave a central orifice of radius start_r; aortic stenosis shrinks it.
    opening = STENOSIS_OPENING[heart.as_grade]
    length = ao_r * (0.95 if closed else 1.0 - 0.5 * opening)
    cusp = _stenotic_leaflet_style(heart.as_grade)
    for angle in (270, 30, 150):
        start_r = 0.0 if closed else ao_r * 0.5 * opening
        x0 = ao_cx + start_r * math.cos(math.radians(angle))
        y0 = ao_cy + start_r * math.sin(math.radians(angle))
        shapes.append(_leaflet(x0, y0, length, angle, *cusp))
    return shapes, None, None


def anatomy_subcostal_4c(heart: Heart, phase: float) -> Anatomy:
    shapes, _, _ = _four_chamber(heart, phase, True, False, False)
    origin_x, origin_y, turn = 0.0, 4.0, -62.0
    rotated = [_rotate(shape, origin_x, origin_y, turn, dx=-1.0, dy=5.5) for shape in shapes]
    liver = [Ellipse(-6.0, 3.0, 8.0, 5.0, -25, LEVEL_LIVER)]
    return liver + rotated, None, None


def anatomy_subcostal_ivc(heart: Heart, phase: float) -> Anatomy:
    ivc = 1.2 + 0.6 * (1 - systolic_fraction(phase)) * 0.3
    shapes: list[Shape] = [
        Ellipse(0.0, 6.0, 11.0, 7.0, 10, LEVEL_LIVER),
        Ellipse(1.0, 8.5, 5.0, ivc / 2 + 0.15, -8, LEVEL_BRIGHT),
        Ellipse(1.0, 8.5, 5.0, ivc / 2, -8, LEVEL_BLOOD),
        Ellipse(-1.6, 6.2, 2.4, 0.35, -40, LEVEL_BLOOD),  # hepatic vein
        Ellipse(6.2, 7.3, 2.2, 1.8, 0, LEVEL_MYOCARDIUM),
        Ellipse(6.2, 7.3, 1.9, 1.5, 0, LEVEL_BLOOD),  # RA
    ]
    return shapes, None, None


def anatomy_suprasternal(heart: Heart, phase: float) -> Anatomy:
    cx, cy = 0.0, 7.0
    shapes: list[Shape] = [
        Ellipse(cx, cy, 4.2, 3.4, 0, LEVEL_BRIGHT),
        Ellipse(cx, cy, 3.9, 3.1, 0, LEVEL_BLOOD),
        Ellipse(cx, cy, 2.6, 1.9, 0, LEVEL_TISSUE),
        Rect(-6.0, cy + 0.2, 6.0, cy + 4.0, LEVEL_TISSUE),
        Ellipse(cx + 0.3, cy + 0.9, 1.1, 1.0, 0, LEVEL_BLOOD),  # right pulmonary artery
    ]
    for x in (-1.8, -0.2, 1.4):
        shapes.append(Ellipse(x, cy - 4.6, 1.4, 0.3, 90 + 8 * x, LEVEL_BLOOD))  # arch branches
    return shapes, None, None


def _rotate(shape: Shape, ox: float, oy: float, degrees: float, dx: float, dy: float) -> Shape:
    if isinstance(shape, Rect):
        return shape
    rad = math.radians(degrees)

    def turn(px: float, py: float) -> tuple[float, float]:
        x, y = px - ox, py - oy
        return ox + x * math.cos(rad) - y * math.sin(rad) + dx, oy + x * math.sin(rad) + y * math.cos(
            rad
        ) + dy

    if isinstance(shape, Polygon):
        return Polygon(tuple(turn(x, y) for x, y in shape.points), shape.level)
    nx, ny = turn(shape.cx, shape.cy)
    return Ellipse(nx, ny, shape.a, shape.b, shape.angle + degrees, shape.level)


ANATOMY: dict[str, Callable[[Heart, float], Anatomy]] = {
    "PLAX": anatomy_plax,
    "A4C": lambda h, p: _four_chamber(h, p, True, False, False),
    "A5C": lambda h, p: _four_chamber(h, p, True, True, False),
    "A2C": lambda h, p: _four_chamber(h, p, False, False, False),
    "A3C": lambda h, p: _four_chamber(h, p, False, False, True),
    "PSAX_AV": anatomy_psax_av,
    "PSAX_MV": lambda h, p: anatomy_psax(h, p, "MV"),
    "PSAX_PM": lambda h, p: anatomy_psax(h, p, "PM"),
    "PSAX_APEX": lambda h, p: anatomy_psax(h, p, "APEX"),
    "SUBCOSTAL_4C": anatomy_subcostal_4c,
    "SUBCOSTAL_IVC": anatomy_subcostal_ivc,
    "SUPRASTERNAL": anatomy_suprasternal,
}


# --------------------------------------------------------------------------------------------------
# Rasterisation


def _paint(image: np.ndarray, screen: Screen, shape: Shape) -> None:
    """Paint one shape into ``image`` (grey levels) with a one-pixel anti-aliased edge."""
    s = screen.cm_per_pixel
    if isinstance(shape, Rect):
        x0 = max(0, int(screen.apex_x + shape.x0 / s))
        x1 = min(screen.cols, int(screen.apex_x + shape.x1 / s))
        y0 = max(0, int(screen.apex_y + shape.y0 / s))
        y1 = min(screen.rows, int(screen.apex_y + shape.y1 / s))
        if x1 > x0 and y1 > y0:
            image[y0:y1, x0:x1] = shape.level
        return
    if isinstance(shape, Polygon):
        _paint_polygon(image, screen, shape)
        return
    extent = max(shape.a, shape.b) / s + 2
    px, py = screen.apex_x + shape.cx / s, screen.apex_y + shape.cy / s
    x0, x1 = max(0, int(px - extent)), min(screen.cols, int(px + extent) + 1)
    y0, y1 = max(0, int(py - extent)), min(screen.rows, int(py + extent) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    # Pixel centres in cm relative to the ellipse centre, rotated into the ellipse frame.
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - screen.apex_x) * s - shape.cx
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - screen.apex_y) * s - shape.cy
    cos, sin = math.cos(math.radians(shape.angle)), math.sin(math.radians(shape.angle))
    u = xs[None, :] * cos + ys[:, None] * sin
    v = -xs[None, :] * sin + ys[:, None] * cos
    ua, vb = u / shape.a, v / shape.b
    q = np.sqrt(ua * ua + vb * vb) + 1e-9
    gradient = np.sqrt((ua / shape.a) ** 2 + (vb / shape.b) ** 2) / q + 1e-9
    # Signed distance to the boundary (exact on the principal axes), in pixels.
    distance = (q - 1.0) / gradient / s
    coverage = np.clip(0.5 - distance, 0.0, 1.0)
    region = image[y0:y1, x0:x1]
    region += (shape.level - region) * coverage


# Sub-pixels per pixel side when a polygon is rasterised, so that its edges are anti-aliased too.
POLYGON_SUPERSAMPLING = 4


def _paint_polygon(image: np.ndarray, screen: Screen, shape: Polygon) -> None:
    """Paint a polygon with its pixel coverage estimated on a 4 x 4 sub-pixel grid."""
    s, k = screen.cm_per_pixel, POLYGON_SUPERSAMPLING
    points = [(screen.apex_x + x / s, screen.apex_y + y / s) for x, y in shape.points]
    x0 = max(0, math.floor(min(x for x, _ in points)))
    x1 = min(screen.cols, math.ceil(max(x for x, _ in points)) + 1)
    y0 = max(0, math.floor(min(y for _, y in points)))
    y1 = min(screen.rows, math.ceil(max(y for _, y in points)) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    mask = Image.new("L", ((x1 - x0) * k, (y1 - y0) * k), 0)
    # Pillow fills the sub-pixels whose centres (integer coordinates) fall inside the outline.
    outline = [((x - x0) * k - 0.5, (y - y0) * k - 0.5) for x, y in points]
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    sub = np.asarray(mask, dtype=np.float32).reshape(y1 - y0, k, x1 - x0, k)
    coverage = sub.mean(axis=(1, 3)) / 255.0
    region = image[y0:y1, x0:x1]
    region += (shape.level - region) * coverage


def sector_mask(screen: Screen) -> np.ndarray:
    """Return a float mask (1 inside the sector) with a soft one-pixel edge."""
    ys, xs = np.mgrid[0 : screen.rows, 0 : screen.cols].astype(np.float32)
    dx, dy = xs + 0.5 - screen.apex_x, ys + 0.5 - screen.apex_y
    r = np.sqrt(dx * dx + dy * dy)
    angle = np.degrees(np.arctan2(np.abs(dx), np.maximum(dy, 1e-6)))
    inside = (r <= screen.radius_px) & (angle <= SECTOR_HALF_ANGLE_DEG) & (dy > 0)
    return inside.astype(np.float32)


def speckle_texture(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Return a multiplicative speckle texture with mean about 1 (Rayleigh, smoothed along the beam)."""
    raw = rng.rayleigh(1.0, size=(rows + 2, cols)).astype(np.float32)
    smooth = (raw[:-2] + raw[1:-1] + raw[2:]) / 3.0
    if cols > 1:
        smooth = np.concatenate([(smooth[:, :-1] + smooth[:, 1:]) / 2.0, smooth[:, -1:]], axis=1)
    # Mean 1 (the Rayleigh mean is 1.2533); the narrow range 0.75-1.4 keeps myocardium far above blood level,
    # so the walls stay measurable.
    return (0.75 + 0.25 * smooth / 1.2533).astype(np.float32)


def render_grey(screen: Screen, shapes: list[Shape]) -> np.ndarray:
    """Return the noiseless grey image of one phase (tissue background, then shapes in order)."""
    image = np.full((screen.rows, screen.cols), LEVEL_TISSUE, dtype=np.float32)
    for shape in shapes:
        _paint(image, screen, shape)
    return image


# --------------------------------------------------------------------------------------------------
# Burned-in overlay: text with fake identifiers, scanner labels, ECG trace.


@dataclass
class OverlayText:
    """Strings burned into the image outside the sector."""

    top_left: list[str]
    top_right: list[str]
    bottom_right: list[str] = field(default_factory=list)


def ecg_waveform(t: np.ndarray) -> np.ndarray:
    """Return a stylised ECG (P, QRS, T) for cycle phase ``t`` in [0, 1), R peak at phase 0."""
    t = np.mod(t + 0.5, 1.0) - 0.5
    p_wave = 0.12 * np.exp(-(((t + 0.17) / 0.03) ** 2))
    q = -0.12 * np.exp(-(((t + 0.02) / 0.008) ** 2))
    r = 1.0 * np.exp(-((t / 0.012) ** 2))
    s = -0.22 * np.exp(-(((t - 0.025) / 0.01) ** 2))
    t_wave = 0.25 * np.exp(-(((t - 0.3) / 0.06) ** 2))
    return p_wave + q + r + s + t_wave


def draw_overlay(
    rows: int, cols: int, text: OverlayText, cycles_on_strip: float, ecg_row: int, font_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (rgb, mask) of the static overlay: text in the corners and the ECG trace along the bottom."""
    image = Image.new("RGB", (cols, rows))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    line = font_size + 2
    for i, value in enumerate(text.top_left):
        draw.text((4, 3 + i * line), value, fill=(235, 235, 235), font=font)
    for i, value in enumerate(text.top_right):
        width = draw.textlength(value, font=font)
        draw.text((cols - 4 - width, 3 + i * line), value, fill=(235, 235, 235), font=font)
    for i, value in enumerate(text.bottom_right):
        width = draw.textlength(value, font=font)
        draw.text(
            (cols - 4 - width, ecg_row - (len(text.bottom_right) - i) * line - 14),
            value,
            fill=(200, 200, 120),
            font=font,
        )
    x = np.arange(int(cols * 0.08), int(cols * 0.78))
    amplitude = max(6, rows * 0.035)
    phase = (x - x[0]) / (x[-1] - x[0]) * cycles_on_strip
    y = ecg_row - amplitude * ecg_waveform(phase)
    points = [(int(xi), float(yi)) for xi, yi in zip(x, y, strict=True)]
    draw.line(points, fill=ECG_RGB, width=2)
    rgb = np.asarray(image, dtype=np.uint8)
    mask = rgb.max(axis=2) > 0
    return rgb, mask


def colour_bar_box(screen: Screen) -> tuple[int, int, int, int]:
    """Return (x0, y0, x1, y1) of the colour-scale bar drawn right of the sector in colour clips."""
    x0 = int(screen.cols * 0.9)
    y0 = int(screen.apex_y + screen.radius_px * 0.15)
    return x0, y0, x0 + max(6, screen.cols // 60), y0 + int(screen.radius_px * 0.4)


def draw_colour_bar(frame: np.ndarray, screen: Screen) -> None:
    x0, y0, x1, y1 = colour_bar_box(screen)
    middle = (y0 + y1) // 2
    frame[y0:middle, x0:x1] = COLOUR_BAR_RED
    frame[middle:y1, x0:x1] = COLOUR_BAR_BLUE
