"""Plan a build: read the MIMIC tables once, build the studies table and cut studies into batches.

Batches are cut by content, not by position: in study-id order, a study starts a new batch when a
hash of its id is divisible by the batch size (or the batch reached twice the batch size). Adding or
removing a study therefore changes only the batch it falls in, and every other batch keeps its inputs
and its cache key. Each batch gets its own slice of the record list, the structured measurements and
the discharge notes, so batch tasks never read the large source tables.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from echoground.build.config import BuildConfig
from echoground.build.fingerprint import cache_key, code_version, files_fingerprint
from echoground.build.parts import build_part
from echoground.sources import read_table, table_path

logger = logging.getLogger(__name__)

SOURCE_TABLES = ("echo_record_list", "echo_study_list", "structured_measurement", "discharge", "patients")
PLAN_DIR = "plan"


@dataclass(frozen=True)
class Batch:
    """One batch of studies: its id, its folder under ``plan/`` and its size."""

    batch_id: str
    path: Path
    studies: int
    files: int


def plan_key(config: BuildConfig) -> str:
    """Return the cache key of the plan: the source tables, the planning code and the batch size."""
    paths = [table_path(config.roots, table) for table in SOURCE_TABLES]
    return cache_key(
        "plan",
        files_fingerprint(paths, config.fingerprint_mode),
        code_version("build.plan", "sources"),
        {"batch_size": config.batch_size},
    )


def plan_build(config: BuildConfig, build_id: str) -> Path:
    """Write (or reuse) ``plan/``: studies.parquet, batches.json and one folder of inputs per batch."""
    return build_part(
        config.out,
        config.out / PLAN_DIR,
        plan_key(config),
        lambda folder: _write_plan(config, folder),
        build_id,
    )


def read_batches(plan_dir: Path) -> list[Batch]:
    """Return the batches listed in ``plan_dir/batches.json``, in study-id order."""
    entries = json.loads((Path(plan_dir) / "batches.json").read_text(encoding="utf-8"))
    return [Batch(e["batch_id"], Path(plan_dir) / e["batch_id"], e["studies"], e["files"]) for e in entries]


def batch_boundaries(study_ids: list[int], batch_size: int) -> list[list[int]]:
    """Cut sorted study ids into batches whose boundaries depend only on the ids themselves.

    A study opens a new batch when SHA-256 of its id, modulo ``batch_size``, is 0, or when the current
    batch holds ``2 * batch_size`` studies, so batches average about ``batch_size`` studies.
    """
    batches: list[list[int]] = []
    for study_id in sorted(study_ids):
        digest = int.from_bytes(hashlib.sha256(str(study_id).encode()).digest()[:8], "big")
        opens = digest % batch_size == 0
        if not batches or opens or len(batches[-1]) >= 2 * batch_size:
            batches.append([])
        batches[-1].append(study_id)
    return batches


def _studies_table(records: pd.DataFrame, study_list: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Return one row per study of the study list or the record list, with sex and age at the study."""
    listed = study_list.drop_duplicates("study_id").copy()
    unlisted = records.loc[~records["study_id"].isin(listed["study_id"]), ["subject_id", "study_id"]]
    unlisted = unlisted.drop_duplicates("study_id")
    first_acquisition = records.groupby("study_id")["acquisition_datetime"].min()
    unlisted = unlisted.assign(study_datetime=unlisted["study_id"].map(first_acquisition))
    studies = pd.concat([listed, unlisted], ignore_index=True)
    if "measurement_id" not in studies.columns:
        studies["measurement_id"] = pd.array([pd.NA] * len(studies), dtype="Int64")
    studies["in_study_list"] = studies["study_id"].isin(listed["study_id"])

    patients = patients.drop_duplicates("subject_id").set_index("subject_id")
    studies["sex"] = studies["subject_id"].map(patients["gender"]).astype("string")
    study_year = pd.to_datetime(studies["study_datetime"], errors="coerce").dt.year
    anchor_age = studies["subject_id"].map(patients["anchor_age"]).astype("Float64")
    anchor_year = studies["subject_id"].map(patients["anchor_year"]).astype("Float64")
    # MIMIC-IV shifts each patient's dates by one offset: anchor_age is the age in anchor_year.
    studies["age"] = (anchor_age + study_year.astype("Float64") - anchor_year).round().astype("Int64")
    columns = ["study_id", "subject_id", "study_datetime", "measurement_id", "in_study_list", "sex", "age"]
    return studies[columns].sort_values("study_id", kind="stable").reset_index(drop=True)


def _write_plan(config: BuildConfig, folder: Path) -> None:
    roots = config.roots
    records = read_table(roots, "echo_record_list")
    study_list = read_table(roots, "echo_study_list")
    patients = read_table(roots, "patients")
    measurements = read_table(roots, "structured_measurement")
    notes = read_table(roots, "discharge")

    studies = _studies_table(records, study_list, patients)
    groups = batch_boundaries(studies["study_id"].astype(int).tolist(), config.batch_size)
    batch_of = {study_id: f"batch-{group[0]}" for group in groups for study_id in group}
    studies["batch_id"] = studies["study_id"].map(batch_of).astype("string")
    studies.to_parquet(folder / "studies.parquet", index=False)

    measurement_study = studies.dropna(subset=["measurement_id"]).set_index("measurement_id")["study_id"]
    measurements = measurements.assign(study_id=measurements["measurement_id"].map(measurement_study))
    linked = measurements.dropna(subset=["study_id"])
    if len(linked) < len(measurements):
        logger.info(
            "plan: %d structured measurement rows belong to no listed study and are not read",
            len(measurements) - len(linked),
        )
    records = records.assign(batch_id=records["study_id"].map(batch_of))
    entries = []
    for batch_id, batch_studies in studies.groupby("batch_id", sort=True):
        batch_dir = folder / str(batch_id)
        batch_dir.mkdir()
        ids = set(batch_studies["study_id"].astype(int))
        subjects = set(batch_studies["subject_id"].astype(int))
        batch_records = records.loc[records["batch_id"] == batch_id].drop(columns="batch_id")
        batch_records = batch_records.sort_values("dicom_filepath", kind="stable")
        batch_records.to_csv(batch_dir / "records.csv", index=False)
        batch_studies.drop(columns="batch_id").to_parquet(batch_dir / "studies.parquet", index=False)
        linked.loc[linked["study_id"].isin(ids)].reset_index(drop=True).to_parquet(
            batch_dir / "measurements.parquet", index=False
        )
        notes.loc[notes["subject_id"].isin(subjects)].sort_values("note_id", kind="stable").reset_index(
            drop=True
        ).to_parquet(batch_dir / "notes.parquet", index=False)
        entries.append({"batch_id": str(batch_id), "studies": len(ids), "files": len(batch_records)})
    (folder / "batches.json").write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
    logger.info(
        "plan: %d studies, %d DICOM files in %d batches (batch size %d)",
        len(studies),
        len(records),
        len(entries),
        config.batch_size,
    )
