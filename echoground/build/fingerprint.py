"""Cache keys for the build: fingerprints of input files and of the code and rules that process them.

A batch's cache key combines (a) a fingerprint of every input file of the batch, (b) the version of the
code and data files of the stage that processes it, and (c) the stage configuration. A rerun with
nothing changed finds every key and skips the work; a new or changed study changes only its batch's key.

File fingerprints hash the file content by default. ``mode="stat"`` hashes path, size and modification
time instead: much cheaper on a 1.7 TB archive, but a file rewritten with the same size and time
within the file system's time resolution would be missed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal

import echoground

FingerprintMode = Literal["content", "stat"]

_CHUNK_BYTES = 1 << 20
_PACKAGE_ROOT = Path(echoground.__file__).parent
_CODE_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".jsonl", ".csv", ".j2"}


def file_fingerprint(path: Path, mode: FingerprintMode = "content") -> str:
    """Return a hex digest identifying the file's content (or its path, size and mtime in stat mode)."""
    path = Path(path)
    if mode == "stat":
        stat = path.stat()
        return hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def files_fingerprint(paths: Iterable[Path], mode: FingerprintMode = "content") -> str:
    """Return one digest over several files, independent of the order they are given in.

    A missing file contributes the marker ``missing`` instead of failing, because the stage that
    reads it must record the file in the ledger as rejected and the key must change once it appears.
    """
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in paths):
        try:
            part = file_fingerprint(Path(path), mode)
        except FileNotFoundError:
            part = "missing"
        digest.update(f"{path}={part}\n".encode())
    return digest.hexdigest()


@cache
def code_version(*packages: str) -> str:
    """Return a digest of the source and data files of the named ``echoground`` subpackages.

    ``code_version("dicom")`` changes when any file under ``echoground/dicom/`` changes, so a stage's
    cached results are reused only with the code and rules that made them.
    """
    digest = hashlib.sha256(echoground.__version__.encode())
    for package in sorted(packages):
        root = _PACKAGE_ROOT / package.replace(".", "/")
        files = [root.with_suffix(".py")] if root.with_suffix(".py").is_file() else sorted(root.rglob("*"))
        for file in files:
            if file.is_file() and file.suffix in _CODE_SUFFIXES and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(_PACKAGE_ROOT)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def cache_key(stage: str, inputs_fingerprint: str, code: str, config: dict) -> str:
    """Return the cache key of one stage task from its inputs, code version and configuration."""
    payload = json.dumps(
        {"stage": stage, "inputs": inputs_fingerprint, "code": code, "config": config},
        sort_keys=True,
        default=str,
    )
    return f"{stage}-{hashlib.sha256(payload.encode()).hexdigest()[:32]}"
