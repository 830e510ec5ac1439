"""The last steps of a build: validate the tables, write the shards of each split, write summary.json."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from echoground.build.config import BuildConfig
from echoground.build.fingerprint import cache_key, code_version, files_fingerprint
from echoground.build.parts import build_part, computed_parts, stored_key
from echoground.build.selection import get_profile
from echoground.ledger import Ledger
from echoground.splits import SPLIT_NAMES

logger = logging.getLogger(__name__)

VALIDATED_TABLES = ("studies", "clips", "measurements", "labels", "captions", "ledger")


def validation_key(config: BuildConfig, tables_part: Path) -> str:
    from echoground.validation.contracts_to_gx import EXPECTATIONS_DIR

    suites = sorted(Path(EXPECTATIONS_DIR).glob("*.json"))
    inputs = f"{stored_key(Path(tables_part))}|{files_fingerprint(suites)}"
    return cache_key("validation", inputs, code_version("validation"), {})


def validate_run(config: BuildConfig, tables_part: Path, build_id: str) -> Path:
    """Validate the run's tables against their contracts; write ``validation/`` in the run folder.

    Raises:
        echoground.validation.ContractViolation: an error-severity expectation failed.
    """
    tables_part = Path(tables_part)

    def produce(folder: Path) -> None:
        from echoground.validation import validate_tables

        tables = {name: pd.read_parquet(tables_part / f"{name}.parquet") for name in VALIDATED_TABLES}
        # validate_tables writes into <run_dir>/validation; the part folder stands in for the run folder.
        report = validate_tables(tables, folder)
        (folder / "warnings.json").write_text(
            json.dumps([failure.describe() for failure in report.warnings], indent=1) + "\n", encoding="utf-8"
        )

    part = build_part(
        config.out,
        config.out / "parts" / "validation",
        validation_key(config, tables_part),
        produce,
        build_id,
    )
    published = config.out / "validation"
    staging = config.out / "validation.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(part / "validation", staging)
    shutil.copy(part / "warnings.json", staging / "warnings.json")
    shutil.rmtree(published, ignore_errors=True)
    staging.rename(published)
    return published


def shards_key(config: BuildConfig, tables_part: Path, split: str) -> str:
    clips = pd.read_parquet(Path(tables_part) / "clips.parquet", columns=["clip_id", "split", "frames_path"])
    frames = [Path(path) for path in clips.loc[clips["split"] == split, "frames_path"].dropna()]
    inputs = f"{stored_key(Path(tables_part))}|{files_fingerprint(frames, config.fingerprint_mode)}"
    settings = {"split": split, "max_samples": config.shard_max_samples}
    return cache_key("shards", inputs, code_version("shards"), settings)


def write_split_shards(config: BuildConfig, tables_part: Path, split: str, build_id: str) -> Path:
    """Write the WebDataset shards of one split into ``shards/<split>/`` (replaced as a whole folder)."""
    from echoground.shards import ShardConfig, write_shards

    tables_part = Path(tables_part)
    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLIT_NAMES)}")

    def produce(folder: Path) -> None:
        clips = pd.read_parquet(tables_part / "clips.parquet")
        clips = clips.loc[clips["split"] == split]
        captions = pd.read_parquet(tables_part / "captions.parquet")
        captions = captions.loc[captions["clip_id"].isin(clips["clip_id"])]
        work = folder / "work"
        summaries = write_shards(
            work,
            clips,
            captions,
            pd.read_parquet(tables_part / "labels.parquet"),
            pd.read_parquet(tables_part / "measurements.parquet"),
            ShardConfig(max_samples=config.shard_max_samples),
        )
        for item in (work / split).iterdir():
            item.rename(folder / item.name)
        shutil.rmtree(work)
        logger.info("shards %s: %d samples", split, summaries[split].samples)

    # The key lives outside the split folder, so the folder holds only what readers expect.
    key_path = config.out / "cache" / "keys" / f"shards-{split}.key"
    key = shards_key(config, tables_part, split)
    target = config.out / "shards" / split
    if target.is_dir() and key_path.is_file() and key_path.read_text(encoding="utf-8").strip() == key:
        return target
    key_path.unlink(missing_ok=True)
    part = build_part(config.out, config.out / "shards" / f".{split}", key, produce, build_id)
    (part / "_cache_key").unlink()
    shutil.rmtree(target, ignore_errors=True)
    part.rename(target)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_text(key + "\n", encoding="utf-8")
    return target


def write_summary(config: BuildConfig, tables_part: Path, shard_dirs: list[Path], build_id: str) -> Path:
    """Write ``summary.json``: counts per stage, ledger reason, view, label and split, and the work done."""
    tables_part = Path(tables_part)
    ledger = Ledger.read(tables_part / "ledger.parquet")
    clips = pd.read_parquet(tables_part / "clips.parquet")
    captions = pd.read_parquet(tables_part / "captions.parquet")
    labels = pd.read_parquet(tables_part / "labels.parquet")
    studies = pd.read_parquet(tables_part / "studies.parquet")
    profile = get_profile(config.profile)

    samples = clips.loc[clips["clip_id"].isin(captions["clip_id"])] if not clips.empty else clips
    summary: dict[str, Any] = {
        "profile": profile.name,
        "inputs": {
            "studies": len(studies),
            "dicom_files": sum(1 for e in ledger.entries if e.stage == "dicom"),
            "patients": int(studies["subject_id"].nunique()),
        },
        "ledger": ledger.counts(),
        "ledger_status": _count(f"{e.stage}/{e.item_kind}/{e.status.value}" for e in ledger.entries),
        "clips": {
            "accepted": len(clips),
            "selected": int(clips["selected"].sum()) if "selected" in clips else 0,
            "per_kind": _count(clips.get("clip_kind", [])),
            "per_view": _count(clips["view"].fillna("none")) if "view" in clips else {},
        },
        "samples": {
            "total": len(captions),
            "patients": int(samples["subject_id"].nunique()) if not samples.empty else 0,
            "per_split": _count(samples.get("split", [])),
            "per_view": _count(samples["view"].fillna("none")) if not samples.empty else {},
            "per_caption_level": _count(captions.get("level", [])),
        },
        "labels": {label: _count(group["state"]) for label, group in labels.groupby("label_id", sort=True)},
        "shards": {path.name: json.loads((path / "sizes.json").read_text()) for path in shard_dirs},
        "work": _work(config, build_id),
    }
    if profile.paper_counts:
        summary["paper_comparison"] = {
            name: {"paper": expected, "this_run": summary["samples"]["total" if name == "pairs" else name]}
            for name, expected in profile.paper_counts.items()
        }
    path = config.out / "summary.json"
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def _count(values) -> dict[str, int]:
    return dict(sorted(Counter(str(value) for value in values).items()))


def _work(config: BuildConfig, build_id: str) -> dict[str, Any]:
    """Count the parts this build computed, per stage; all other parts were reused from the cache."""
    computed = computed_parts(config.out, build_id)
    per_stage = Counter()
    for part in computed:
        pieces = Path(part).parts
        per_stage[pieces[1] if pieces[0] == "parts" and len(pieces) > 1 else pieces[0]] += 1
    return {
        "build_id": build_id,
        "computed_parts": len(computed),
        "computed_per_stage": dict(sorted(per_stage.items())),
    }
