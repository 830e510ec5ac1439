"""Read the tables, summary and frames of one build run folder for the audit."""

from __future__ import annotations

import io
import json
import logging
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

REQUIRED_TABLES = ("ledger", "clips", "measurements", "labels", "captions")
OPTIONAL_TABLES = ("studies",)
# The build keeps the linked report text in its merged tables part; a run folder that publishes
# reports.parquet at the top level is read first.
REPORT_PATHS = ("reports.parquet", "parts/tables/reports.parquet")


class RunFolderError(ValueError):
    """A run folder is missing or lacks a table the audit needs."""


@dataclass
class RunFolder:
    """The tables of one run folder, as DataFrames, plus ``summary.json`` when present."""

    path: Path
    ledger: pd.DataFrame
    clips: pd.DataFrame
    measurements: pd.DataFrame
    labels: pd.DataFrame
    captions: pd.DataFrame
    studies: pd.DataFrame | None = None
    reports: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def report_text(self, study_id: int) -> str | None:
        """Return the linked echo report text of a study, or None when the run has none for it."""
        if self.reports is None or self.reports.empty:
            return None
        rows = self.reports.loc[self.reports["study_id"].astype(int) == int(study_id), "report_text"]
        rows = rows.dropna()
        return None if rows.empty else str(rows.iloc[0])

    def frames(self, clip_id: str) -> np.ndarray | None:
        """Return the kept uint8 (T, H, W, 3) frames of a clip, or its key frame from the shards.

        Reads the ``.npy`` named by the clip's ``frames_path`` (relative paths resolve against the run
        folder). When that file is missing, falls back to ``KEY.jpg`` in the split's shards, as a
        one-frame array. Returns None when neither exists.
        """
        rows = self.clips.loc[self.clips["clip_id"].astype(str) == clip_id]
        if rows.empty:
            return None
        row = rows.iloc[0]
        frames_path = row.get("frames_path")
        if isinstance(frames_path, str) and frames_path:
            path = Path(frames_path)
            if not path.is_absolute():
                path = self.path / path
            if path.is_file():
                return np.load(path, allow_pickle=False)
        split = row.get("split")
        if isinstance(split, str):
            return _shard_key_frame(self.path / "shards" / split, clip_id)
        return None


def load_run_folder(path: Path) -> RunFolder:
    """Read the tables of a run folder written by ``echoground build``.

    Raises:
        RunFolderError: naming the folder and the missing table, when a required table is absent.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(f"run folder {path} not found; pass the --out folder of 'echoground build'")
    tables: dict[str, pd.DataFrame] = {}
    for name in REQUIRED_TABLES:
        table_path = path / f"{name}.parquet"
        if not table_path.is_file():
            raise RunFolderError(
                f"run folder {path} has no {name}.parquet; rerun 'echoground build --out {path}' to finish it"
            )
        tables[name] = pd.read_parquet(table_path)
    studies_path = path / "studies.parquet"
    studies = pd.read_parquet(studies_path) if studies_path.is_file() else None
    reports = None
    for relative in REPORT_PATHS:
        if (path / relative).is_file():
            reports = pd.read_parquet(path / relative)
            break
    if reports is None:
        logger.warning("run folder %s: no reports.parquet, so the gallery shows no report sentences", path)
    summary_path = path / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    return RunFolder(path=path, studies=studies, reports=reports, summary=summary, **tables)


def _shard_key_frame(split_dir: Path, key: str) -> np.ndarray | None:
    index_path = split_dir / "index.json"
    if not index_path.is_file():
        return None
    entry = json.loads(index_path.read_text(encoding="utf-8")).get(key)
    if entry is None:
        return None
    with tarfile.open(split_dir / entry["shard"]) as archive:
        try:
            member = archive.extractfile(f"{key}.jpg")
        except KeyError:
            return None
        if member is None:
            return None
        from PIL import Image

        image = Image.open(io.BytesIO(member.read())).convert("RGB")
        return np.asarray(image)[None]
