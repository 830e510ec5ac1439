"""Decoding of only the kept frames to RGB uint8, converting colour exactly once.

JPEG Baseline frames are read straight from their fragments in the file and decoded by Pillow, whose
libjpeg converts YCbCr to RGB. Every other encoding goes through ``pydicom.pixels.iter_pixels`` with
``raw=False``, which returns RGB for YBR_FULL and YBR_FULL_422 (pydicom 3.0 converts once, inside the
decoder). Nothing here converts colour a second time: doing so on pydicom 3 output gives the
well-known green image.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_color_lut, convert_color_space, iter_pixels

from echoground.dicom.errors import DicomRejected
from echoground.dicom.header import HeaderInfo
from echoground.dicom.reduction import JPEG_REDUCTIONS, reduced_size, supports_reduced_decode


def decode_frames(info: HeaderInfo, indices: list[int], reduction: int = 1) -> tuple[np.ndarray, str]:
    """Decode the frames at ``indices`` and return them as (T, rows, columns, 3) uint8 with the decoder name.

    With ``reduction`` 2, 4 or 8 the JPEG Baseline frames are decoded at that fraction of their size
    (see :mod:`echoground.dicom.reduction`), and rows and columns are those of the reduced image.

    Raises:
        DicomRejected: a frame cannot be decoded or does not match the header's size.
        ValueError: ``reduction`` is above 1 for an encoding that cannot be decoded at reduced size.
    """
    if reduction != 1 and (reduction not in JPEG_REDUCTIONS or not supports_reduced_decode(info)):
        raise ValueError(
            f"{info.path}: cannot decode {info.transfer_syntax_name} frames at 1/{reduction} of their size; "
            f"only JPEG Baseline frames decode at 1/{', 1/'.join(map(str, JPEG_REDUCTIONS))}"
        )
    try:
        if supports_reduced_decode(info):
            return _decode_jpeg_with_pillow(info, indices, reduction), "pillow_direct"
        return _decode_with_pydicom(info, indices), "pydicom"
    except DicomRejected:
        raise
    except (ValueError, RuntimeError, OSError, NotImplementedError, EOFError, KeyError, IndexError) as error:
        raise DicomRejected(
            "decode_failed",
            f"{info.path}: decoding {info.transfer_syntax_name} frames {indices[:4]}... failed "
            f"({type(error).__name__}: {error})",
        ) from error


def _decode_jpeg_with_pillow(info: HeaderInfo, indices: list[int], reduction: int) -> np.ndarray:
    assert info.frame_fragments is not None
    rows, columns = reduced_size(info.rows, info.columns, reduction)
    output = np.empty((len(indices), rows, columns, 3), dtype=np.uint8)
    with open(info.path, "rb") as fp:
        for position, index in enumerate(indices):
            parts = []
            for offset, length in info.frame_fragments[index]:
                fp.seek(offset)
                parts.append(fp.read(length))
            image = Image.open(io.BytesIO(b"".join(parts)), formats=("JPEG",))
            if image.size != (info.columns, info.rows):
                raise DicomRejected(
                    "frame_size_mismatch",
                    f"{info.path}: frame {index} is {image.size[0]} x {image.size[1]} pixels but the header "
                    f"says {info.columns} x {info.rows}",
                )
            output[position] = _pillow_to_rgb(image, info, reduction)
    return output


def _pillow_to_rgb(image: Image.Image, info: HeaderInfo, reduction: int) -> np.ndarray:
    rows, columns = reduced_size(info.rows, info.columns, reduction)
    target = (columns, rows)
    # Pillow picks the DCT scale as the source size floor-divided by the requested size, so the request
    # is rounded down. libjpeg still returns the rounded-up size in ``target``.
    request = (max(1, info.columns // reduction), max(1, info.rows // reduction))
    if image.mode == "L":
        image.draft("L", request)
        grey = np.asarray(_exact_size(image, target, reduction, info))
        return np.repeat(grey[:, :, None], 3, axis=2)
    adobe_transform = image.info.get("adobe_transform")
    if info.photometric == "RGB" and adobe_transform is None:
        # Without an Adobe APP14 marker libjpeg assumes YCbCr and would convert RGB samples; asking for
        # YCbCr output skips that conversion, and the bytes are the stored RGB samples.
        image.draft("YCbCr", request)
        if image.mode != "YCbCr":
            raise DicomRejected(
                "decode_failed", f"{info.path}: Pillow cannot return the stored RGB JPEG samples"
            )
        return np.asarray(_exact_size(image, target, reduction, info))
    if adobe_transform == 0 and info.photometric.startswith("YBR"):
        # The encoder marked the samples as untransformed, so libjpeg left them as YCbCr.
        image.draft(image.mode, request)
        samples = np.asarray(_exact_size(image, target, reduction, info))
        return convert_color_space(samples, "YBR_FULL", "RGB")
    image.draft("RGB", request)
    image = _exact_size(image, target, reduction, info)
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def _exact_size(image: Image.Image, target: tuple[int, int], reduction: int, info: HeaderInfo) -> Image.Image:
    """Return ``image`` at ``target`` size, averaging pixel blocks when the draft mode did not scale it."""
    if image.size == target:
        return image
    reduced = image.reduce(reduction)
    if reduced.size != target:
        raise DicomRejected(
            "decode_failed",
            f"{info.path}: a frame decoded at 1/{reduction} is {reduced.size[0]} x {reduced.size[1]} pixels, "
            f"expected {target[0]} x {target[1]}",
        )
    return reduced


def _decode_with_pydicom(info: HeaderInfo, indices: list[int]) -> np.ndarray:
    output = np.empty((len(indices), info.rows, info.columns, 3), dtype=np.uint8)
    options = {"number_of_frames": info.n_frames}
    frames = iter_pixels(info.path, indices=indices, raw=False, **options)
    palette = _palette_table(info.path) if info.photometric == "PALETTE COLOR" else None
    for position, frame in enumerate(frames):
        if frame.shape[:2] != (info.rows, info.columns):
            raise DicomRejected(
                "frame_size_mismatch",
                f"{info.path}: frame {indices[position]} is {frame.shape[:2]} but the header says "
                f"{info.rows} x {info.columns}",
            )
        output[position] = _to_rgb8(frame, info, palette)
    return output


def _to_rgb8(frame: np.ndarray, info: HeaderInfo, palette: np.ndarray | None) -> np.ndarray:
    if palette is not None:
        values = frame.astype(np.int64)
        return palette[np.clip(values, 0, len(palette) - 1)]
    if frame.ndim == 2:
        grey = _to_8bit(frame, info)
        if info.photometric == "MONOCHROME1":
            grey = 255 - grey
        return np.repeat(grey[:, :, None], 3, axis=2)
    return _to_8bit(frame, info)


def _to_8bit(values: np.ndarray, info: HeaderInfo) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    data = values.astype(np.int64)
    if info.pixel_representation == 1:
        data = data + (1 << (info.bits_stored - 1))
    shift = max(0, info.bits_stored - 8)
    return np.clip(data >> shift, 0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def _palette_table_cached(path: str, mtime_ns: int) -> np.ndarray:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    descriptor = dataset.get("RedPaletteColorLookupTableDescriptor")
    if descriptor is None:
        raise DicomRejected(
            "missing_palette",
            f"{path}: PALETTE COLOR image without (0028,1101) 'Red Palette Color Lookup Table Descriptor'",
        )
    bits_stored = int(dataset.get("BitsStored", dataset.get("BitsAllocated", 8)))
    entries = np.arange(1 << bits_stored, dtype=np.uint16 if bits_stored > 8 else np.uint8)
    table = apply_color_lut(entries, dataset)[:, :3]
    if table.dtype != np.uint8:
        # 16-bit LUT entries span 0-65535; some writers store 8-bit values in 16-bit entries.
        table = (table >> 8) if int(table.max()) > 255 else table
        table = table.astype(np.uint8)
    return table


def _palette_table(path: str) -> np.ndarray:
    import os

    return _palette_table_cached(path, os.stat(path).st_mtime_ns)
