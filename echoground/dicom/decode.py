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
from pydicom import uid
from pydicom.pixels import apply_color_lut, convert_color_space, iter_pixels

from echoground.dicom.errors import DicomRejected
from echoground.dicom.header import HeaderInfo


def decode_frames(info: HeaderInfo, indices: list[int]) -> tuple[np.ndarray, str]:
    """Decode the frames at ``indices`` and return them as (T, rows, columns, 3) uint8 with the decoder name.

    Raises:
        DicomRejected: a frame cannot be decoded or does not match the header's size.
    """
    try:
        if info.transfer_syntax == uid.JPEGBaseline8Bit and info.frame_fragments is not None:
            return _decode_jpeg_with_pillow(info, indices), "pillow_direct"
        return _decode_with_pydicom(info, indices), "pydicom"
    except DicomRejected:
        raise
    except (ValueError, RuntimeError, OSError, NotImplementedError, EOFError, KeyError, IndexError) as error:
        raise DicomRejected(
            "decode_failed",
            f"{info.path}: decoding {info.transfer_syntax_name} frames {indices[:4]}... failed "
            f"({type(error).__name__}: {error})",
        ) from error


def _decode_jpeg_with_pillow(info: HeaderInfo, indices: list[int]) -> np.ndarray:
    assert info.frame_fragments is not None
    output = np.empty((len(indices), info.rows, info.columns, 3), dtype=np.uint8)
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
            output[position] = _pillow_to_rgb(image, info)
    return output


def _pillow_to_rgb(image: Image.Image, info: HeaderInfo) -> np.ndarray:
    if image.mode == "L":
        grey = np.asarray(image)
        return np.repeat(grey[:, :, None], 3, axis=2)
    adobe_transform = image.info.get("adobe_transform")
    if info.photometric == "RGB" and adobe_transform is None:
        # Without an Adobe APP14 marker libjpeg assumes YCbCr and would convert RGB samples; asking for
        # YCbCr output skips that conversion, and the bytes are the stored RGB samples.
        image.draft("YCbCr", image.size)
        if image.mode != "YCbCr":
            raise DicomRejected(
                "decode_failed", f"{info.path}: Pillow cannot return the stored RGB JPEG samples"
            )
        return np.asarray(image)
    if adobe_transform == 0 and info.photometric.startswith("YBR"):
        # The encoder marked the samples as untransformed, so libjpeg left them as YCbCr.
        return convert_color_space(np.asarray(image), "YBR_FULL", "RGB")
    return np.asarray(image.convert("RGB"))


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
