"""Read and write 2D and 2D+t images as NIfTI-1 (``.nii``, ``.nii.gz``) and MetaImage (``.mhd`` + ``.raw``).

CAMUS ships its images in these two formats. nibabel is used for NIfTI when it is installed; otherwise
the fixed 348-byte NIfTI-1 header is parsed here. Arrays come back as ``(rows, columns)`` or
``(frames, rows, columns)``, where rows follow the second image axis (y) and columns the first (x), so
the array displays as stored. The pixel spacing comes back as ``(row_mm, column_mm)``.
"""

from __future__ import annotations

import gzip
import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# NIfTI-1 datatype codes (nifti1.h) to numpy dtypes.
_NIFTI_DTYPES = {
    2: np.uint8,
    4: np.int16,
    8: np.int32,
    16: np.float32,
    64: np.float64,
    256: np.int8,
    512: np.uint16,
    768: np.uint32,
}
_NIFTI_CODES = {np.dtype(dtype): code for code, dtype in _NIFTI_DTYPES.items()}
_NIFTI1_HEADER_SIZE = 348

_MET_TYPES = {
    "MET_UCHAR": np.uint8,
    "MET_CHAR": np.int8,
    "MET_USHORT": np.uint16,
    "MET_SHORT": np.int16,
    "MET_UINT": np.uint32,
    "MET_INT": np.int32,
    "MET_FLOAT": np.float32,
    "MET_DOUBLE": np.float64,
}
_MET_NAMES = {np.dtype(dtype): name for name, dtype in _MET_TYPES.items()}


class VolumeError(ValueError):
    """An image file that is malformed, truncated or in an unsupported variant of its format."""


@dataclass
class Volume:
    """Pixel data with its spacing."""

    array: np.ndarray
    spacing_mm: tuple[float, float]
    path: Path


def read_volume(path: str | Path) -> Volume:
    """Read a NIfTI-1 or MetaImage file, chosen by its extension.

    Raises:
        VolumeError: if the extension is unknown or the file is malformed.
        FileNotFoundError: if the file (or the ``.raw`` file a ``.mhd`` header names) is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return _read_nifti(path)
    if name.endswith(".mhd"):
        return _read_metaimage(path)
    raise VolumeError(f"{path}: unknown image format; expected .nii, .nii.gz or .mhd")


def _to_rows_columns(array: np.ndarray) -> np.ndarray:
    """Drop trailing singleton axes of an (x, y, ...) array and reorder it to (..., y, x)."""
    while array.ndim > 2 and array.shape[-1] == 1:
        array = array[..., 0]
    return np.ascontiguousarray(array.T)


def _read_nifti(path: Path) -> Volume:
    try:
        import nibabel
    except ImportError:
        nibabel = None
    if nibabel is not None:
        image = nibabel.load(str(path))
        array = np.asanyarray(image.dataobj)
        zooms = image.header.get_zooms()
        return Volume(_to_rows_columns(array), (float(zooms[1]), float(zooms[0])), path)

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise VolumeError(f"{path}: cannot decompress the file ({error}); copy it again") from error
    if len(data) < _NIFTI1_HEADER_SIZE:
        raise VolumeError(f"{path}: {len(data)} bytes is shorter than a NIfTI-1 header (348 bytes)")
    for endian in ("<", ">"):
        if struct.unpack_from(endian + "i", data, 0)[0] == _NIFTI1_HEADER_SIZE:
            break
    else:
        size = struct.unpack_from("<i", data, 0)[0]
        raise VolumeError(
            f"{path}: sizeof_hdr is {size}, not 348: not a NIfTI-1 file (NIfTI-2 needs nibabel installed)"
        )
    magic = data[344:348]
    if magic != b"n+1\x00":
        raise VolumeError(
            f"{path}: magic {magic!r} is not 'n+1' (single-file NIfTI-1); convert the .hdr/.img pair"
        )
    dims = struct.unpack_from(endian + "8h", data, 40)
    datatype = struct.unpack_from(endian + "h", data, 70)[0]
    pixdim = struct.unpack_from(endian + "8f", data, 76)
    vox_offset = int(struct.unpack_from(endian + "f", data, 108)[0])
    slope, intercept = struct.unpack_from(endian + "2f", data, 112)
    if datatype not in _NIFTI_DTYPES:
        raise VolumeError(
            f"{path}: NIfTI datatype code {datatype} is not supported; use one of {sorted(_NIFTI_DTYPES)}"
        )
    rank = dims[0]
    if not 1 <= rank <= 7:
        raise VolumeError(f"{path}: dim[0] is {rank}; a NIfTI-1 image has 1 to 7 dimensions")
    shape = dims[1 : rank + 1]
    dtype = np.dtype(_NIFTI_DTYPES[datatype]).newbyteorder(endian)
    count = int(np.prod(shape))
    if len(data) < vox_offset + count * dtype.itemsize:
        raise VolumeError(
            f"{path}: header declares {shape} voxels of {dtype.name} from byte {vox_offset}, "
            f"but the file has {len(data)} bytes; the file is truncated"
        )
    array = np.frombuffer(data, dtype, count, vox_offset).reshape(shape, order="F")
    if slope not in (0.0, 1.0) or intercept != 0.0:
        array = array * slope + intercept
    return Volume(
        _to_rows_columns(array.astype(dtype.newbyteorder("="))), (float(pixdim[2]), float(pixdim[1])), path
    )


def _read_metaimage(path: Path) -> Volume:
    fields: dict[str, str] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            fields[key.strip()] = value.strip()
    for key in ("DimSize", "ElementType", "ElementDataFile"):
        if key not in fields:
            raise VolumeError(f"{path}: MetaImage header has no {key!r} field")

    shape = [int(value) for value in fields["DimSize"].split()]
    spacing = [float(value) for value in fields.get("ElementSpacing", " ".join("1" * len(shape))).split()]
    element_type = fields["ElementType"]
    if element_type not in _MET_TYPES:
        raise VolumeError(
            f"{path}: ElementType {element_type!r} is not supported; use one of {sorted(_MET_TYPES)}"
        )
    big_endian = fields.get("BinaryDataByteOrderMSB", fields.get("ElementByteOrderMSB", "False")) == "True"
    dtype = np.dtype(_MET_TYPES[element_type]).newbyteorder(">" if big_endian else "<")
    data_file = fields["ElementDataFile"]
    if data_file == "LOCAL":
        raise VolumeError(f"{path}: pixel data inside the header (ElementDataFile = LOCAL) is not supported")

    raw_path = path.parent / data_file
    if not raw_path.is_file():
        raise FileNotFoundError(f"{raw_path} not found: {path} names it as ElementDataFile")
    raw = raw_path.read_bytes()
    if fields.get("CompressedData", "False") == "True":
        try:
            raw = zlib.decompress(raw)
        except zlib.error as error:
            raise VolumeError(f"{raw_path}: cannot inflate the compressed pixel data ({error})") from error
    count = int(np.prod(shape))
    if len(raw) < count * dtype.itemsize:
        raise VolumeError(
            f"{raw_path}: {len(raw)} bytes but {path} declares DimSize {shape} of {element_type} "
            f"({count * dtype.itemsize} bytes); the file is truncated"
        )
    array = np.frombuffer(raw, dtype, count).reshape(shape, order="F").astype(dtype.newbyteorder("="))
    return Volume(_to_rows_columns(array), (spacing[1], spacing[0]), path)


def write_nifti(path: str | Path, array: np.ndarray, spacing_mm: tuple[float, float]) -> Path:
    """Write a ``(rows, columns)`` or ``(frames, rows, columns)`` array as single-file NIfTI-1.

    A name ending in ``.gz`` is gzip-compressed. ``spacing_mm`` is ``(row_mm, column_mm)``.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype not in _NIFTI_CODES:
        raise ValueError(f"dtype {array.dtype} cannot be written as NIfTI-1; use one of {list(_NIFTI_CODES)}")
    stored = array.T  # (x, y[, t]) as NIfTI orders its axes
    dims = [stored.ndim, *stored.shape] + [1] * (7 - stored.ndim)
    pixdim = [1.0, spacing_mm[1], spacing_mm[0]] + [1.0] * 5
    header = bytearray(_NIFTI1_HEADER_SIZE)
    struct.pack_into("<i", header, 0, _NIFTI1_HEADER_SIZE)
    struct.pack_into("<8h", header, 40, *dims)
    struct.pack_into("<hh", header, 70, _NIFTI_CODES[array.dtype], array.dtype.itemsize * 8)
    struct.pack_into("<8f", header, 76, *pixdim)
    struct.pack_into("<f", header, 108, 352.0)
    struct.pack_into("<2f", header, 112, 1.0, 0.0)
    header[344:348] = b"n+1\x00"
    payload = (
        bytes(header) + b"\x00" * 4 + np.asarray(stored, array.dtype.newbyteorder("<")).tobytes(order="F")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def write_metaimage(path: str | Path, array: np.ndarray, spacing_mm: tuple[float, float]) -> Path:
    """Write a ``(rows, columns)`` or ``(frames, rows, columns)`` array as ``.mhd`` plus ``.raw``."""
    path = Path(path)
    array = np.asarray(array)
    if array.dtype not in _MET_NAMES:
        raise ValueError(f"dtype {array.dtype} cannot be written as MetaImage; use one of {list(_MET_NAMES)}")
    stored = array.T
    spacing = [spacing_mm[1], spacing_mm[0]] + [1.0] * (stored.ndim - 2)
    raw_path = path.with_suffix(".raw")
    lines = [
        "ObjectType = Image",
        f"NDims = {stored.ndim}",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        "CompressedData = False",
        f"ElementSpacing = {' '.join(f'{value:g}' for value in spacing)}",
        f"DimSize = {' '.join(str(value) for value in stored.shape)}",
        f"ElementType = {_MET_NAMES[array.dtype]}",
        f"ElementDataFile = {raw_path.name}",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    raw_path.write_bytes(np.asarray(stored, array.dtype.newbyteorder("<")).tobytes(order="F"))
    return path
