"""Write ultrasound DICOM files from RGB or grey frames, in the encodings that echo archives contain.

Encodings (``encoding`` argument of :func:`write_dicom`):

- ``jpeg_baseline``: each frame encoded by Pillow as JPEG (process 1, 8-bit) with 4:2:2 chroma
  subsampling, encapsulated; ``PhotometricInterpretation`` YBR_FULL_422. pydicom 3 has no JPEG Baseline
  encoder, so Pillow does the encoding and pydicom only wraps the fragments.
- ``rle``: RLE Lossless through pydicom's encoder (RGB, or MONOCHROME2 for grey frames).
- ``rgb_planar0`` / ``rgb_planar1``: uncompressed RGB, colour-by-pixel or colour-by-plane.
- ``jpeg_lossless``: JPEG Lossless, non-hierarchical, first-order prediction (process 14 SV1) of grey
  frames, MONOCHROME2. pydicom 3.0 has no encoder for it; the frames are compressed by GDCM
  (python-gdcm) through a temporary file, and raise :class:`EncoderUnavailableError` without GDCM.
- ``mono``: uncompressed MONOCHROME2.

Frame timing follows one of three header styles (``FrameTiming.style``): ``frame_time`` (FrameTime with
the FrameIncrementPointer at it), ``frame_time_vector`` (only FrameTimeVector), ``cine_rate`` (only
CineRate and RecommendedDisplayFrameRate, with the pointer still naming FrameTime, as some exports do).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

ENCODINGS = ("jpeg_baseline", "rle", "rgb_planar0", "rgb_planar1", "jpeg_lossless", "mono")

# Region Spatial Format (0018,6012) and Region Data Type (0018,6014) codes of the DICOM ultrasound region
# module. NOTE: written from memory of the standard, not checked against its text; the real pydicom-data
# files agree on tissue = 1 (with 2D format 1) and on their ECG (10) and grey-bar (13) regions.
FORMAT_2D = 1
FORMAT_M_MODE = 2
FORMAT_SPECTRAL = 3
DATA_TISSUE = 1
DATA_COLOUR_FLOW = 2
DATA_PW_SPECTRAL = 3
DATA_CW_SPECTRAL = 4
# Physical Units X/Y Direction (0018,6024/6026): 3 = cm, 4 = seconds, 7 = cm/s.
UNITS_CM = 3
UNITS_SECONDS = 4
UNITS_CM_PER_S = 7

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1492.1"  # fixed so that output bytes do not follow pydicom
IMPLEMENTATION_VERSION_NAME = "ECHOGROUND_SYN1"


class EncoderUnavailableError(RuntimeError):
    """Raised when an encoding needs a codec that is not installed."""


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of SequenceOfUltrasoundRegions: pixel bounds (inclusive), format, type and calibration."""

    min_x0: int
    min_y0: int
    max_x1: int
    max_y1: int
    spatial_format: int
    data_type: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float
    reference_x0: int = 0
    reference_y0: int = 0

    def to_dataset(self) -> Dataset:
        item = Dataset()
        item.RegionSpatialFormat = self.spatial_format
        item.RegionDataType = self.data_type
        item.RegionFlags = 0
        item.RegionLocationMinX0 = self.min_x0
        item.RegionLocationMinY0 = self.min_y0
        item.RegionLocationMaxX1 = self.max_x1
        item.RegionLocationMaxY1 = self.max_y1
        item.ReferencePixelX0 = self.reference_x0
        item.ReferencePixelY0 = self.reference_y0
        item.PhysicalUnitsXDirection = self.units_x
        item.PhysicalUnitsYDirection = self.units_y
        item.ReferencePixelPhysicalValueX = 0.0
        item.ReferencePixelPhysicalValueY = 0.0
        item.PhysicalDeltaX = float(self.delta_x)
        item.PhysicalDeltaY = float(self.delta_y)
        return item


@dataclass(frozen=True)
class FrameTiming:
    """Frame interval (ms), heart rate (bpm) and which header style carries the timing."""

    frame_time_ms: float
    heart_rate: int | None = None
    style: str = "frame_time"


def _jpeg_baseline_frames(frames: np.ndarray, quality: int) -> list[bytes]:
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame, mode="RGB").save(buffer, format="JPEG", quality=quality, subsampling="4:2:2")
        encoded.append(buffer.getvalue())
    return encoded


def _jpeg_lossless_frames(frames: np.ndarray) -> list[bytes]:
    """Compress grey frames with GDCM's JPEG Lossless SV1 codec, one temporary file per frame."""
    try:
        import gdcm
    except ImportError as error:
        raise EncoderUnavailableError(
            "encoding 'jpeg_lossless' needs python-gdcm; install it or choose encoding 'mono'"
        ) from error
    from pydicom import dcmread
    from pydicom.encaps import generate_frames

    encoded = []
    with tempfile.TemporaryDirectory(prefix="echoground-jpegls-") as folder:
        source, target = os.path.join(folder, "in.dcm"), os.path.join(folder, "out.dcm")
        for frame in frames:
            plain = _base_dataset(
                frame.shape[0], frame.shape[1], 1, "MONOCHROME2", UltrasoundImageStorage, "1.2.3"
            )
            plain.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            plain.PixelData = np.ascontiguousarray(frame).tobytes()
            plain.save_as(source, enforce_file_format=True)
            reader = gdcm.ImageReader()
            reader.SetFileName(source)
            if not reader.Read():
                raise EncoderUnavailableError(f"GDCM could not read its temporary input {source}")
            change = gdcm.ImageChangeTransferSyntax()
            change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
            change.SetInput(reader.GetImage())
            if not change.Change():
                raise EncoderUnavailableError("GDCM failed to encode a frame as JPEG Lossless SV1")
            writer = gdcm.ImageWriter()
            writer.SetFileName(target)
            writer.SetFile(reader.GetFile())
            writer.SetImage(change.GetOutput())
            if not writer.Write():
                raise EncoderUnavailableError(f"GDCM could not write its temporary output {target}")
            encoded.extend(generate_frames(dcmread(target).PixelData, number_of_frames=1))
    return encoded


def _base_dataset(
    rows: int, cols: int, samples: int, photometric: str, sop_class: str, sop_instance: str
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.Modality = "US"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    if samples == 3:
        ds.PlanarConfiguration = 0
    return ds


def write_dicom(
    path: Path | str,
    frames: np.ndarray,
    *,
    encoding: str,
    regions: Sequence[UltrasoundRegion] = (),
    timing: FrameTiming | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    jpeg_quality: int = 85,
) -> Path:
    """Write ``frames`` as an ultrasound DICOM file and return its path.

    Args:
        path: Output file; parent folders are created.
        frames: uint8 array, (n, rows, cols, 3) RGB or (n, rows, cols) grey; a single frame may omit n.
            RGB input to a grey encoding (``jpeg_lossless``, ``mono``) is converted with ITU-R 601 luma.
        encoding: One of :data:`ENCODINGS`.
        regions: Items of SequenceOfUltrasoundRegions.
        timing: Frame interval and header style; required for more than one frame.
        extra_tags: Further data elements by keyword (e.g. ``PatientName``, ``StudyInstanceUID``).
            ``SOPInstanceUID`` defaults to a UID derived from the pixel bytes, so output is deterministic.
        jpeg_quality: Pillow JPEG quality (1-95) for ``jpeg_baseline``.

    Raises:
        ValueError: on an unknown encoding, a non-uint8 array or a cine without timing.
        EncoderUnavailableError: when ``jpeg_lossless`` is asked for and GDCM is missing.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown DICOM encoding {encoding!r} for {path}; use one of {', '.join(ENCODINGS)}")
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames for {path} must be uint8, got {frames.dtype}")
    grey_encoding = encoding in ("jpeg_lossless", "mono")
    # Normalise to (n, rows, cols, 3) RGB or (n, rows, cols) grey; a last axis of 3 means RGB.
    is_rgb = frames.ndim >= 3 and frames.shape[-1] == 3
    if frames.ndim == (3 if is_rgb else 2):
        frames = frames[None]
    if frames.ndim != (4 if is_rgb else 3):
        raise ValueError(f"frames for {path} must have shape (n, rows, cols[, 3]), got {frames.shape}")
    if grey_encoding and is_rgb:
        luma = frames[..., 0] * 0.299 + frames[..., 1] * 0.587 + frames[..., 2] * 0.114
        frames = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    elif not grey_encoding and not is_rgb:
        frames = np.repeat(frames[..., None], 3, axis=3)
    n_frames, rows, cols = frames.shape[:3]
    if n_frames > 1 and timing is None:
        raise ValueError(f"{path}: a cine of {n_frames} frames needs a FrameTiming")
    frames = np.ascontiguousarray(frames)

    extra = dict(extra_tags or {})
    sop_instance = extra.pop("SOPInstanceUID", None) or generate_uid(
        entropy_srcs=[encoding, str(frames.shape), frames[:, ::7, ::7].tobytes().hex()[:4096]]
    )
    sop_class = UltrasoundMultiFrameImageStorage if n_frames > 1 else UltrasoundImageStorage
    photometric = {
        "jpeg_baseline": "YBR_FULL_422",
        "rle": "RGB",
        "rgb_planar0": "RGB",
        "rgb_planar1": "RGB",
        "jpeg_lossless": "MONOCHROME2",
        "mono": "MONOCHROME2",
    }[encoding]
    samples = 1 if grey_encoding else 3
    ds = _base_dataset(rows, cols, samples, photometric, sop_class, sop_instance)
    if n_frames > 1:
        ds.NumberOfFrames = n_frames
    if regions:
        ds.SequenceOfUltrasoundRegions = DicomSequence([region.to_dataset() for region in regions])
    if timing is not None:
        _set_timing(ds, timing, n_frames)
    for keyword, value in extra.items():
        setattr(ds, keyword, value)

    if encoding == "jpeg_baseline":
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PixelData = encapsulate(_jpeg_baseline_frames(frames, jpeg_quality))
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    elif encoding == "jpeg_lossless":
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.PixelData = encapsulate(_jpeg_lossless_frames(frames))
    elif encoding == "rle":
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = frames.tobytes()
        ds.compress(RLELossless, frames if n_frames > 1 else frames[0], generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if encoding == "rgb_planar1":
            ds.PlanarConfiguration = 1
            ds.PixelData = frames.transpose(0, 3, 1, 2).tobytes()
        else:
            ds.PixelData = frames.tobytes()
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        ds["PixelData"].is_undefined_length = True
        ds["PixelData"].VR = "OB"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _set_timing(ds: Dataset, timing: FrameTiming, n_frames: int) -> None:
    if timing.heart_rate is not None:
        ds.HeartRate = int(timing.heart_rate)
    if n_frames <= 1:
        return
    frame_time = round(float(timing.frame_time_ms), 3)
    if timing.style == "frame_time":
        ds.FrameTime = frame_time
        ds.FrameIncrementPointer = Tag("FrameTime")
        ds.RecommendedDisplayFrameRate = round(1000.0 / frame_time)
    elif timing.style == "frame_time_vector":
        ds.FrameTimeVector = [0.0] + [frame_time] * (n_frames - 1)
        ds.FrameIncrementPointer = Tag("FrameTimeVector")
    elif timing.style == "cine_rate":
        ds.CineRate = round(1000.0 / frame_time)
        ds.RecommendedDisplayFrameRate = round(1000.0 / frame_time)
        ds.FrameIncrementPointer = Tag("FrameTime")
    else:
        raise ValueError(
            f"unknown frame timing style {timing.style!r}; use frame_time, frame_time_vector or cine_rate"
        )
