"""Write small CAMUS, EchoNet and EchoNet-LVH copies from phantoms whose geometry is known exactly.

The phantoms are drawn from polygons and ellipses in a local frame of the heart (u along the LV long
axis, v across it), rotated and shifted at random per sample. Masks, tracings and landmarks come from
the same geometry as the pixels, so a perfect model scores Dice 1 and landmark error 0 (up to the
rasterisation and the JPEG compression of the videos). Tests and the benchmark build their fixtures
with these writers; no real data is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from echovlm.downstream.avi import write_avi
from echovlm.downstream.samples import rasterise_polygon
from echovlm.downstream.volumes import write_metaimage, write_nifti

# Grey levels of the phantom tissues before speckle (0 to 255).
_BLOOD = 25.0
_MUSCLE = 170.0
_TISSUE = 80.0
_CHORDS = 20


@dataclass
class ApicalPhantom:
    """An apical view: ``(N, 2)`` ``(x, y)`` outlines of the LV cavity, the epicardium and the LA."""

    cavity: np.ndarray
    epicardium: np.ndarray
    atrium: np.ndarray
    long_axis: np.ndarray  # (2, 2): apex, then the middle of the mitral annulus
    chords: np.ndarray  # (_CHORDS, 2, 2): cavity chords perpendicular to the long axis


def _to_image(u: np.ndarray, v: np.ndarray, centre: np.ndarray, angle: float) -> np.ndarray:
    """Map local (u along the long axis, pointing down; v across) to image (x, y)."""
    cos, sin = np.cos(angle), np.sin(angle)
    x = centre[0] + v * cos - u * sin
    y = centre[1] + v * sin + u * cos
    return np.stack([x, y], axis=-1)


def make_apical_phantom(height: int, width: int, rng: np.random.Generator, systole: bool) -> ApicalPhantom:
    """Draw a random apical-view heart; ``systole`` shrinks the cavity and thickens the wall."""
    scale = min(height, width)
    length = scale * rng.uniform(0.30, 0.36) * (0.85 if systole else 1.0)  # apex to base, pixels
    half_width = scale * rng.uniform(0.12, 0.15) * (0.8 if systole else 1.0)
    wall = scale * rng.uniform(0.045, 0.06) * (1.25 if systole else 1.0)
    angle = rng.uniform(-0.25, 0.25)
    centre = np.array([width * rng.uniform(0.45, 0.55), height * rng.uniform(0.40, 0.46)])
    apex_u = -length * 0.6
    base_u = length * 0.4

    # The cavity is an ellipse centred at u = 0, cut at the mitral annulus (u = base_u).
    semi_u = -apex_u
    positions = np.linspace(apex_u, base_u, _CHORDS + 2)[1:-1]
    half = half_width * np.sqrt(np.clip(1 - (positions / semi_u) ** 2, 0, None))
    left = _to_image(positions, -half, centre, angle)
    right = _to_image(positions, half, centre, angle)
    chords = np.stack([left, right], axis=1)
    apex = _to_image(np.array([apex_u]), np.array([0.0]), centre, angle)[0]
    base = _to_image(np.array([base_u]), np.array([0.0]), centre, angle)[0]
    cavity = np.concatenate([left, right[::-1]])

    theta = np.linspace(0, np.pi, 60)
    outer_semi_u, outer_half = semi_u + wall, half_width + wall
    outer_positions = -outer_semi_u * np.cos(theta)
    keep = outer_positions <= base_u
    outer_v = outer_half * np.sin(theta)
    outer_left = _to_image(outer_positions[keep], -outer_v[keep], centre, angle)
    outer_right = _to_image(outer_positions[keep], outer_v[keep], centre, angle)
    epicardium = np.concatenate([outer_left, outer_right[::-1]])

    atrium_centre_u = base_u + length * 0.35
    atrium_radius_u, atrium_radius_v = length * 0.33, half_width * 1.05
    phi = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    atrium = _to_image(
        atrium_centre_u + atrium_radius_u * np.cos(phi), atrium_radius_v * np.sin(phi), centre, angle
    )
    return ApicalPhantom(cavity, epicardium, atrium, np.stack([apex, base]), chords)


def render_apical(
    phantom: ApicalPhantom, height: int, width: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return the uint8 image and the CAMUS-style label mask (1 LV cavity, 2 myocardium, 3 LA)."""
    cavity = rasterise_polygon(phantom.cavity, height, width).astype(bool)
    epicardium = rasterise_polygon(phantom.epicardium, height, width).astype(bool)
    atrium = rasterise_polygon(phantom.atrium, height, width).astype(bool) & ~epicardium & ~cavity
    myocardium = epicardium & ~cavity
    mask = np.zeros((height, width), np.uint8)
    mask[cavity] = 1
    mask[myocardium] = 2
    mask[atrium] = 3
    levels = np.full((height, width), _TISSUE)
    levels[cavity | atrium] = _BLOOD
    levels[myocardium] = _MUSCLE
    return _speckle(levels, rng), mask


def _speckle(levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = gaussian_filter(rng.rayleigh(1.0, levels.shape), 0.8)
    image = gaussian_filter(levels, 0.7) * noise / noise.mean()
    return np.clip(image, 0, 255).astype(np.uint8)


@dataclass
class ParasternalPhantom:
    """A parasternal long-axis view with the six diastolic caliper ends ``(6, 2)`` ``(x, y)``."""

    image: np.ndarray
    points: np.ndarray


def make_parasternal_phantom(
    height: int, width: int, rng: np.random.Generator, spacing_mm: float
) -> ParasternalPhantom:
    """Draw an LV cavity (ellipse) with septum and posterior wall; calipers cross its minor axis.

    Wall thicknesses and the cavity diameter are drawn in millimetres and converted with ``spacing_mm``.
    """
    septum = rng.uniform(7, 16) / spacing_mm
    posterior = rng.uniform(7, 15) / spacing_mm
    diameter = rng.uniform(38, 58) / spacing_mm
    right_ventricle = rng.uniform(18, 26) / spacing_mm
    semi_minor = diameter / 2
    semi_major = semi_minor * rng.uniform(1.9, 2.3)
    angle = rng.uniform(-0.35, 0.0)  # the long axis of the LV tilts down to the left
    centre = np.array([width * rng.uniform(0.45, 0.55), height * rng.uniform(0.52, 0.58)])

    rows, columns = np.mgrid[0:height, 0:width].astype(float)
    dx, dy = columns - centre[0], rows - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    along = dx * cos + dy * sin  # u: along the long axis
    across = -dx * sin + dy * cos  # v: positive away from the transducer

    def inside(extra: float) -> np.ndarray:
        return (along / (semi_major + extra)) ** 2 + (across / (semi_minor + extra)) ** 2 < 1

    cavity = inside(0)
    anterior, posterior_side = across < 0, across >= 0
    septal_wall = inside(septum) & anterior & ~cavity
    posterior_wall = inside(posterior) & posterior_side & ~cavity
    rv_cavity = inside(septum + right_ventricle) & anterior & ~inside(septum)
    levels = np.full((height, width), _TISSUE)
    levels[cavity | rv_cavity] = _BLOOD
    levels[septal_wall | posterior_wall] = _MUSCLE
    levels[inside(posterior + 12 / spacing_mm) & posterior_side & ~inside(posterior)] = 120.0  # pericardium

    offsets = np.array(
        [-(semi_minor + septum), -semi_minor, -semi_minor, semi_minor, semi_minor, semi_minor + posterior]
    )
    points = np.stack([centre[0] - offsets * sin, centre[1] + offsets * cos], axis=1)
    return ParasternalPhantom(_speckle(levels, rng), points)


def _split_for(number: int) -> str:
    """Return train for 8 of every 10 numbers, then val, then test."""
    if number % 10 < 8:
        return "train"
    if number % 10 == 8:
        return "val"
    return "test"


def write_camus(
    root: str | Path,
    patients: int,
    size: tuple[int, int] = (96, 80),
    seed: int = 0,
    spacing_mm: tuple[float, float] = (0.3, 0.3),
    metaimage: bool = False,
) -> Path:
    """Write a CAMUS copy: ``patientNNNN/`` with 2CH and 4CH images at ED and ES, labels and Info files.

    Args:
        root: Folder to create; patient folders go in ``root/training/``.
        patients: Number of patients.
        size: ``(height, width)`` of every image in pixels.
        seed: Seed of the random geometry and speckle.
        spacing_mm: ``(row_mm, column_mm)`` pixel spacing stored in the headers.
        metaimage: Write ``.mhd`` + ``.raw`` pairs as older copies do, instead of ``.nii.gz``.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    writer, extension = (write_metaimage, ".mhd") if metaimage else (write_nifti, ".nii.gz")
    root = Path(root)
    for number in range(1, patients + 1):
        name = f"patient{number:04d}"
        folder = root / "training" / name
        folder.mkdir(parents=True, exist_ok=True)
        for view in ("2CH", "4CH"):
            for phase in ("ED", "ES"):
                phantom = make_apical_phantom(height, width, rng, systole=phase == "ES")
                image, mask = render_apical(phantom, height, width, rng)
                writer(folder / f"{name}_{view}_{phase}{extension}", image, spacing_mm)
                writer(folder / f"{name}_{view}_{phase}_gt{extension}", mask, spacing_mm)
            (folder / f"Info_{view}.cfg").write_text(
                "ED: 1\nES: 3\nNbFrame: 4\nSex: F\nAge: 60\nImageQuality: Good\nLVedv: 90.0\nLVesv: 40.0\n"
                "LVef: 55.6\n",
                encoding="ascii",
            )
    return root


def write_echonet(
    root: str | Path,
    videos: int,
    size: tuple[int, int] = (112, 112),
    seed: int = 0,
    pediatric: bool = False,
    frames: int = 4,
) -> Path:
    """Write an EchoNet-Dynamic copy (or EchoNet-Pediatric's point-list tracings) with MJPG videos.

    Frame 0 of each video is end-diastole and frame ``frames // 2`` end-systole; both are traced.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    root = Path(root)
    files, tracings = [], []
    for number in range(videos):
        name = f"0X{number:04X}SYN"
        diastole = make_apical_phantom(height, width, rng, systole=False)
        systole = make_apical_phantom(height, width, rng, systole=True)
        images = []
        for index in range(frames):
            phantom = systole if index == frames // 2 else diastole
            images.append(render_apical(phantom, height, width, rng)[0])
        write_avi(root / "Videos" / f"{name}.avi", np.stack(images), fps=50.0)
        for frame, phantom in ((0, diastole), (frames // 2, systole)):
            if pediatric:
                for x, y in phantom.cavity:
                    tracings.append({"FileName": f"{name}.avi", "X": x, "Y": y, "Frame": frame})
                continue
            (apex_x, apex_y), (base_x, base_y) = phantom.long_axis
            rows = [(apex_x, apex_y, base_x, base_y)] + [(*left, *right) for left, right in phantom.chords]
            for x1, y1, x2, y2 in rows:
                tracings.append(
                    {"FileName": f"{name}.avi", "X1": x1, "Y1": y1, "X2": x2, "Y2": y2, "Frame": frame}
                )
        split = _split_for(number).upper()
        files.append(
            {
                "FileName": name,
                "EF": 55.0,
                "ESV": 40.0,
                "EDV": 90.0,
                "FrameHeight": height,
                "FrameWidth": width,
                "FPS": 50,
                "NumberOfFrames": frames,
                "Split": split,
            }
        )
    pd.DataFrame(files).to_csv(root / "FileList.csv", index=False)
    pd.DataFrame(tracings).to_csv(root / "VolumeTracings.csv", index=False)
    return root


def write_lvh(
    root: str | Path,
    videos: int,
    size: tuple[int, int] = (96, 128),
    seed: int = 0,
    spacing_mm: float = 0.8,
    frames: int = 3,
) -> Path:
    """Write an EchoNet-LVH copy: ``MeasurementsList.csv`` and MJPG videos in ``Batch1/`` to ``Batch4/``.

    Frame 1 of each video carries the IVSd, LVIDd and LVPWd calipers; CalcValue is in cm as in the
    original list.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    root = Path(root)
    rows = []
    for number in range(videos):
        name = f"{number:08x}{seed:04x}lvh"
        phantom = make_parasternal_phantom(height, width, rng, spacing_mm)
        stack = np.stack([phantom.image] * frames)
        write_avi(root / f"Batch{number % 4 + 1}" / f"{name}.avi", stack, fps=30.0)
        split = _split_for(number)
        for index, calc in enumerate(("IVSd", "LVIDd", "LVPWd")):
            (x1, y1), (x2, y2) = phantom.points[2 * index], phantom.points[2 * index + 1]
            value_cm = float(np.hypot(x2 - x1, y2 - y1)) * spacing_mm / 10.0
            rows.append(
                {
                    "HashedFileName": name,
                    "Calc": calc,
                    "CalcValue": value_cm,
                    "Frame": 1,
                    "X1": x1,
                    "X2": x2,
                    "Y1": y1,
                    "Y2": y2,
                    "Frames": frames,
                    "Width": width,
                    "Height": height,
                    "split": split,
                }
            )
    pd.DataFrame(rows).to_csv(root / "MeasurementsList.csv", index=False)
    return root
