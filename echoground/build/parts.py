"""Stage outputs ("parts") written atomically and reused across runs when their cache key matches.

A part is a folder under the run folder. It is built in ``<name>.partial`` and renamed into place only
after its key file is written, so a build killed at any point leaves either the previous complete part
or none, never half of one. A rerun whose key matches the stored key reuses the part without work.

Every part actually computed is appended to ``cache/computed.jsonl`` with the build id, so a run's
summary can count the work it did and the work it reused.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

KEY_FILE = "_cache_key"
COMPUTED_LOG = Path("cache") / "computed.jsonl"
_LOG_LOCK = threading.Lock()


def stored_key(part_dir: Path) -> str | None:
    """Return the cache key a complete part was built with, or None when the part is missing."""
    try:
        return (Path(part_dir) / KEY_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def build_part(
    run_dir: Path,
    part_dir: Path,
    key: str,
    produce: Callable[[Path], None],
    build_id: str,
) -> Path:
    """Return ``part_dir`` after making sure it was built with ``key``.

    Args:
        run_dir: the run folder, where ``cache/computed.jsonl`` lives.
        part_dir: final folder of the part.
        key: cache key of the part's inputs, code and settings.
        produce: writes the part's files into the folder it is given.
        build_id: id of the current build, recorded with each part computed.
    """
    part_dir = Path(part_dir)
    if stored_key(part_dir) == key:
        logger.debug("reused %s (key %s)", part_dir, key)
        return part_dir
    temporary = part_dir.with_name(part_dir.name + ".partial")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    produce(temporary)
    (temporary / KEY_FILE).write_text(key + "\n", encoding="utf-8")
    if part_dir.exists():
        shutil.rmtree(part_dir)
    temporary.rename(part_dir)
    record_computed(run_dir, part_dir, key, build_id)
    return part_dir


def record_computed(run_dir: Path, part: Path, key: str, build_id: str) -> None:
    """Append one line naming a computed part to the run's ``cache/computed.jsonl``."""
    path = Path(run_dir) / COMPUTED_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(part, run_dir)
    line = json.dumps({"build_id": build_id, "part": relative, "key": key}, sort_keys=True) + "\n"
    with _LOG_LOCK, path.open("a", encoding="utf-8") as handle:
        handle.write(line)


def computed_parts(run_dir: Path, build_id: str) -> list[str]:
    """Return the parts (paths relative to the run folder) that the build ``build_id`` computed."""
    path = Path(run_dir) / COMPUTED_LOG
    if not path.is_file():
        return []
    parts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            # A build killed while appending leaves a cut last line; it names no finished part.
            continue
        if entry.get("build_id") == build_id:
            parts.append(str(entry["part"]))
    return parts
