"""Read and write AVI videos: Motion-JPEG and uncompressed frames natively, other codecs through OpenCV.

The venv has no video library (torchvision 0.29 dropped ``torchvision.io.read_video``; PyAV, imageio and
OpenCV are not installed), so this module parses the RIFF container itself. Motion-JPEG frames decode
with Pillow; uncompressed 8-bit (palette) and 24-bit (BGR) frames decode with numpy. A file with another
codec (XVID, H.264 ...) is read with OpenCV when ``cv2`` is importable. Without OpenCV the error names
the codec and the package to install.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

# BITMAPINFOHEADER.biCompression values meaning "uncompressed": BI_RGB (0) and the FourCC 'DIB '.
_UNCOMPRESSED = {b"\x00\x00\x00\x00", b"DIB "}
_MJPEG = {b"MJPG", b"mjpg", b"AVRn", b"dmb1", b"MJPA"}
# AVIF_HASINDEX in the main header flags: the file has an idx1 chunk.
_AVIF_HASINDEX = 0x10
_AVIIF_KEYFRAME = 0x10


class AviError(ValueError):
    """An AVI file that is malformed, truncated or uses a codec that cannot be decoded here."""


@dataclass
class AviInfo:
    """Stream header of the first video stream of an AVI file."""

    path: Path
    width: int
    height: int
    fps: float
    codec: str
    bit_count: int
    frame_count: int
    # Uncompressed frames store rows bottom-up unless biHeight is negative.
    top_down: bool = False
    # (offset, size) of each frame's data inside the file, in stream order.
    frame_chunks: list[tuple[int, int]] = field(repr=False, default_factory=list)
    palette: np.ndarray | None = field(repr=False, default=None)


def _chunks(data: bytes, start: int, end: int):
    """Yield (fourcc, data offset, size) of the RIFF chunks between ``start`` and ``end``."""
    position = start
    while position + 8 <= end:
        fourcc = data[position : position + 4]
        (size,) = struct.unpack_from("<I", data, position + 4)
        yield fourcc, position + 8, size
        position += 8 + size + (size & 1)


def _parse(path: Path, data: bytes) -> AviInfo:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"AVI ":
        raise AviError(f"{path} is not an AVI file (no 'RIFF....AVI ' header); re-export it as AVI")

    header: dict[str, object] = {}
    frame_chunks: list[tuple[int, int]] = []
    stream_index = -1
    video_stream = -1

    def walk(start: int, end: int) -> None:
        nonlocal stream_index, video_stream
        for fourcc, offset, size in _chunks(data, start, end):
            if offset + size > len(data):
                raise AviError(
                    f"{path} is truncated: chunk {fourcc!r} at byte {offset - 8} runs past the end of the "
                    f"file ({len(data)} bytes); copy the file again"
                )
            if fourcc in (b"RIFF", b"LIST"):
                kind = data[offset : offset + 4]
                if kind == b"strl":
                    stream_index += 1
                walk(offset + 4, offset + size)
            elif fourcc == b"strh" and data[offset : offset + 4] == b"vids" and video_stream < 0:
                video_stream = stream_index
                scale, rate = struct.unpack_from("<II", data, offset + 20)
                header["fps"] = rate / scale if scale else 0.0
            elif fourcc == b"strf" and stream_index == video_stream and "width" not in header:
                (bi_size, width, height, _planes, bit_count) = struct.unpack_from("<IiiHH", data, offset)
                header.update(
                    width=width, height=height, bit_count=bit_count, codec=data[offset + 16 : offset + 20]
                )
                if bit_count == 8 and size >= bi_size + 4:
                    colours = (size - bi_size) // 4
                    palette = np.frombuffer(data, np.uint8, colours * 4, offset + bi_size).reshape(-1, 4)
                    header["palette"] = palette[:, 2::-1].copy()  # BGRA quads to RGB
            elif (
                fourcc[2:] in (b"dc", b"db")
                and fourcc[:2].isdigit()
                and int(fourcc[:2]) == max(video_stream, 0)
                and size > 0
            ):
                frame_chunks.append((offset, size))

    first_end = min(8 + struct.unpack_from("<I", data, 4)[0], len(data))
    walk(12, first_end)
    # OpenDML files continue in further 'RIFF AVIX' chunks after the first one.
    if first_end + (first_end & 1) < len(data):
        walk(first_end + (first_end & 1), len(data))
    if "width" not in header:
        raise AviError(f"{path} has no video stream format ('strf' chunk); the file is damaged")
    codec = header["codec"]
    return AviInfo(
        path=path,
        width=int(header["width"]),
        height=abs(int(header["height"])),
        top_down=int(header["height"]) < 0,
        fps=float(header.get("fps", 0.0)),
        codec=codec.decode("latin-1") if codec not in _UNCOMPRESSED else "raw",
        bit_count=int(header["bit_count"]),
        frame_count=len(frame_chunks),
        frame_chunks=frame_chunks,
        palette=header.get("palette"),
    )


def read_avi_info(path: str | Path) -> AviInfo:
    """Read the video stream header of an AVI file: frame size, frame rate, codec and frame count."""
    return _parse(Path(path), Path(path).read_bytes())


def _decode_raw(chunk: bytes, info: AviInfo, top_down: bool) -> np.ndarray:
    width, height, bits = info.width, info.height, info.bit_count
    if bits not in (8, 24):
        raise AviError(
            f"{info.path}: uncompressed AVI with {bits} bits per pixel is not supported; use 8 or 24"
        )
    stride = ((width * bits // 8) + 3) & ~3
    if len(chunk) < stride * height:
        raise AviError(
            f"{info.path}: frame of {len(chunk)} bytes is shorter than {stride * height} bytes "
            f"expected for {width}x{height} at {bits} bits; the file is damaged"
        )
    rows = np.frombuffer(chunk, np.uint8, stride * height).reshape(height, stride)
    if bits == 24:
        frame = rows[:, : width * 3].reshape(height, width, 3)[:, :, ::-1]
    else:
        indices = rows[:, :width]
        palette = info.palette if info.palette is not None else np.repeat(np.arange(256, dtype=np.uint8), 3)
        frame = np.asarray(palette).reshape(-1, 3)[indices]
    return np.ascontiguousarray(frame if top_down else frame[::-1])


def _read_with_opencv(info: AviInfo, indices: list[int]) -> np.ndarray:
    try:
        import cv2
    except ImportError as error:
        raise AviError(
            f"{info.path} uses the {info.codec!r} codec, which only Motion-JPEG and uncompressed AVIs are "
            "decoded without OpenCV; install opencv-python-headless into the environment"
        ) from error
    capture = cv2.VideoCapture(str(info.path))
    frames: dict[int, np.ndarray] = {}
    wanted = set(indices)
    index = 0
    try:
        while wanted - frames.keys():
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    missing = sorted(wanted - frames.keys())
    if missing:
        raise AviError(f"{info.path}: OpenCV decoded {index} frames; frames {missing[:5]} are missing")
    return np.stack([frames[i] for i in indices])


def read_avi_frames(path: str | Path, indices: list[int] | None = None) -> np.ndarray:
    """Decode frames of an AVI file to RGB uint8 ``(T, H, W, 3)``.

    Args:
        path: The AVI file.
        indices: Zero-based frame numbers to decode, in the order wanted; ``None`` decodes every frame.
            Only the requested frames are decoded.

    Raises:
        AviError: if the file is not a readable AVI, a frame number is out of range, or the codec needs
            OpenCV and OpenCV is not installed.
    """
    raw = Path(path).read_bytes()
    info = _parse(Path(path), raw)
    if indices is None:
        indices = list(range(info.frame_count))
    for index in indices:
        if not 0 <= index < info.frame_count:
            raise AviError(
                f"{info.path}: frame {index} requested but the video has {info.frame_count} frames "
                f"(0 to {info.frame_count - 1}); check the Frame column of the annotations"
            )
    if info.codec not in ("raw", *(code.decode() for code in _MJPEG)):
        return _read_with_opencv(info, indices)
    frames = []
    for index in indices:
        offset, size = info.frame_chunks[index]
        chunk = raw[offset : offset + size]
        if info.codec == "raw":
            frames.append(_decode_raw(chunk, info, info.top_down))
        else:
            try:
                with Image.open(io.BytesIO(chunk)) as image:
                    frames.append(np.asarray(image.convert("RGB")))
            except OSError as error:
                raise AviError(f"{info.path}: frame {index} is not a valid JPEG image: {error}") from error
    return np.stack(frames)


def write_avi(
    path: str | Path, frames: np.ndarray, fps: float = 50.0, codec: str = "MJPG", quality: int = 95
) -> Path:
    """Write frames as an AVI file with one video stream and an idx1 index.

    Args:
        path: The file to write.
        frames: uint8 frames ``(T, H, W)`` (grey) or ``(T, H, W, 3)`` (RGB).
        fps: Frame rate stored in the stream header, in frames per second.
        codec: ``MJPG`` (Motion-JPEG, encoded by Pillow) or ``raw`` (uncompressed 24-bit BGR).
        quality: JPEG quality (1 to 95) for ``MJPG``.

    Returns:
        The path written.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(f"frames must be uint8 (T, H, W) or (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=3)
    if codec not in ("MJPG", "raw"):
        raise ValueError(f"codec {codec!r} is not supported for writing; use 'MJPG' or 'raw'")
    count, height, width = frames.shape[:3]

    payloads = []
    for frame in frames:
        if codec == "MJPG":
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
            payloads.append(buffer.getvalue())
        else:
            stride = (width * 3 + 3) & ~3
            rows = np.zeros((height, stride), np.uint8)
            rows[:, : width * 3] = frame[::-1, :, ::-1].reshape(height, width * 3)
            payloads.append(rows.tobytes())
    chunk_id = b"00dc" if codec == "MJPG" else b"00db"
    fourcc = b"MJPG" if codec == "MJPG" else b"\x00\x00\x00\x00"
    largest = max((len(payload) for payload in payloads), default=0)

    def chunk(fourcc_: bytes, body: bytes) -> bytes:
        return fourcc_ + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")

    def listing(kind: bytes, body: bytes) -> bytes:
        return chunk(b"LIST", kind + body)

    microseconds = round(1e6 / fps)
    avih = struct.pack(
        "<IIIIIIIIII16x",
        microseconds,
        largest * round(fps),
        0,
        _AVIF_HASINDEX,
        count,
        0,
        1,
        largest,
        width,
        height,
    )
    rate, scale = round(fps * 1000), 1000
    strh = struct.pack(
        "<4s4sIHHIIIIIIIIhhhh",
        b"vids",
        fourcc,
        0,
        0,
        0,
        0,
        scale,
        rate,
        0,
        count,
        largest,
        0xFFFFFFFF,
        0,
        0,
        0,
        width,
        height,
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, fourcc, width * height * 3, 0, 0, 0, 0)
    header = listing(
        b"hdrl", chunk(b"avih", avih) + listing(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf))
    )

    movi_body = b""
    index = b""
    for payload in payloads:
        # idx1 offsets count from the 'movi' fourcc, which sits 4 bytes before movi_body.
        index += struct.pack("<4sIII", chunk_id, _AVIIF_KEYFRAME, 4 + len(movi_body), len(payload))
        movi_body += chunk(chunk_id, payload)
    body = b"AVI " + header + listing(b"movi", movi_body) + chunk(b"idx1", index)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def read_listed_frame(
    video: Path,
    frame: int,
    expected_size: tuple[int, int] | None,
    listed_in: str,
    size_columns: str,
    fix_hint: str,
) -> np.ndarray:
    """Read one frame of ``video`` that a dataset table lists, and check it against the listed size.

    Args:
        video: the AVI file.
        frame: index of the frame the table names.
        expected_size: (height, width) the table lists for the video, or None when it lists none.
        listed_in: the table and column that name the frame, e.g. "Frame 12 in MeasurementsList.csv".
        size_columns: how the table names the size, e.g. "Height {0} and Width {1}".
        fix_hint: what to do when the size does not match.

    Raises:
        AviError: the frame cannot be decoded; the message names the video and the table row.
        ValueError: the frame size differs from ``expected_size``.
    """
    try:
        image = read_avi_frames(video, [frame])[0]
    except AviError as error:
        raise AviError(f"{error} (video {video.name}, {listed_in})") from error
    height, width = image.shape[:2]
    if expected_size is not None and (height, width) != expected_size:
        raise ValueError(
            f"{video}: frames are {height}x{width} (height x width) but the table lists "
            f"{size_columns.format(*expected_size)}; {fix_hint}"
        )
    return image
