"""Assemble the frames of one synthetic clip: B-mode cine, colour Doppler, spectral still, M-mode, other.

Each builder returns a :class:`Clip` with RGB frames, the ultrasound regions that describe them and the
geometry that tests read back from the pixels (see ``phantoms`` for the simplifications).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from echoground.synth import phantoms
from echoground.synth.dicom_writer import (
    DATA_COLOUR_FLOW,
    DATA_CW_SPECTRAL,
    DATA_PW_SPECTRAL,
    DATA_TISSUE,
    FORMAT_2D,
    FORMAT_M_MODE,
    FORMAT_SPECTRAL,
    UNITS_CM,
    UNITS_CM_PER_S,
    UNITS_SECONDS,
    UltrasoundRegion,
)
from echoground.synth.phantoms import Heart, OverlayText, Screen


@dataclass
class Clip:
    """Frames (n, rows, cols, 3) uint8 RGB and what the DICOM header and the ground truth need."""

    kind: str
    view: str
    frames: np.ndarray
    regions: list[UltrasoundRegion]
    frame_time_ms: float
    geometry: dict[str, float | int | str] = field(default_factory=dict)


def _sector_region(screen: Screen, data_type: int = DATA_TISSUE) -> UltrasoundRegion:
    x0, y0, x1, y1 = screen.sector_box()
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(screen.cols - 1, x1), min(screen.rows - 1, y1)
    return UltrasoundRegion(
        min_x0=x0,
        min_y0=y0,
        max_x1=x1,
        max_y1=y1,
        spatial_format=FORMAT_2D,
        data_type=data_type,
        units_x=UNITS_CM,
        units_y=UNITS_CM,
        delta_x=screen.cm_per_pixel,
        delta_y=screen.cm_per_pixel,
        reference_x0=round(screen.apex_x) - x0,
        reference_y0=round(screen.apex_y) - y0,
    )


def _phase_frames(n_frames: int, frame_time_ms: float, heart_rate: float, ed_frame: int) -> np.ndarray:
    cycle_frames = 60_000.0 / heart_rate / frame_time_ms
    return ((np.arange(n_frames) - ed_frame) / cycle_frames) % 1.0


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    value = np.clip(grey, 0, 255).astype(np.uint8)
    return np.repeat(value[..., None], 3, axis=2)


def _apply_overlay(frame: np.ndarray, overlay: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, mask = overlay
    frame[mask] = rgb[mask]


def _render_sector_frames(
    screen: Screen, view: str, heart: Heart, phases: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[float, float] | None]]:
    """Return grey frames (n, rows, cols) float32 and the LV/LA line centres in cm."""
    anatomy = phantoms.ANATOMY[view]
    mask = phantoms.sector_mask(screen)
    speckle_a = phantoms.speckle_texture(rng, screen.rows, screen.cols)
    speckle_b = phantoms.speckle_texture(rng, screen.rows, screen.cols)
    cache: dict[int, np.ndarray] = {}
    frames = np.empty((len(phases), screen.rows, screen.cols), dtype=np.float32)
    lines: list[tuple[float, float] | None] = [None, None]
    for index, phase in enumerate(phases):
        key = round(phase * 1000) % 1000
        if key not in cache:
            shapes, lv_line, la_line = anatomy(heart, key / 1000.0)
            cache[key] = phantoms.render_grey(screen, shapes) * mask
            lines = [lv_line, la_line]
        weight = 0.5 + 0.5 * math.cos(2 * math.pi * index / 9.0)
        texture = speckle_a * weight + speckle_b * (1.0 - weight)
        frames[index] = cache[key] * texture
    return frames, lines


def _line_geometry(
    screen: Screen, view: str, heart: Heart, lines: list, ed_frame: int, es_frame: int, phases: np.ndarray
) -> dict[str, float | int | str]:
    s = screen.cm_per_pixel
    geometry: dict[str, float | int | str] = {"cm_per_pixel": s, "ed_frame": ed_frame, "es_frame": es_frame}
    lv_line, la_line = lines
    if lv_line is not None and view in phantoms.LV_LINE_VIEWS:
        ed = phantoms.lv_state(heart, 0.0)
        es = phantoms.lv_state(heart, float(phases[es_frame]))
        axis = phantoms.LV_LINE_VIEWS[view]
        # The line runs from past the lateral or posterior wall to 3 mm past the septum.
        reach_minus = ed.b + ed.septum + 0.3
        reach_plus = ed.b + ed.posterior + 0.3
        if _line_inside(screen, lv_line, axis, reach_minus, reach_plus):
            geometry.update(
                lv_axis=axis,
                lv_center_x_px=screen.apex_x + lv_line[0] / s,
                lv_center_y_px=screen.apex_y + lv_line[1] / s,
                lv_diameter_px=2 * ed.b / s,
                lv_es_diameter_px=2 * es.b / s,
                wall_thickness_px=ed.septum / s,
            )
    if la_line is not None and view in phantoms.LA_LINE_VIEWS:
        axis = phantoms.LA_LINE_VIEWS[view]
        reach = heart.la_d / 2 + 0.5
        if _line_inside(screen, la_line, axis, reach, reach):
            geometry.update(
                la_axis=axis,
                la_center_x_px=screen.apex_x + la_line[0] / s,
                la_center_y_px=screen.apex_y + la_line[1] / s,
                la_diameter_px=heart.la_d / s,
            )
    return geometry


def _line_inside(screen: Screen, centre: tuple[float, float], axis: str, minus: float, plus: float) -> bool:
    """Return True when both ends of a measurement line (cm from ``centre``) lie inside the sector."""
    x, y = centre
    if axis == "vertical":
        return screen.contains_cm(x, y - minus) and screen.contains_cm(x, y + plus)
    return screen.contains_cm(x - minus, y) and screen.contains_cm(x + plus, y)


def _timing(
    n_frames: int, frame_time_ms: float, heart_rate: float, rng: np.random.Generator
) -> tuple[int, int]:
    cycle_frames = 60_000.0 / heart_rate / frame_time_ms
    ed_frame = int(rng.integers(0, max(1, min(n_frames, int(cycle_frames)) - int(cycle_frames * 0.4) - 1)))
    es_frame = ed_frame + round(phantoms.SYSTOLE_FRACTION * cycle_frames)
    return ed_frame, min(es_frame, n_frames - 1)


def build_b_mode(
    view: str,
    heart: Heart,
    rows: int,
    cols: int,
    n_frames: int,
    frame_time_ms: float,
    heart_rate: float,
    overlay_text: OverlayText,
    rng: np.random.Generator,
) -> Clip:
    """Render a 2D B-mode cine of ``view``."""
    screen = phantoms.make_screen(rows, cols, phantoms.VIEW_DEPTH_CM[view])
    ed_frame, es_frame = _timing(n_frames, frame_time_ms, heart_rate, rng)
    phases = _phase_frames(n_frames, frame_time_ms, heart_rate, ed_frame)
    grey, lines = _render_sector_frames(screen, view, heart, phases, rng)
    overlay = _overlay(screen, overlay_text, n_frames, frame_time_ms, heart_rate)
    frames = np.empty((n_frames, rows, cols, 3), dtype=np.uint8)
    for index in range(n_frames):
        frames[index] = _grey_to_rgb(grey[index])
        _apply_overlay(frames[index], overlay)
    geometry = _line_geometry(screen, view, heart, lines, ed_frame, es_frame, phases)
    geometry["ecg_row_px"] = screen.ecg_row
    return Clip("b_mode_2d", view, frames, [_sector_region(screen)], frame_time_ms, geometry)


def _overlay(screen: Screen, text: OverlayText, n_frames: int, frame_time_ms: float, heart_rate: float):
    strip_seconds = 2.5
    return phantoms.draw_overlay(
        screen.rows,
        screen.cols,
        text,
        strip_seconds * heart_rate / 60.0,
        screen.ecg_row,
        max(9, screen.rows // 28),
    )


def _velocity_colour(velocity: np.ndarray, nyquist: float) -> np.ndarray:
    """Map velocities (m/s, positive towards the transducer) to RGB: red towards, blue away, aliasing."""
    v = np.clip(velocity / nyquist, -1.6, 1.6)
    magnitude = np.minimum(np.abs(v), 1.0)
    rgb = np.zeros((*velocity.shape, 3), dtype=np.float32)
    towards, away = v > 0, v < 0
    rgb[towards, 0] = 90 + 165 * magnitude[towards]
    rgb[towards, 1] = 20 + 150 * np.clip(v[towards] - 1.0, 0, 1)
    rgb[away, 2] = 90 + 165 * magnitude[away]
    rgb[away, 1] = 20 + 150 * np.clip(-v[away] - 1.0, 0, 1)
    return rgb


def build_colour_doppler(
    view: str,
    heart: Heart,
    rows: int,
    cols: int,
    n_frames: int,
    frame_time_ms: float,
    heart_rate: float,
    overlay_text: OverlayText,
    rng: np.random.Generator,
) -> Clip:
    """Render a colour-Doppler cine: a B-mode sector with a colour box over the valves of ``view``."""
    screen = phantoms.make_screen(rows, cols, phantoms.VIEW_DEPTH_CM[view])
    ed_frame, es_frame = _timing(n_frames, frame_time_ms, heart_rate, rng)
    phases = _phase_frames(n_frames, frame_time_ms, heart_rate, ed_frame)
    grey, _ = _render_sector_frames(screen, view, heart, phases, rng)
    overlay = _overlay(screen, overlay_text, n_frames, frame_time_ms, heart_rate)
    s = screen.cm_per_pixel
    # Colour box: an annular sector of +-15 degrees around the beam axis between 35 % and 85 % depth.
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    dx, dy = xs + 0.5 - screen.apex_x, ys + 0.5 - screen.apex_y
    r = np.sqrt(dx * dx + dy * dy)
    tilt = float(rng.uniform(-8, 8))
    angle = np.degrees(np.arctan2(dx, np.maximum(dy, 1e-6))) - tilt
    box = (np.abs(angle) <= 15) & (r >= 0.35 * screen.radius_px) & (r <= 0.85 * screen.radius_px)
    jet_grade = max(heart.mr_grade, heart.ar_grade, heart.tr_grade)
    jet_y = screen.apex_y + 0.68 * screen.radius_px
    jet_x = screen.apex_x + math.tan(math.radians(tilt)) * 0.68 * screen.radius_px
    jet_size = (0.6 + 0.7 * jet_grade) / s
    jet = ((xs - jet_x) / (jet_size * 0.6)) ** 2 + ((ys - jet_y) / jet_size) ** 2 <= 1.0
    frames = np.empty((n_frames, rows, cols, 3), dtype=np.uint8)
    for index in range(n_frames):
        phase = float(phases[index])
        blood = box & (grey[index] < 30)
        if phase < phantoms.SYSTOLE_FRACTION:
            velocity = -0.5 * math.sin(math.pi * phase / phantoms.SYSTOLE_FRACTION) * np.ones_like(r)
        else:
            diastole = (phase - phantoms.SYSTOLE_FRACTION) / (1 - phantoms.SYSTOLE_FRACTION)
            velocity = 0.7 * math.sin(math.pi * diastole) * np.ones_like(r)
        velocity = velocity * (0.6 + 0.4 * (r / screen.radius_px))
        rgb = _grey_to_rgb(grey[index]).astype(np.float32)
        coloured = _velocity_colour(velocity, 0.65)
        paint = blood & (np.abs(velocity) > 0.08)
        rgb[paint] = coloured[paint]
        if jet_grade and phase < phantoms.SYSTOLE_FRACTION:
            mosaic = jet & box
            noise = rng.random((int(mosaic.sum()), 3)).astype(np.float32)
            rgb[mosaic] = np.stack(
                [60 + 195 * noise[:, 0], 40 + 215 * noise[:, 1], 60 + 195 * noise[:, 2]], axis=1
            )
        frame = rgb.astype(np.uint8)
        _apply_overlay(frame, overlay)
        phantoms.draw_colour_bar(frame, screen)
        frames[index] = frame
    x0, y0, x1, y1 = (int(v) for v in _box_bounds(box))
    regions = [
        _sector_region(screen),
        UltrasoundRegion(
            min_x0=x0,
            min_y0=y0,
            max_x1=x1,
            max_y1=y1,
            spatial_format=FORMAT_2D,
            data_type=DATA_COLOUR_FLOW,
            units_x=UNITS_CM,
            units_y=UNITS_CM,
            delta_x=s,
            delta_y=s,
            reference_x0=round(screen.apex_x) - x0,
            reference_y0=round(screen.apex_y) - y0,
        ),
    ]
    geometry: dict[str, float | int | str] = {
        "cm_per_pixel": s,
        "ed_frame": ed_frame,
        "es_frame": es_frame,
        "ecg_row_px": screen.ecg_row,
    }
    return Clip("color_doppler", view, frames, regions, frame_time_ms, geometry)


def _box_bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


# Spectral traces: (view of the thumbnail, PW or CW, peaks as (measurement, sign, phase centre, width)).
SPECTRAL_KINDS: dict[str, tuple[str, int, list[tuple[str, float, float, float]]]] = {
    "mv_inflow": ("A4C", DATA_PW_SPECTRAL, [("mv_peak_e", 1, 0.5, 0.07), ("mv_peak_a", 1, 0.9, 0.05)]),
    "av_cw": ("A5C", DATA_CW_SPECTRAL, [("av_pk_vel", -1, 0.16, 0.11)]),
    "tr_cw": ("A4C", DATA_CW_SPECTRAL, [("tr_velocity", -1, 0.17, 0.12)]),
    "septal_tdi": (
        "A4C",
        DATA_PW_SPECTRAL,
        [("sept_e_prime", -1, 0.5, 0.05), ("sept_e_prime", 1, 0.15, 0.05)],
    ),
    "lvot_pw": ("A5C", DATA_PW_SPECTRAL, [("lvot_peak", -1, 0.16, 0.09)]),
}


def build_spectral(
    kind: str,
    heart: Heart,
    measurements: dict[str, float],
    rows: int,
    cols: int,
    heart_rate: float,
    overlay_text: OverlayText,
    rng: np.random.Generator,
) -> Clip:
    """Render a single-frame spectral-Doppler still: a thumbnail sector over a velocity-time spectrum."""
    view, data_type, peaks = SPECTRAL_KINDS[kind]
    thumb = phantoms.make_screen(rows, cols // 2, phantoms.VIEW_DEPTH_CM[view], 0.0, 0.36)
    thumb_grey, _ = _render_sector_frames(thumb, view, heart, np.array([0.0]), rng)
    frame = np.zeros((rows, cols, 3), dtype=np.uint8)
    offset = cols // 4
    frame[:, offset : offset + thumb.cols] = _grey_to_rgb(thumb_grey[0])
    top, bottom = int(rows * 0.40), int(rows * 0.86)
    left, right = int(cols * 0.06), int(cols * 0.94)
    height = bottom - top
    peak_values = [measurements.get(name, 1.0) for name, *_ in peaks]
    v_max = max(0.3, max(peak_values) * 1.35)  # m/s shown above and below the baseline
    baseline = top + int(height * (0.25 if all(sign < 0 for _, sign, *_ in peaks) else 0.6))
    metres_per_pixel = v_max / max(
        1, baseline - top if any(s > 0 for _, s, *_ in peaks) else bottom - baseline
    )
    seconds_per_beat = 60.0 / heart_rate
    sweep_seconds = 2.2 * seconds_per_beat
    columns = np.arange(left, right)
    t = (columns - left) / (right - left) * sweep_seconds
    phase = (t / seconds_per_beat) % 1.0
    ys = np.arange(top, bottom)[:, None]
    spectrum = np.zeros((height, right - left), dtype=np.float32)
    for (_name, sign, centre, width), value in zip(peaks, peak_values, strict=True):
        envelope = value * np.exp(-((((phase - centre + 0.5) % 1.0 - 0.5) / width) ** 2) / 2 * 4)
        envelope_px = envelope / metres_per_pixel
        if sign > 0:
            inside = (ys <= baseline) & (ys >= baseline - envelope_px[None, :])
        else:
            inside = (ys >= baseline) & (ys <= baseline + envelope_px[None, :])
        spectrum = np.maximum(spectrum, inside * (120 + 120 * rng.random(inside.shape)).astype(np.float32))
    frame[top:bottom, left:right] = _grey_to_rgb(spectrum)
    frame[baseline, left:right] = (200, 200, 200)
    overlay = _overlay(Screen(rows, cols, cols / 2, 0, rows, 1.0), overlay_text, 1, 1.0, heart_rate)
    _apply_overlay(frame, overlay)
    regions = [
        _sector_region(
            Screen(rows, cols, thumb.apex_x + offset, thumb.apex_y, thumb.radius_px, thumb.depth_cm)
        ),
        UltrasoundRegion(
            min_x0=left,
            min_y0=top,
            max_x1=right - 1,
            max_y1=bottom - 1,
            spatial_format=FORMAT_SPECTRAL,
            data_type=data_type,
            units_x=UNITS_SECONDS,
            units_y=UNITS_CM_PER_S,
            delta_x=sweep_seconds / (right - left),
            delta_y=metres_per_pixel * 100.0,
            reference_x0=0,
            reference_y0=baseline - top,
        ),
    ]
    geometry: dict[str, float | int | str] = {"ecg_row_px": Screen(rows, cols, 0, 0, rows, 1).ecg_row}
    return Clip("spectral_doppler", view, frame[None], regions, 0.0, geometry)


def build_m_mode(
    heart: Heart, rows: int, cols: int, heart_rate: float, overlay_text: OverlayText, rng: np.random.Generator
) -> Clip:
    """Render a single-frame M-mode still through the PLAX LV line, with the PLAX thumbnail above."""
    thumb = phantoms.make_screen(rows, cols // 2, phantoms.VIEW_DEPTH_CM["PLAX"], 0.0, 0.36)
    thumb_grey, lines = _render_sector_frames(thumb, "PLAX", heart, np.array([0.0]), rng)
    frame = np.zeros((rows, cols, 3), dtype=np.uint8)
    offset = cols // 4
    frame[:, offset : offset + thumb.cols] = _grey_to_rgb(thumb_grey[0])
    top, bottom = int(rows * 0.40), int(rows * 0.86)
    left, right = int(cols * 0.06), int(cols * 0.94)
    depth_cm = phantoms.VIEW_DEPTH_CM["PLAX"]
    cm_per_px = depth_cm / (bottom - top)
    sweep_seconds = 2.5 * 60.0 / heart_rate
    lv_cx, _ = lines[0]
    line_screen = Screen(bottom - top, 1, 0.5 - lv_cx / cm_per_px, 0.0, bottom - top, depth_cm)
    texture = phantoms.speckle_texture(rng, bottom - top, 1)[:, 0]
    cache: dict[int, np.ndarray] = {}
    for column in range(left, right):
        t = (column - left) / (right - left) * sweep_seconds
        key = round(((t * heart_rate / 60.0) % 1.0) * 200) % 200
        if key not in cache:
            shapes, _, _ = phantoms.ANATOMY["PLAX"](heart, key / 200.0)
            cache[key] = phantoms.render_grey(line_screen, shapes)[:, 0]
        frame[top:bottom, column] = np.clip(cache[key] * texture, 0, 255).astype(np.uint8)[:, None]
    overlay = _overlay(Screen(rows, cols, cols / 2, 0, rows, 1.0), overlay_text, 1, 1.0, heart_rate)
    _apply_overlay(frame, overlay)
    regions = [
        _sector_region(
            Screen(rows, cols, thumb.apex_x + offset, thumb.apex_y, thumb.radius_px, thumb.depth_cm)
        ),
        UltrasoundRegion(
            min_x0=left,
            min_y0=top,
            max_x1=right - 1,
            max_y1=bottom - 1,
            spatial_format=FORMAT_M_MODE,
            data_type=DATA_TISSUE,
            units_x=UNITS_SECONDS,
            units_y=UNITS_CM,
            delta_x=sweep_seconds / (right - left),
            delta_y=cm_per_px,
            reference_x0=0,
            reference_y0=0,
        ),
    ]
    geometry: dict[str, float | int | str] = {"ecg_row_px": Screen(rows, cols, 0, 0, rows, 1).ecg_row}
    return Clip("m_mode", "PLAX", frame[None], regions, 0.0, geometry)


def build_other(rows: int, cols: int, lines: list[str]) -> Clip:
    """Render a measurement summary page (text only), the kind of screen capture that is not an image."""
    text = OverlayText(top_left=lines, top_right=[])
    rgb, mask = phantoms.draw_overlay(rows, cols, text, 0.0, rows + 10, max(9, rows // 28))
    frame = np.zeros((rows, cols, 3), dtype=np.uint8)
    frame[mask] = rgb[mask]
    return Clip("other", "unknown", frame[None], [], 0.0, {})
