"""Builders of small synthetic echo DICOM files for the DICOM stage tests.

Each cine shows a fan of moving grey speckle (optionally with a red colour-flow blob), yellow
burned-in text outside the fan (a stand-in for patient details), and a green ECG trace under the fan.
Header fields carry planted identifying values (``PHI_STRINGS``) that must never reach an output.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence

PHI_STRINGS = [
    "DOE^JOHN",
    "SECRET GENERAL HOSPITAL",
    "SMITH^OPERATOR",
    "19400101",
    "MRN-778899",
    "WHO^REFERS",
]
TEXT_COLOUR = (255, 255, 0)
ECG_COLOUR = (0, 255, 0)
ROWS, COLUMNS = 120, 160
APEX = (80, 12)
RADIUS = 95
HALF_ANGLE = math.radians(40)
DELTA_CM = 0.05


def fan_mask(rows: int = ROWS, columns: int = COLUMNS) -> np.ndarray:
    """Return the boolean fan of the synthetic cine."""
    y, x = np.mgrid[0:rows, 0:columns]
    dx, dy = x - APEX[0], y - APEX[1]
    radius = np.hypot(dx, dy)
    angle = np.arctan2(dx, dy)
    return (radius <= RADIUS) & (dy > 0) & (np.abs(angle) <= HALF_ANGLE)


def fan_box() -> tuple[int, int, int, int]:
    """Return the fan's bounding box (x0, y0, x1, y1), inclusive."""
    mask = fan_mask()
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    return int(columns[0]), int(rows[0]), int(columns[-1]), int(rows[-1])


def cine_frames(n_frames: int, colour: bool = False, seed: int = 0, blank: bool = False) -> np.ndarray:
    """Return (n_frames, ROWS, COLUMNS, 3) uint8 frames of the synthetic echo."""
    rng = np.random.default_rng(seed)
    mask = fan_mask()
    frames = np.zeros((n_frames, ROWS, COLUMNS, 3), dtype=np.uint8)
    if blank:
        return frames
    for index in range(n_frames):
        speckle = rng.integers(40, 200, size=(ROWS, COLUMNS), dtype=np.uint8)
        frame = np.zeros((ROWS, COLUMNS, 3), dtype=np.uint8)
        frame[mask] = speckle[mask][:, None]
        if colour:
            frame[50:75, 65:95] = (220, 30, 30)
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        draw.rectangle([2, 2, 40, 9], fill=TEXT_COLOUR)
        draw.text((120, 2), "DOE", fill=TEXT_COLOUR)
        cursor = 10 + (index * 7) % 140
        points = [(x, 112 - 4 * math.sin(x / 4.0)) for x in range(5, cursor)]
        if len(points) > 1:
            draw.line(points, fill=ECG_COLOUR, width=1)
        frames[index] = np.asarray(image)
    return frames


def _region(x0: int, y0: int, x1: int, y1: int, data_type: int = 1, spatial: int = 1) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat = spatial
    item.RegionDataType = data_type
    item.RegionFlags = 0
    item.RegionLocationMinX0 = x0
    item.RegionLocationMinY0 = y0
    item.RegionLocationMaxX1 = x1
    item.RegionLocationMaxY1 = y1
    item.PhysicalUnitsXDirection = 3
    item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX = DELTA_CM
    item.PhysicalDeltaY = DELTA_CM
    return item


def base_dataset(n_frames: int, transfer_syntax: str = uid.ExplicitVRLittleEndian) -> Dataset:
    """Return a US multi-frame dataset header with planted identifying values and no pixel data."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = uid.UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    meta.TransferSyntaxUID = transfer_syntax

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = uid.UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"

    ds.PatientName = "DOE^JOHN"
    ds.PatientID = "MRN-778899"
    ds.PatientBirthDate = "19400101"
    ds.InstitutionName = "SECRET GENERAL HOSPITAL"
    ds.OperatorsName = "SMITH^OPERATOR"
    ds.ReferringPhysicianName = "WHO^REFERS"
    ds.ImageComments = "patient DOE^JOHN born 19400101"
    ds.add_new(0x00091010, "LO", "MRN-778899")
    ds.private_block(0x0009, "ACME", create=True).add_new(0x10, "LO", "SECRET GENERAL HOSPITAL")

    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.NumberOfFrames = n_frames
    ds.FrameTime = 20.0
    ds.HeartRate = 60
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    x0, y0, x1, y1 = fan_box()
    ds.SequenceOfUltrasoundRegions = Sequence([_region(x0, y0, x1, y1)])
    return ds


def _set_rgb(ds: Dataset) -> None:
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = "RGB"


def write_jpeg(path: Path, frames: np.ndarray, ds: Dataset | None = None, quality: int = 95) -> Path:
    """Write ``frames`` as JPEG Baseline YBR_FULL_422, one Pillow-encoded fragment per frame."""
    ds = ds if ds is not None else base_dataset(len(frames), uid.JPEGBaseline8Bit)
    ds.file_meta.TransferSyntaxUID = uid.JPEGBaseline8Bit
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = "YBR_FULL_422"
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
        encoded.append(buffer.getvalue())
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_native_rgb(path: Path, frames: np.ndarray, planar: int = 0, ds: Dataset | None = None) -> Path:
    """Write ``frames`` as uncompressed RGB with the given planar configuration."""
    ds = ds if ds is not None else base_dataset(len(frames))
    _set_rgb(ds)
    ds.PlanarConfiguration = planar
    data = frames if planar == 0 else frames.transpose(0, 3, 1, 2)
    ds.PixelData = np.ascontiguousarray(data).tobytes()
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return path


def write_monochrome(path: Path, frames: np.ndarray, big_endian: bool = False) -> Path:
    """Write the luma of ``frames`` as 8-bit MONOCHROME2, little or big endian."""
    syntax = uid.ExplicitVRBigEndian if big_endian else uid.ExplicitVRLittleEndian
    ds = base_dataset(len(frames), syntax)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    grey = frames.max(axis=3)
    ds.PixelData = grey.tobytes()
    ds.save_as(path, enforce_file_format=True, little_endian=not big_endian, implicit_vr=False)
    return path


def write_rle(path: Path, frames: np.ndarray) -> Path:
    """Write ``frames`` as RGB RLE Lossless."""
    ds = base_dataset(len(frames))
    _set_rgb(ds)
    ds.PixelData = frames.tobytes()
    ds.compress(uid.RLELossless, frames)
    ds.save_as(path, enforce_file_format=True)
    return path


def palette_values(frames: np.ndarray, bits: int) -> np.ndarray:
    """Return palette indices: grey levels, and index 255 (8-bit) or 1000 (16-bit) for yellow text."""
    grey = frames.max(axis=3).astype(np.uint16)
    yellow = np.all(frames == TEXT_COLOUR, axis=3)
    marker = 255 if bits == 8 else 1000
    grey[yellow] = marker
    if bits == 8:
        grey[grey == 255] = 254
        grey[yellow] = 255
        return grey.astype(np.uint8)
    return grey


def write_palette(path: Path, frames: np.ndarray, bits: int) -> Path:
    """Write ``frames`` as PALETTE COLOR with ``bits``-bit stored values and 16-bit LUT entries."""
    ds = base_dataset(len(frames))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    entries = 256 if bits == 8 else 1024
    ramp = (np.arange(entries, dtype=np.float64) / (255 if bits == 8 else 1023) * 65535).clip(0, 65535)
    red = ramp.astype(np.uint16)
    green = ramp.astype(np.uint16)
    blue = ramp.astype(np.uint16)
    marker = 255 if bits == 8 else 1000
    red[marker], green[marker], blue[marker] = 65535, 65535, 0
    if bits == 16:
        grey_range = np.arange(256)
        red[grey_range] = green[grey_range] = blue[grey_range] = (grey_range * 257).astype(np.uint16)
    for colour, table in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [entries if entries < 65536 else 0, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.astype("<u2").tobytes())
    ds.PixelData = palette_values(frames, bits).astype(np.uint8 if bits == 8 else "<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
