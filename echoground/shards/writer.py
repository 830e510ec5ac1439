"""Write WebDataset tar shards byte-reproducibly and atomically.

Layout of one split folder::

    shard-000000.tar ...   samples; members KEY.jpg, KEY.json, [KEY.npy], KEY.txt in that order
    sizes.json             {"shard-000000.tar": sample count, ...}, read by open_clip
    index.json             {"KEY": {"shard": "shard-000000.tar", "offset": byte offset of KEY's first header}}
    SHA256SUMS             sha256sum -c format, over the shards, sizes.json and index.json

Every tar member has mtime 0, uid and gid 0, empty owner names and mode 0644, and samples are written in
key order, so the same samples give identical bytes. Each file is written under a ``.partial`` name,
fsynced and renamed, so a killed run never leaves a truncated file under a name a reader globs.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tarfile
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
SHARD_PATTERN = "shard-{index:06d}.tar"
PARTIAL_SUFFIX = ".partial"
JPEG_QUALITY = 90
FRAME_SHAPE = (224, 224, 3)
_BLOCK = tarfile.BLOCKSIZE
# Writes and hashes go in pieces small enough to stay in the CPU cache between the two threads.
_PIECE_BYTES = 512 * 1024
_HASH_QUEUE_PIECES = 8


@dataclass(frozen=True)
class ShardSample:
    """One WebDataset sample: its key and the encoded bytes of each member, by extension."""

    key: str
    members: dict[str, bytes]

    def tar_size(self) -> int:
        """Size in bytes of this sample inside a tar: one header block per member plus padded data."""
        return sum(_BLOCK + -(-len(data) // _BLOCK) * _BLOCK for data in self.members.values())


@dataclass
class SplitSummary:
    """Result of :func:`write_split`: sample count and byte size of each shard written."""

    split_dir: Path
    sizes: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return sum(self.sizes.values())


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid sample key, else raise ValueError.

    WebDataset splits a member name at its first dot into key and extension, so a dotted key (such
    as a DICOM UID) would silently merge or split samples.
    """
    if not KEY_PATTERN.match(key):
        raise ValueError(
            f"invalid WebDataset sample key {key!r}: use only letters, digits, '_' and '-' (no dots, no "
            "slashes); derive it from the clip id, e.g. p10_p10000032_s90000001_0001"
        )
    return key


def encode_jpeg(frame: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """Encode one uint8 (224, 224, 3) RGB frame as baseline JPEG with fixed settings (no metadata)."""
    if frame.dtype != np.uint8 or frame.shape != FRAME_SHAPE:
        raise ValueError(f"key frame must be uint8 {FRAME_SHAPE}, got {frame.dtype} {frame.shape}")
    buffer = io.BytesIO()
    Image.fromarray(frame, "RGB").save(
        buffer, format="JPEG", quality=quality, subsampling=0, optimize=False, progressive=False
    )
    return buffer.getvalue()


def encode_npy(frames: np.ndarray) -> bytes:
    """Encode a uint8 (T, 224, 224, 3) clip as a ``.npy`` file."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE:
        raise ValueError(f"clip frames must be uint8 (T, 224, 224, 3), got {frames.dtype} {frames.shape}")
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(frames), allow_pickle=False)
    return buffer.getvalue()


def encode_json(metadata: dict[str, Any]) -> bytes:
    """Encode sample metadata as compact JSON with sorted keys; NaN becomes null."""
    return json.dumps(
        _plain(metadata), sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


def make_sample(
    key: str,
    key_frame: np.ndarray,
    caption: str,
    metadata: dict[str, Any],
    frames: np.ndarray | None = None,
    jpeg_quality: int = JPEG_QUALITY,
) -> ShardSample:
    """Encode one sample: ``KEY.jpg`` (key frame), ``KEY.json``, optional ``KEY.npy`` and ``KEY.txt``."""
    members = {
        "jpg": encode_jpeg(key_frame, jpeg_quality),
        "json": encode_json(metadata),
    }
    if frames is not None:
        members["npy"] = encode_npy(frames)
    members["txt"] = caption.encode("utf-8")
    return ShardSample(check_key(key), members)


def write_split(
    samples: Iterable[ShardSample],
    split_dir: Path,
    max_samples: int | None = 1000,
    max_bytes: int | None = 512 * 1024**2,
    fsync: bool = True,
) -> SplitSummary:
    """Write samples (in ascending key order) into the tar shards of one split folder.

    Args:
        samples: samples sorted by key; a key that is not greater than the previous one is an error.
        split_dir: the split's folder, e.g. ``run/shards/train``; created if missing. Shards, ``.partial``
            files and metadata left there by an earlier run are replaced.
        max_samples: maximum samples per shard; None for no limit.
        max_bytes: maximum tar size per shard in bytes (a single larger sample gets a shard of its own);
            None for no limit.
        fsync: whether each file is fsynced before its rename. Without it a killed process still
            leaves no partial file under a final name, but a power loss or kernel crash can.

    Raises:
        ValueError: on an invalid, repeated or out-of-order key, or a limit below 1.
    """
    for name, limit in (("max_samples", max_samples), ("max_bytes", max_bytes)):
        if limit is not None and limit < 1:
            raise ValueError(f"{name} is {limit}; use a positive number or None for no limit")
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    for stale in split_dir.glob(f"*{PARTIAL_SUFFIX}"):
        stale.unlink()

    summary = SplitSummary(split_dir)
    index: dict[str, dict[str, Any]] = {}
    checksums: dict[str, str] = {}
    shard: _ShardFile | None = None
    previous_key: str | None = None
    # A background thread fsyncs and renames each full shard while the next one is written.
    committer = _Committer(fsync)

    try:
        for sample in samples:
            shard = _add_sample(
                sample,
                shard,
                previous_key,
                split_dir,
                summary,
                index,
                checksums,
                max_samples,
                max_bytes,
                committer,
            )
            previous_key = sample.key
    except BaseException:
        if shard is not None:
            shard.abort()
        committer.wait(raise_errors=False)
        raise
    if shard is not None:
        _close_shard(shard, summary, checksums, committer)
    committer.wait()

    written = set(summary.sizes)
    for old in split_dir.glob("shard-*.tar"):
        if old.name not in written:
            old.unlink()

    metadata = {
        "sizes.json": json.dumps(summary.sizes, indent=1, sort_keys=True).encode() + b"\n",
        "index.json": json.dumps(index, indent=1, sort_keys=True).encode() + b"\n",
    }
    for name, data in metadata.items():
        _write_atomic(split_dir / name, data, fsync)
        checksums[name] = hashlib.sha256(data).hexdigest()
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(checksums.items()))
    _write_atomic(split_dir / "SHA256SUMS", lines.encode(), fsync)
    if fsync:
        _fsync_dir(split_dir)
    logger.info("wrote %d samples in %d shards to %s", summary.samples, len(summary.sizes), split_dir)
    return summary


class _ShardFile:
    """One shard being written: tar blocks go to a ``.partial`` file while a thread hashes them.

    Each sample becomes a list of parts (USTAR headers from ``tarfile.TarInfo.tobuf``, member data and
    zero padding to 512-byte blocks), so the file is what ``tarfile`` would write for the same members.
    SHA-256 runs in a worker thread, because hashlib releases the GIL on large buffers. A sample's
    parts are handed to the hasher before they are written, so hashing overlaps the write of the same
    sample and the encoding of the next. At most ``_HASH_QUEUE_SAMPLES`` samples wait to be hashed,
    which bounds the memory they hold.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + PARTIAL_SUFFIX)
        self.handle = self.partial.open("wb")
        self.sha256 = hashlib.sha256()
        self.hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-sha256")
        self.pending: deque[Future] = deque()
        self.offset = 0
        self.samples = 0

    def is_full(self, next_size: int, max_samples: int | None, max_bytes: int | None) -> bool:
        if max_samples is not None and self.samples >= max_samples:
            return True
        return (
            max_bytes is not None and self.samples > 0 and _archive_size(self.offset + next_size) > max_bytes
        )

    def add(self, sample: ShardSample) -> int:
        parts = []
        for extension, data in sample.members.items():
            info = tarfile.TarInfo(f"{sample.key}.{extension}")
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            parts.append(info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict"))
            parts.append(data)
            padding = -len(data) % _BLOCK
            if padding:
                parts.append(bytes(padding))
        offset = self.offset
        self._write(parts)
        self.samples += 1
        return offset

    def _write(self, parts: list[bytes]) -> None:
        for piece in _pieces(parts):
            while len(self.pending) >= _HASH_QUEUE_PIECES:
                self.pending.popleft().result()
            # The hasher reads the same piece while it is written, so the piece is fetched from memory
            # about once. The hasher has one thread, so it updates the digest in submission order.
            self.pending.append(self.hasher.submit(self.sha256.update, piece))
            self.handle.write(piece)
            self.offset += len(piece)

    def finish(self) -> tuple[int, str]:
        """Write the end of the archive and return its size and SHA-256; :meth:`commit` makes it visible."""
        # End of archive as tarfile writes it: two zero blocks, then zeros up to a whole record.
        self._write([bytes(_archive_size(self.offset) - self.offset)])
        while self.pending:
            self.pending.popleft().result()
        self.hasher.shutdown()
        self.handle.flush()
        return self.offset, self.sha256.hexdigest()

    def commit(self, fsync: bool = True) -> None:
        """fsync the ``.partial`` file and rename it, so a shard's name appears only once it is on disk."""
        if fsync:
            os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        self.hasher.shutdown(cancel_futures=True)
        self.handle.close()


def _pieces(parts: list[bytes]) -> Iterable[memoryview | bytes]:
    """Yield ``parts`` cut into pieces of at most ``_PIECE_BYTES``, as views without copies."""
    for part in parts:
        if len(part) <= _PIECE_BYTES:
            yield part
            continue
        view = memoryview(part)
        for start in range(0, len(part), _PIECE_BYTES):
            yield view[start : start + _PIECE_BYTES]


def _archive_size(member_bytes: int) -> int:
    """Size of a tar holding ``member_bytes`` of headers and data, as tarfile pads it."""
    closed = member_bytes + 2 * _BLOCK
    return -(-closed // tarfile.RECORDSIZE) * tarfile.RECORDSIZE


def _add_sample(
    sample: ShardSample,
    shard: _ShardFile | None,
    previous_key: str | None,
    split_dir: Path,
    summary: SplitSummary,
    index: dict[str, dict[str, Any]],
    checksums: dict[str, str],
    max_samples: int | None,
    max_bytes: int | None,
    committer: _Committer,
) -> _ShardFile:
    check_key(sample.key)
    if previous_key is not None and sample.key <= previous_key:
        raise ValueError(
            f"sample key {sample.key!r} comes after {previous_key!r}: keys must be unique and sorted"
        )
    size = sample.tar_size()
    if shard is not None and shard.is_full(size, max_samples, max_bytes):
        _close_shard(shard, summary, checksums, committer)
        shard = None
    if shard is None:
        shard = _ShardFile(split_dir / SHARD_PATTERN.format(index=len(summary.sizes)))
    index[sample.key] = {"shard": shard.path.name, "offset": shard.add(sample)}
    return shard


class _Committer:
    """One background thread that commits finished shards in order; :meth:`wait` re-raises its errors."""

    def __init__(self, fsync: bool = True) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-commit")
        self.futures: list[Future] = []
        self.fsync = fsync

    def submit(self, shard: _ShardFile) -> None:
        """Queue ``shard`` for commit, first raising the error of any earlier commit that failed."""
        for future in self.futures:
            if future.done() and future.exception() is not None:
                raise future.exception()
        self.futures.append(self.pool.submit(shard.commit, self.fsync))

    def wait(self, raise_errors: bool = True) -> None:
        """Wait for every submitted commit, then raise the first error among them if ``raise_errors``.

        A writer that is already raising passes ``raise_errors=False``, so its own error is not masked.
        """
        self.pool.shutdown(wait=True)
        for future in self.futures:
            error = future.exception()
            if error is not None:
                logger.error("committing a shard failed: %s", error)
                if raise_errors:
                    raise error


def _close_shard(
    shard: _ShardFile, summary: SplitSummary, checksums: dict[str, str], committer: _Committer
) -> None:
    size, digest = shard.finish()
    committer.submit(shard)
    summary.sizes[shard.path.name] = shard.samples
    summary.bytes[shard.path.name] = size
    checksums[shard.path.name] = digest


def _write_atomic(path: Path, data: bytes, fsync: bool = True) -> None:
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    with partial.open("wb") as handle:
        handle.write(data)
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())
    os.replace(partial, path)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _plain(value: Any) -> Any:
    """Convert numpy scalars and arrays to Python values and NaN to None, recursively."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
