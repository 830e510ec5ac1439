"""End-to-end build on a tiny cohort: ledger totals, readable shards, cache reuse, no network."""

from __future__ import annotations

import io
import json
import tarfile

import pandas as pd
import webdataset as wds

from echoground.build import run_build
from echoground.build.plan import batch_boundaries
from echoground.ledger import Ledger

STATUSES = {"accepted", "rejected", "skipped"}


def test_every_dicom_file_in_ledger(built_run, cohort) -> None:
    config, _ = built_run
    records = pd.read_csv(cohort / "mimic-iv-echo" / "echo-record-list.csv")
    ledger = Ledger.read(config.out / "ledger.parquet").to_frame()
    dicom = ledger[ledger["stage"] == "dicom"]
    assert sorted(dicom["item_id"]) == sorted(records["dicom_filepath"])
    assert set(dicom["status"]) <= STATUSES


def test_every_study_in_ledger(built_run, cohort) -> None:
    config, _ = built_run
    records = pd.read_csv(cohort / "mimic-iv-echo" / "echo-record-list.csv")
    study_list = pd.read_csv(cohort / "mimic-iv-echo" / "echo-study-list.csv")
    expected = set(records["study_id"].astype(str)) | set(study_list["study_id"].astype(str))
    ledger = Ledger.read(config.out / "ledger.parquet").to_frame()
    studies = ledger[(ledger["stage"] == "build") & (ledger["item_kind"] == "study")]
    assert sorted(studies["item_id"]) == sorted(expected)
    assert set(studies["status"]) <= STATUSES
    assert studies["reason"].notna().all()


def test_accepted_clips_selected_or_skipped(built_run) -> None:
    config, _ = built_run
    clips = pd.read_parquet(config.out / "clips.parquet")
    ledger = Ledger.read(config.out / "ledger.parquet").to_frame()
    selection = ledger[ledger["stage"] == "selection"]
    assert sorted(selection["item_id"]) == sorted(clips["clip_id"])


def test_shards_readable_by_webdataset(built_run) -> None:
    config, summary_path = built_run
    captions = pd.read_parquet(config.out / "captions.parquet")
    clips = pd.read_parquet(config.out / "clips.parquet").set_index("clip_id")
    seen = {}
    for split in ("train", "val", "test"):
        tars = sorted(str(path) for path in (config.out / "shards" / split).glob("shard-*.tar"))
        if not tars:
            continue
        for sample in wds.WebDataset(tars, shardshuffle=False):
            seen[sample["__key__"]] = split
            metadata = json.loads(sample["json"])
            assert metadata["clip_id"] == sample["__key__"]
            assert sample["txt"].decode() == captions.set_index("clip_id").loc[sample["__key__"], "caption"]
    assert sorted(seen) == sorted(captions["clip_id"])
    assert all(clips.loc[key, "split"] == split for key, split in seen.items())
    summary = json.loads(summary_path.read_text())
    assert summary["samples"]["total"] == len(captions)


def test_shard_members_have_frames(built_run) -> None:
    config, _ = built_run
    tar_path = next((config.out / "shards").glob("*/shard-*.tar"))
    with tarfile.open(tar_path) as archive:
        names = archive.getnames()
        key = names[0].split(".")[0]
        frames = archive.extractfile(f"{key}.npy").read()
    import numpy as np

    array = np.load(io.BytesIO(frames))
    assert array.dtype == np.uint8
    assert array.ndim == 4


def test_rerun_computes_no_part(built_run) -> None:
    config, first_summary = built_run
    first = json.loads(first_summary.read_text())
    shard_bytes = {path: path.read_bytes() for path in (config.out / "shards").glob("*/shard-*.tar")}
    second = json.loads(run_build(config).read_text())
    assert first["work"]["computed_parts"] > 0
    assert second["work"]["computed_parts"] == 0
    assert second["samples"] == first["samples"]
    assert {path: path.read_bytes() for path in shard_bytes} == shard_bytes


def test_build_opens_no_outside_connection(built_run, network_attempts) -> None:
    assert network_attempts == []


def test_summary_counts_views_labels_splits(built_run) -> None:
    _, summary_path = built_run
    summary = json.loads(summary_path.read_text())
    assert summary["profile"] == "default"
    assert sum(summary["samples"]["per_split"].values()) == summary["samples"]["total"]
    assert sum(summary["clips"]["per_view"].values()) == summary["clips"]["accepted"]
    assert "lv_systolic_dysfunction" in summary["labels"]
    assert "dicom" in summary["ledger"]


def test_adding_study_changes_one_batch() -> None:
    ids = list(range(90_000_000, 90_000_400, 3))
    before = batch_boundaries(ids, 8)
    after = batch_boundaries([*ids, 90_000_200], 8)
    changed_before = [batch for batch in before if batch not in after]
    changed_after = [batch for batch in after if batch not in before]
    assert len(changed_before) <= 2
    assert len(changed_after) <= 2
    assert any(90_000_200 in batch for batch in changed_after)


def test_batch_boundaries_cover_each_study_once() -> None:
    ids = list(range(1000, 1500))
    batches = batch_boundaries(ids, 16)
    assert sorted(study for batch in batches for study in batch) == ids
    assert max(len(batch) for batch in batches) <= 32
