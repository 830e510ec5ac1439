"""The header pass: everything the stage needs from a DICOM file, read without decoding pixel data.

:func:`read_header` parses the header with ``stop_before_pixels=True`` and then reads only the item
headers of the Pixel Data element: its length, or the fragment table of encapsulated data. It then
checks the declared image size against the bytes in the file before anything is decoded.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom import uid
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError

from echoground.dicom.config import DicomConfig
from echoground.dicom.errors import DicomRejected
from echoground.dicom.regions import UltrasoundRegion, image_regions, parse_regions
from echoground.ledger import Status

logger = logging.getLogger(__name__)

NATIVE_SYNTAXES = (uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian, uid.ExplicitVRBigEndian)
SUPPORTED_PHOTOMETRIC = (
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "PALETTE COLOR",
    "YBR_ICT",
    "YBR_RCT",
)
PIXEL_DATA_TAG = 0x7FE00010
ITEM_TAG = 0xFFFEE000
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
PREAMBLE_BYTES = 128
# The File Meta Information starts after the preamble and 'DICM'. Its first element, (0002,0000) File
# Meta Information Group Length, is 12 bytes (explicit VR 'UL') and counts the bytes that follow it.
META_START = PREAMBLE_BYTES + 4
META_GROUP_LENGTH_BYTES = 12
REREAD_ADVICE = "the file is cut short, so copy or download it again"


@dataclass
class HeaderInfo:
    """Facts read by the header pass from one file. It contains no identifying header values."""

    path: str
    transfer_syntax: str
    transfer_syntax_name: str
    encapsulated: bool
    big_endian: bool
    modality: str
    sop_class_uid: str
    photometric: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    planar_configuration: int
    n_frames: int
    number_of_frames_header: int | None
    frame_time_ms: float | None
    frame_times_ms: list[float] | None
    timing_source: str
    heart_rate_header: float | None
    regions: list[UltrasoundRegion]
    regions_valid: bool
    pixel_data_offset: int
    pixel_data_length: int | None
    frame_fragments: list[list[tuple[int, int]]] | None
    problems: list[str] = field(default_factory=list)
    problem_messages: list[str] = field(default_factory=list)

    def add_problem(self, code: str, message: str) -> None:
        self.problems.append(code)
        self.problem_messages.append(message)
        logger.warning("%s: %s", self.path, message)


def read_header(path: str | os.PathLike[str], config: DicomConfig | None = None) -> HeaderInfo:
    """Read and validate the header of one DICOM file without decoding its pixel data.

    Raises:
        DicomRejected: the file is not a usable ultrasound image. Its reason code gives the cause.
    """
    config = config or DicomConfig()
    path = str(path)
    try:
        file_size = os.path.getsize(path)
    except OSError as error:
        raise DicomRejected("file_not_found", f"{path}: cannot be read ({error.strerror})") from error

    if os.path.isdir(path):
        raise DicomRejected(
            "not_dicom", f"{path}: is a directory, not a DICOM file; list the .dcm files inside it instead"
        )
    if file_size == 0:
        raise DicomRejected(
            "not_dicom", f"{path}: the file is empty (0 bytes); copy or download the DICOM file again"
        )
    try:
        fp = open(path, "rb")  # noqa: SIM115 - closed by the with block below
    except OSError as error:
        raise DicomRejected("file_not_found", f"{path}: cannot be read ({error.strerror})") from error

    with fp:
        dataset = _read_dataset(path, fp, file_size)
        pixel_offset = fp.tell()
        info = _image_info(path, dataset)
        _check_size_limits(info, config)
        _probe_pixel_data(info, fp, pixel_offset, file_size)
    _read_timing(info, dataset)
    _check_regions(info)
    return info


def _read_dataset(path: str, fp: BinaryIO, file_size: int) -> Dataset:
    """Read the header up to Pixel Data and reject a file that is not DICOM or ends inside its header."""
    try:
        dataset = pydicom.dcmread(fp, stop_before_pixels=True)
    except InvalidDicomError as error:
        raise DicomRejected("not_dicom", _not_dicom_message(path, fp, file_size)) from error
    except (
        EOFError,
        OSError,
        ValueError,
        struct.error,
        KeyError,
        TypeError,
        BytesLengthException,
    ) as error:
        detail = f"{type(error).__name__}: {error}"
        if fp.tell() >= file_size:
            # The parser failed with nothing left to read, so the header is incomplete.
            raise DicomRejected(
                "truncated_file",
                f"{path}: the file ends at byte {file_size} inside its header ({detail}); {REREAD_ADVICE}",
            ) from error
        raise DicomRejected(
            "unreadable_header", f"{path}: the DICOM header cannot be parsed ({detail})"
        ) from error
    end = fp.tell()
    if end >= file_size:
        _check_header_complete(path, dataset, fp, file_size)
        fp.seek(end)
    return dataset


def _not_dicom_message(path: str, fp: BinaryIO, file_size: int) -> str:
    fp.seek(0)
    start = fp.read(META_START)
    if file_size < META_START:
        lacks = (
            f"it is only {file_size} bytes, shorter than the {PREAMBLE_BYTES}-byte preamble and the "
            "'DICM' prefix that start every DICOM file"
        )
    elif start[PREAMBLE_BYTES:META_START] != b"DICM":
        lacks = (
            f"it has no 'DICM' prefix after the {PREAMBLE_BYTES}-byte preamble (its first bytes are "
            f"{start[:16]!r})"
        )
    else:
        lacks = "it has a 'DICM' prefix but no readable File Meta Information after it"
    return (
        f"{path}: not a DICOM file, because {lacks}; check that dicom_filepath in the record list "
        "points at a .dcm file from the echo root"
    )


def _check_header_complete(path: str, dataset: Dataset, fp: BinaryIO, file_size: int) -> None:
    """Reject a file whose header read ran into the end of the file in the middle of an element.

    pydicom 3.0 stops without an error at the end of the file and keeps a value that is shorter than
    its declared length, so a cut header would otherwise surface later as a missing tag.
    """
    group_length = dataset.file_meta.get("FileMetaInformationGroupLength")
    if group_length is not None:
        # A group length cut inside its own value is read as an empty value, not as an int.
        declared = group_length if isinstance(group_length, int) else None
        meta_end = None if declared is None else META_START + META_GROUP_LENGTH_BYTES + declared
        if meta_end is None or meta_end > file_size:
            raise DicomRejected(
                "truncated_file",
                f"{path}: the file ends at byte {file_size} inside its File Meta Information; "
                f"{REREAD_ADVICE}",
            )

    last_start, last_element = -1, None
    # Iterating the dataset would convert every raw element, but get_item keeps them raw.
    for tag in dataset.keys():  # noqa: SIM118
        element = dataset.get_item(tag)
        start = element.value_tell if isinstance(element, RawDataElement) else element.file_tell
        if start is not None and start > last_start:
            last_start, last_element = start, element
    if last_element is None:
        raise DicomRejected(
            "truncated_file",
            f"{path}: the file ends at byte {file_size}, right after its File Meta Information, with no "
            f"data elements; {REREAD_ADVICE}",
        )

    tag = last_element.tag
    if isinstance(last_element, RawDataElement) and last_element.length != UNDEFINED_LENGTH:
        complete = last_element.value_tell + last_element.length == file_size
    else:
        # An undefined-length value ends with a Sequence Delimitation Item of length 0.
        fp.seek(max(file_size - 8, 0))
        endian = "<" if dataset.is_little_endian else ">"
        complete = fp.read(8) == struct.pack(f"{endian}HHI", 0xFFFE, 0xE0DD, 0)
    if not complete:
        raise DicomRejected(
            "truncated_file",
            f"{path}: the file ends at byte {file_size} inside header element ({tag.group:04X},"
            f"{tag.element:04X}), before (7FE0,0010) 'Pixel Data'; {REREAD_ADVICE}",
        )
    # A cut between two elements leaves a well-formed but short header. Without Modality, or as an
    # ultrasound header without the image size, it cannot be a complete image object. A complete
    # header of another modality stays a wrong_modality skip, and a US header cut after Rows and
    # Columns is rejected later as no_pixel_data.
    modality = dataset.get("Modality")
    image_size_missing = dataset.get("Rows") is None or dataset.get("Columns") is None
    if not modality or (modality == "US" and image_size_missing):
        missing = "(0008,0060) 'Modality'" if not modality else "(0028,0010) 'Rows', (0028,0011) 'Columns'"
        raise DicomRejected(
            "truncated_file",
            f"{path}: the file ends at byte {file_size} after header element ({tag.group:04X},"
            f"{tag.element:04X}), without {missing} or (7FE0,0010) 'Pixel Data'; {REREAD_ADVICE}",
        )


def _int_tag(path: str, dataset: Dataset, keyword: str, default: int | None = None) -> int | None:
    value = dataset.get(keyword)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise DicomRejected(
            "invalid_tag_value", f"{path}: '{keyword}' has the non-integer value {str(value)[:40]!r}"
        ) from error


def _float_tag(dataset: Dataset, keyword: str) -> float | None:
    try:
        value = dataset.get(keyword)
        if value is None or value == "":
            return None
        return float(value)
    except (TypeError, ValueError):
        return None


def _image_info(path: str, dataset: Dataset) -> HeaderInfo:
    file_meta = getattr(dataset, "file_meta", None)
    syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if syntax is None:
        raise DicomRejected(
            "missing_transfer_syntax", f"{path}: (0002,0010) 'Transfer Syntax UID' is missing"
        )
    syntax = uid.UID(str(syntax))

    modality = str(dataset.get("Modality", "") or "")
    if modality != "US":
        raise DicomRejected(
            "wrong_modality",
            f"{path}: (0008,0060) 'Modality' is {modality or 'missing'!r}, the stage reads only 'US'",
            Status.SKIPPED,
        )

    known = syntax.is_transfer_syntax and not syntax.is_private
    if (
        not known
        or syntax == uid.DeflatedExplicitVRLittleEndian
        or not (syntax in NATIVE_SYNTAXES or syntax.is_compressed)
    ):
        raise DicomRejected(
            "unsupported_transfer_syntax",
            f"{path}: transfer syntax {syntax} ({syntax.name}) is not supported",
        )
    if syntax.is_compressed:
        _check_decoder(path, syntax)

    rows = _int_tag(path, dataset, "Rows")
    columns = _int_tag(path, dataset, "Columns")
    if rows is None or columns is None:
        raise DicomRejected(
            "missing_image_tag", f"{path}: (0028,0010) 'Rows' or (0028,0011) 'Columns' is missing"
        )
    if rows <= 0 or columns <= 0:
        raise DicomRejected("zero_sized_image", f"{path}: the image is {rows} x {columns} pixels")

    photometric = str(dataset.get("PhotometricInterpretation", "") or "").strip()
    if photometric not in SUPPORTED_PHOTOMETRIC:
        raise DicomRejected(
            "unsupported_photometric",
            f"{path}: (0028,0004) 'Photometric Interpretation' {photometric or 'missing'!r} is not supported",
        )
    samples = _int_tag(path, dataset, "SamplesPerPixel", 1)
    bits_allocated = _int_tag(path, dataset, "BitsAllocated", 8)
    bits_stored = _int_tag(path, dataset, "BitsStored", bits_allocated)
    if samples not in (1, 3) or bits_allocated not in (8, 16):
        raise DicomRejected(
            "unsupported_pixel_format",
            f"{path}: {samples} samples per pixel at {bits_allocated} bits allocated; the stage reads 1 or 3 "
            "samples of 8 or 16 bits",
        )
    number_of_frames = _int_tag(path, dataset, "NumberOfFrames")
    regions = parse_regions(dataset)
    return HeaderInfo(
        path=path,
        transfer_syntax=str(syntax),
        transfer_syntax_name=syntax.name,
        encapsulated=syntax.is_compressed,
        big_endian=syntax == uid.ExplicitVRBigEndian,
        modality=modality,
        sop_class_uid=str(dataset.get("SOPClassUID", "")),
        photometric=photometric,
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=_int_tag(path, dataset, "PixelRepresentation", 0) or 0,
        planar_configuration=_int_tag(path, dataset, "PlanarConfiguration", 0) or 0,
        n_frames=0,
        number_of_frames_header=number_of_frames,
        frame_time_ms=None,
        frame_times_ms=None,
        timing_source="none",
        heart_rate_header=None,
        regions=regions,
        regions_valid=False,
        pixel_data_offset=0,
        pixel_data_length=None,
        frame_fragments=None,
    )


def _check_decoder(path: str, syntax: uid.UID) -> None:
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as error:
        raise DicomRejected(
            "unsupported_transfer_syntax",
            f"{path}: transfer syntax {syntax} ({syntax.name}) is not supported",
        ) from error
    if not decoder.is_available:
        raise DicomRejected(
            "no_decoder",
            f"{path}: no installed decoder for {syntax.name} ({syntax}); install a pydicom decoding plugin "
            "for it (see docs/dicom.md)",
        )


def _check_size_limits(info: HeaderInfo, config: DicomConfig) -> None:
    pixels = info.rows * info.columns
    if pixels > config.max_frame_pixels:
        raise DicomRejected(
            "image_too_large",
            f"{info.path}: a frame of {info.rows} x {info.columns} pixels exceeds the limit of "
            f"{config.max_frame_pixels} pixels (DicomConfig.max_frame_pixels)",
        )
    decoded = pixels * 3 * config.n_frames
    if decoded > config.max_decoded_bytes:
        raise DicomRejected(
            "image_too_large",
            f"{info.path}: {config.n_frames} decoded frames of {info.rows} x {info.columns} RGB pixels need "
            f"{decoded} bytes, above DicomConfig.max_decoded_bytes={config.max_decoded_bytes}",
        )


def _native_frame_bytes(info: HeaderInfo) -> int:
    samples_bytes = info.samples_per_pixel * info.bits_allocated // 8
    if info.photometric == "YBR_FULL_422":
        # Two luminance and one pair of chroma samples per two pixels.
        samples_bytes = 2 * info.bits_allocated // 8
    return info.rows * info.columns * samples_bytes


def _probe_pixel_data(info: HeaderInfo, fp: BinaryIO, offset: int, file_size: int) -> None:
    """Read the Pixel Data element's header (and fragment item headers) and set the frame count."""
    endian = ">" if info.big_endian else "<"
    fp.seek(offset)
    head = fp.read(8)
    if len(head) < 8:
        raise DicomRejected(
            "no_pixel_data",
            f"{info.path}: the file ends at byte {file_size} without a (7FE0,0010) 'Pixel Data' element; "
            "if it is an image, it is cut short, so copy or download it again",
        )
    group, element = struct.unpack(f"{endian}HH", head[:4])
    if (group << 16 | element) != PIXEL_DATA_TAG:
        raise DicomRejected(
            "no_pixel_data",
            f"{info.path}: expected (7FE0,0010) 'Pixel Data' but found ({group:04X},{element:04X})",
        )
    if info.transfer_syntax == uid.ImplicitVRLittleEndian:
        (length,) = struct.unpack("<I", head[4:8])
        value_offset = offset + 8
    else:
        extra = fp.read(4)
        if len(extra) < 4:
            raise DicomRejected(
                "truncated_file", f"{info.path}: the file ends inside the 'Pixel Data' header"
            )
        (length,) = struct.unpack(f"{endian}I", extra)
        value_offset = offset + 12
    info.pixel_data_offset = value_offset

    if info.encapsulated:
        if length != UNDEFINED_LENGTH:
            raise DicomRejected(
                "invalid_pixel_data", f"{info.path}: compressed pixel data must have undefined length"
            )
        _probe_fragments(info, fp, value_offset, file_size)
        return

    available = file_size - value_offset
    if length == UNDEFINED_LENGTH or length > available:
        raise DicomRejected(
            "truncated_file",
            f"{info.path}: 'Pixel Data' declares {length} bytes but only {available} remain in the file",
        )
    info.pixel_data_length = length
    frame_bytes = _native_frame_bytes(info)
    frames_in_data = length // frame_bytes
    _settle_frame_count(info, frames_in_data, "frames of pixel data")


def _probe_fragments(info: HeaderInfo, fp: BinaryIO, value_offset: int, file_size: int) -> None:
    endian = ">" if info.big_endian else "<"
    position = value_offset
    items: list[tuple[int, int]] = []
    while True:
        fp.seek(position)
        head = fp.read(8)
        if len(head) < 8:
            raise DicomRejected(
                "truncated_file",
                f"{info.path}: the file ends inside the compressed pixel data (item {len(items)})",
            )
        group, element, length = struct.unpack(f"{endian}HHI", head)
        tag = group << 16 | element
        if tag == SEQUENCE_DELIMITER_TAG:
            break
        if tag != ITEM_TAG or length == UNDEFINED_LENGTH:
            raise DicomRejected(
                "invalid_pixel_data",
                f"{info.path}: unexpected tag ({group:04X},{element:04X}) in compressed pixel data",
            )
        if position + 8 + length > file_size:
            raise DicomRejected(
                "truncated_file",
                f"{info.path}: compressed pixel data item {len(items)} declares {length} bytes, "
                "past the end of the file",
            )
        items.append((position + 8, length))
        position += 8 + length
    if not items:
        raise DicomRejected(
            "invalid_pixel_data", f"{info.path}: compressed pixel data has no offset table item"
        )

    table_offset, table_length = items[0]
    fragments = items[1:]
    if not fragments:
        raise DicomRejected("no_pixel_data", f"{info.path}: compressed pixel data contains no fragments")
    fp.seek(table_offset)
    table = fp.read(table_length)
    offsets = list(struct.unpack(f"{endian}{table_length // 4}I", table[: table_length // 4 * 4]))

    if offsets:
        # Basic Offset Table: frame i starts at offsets[i], measured from the first fragment's item tag.
        starts = [offset - 8 for offset, _ in fragments]
        first = starts[0]
        frames: list[list[tuple[int, int]]] = [[] for _ in offsets]
        for (offset, length), start in zip(fragments, starts, strict=True):
            relative = start - first
            index = (
                max(i for i, value in enumerate(offsets) if value <= relative)
                if relative >= offsets[0]
                else 0
            )
            frames[index].append((offset, length))
        if any(not frame for frame in frames):
            raise DicomRejected(
                "invalid_pixel_data", f"{info.path}: the Basic Offset Table points past the fragments"
            )
        info.frame_fragments = frames
        _settle_frame_count(info, len(frames), "frames in the Basic Offset Table")
        return

    declared = info.number_of_frames_header
    if declared is not None and declared > 1 and len(fragments) > declared:
        # Several fragments per frame and no offset table: pydicom finds frame boundaries at decode time.
        info.n_frames = declared
        return
    if declared == 1 or (declared in (None, 0) and _single_frame_sop(info)):
        info.n_frames = 1
        info.frame_fragments = [fragments]
        return
    info.frame_fragments = [[fragment] for fragment in fragments]
    _settle_frame_count(info, len(fragments), "compressed fragments")


def _single_frame_sop(info: HeaderInfo) -> bool:
    return info.sop_class_uid in (uid.UltrasoundImageStorage, "1.2.840.10008.5.1.4.1.1.6")


def _settle_frame_count(info: HeaderInfo, frames_in_data: int, what: str) -> None:
    declared = info.number_of_frames_header
    if frames_in_data < 1:
        raise DicomRejected(
            "image_larger_than_data",
            f"{info.path}: one {info.rows} x {info.columns} frame needs more bytes than the pixel data holds",
        )
    if declared is None:
        info.n_frames = frames_in_data if not _single_frame_sop(info) else 1
        if not _single_frame_sop(info):
            info.add_problem(
                "frame_count_missing",
                f"(0028,0008) 'Number of Frames' is missing; using the {frames_in_data} {what}",
            )
        return
    if declared == 0:
        info.n_frames = frames_in_data
        info.add_problem(
            "frame_count_zero", f"(0028,0008) 'Number of Frames' is 0; using the {frames_in_data} {what}"
        )
        return
    if declared < 0:
        raise DicomRejected("invalid_tag_value", f"{info.path}: (0028,0008) 'Number of Frames' is {declared}")
    if declared > frames_in_data:
        info.n_frames = frames_in_data
        info.add_problem(
            "frame_count_exceeds_data",
            f"(0028,0008) 'Number of Frames' is {declared} but the file holds {frames_in_data} {what}; "
            f"using {frames_in_data}",
        )
        return
    info.n_frames = declared


def _read_timing(info: HeaderInfo, dataset: Dataset) -> None:
    vector = dataset.get("FrameTimeVector")
    if vector is not None:
        try:
            values = [
                float(value) for value in (vector if isinstance(vector, list | tuple) else list(vector))
            ]
        except (TypeError, ValueError):
            values = []
        if len(values) == info.n_frames and all(value >= 0 for value in values) and sum(values[1:]) > 0:
            times = [0.0]
            for value in values[1:]:
                times.append(times[-1] + value)
            info.frame_times_ms = times
            info.frame_time_ms = times[-1] / (info.n_frames - 1)
            info.timing_source = "frame_time_vector"
        else:
            info.add_problem(
                "invalid_frame_time_vector",
                f"(0018,1065) 'Frame Time Vector' has {len(values)} usable values for {info.n_frames} "
                "frames; ignored",
            )
    if info.frame_time_ms is None:
        for keyword, to_ms in (
            ("FrameTime", lambda value: value),
            ("CineRate", lambda value: 1000.0 / value),
            ("RecommendedDisplayFrameRate", lambda value: 1000.0 / value),
        ):
            value = _float_tag(dataset, keyword)
            if value is not None and value > 0:
                info.frame_time_ms = to_ms(value)
                info.timing_source = keyword
                break
    if info.frame_time_ms is not None and info.frame_times_ms is None:
        info.frame_times_ms = [index * info.frame_time_ms for index in range(info.n_frames)]
    if info.frame_time_ms is None and info.n_frames > 1:
        info.add_problem(
            "no_frame_timing",
            "no usable Frame Time, Frame Time Vector, Cine Rate or Recommended Display Frame Rate; "
            "frame times are unknown",
        )
    info.heart_rate_header = _float_tag(dataset, "HeartRate")


def _check_regions(info: HeaderInfo) -> None:
    data_regions = image_regions(info.regions)
    if not info.regions:
        info.add_problem(
            "no_ultrasound_regions", "(0018,6011) 'Sequence of Ultrasound Regions' is missing or empty"
        )
        return
    outside = [region for region in data_regions if not region.inside(info.rows, info.columns)]
    if outside:
        region = outside[0]
        info.add_problem(
            "regions_outside_image",
            f"ultrasound region ({region.x0},{region.y0})-({region.x1},{region.y1}) lies outside the "
            f"{info.columns} x {info.rows} image; regions ignored",
        )
        return
    if not data_regions:
        info.add_problem("no_image_regions", "no ultrasound region holds 2D, M-mode or spectral data")
        return
    info.regions_valid = True


def scan_headers(paths: list[str], config: DicomConfig) -> list[HeaderInfo | DicomRejected]:
    """Run :func:`read_header` over ``paths`` with ``config.workers`` processes, in input order."""
    if config.workers == 1 or len(paths) < 2:
        return [_header_or_rejection(path, config) for path in paths]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=config.workers) as pool:
        chunk = max(1, len(paths) // (config.workers * 8))
        return list(pool.map(_header_or_rejection, paths, [config] * len(paths), chunksize=chunk))


def _header_or_rejection(path: str, config: DicomConfig) -> HeaderInfo | DicomRejected:
    try:
        return read_header(Path(path), config)
    except DicomRejected as rejection:
        return rejection
