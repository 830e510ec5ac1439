"""Merge the batch parts into the run's tables: select clips, caption them and assign splits.

Writes studies.parquet, clips.parquet, measurements.parquet, labels.parquet, captions.parquet and
ledger.parquet at the top of the run folder. The ledger gets one ``build``/``study`` row per study and
every row of the stage parts, so its totals add up to the record list and the study list.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd

from echoground.build.config import BuildConfig
from echoground.build.fingerprint import cache_key, code_version
from echoground.build.parts import build_part, stored_key
from echoground.build.plan import PLAN_DIR
from echoground.build.selection import get_profile, select_clips
from echoground.ledger import Ledger, LedgerEntry, Status
from echoground.splits import add_split_column

logger = logging.getLogger(__name__)

TABLE_FILES = (
    "studies.parquet",
    "clips.parquet",
    "measurements.parquet",
    "labels.parquet",
    "captions.parquet",
    "ledger.parquet",
)
STAGE = "build"


def tables_key(config: BuildConfig, parts: list[Path]) -> str:
    """Return the key of the merged tables: the keys of every part, the profile and the caption seed."""
    inputs = "|".join(f"{part.name}:{stored_key(part)}" for part in sorted(parts))
    code = code_version("build.tables", "build.selection", "build.profiles.yaml", "captions", "splits.py")
    settings = {
        "profile": get_profile(config.profile).to_dict(),
        "seed": config.caption_seed,
        "split_ratios": config.split_ratios,
        "split_salt": config.split_salt,
    }
    return cache_key("tables", inputs, code, settings)


def merge_tables(
    config: BuildConfig,
    dicom_parts: list[Path],
    view_parts: list[Path],
    study_parts: list[Path],
    build_id: str,
) -> Path:
    """Build the merged tables part and publish its files at the top of the run folder."""
    plan = config.out / PLAN_DIR
    key = tables_key(config, [plan, *dicom_parts, *view_parts, *study_parts])
    part = build_part(
        config.out,
        config.out / "parts" / "tables",
        key,
        lambda folder: _write_tables(config, plan, dicom_parts, view_parts, study_parts, folder),
        build_id,
    )
    for name in TABLE_FILES:
        _copy_atomic(part / name, config.out / name)
    return part


def _copy_atomic(source: Path, target: Path) -> None:
    temporary = target.with_name(target.name + ".partial")
    shutil.copyfile(source, temporary)
    temporary.replace(target)


def _concat(paths: list[Path]) -> pd.DataFrame:
    frames = [pd.read_parquet(path) for path in paths if path.is_file()]
    frames = [frame for frame in frames if not frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _write_tables(
    config: BuildConfig,
    plan: Path,
    dicom_parts: list[Path],
    view_parts: list[Path],
    study_parts: list[Path],
    folder: Path,
) -> None:
    from echoground.captions import build_captions
    from echoground.views import load_vocabulary

    profile = get_profile(config.profile)
    vocabulary = load_vocabulary()
    studies = pd.read_parquet(plan / "studies.parquet")
    ledger = Ledger()
    for part in [*dicom_parts, *view_parts, *study_parts]:
        ledger.extend(Ledger.read(part / "ledger.parquet").entries)

    clips = _concat([part / "clips.parquet" for part in dicom_parts])
    views = _concat([part / "views.parquet" for part in view_parts])
    clips = _with_views(clips, views, vocabulary)
    if clips.empty:
        clips = clips.assign(split=pd.Series(dtype="string"))
    else:
        clips = add_split_column(clips, config.split_salt, config.split_ratios)
    measurements = _concat([part / "measurements.parquet" for part in study_parts])
    labels = _concat([part / "labels.parquet" for part in study_parts])
    reports = _concat([part / "reports.parquet" for part in study_parts])

    with_measurements = set(measurements["study_id"].astype(int)) if not measurements.empty else set()
    with_report = (
        set(reports.loc[reports["report_text"].notna(), "study_id"].astype(int))
        if not reports.empty
        else set()
    )
    keep, selection_entries = select_clips(
        clips,
        set(vocabulary.fine_names),
        with_measurements,
        with_report,
        profile,
        _non_transthoracic(studies, ledger),
    )
    ledger.extend(selection_entries)
    clips["selected"] = keep.astype("bool")
    captions, caption_entries = build_captions(
        clips.loc[keep], measurements, labels, seed=config.caption_seed
    )
    ledger.extend(caption_entries)
    ledger.extend(_study_entries(studies, ledger, captions))

    studies_out = studies[["study_id", "subject_id", "sex", "age"]].copy()
    studies_out = studies_out.astype({"study_id": "int64", "subject_id": "int64", "sex": "string"})
    studies_out.to_parquet(folder / "studies.parquet", index=False)
    clips.to_parquet(folder / "clips.parquet", index=False)
    measurements.to_parquet(folder / "measurements.parquet", index=False)
    labels.to_parquet(folder / "labels.parquet", index=False)
    reports.to_parquet(folder / "reports.parquet", index=False)
    captions.to_parquet(folder / "captions.parquet", index=False)
    _unique_items(ledger).write(folder / "ledger.parquet")
    logger.info(
        "tables: %d studies, %d clips (%d selected by profile %s), %d captions",
        len(studies_out),
        len(clips),
        int(keep.sum()),
        profile.name,
        len(captions),
    )


def _with_views(clips: pd.DataFrame, views: pd.DataFrame, vocabulary) -> pd.DataFrame:
    """Join the view columns; keep views and coarse views of the vocabulary only (clip kinds become null)."""
    if clips.empty:
        return clips.assign(
            view=pd.Series(dtype="string"),
            view_coarse=pd.Series(dtype="string"),
            view_confidence=pd.Series(dtype="float64"),
            view_rejected=pd.Series(dtype="bool"),
        )
    views = views.drop(columns=["view_probabilities"], errors="ignore")
    merged = clips.merge(views, on="clip_id", how="left", validate="one_to_one")
    fine = set(vocabulary.fine_names) | {"uncertain"}
    coarse = set(vocabulary.coarse) | {"uncertain"}
    b_mode = merged["clip_kind"] == "b_mode_2d"
    merged["view_rejected"] = (b_mode & merged["view"].isna()).astype("bool")
    # The view stage names a non-B-mode clip's view after its kind; the clips contract keeps the
    # vocabulary's views only, and clip_kind already carries the kind.
    merged["view"] = merged["view"].where(merged["view"].isin(fine)).astype("string")
    merged["view_coarse"] = merged["view_coarse"].where(merged["view_coarse"].isin(coarse)).astype("string")
    merged["view_confidence"] = merged["view_confidence"].astype("float64")
    for column in ("clip_id", "clip_kind", "dicom_filepath"):
        merged[column] = merged[column].astype("string")
    merged = merged.astype({"subject_id": "int64", "study_id": "int64"})
    return merged.sort_values("clip_id", kind="stable").reset_index(drop=True)


def _non_transthoracic(studies: pd.DataFrame, ledger: Ledger) -> set[int]:
    """Return the studies whose measurements the measurements stage skipped as not transthoracic."""
    skipped = {
        int(entry.item_id)
        for entry in ledger.entries
        if entry.stage == "measurements" and entry.reason == "not_transthoracic" and entry.item_id.isdigit()
    }
    linked = studies.dropna(subset=["measurement_id"])
    return {int(row.study_id) for row in linked.itertuples() if int(row.measurement_id) in skipped}


def _study_entries(studies: pd.DataFrame, ledger: Ledger, captions: pd.DataFrame) -> list[LedgerEntry]:
    """Return one ``build``/``study`` row per study: its samples, or why it has none."""
    files = Counter()
    accepted_files = Counter()
    for entry in ledger.entries:
        if entry.stage == "dicom" and entry.study_id is not None:
            files[entry.study_id] += 1
            if entry.status == Status.ACCEPTED:
                accepted_files[entry.study_id] += 1
    samples = Counter(captions["study_id"].astype(int)) if not captions.empty else Counter()
    entries = []
    for study in studies.itertuples(index=False):
        study_id, subject_id = int(study.study_id), int(study.subject_id)
        if files[study_id] == 0:
            status, reason = Status.REJECTED, "no_dicom_files"
            message = f"study {study_id}: no file of the record list belongs to it"
        elif accepted_files[study_id] == 0:
            status, reason = Status.REJECTED, "no_usable_clips"
            message = f"study {study_id}: all {files[study_id]} DICOM files were rejected or skipped"
        elif samples[study_id] == 0:
            status, reason = Status.SKIPPED, "no_selected_clips"
            message = f"study {study_id}: {accepted_files[study_id]} clips, none selected and captioned"
        else:
            status, reason = Status.ACCEPTED, "samples_written"
            message = f"study {study_id}: {samples[study_id]} samples"
        if not bool(study.in_study_list):
            message += "; not in echo-study-list.csv"
        entries.append(
            LedgerEntry(STAGE, "study", str(study_id), status, reason, message, subject_id, study_id)
        )
    return entries


def _unique_items(ledger: Ledger) -> Ledger:
    """Suffix repeated (stage, item kind, item id) triples with ``#2``, ``#3``... so each row is one fate."""
    seen: Counter = Counter()
    entries = []
    for entry in ledger.entries:
        triple = (entry.stage, entry.item_kind, entry.item_id)
        seen[triple] += 1
        if seen[triple] > 1:
            entry = LedgerEntry(
                entry.stage,
                entry.item_kind,
                f"{entry.item_id}#{seen[triple]}",
                entry.status,
                entry.reason,
                entry.message,
                entry.subject_id,
                entry.study_id,
            )
        entries.append(entry)
    return Ledger(entries)
