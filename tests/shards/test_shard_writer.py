"""WebDataset shard writer: format, reproducibility, atomic writes, and reading with webdataset/open_clip."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import tarfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from echoground.shards import ShardConfig, check_key, make_sample, write_shards, write_split

FRAMES = 4


def frames_for(index: int) -> np.ndarray:
    rng = np.random.default_rng(index)
    return rng.integers(0, 256, size=(FRAMES, 224, 224, 3), dtype=np.uint8)


def key_for(index: int) -> str:
    return f"p10_p100000{index:02d}_s900000{index:02d}_0001"


def samples(count: int, include_frames: bool = True):
    for index in range(count):
        frames = frames_for(index)
        yield make_sample(
            key=key_for(index),
            key_frame=frames[FRAMES // 2],
            caption=f"Apical four-chamber view. LVEF {40 + index}%, mildly reduced.",
            metadata={
                "clip_id": key_for(index),
                "view_confidence": np.float32(0.5),
                "cm_per_pixel_x": float("nan"),
                "cm_per_pixel_y": float("nan"),
            },
            frames=frames if include_frames else None,
        )


def test_members_in_fixed_order(tmp_path):
    write_split(samples(2), tmp_path)
    with tarfile.open(tmp_path / "shard-000000.tar") as tar:
        names = tar.getnames()
        members = tar.getmembers()
    key = key_for(0)
    assert names[:4] == [f"{key}.jpg", f"{key}.json", f"{key}.npy", f"{key}.txt"]
    assert {member.mtime for member in members} == {0}
    assert {(member.uid, member.gid, member.uname, member.gname) for member in members} == {(0, 0, "", "")}


def test_same_input_identical_bytes(tmp_path):
    write_split(samples(5), tmp_path / "a", max_samples=2)
    write_split(samples(5), tmp_path / "b", max_samples=2)
    for name in (
        "shard-000000.tar",
        "shard-000001.tar",
        "shard-000002.tar",
        "sizes.json",
        "index.json",
        "SHA256SUMS",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_max_samples_splits_shards(tmp_path):
    summary = write_split(samples(5), tmp_path, max_samples=2)
    assert summary.sizes == {"shard-000000.tar": 2, "shard-000001.tar": 2, "shard-000002.tar": 1}
    assert json.loads((tmp_path / "sizes.json").read_text()) == summary.sizes


def test_max_bytes_limits_shard_size(tmp_path):
    one = next(samples(1, include_frames=False)).tar_size()
    limit = 3 * one + 2 * 512 + 10240
    summary = write_split(samples(7, include_frames=False), tmp_path, max_samples=None, max_bytes=limit)
    assert len(summary.sizes) > 1
    for name, size in summary.bytes.items():
        assert size <= limit, name
        assert (tmp_path / name).stat().st_size == size


def test_index_offsets_point_to_sample(tmp_path):
    write_split(samples(5), tmp_path, max_samples=2)
    index = json.loads((tmp_path / "index.json").read_text())
    assert sorted(index) == [key_for(i) for i in range(5)]
    for key, entry in index.items():
        data = (tmp_path / entry["shard"]).read_bytes()
        header = tarfile.TarInfo.frombuf(data[entry["offset"] : entry["offset"] + 512], "utf-8", "strict")
        assert header.name == f"{key}.jpg"


def test_sha256sums_verify(tmp_path):
    write_split(samples(3), tmp_path, max_samples=2)
    result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = [line.split("  ")[1] for line in (tmp_path / "SHA256SUMS").read_text().splitlines()]
    assert listed == sorted(["shard-000000.tar", "shard-000001.tar", "index.json", "sizes.json"])


def test_json_member_is_strict_json(tmp_path):
    write_split(samples(1), tmp_path)
    with tarfile.open(tmp_path / "shard-000000.tar") as tar:
        metadata = json.loads(tar.extractfile(f"{key_for(0)}.json").read())
    assert metadata["cm_per_pixel_x"] is None
    assert metadata["view_confidence"] == pytest.approx(0.5)


@pytest.mark.parametrize("key", ["p10.p10000032", "1.2.840.113619", "a/b", "", "key with space"])
def test_invalid_key_rejected(key):
    with pytest.raises(ValueError, match="invalid WebDataset sample key"):
        check_key(key)


def test_unsorted_keys_rejected(tmp_path):
    reordered = list(samples(3))[::-1]
    with pytest.raises(ValueError, match="sorted"):
        write_split(reordered, tmp_path)


def test_duplicate_keys_rejected(tmp_path):
    first = next(samples(1))
    with pytest.raises(ValueError, match="unique"):
        write_split([first, first], tmp_path)


def test_bad_limit_rejected(tmp_path):
    with pytest.raises(ValueError, match="max_samples"):
        write_split(samples(1), tmp_path, max_samples=0)


def test_killed_run_leaves_no_whole_looking_shard(tmp_path):
    def interrupted():
        yield from samples(3)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_split(interrupted(), tmp_path, max_samples=2)
    finished = sorted(path.name for path in tmp_path.glob("*.tar"))
    assert finished == ["shard-000000.tar"]
    with tarfile.open(tmp_path / "shard-000000.tar") as tar:
        assert len(tar.getnames()) == 8
    assert not (tmp_path / "SHA256SUMS").exists()

    write_split(samples(2), tmp_path, max_samples=2)
    assert not list(tmp_path.glob("*.partial"))


def test_failed_fsync_raises_and_shows_no_shard(tmp_path, monkeypatch):
    import os

    def failing_fsync(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_split(samples(3), tmp_path, max_samples=1)
    assert not list(tmp_path.glob("shard-*.tar"))
    assert not (tmp_path / "SHA256SUMS").exists()


def test_without_fsync_same_bytes_no_fsync_call(tmp_path, monkeypatch):
    import os

    write_split(samples(3), tmp_path / "durable", max_samples=2)
    calls = []
    monkeypatch.setattr(os, "fsync", lambda descriptor: calls.append(descriptor))
    write_split(samples(3), tmp_path / "fast", max_samples=2, fsync=False)
    assert calls == []
    for name in ("shard-000000.tar", "shard-000001.tar", "SHA256SUMS", "index.json", "sizes.json"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "durable" / name).read_bytes()
    assert not list((tmp_path / "fast").glob("*.partial"))


def test_sha256_matches_tarfile_archive(tmp_path):
    """The streamed digest and bytes equal a plain tarfile archive of the same members."""
    summary = write_split(samples(3), tmp_path / "ours", max_samples=2)
    reference = io.BytesIO()
    with tarfile.open(fileobj=reference, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sample in list(samples(3))[:2]:
            for extension, data in sample.members.items():
                info = tarfile.TarInfo(f"{sample.key}.{extension}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
    written = (tmp_path / "ours" / "shard-000000.tar").read_bytes()
    assert written == reference.getvalue()
    assert summary.bytes["shard-000000.tar"] == len(written)
    sums = (tmp_path / "ours" / "SHA256SUMS").read_text().splitlines()
    assert f"{hashlib.sha256(written).hexdigest()}  shard-000000.tar" in sums


def test_rerun_removes_stale_shards(tmp_path):
    write_split(samples(5), tmp_path, max_samples=1)
    write_split(samples(2), tmp_path, max_samples=1)
    assert sorted(path.name for path in tmp_path.glob("shard-*.tar")) == [
        "shard-000000.tar",
        "shard-000001.tar",
    ]


def test_jpeg_is_key_frame(tmp_path):
    write_split(samples(1), tmp_path)
    with tarfile.open(tmp_path / "shard-000000.tar") as tar:
        image = np.asarray(Image.open(io.BytesIO(tar.extractfile(f"{key_for(0)}.jpg").read())))
        frames = np.load(io.BytesIO(tar.extractfile(f"{key_for(0)}.npy").read()))
    assert image.shape == (224, 224, 3)
    np.testing.assert_array_equal(frames, frames_for(0))
    # JPEG is lossy: the key frame (middle frame) must be much closer than any other frame.
    errors = [np.abs(image.astype(int) - frame.astype(int)).mean() for frame in frames]
    assert int(np.argmin(errors)) == FRAMES // 2


def test_webdataset_reads_samples(tmp_path):
    import webdataset as wds

    write_split(samples(5), tmp_path, max_samples=2)
    urls = [str(tmp_path / f"shard-{i:06d}.tar") for i in range(3)]
    dataset = wds.WebDataset(urls, shardshuffle=False).decode("rgb8")
    read = list(dataset)
    assert [sample["__key__"] for sample in read] == [key_for(i) for i in range(5)]
    for sample in read:
        assert set(sample) >= {"jpg", "json", "npy", "txt"}
        assert sample["jpg"].shape == (224, 224, 3)
        assert sample["npy"].shape == (FRAMES, 224, 224, 3)
        assert sample["json"]["clip_id"] == sample["__key__"]


def _open_clip_args(shards: str, is_train: bool) -> argparse.Namespace:
    return argparse.Namespace(
        train_data=shards if is_train else None,
        val_data=None if is_train else shards,
        train_num_samples=None,
        val_num_samples=6,
        dataset_resampled=False,
        train_data_upsampling_factors=None,
        seed=0,
        batch_size=3,
        workers=0,
        world_size=1,
    )


def _read_with_open_clip(tmp_path, is_train: bool):
    open_clip = pytest.importorskip("open_clip")
    from open_clip_train.data import get_wds_dataset

    write_split(samples(6), tmp_path, max_samples=2)
    _, _, preprocess = open_clip.create_model_and_transforms("RN50", pretrained=None)
    tokenizer = open_clip.get_tokenizer("RN50")
    args = _open_clip_args(str(tmp_path / "shard-{000000..000002}.tar"), is_train)
    data_info = get_wds_dataset(args, preprocess, is_train=is_train, tokenizer=tokenizer)
    return data_info, list(data_info.dataloader)


def test_open_clip_eval_loader_reads_shards(tmp_path):
    _, batches = _read_with_open_clip(tmp_path, is_train=False)
    assert [images.shape for images, _ in batches] == [(3, 3, 224, 224), (3, 3, 224, 224)]
    assert sum(texts.shape[0] for _, texts in batches) == 6


# open_clip's training loader breaks on webdataset >= 0.2.96 (KeyError 'fname'); pyproject pins 0.2.86.
def test_open_clip_train_loader_reads_shards(tmp_path):
    data_info, batches = _read_with_open_clip(tmp_path, is_train=True)
    assert data_info.dataloader.num_samples == 6
    assert batches[0][0].shape == (3, 3, 224, 224)


def _tables(count: int, tmp_path):
    rows, captions = [], []
    for index in range(count):
        path = tmp_path / f"frames_{index}.npy"
        np.save(path, frames_for(index))
        rows.append(
            {
                "clip_id": key_for(index),
                "subject_id": 10000000 + index,
                "study_id": 90000000 + index,
                "clip_kind": "b_mode_2d",
                "split": ["train", "val", "test"][index % 3],
                "view": "A4C",
                "view_coarse": "A4C",
                "view_confidence": 0.9,
                "cm_per_pixel_x": 0.05,
                "cm_per_pixel_y": 0.05,
                "frame_times_ms": [0.0, 33.3, 66.7, 100.0],
                "frames_path": str(path),
            }
        )
        captions.append(
            {
                "clip_id": key_for(index),
                "caption": f"Apical four-chamber view. LVEF {50 + index}%, normal.",
                "negatives": json.dumps([{"text": "x", "label": "lv_systolic_dysfunction", "flip": "grade"}]),
                "provenance": json.dumps({"numbers": []}),
                "findings_key": hashlib.sha256(str(index).encode()).hexdigest()[:16],
            }
        )
    labels = pd.DataFrame(
        [
            {
                "study_id": 90000000 + i,
                "label_id": "lv_systolic_dysfunction",
                "state": "absent",
                "severity": None,
            }
            for i in range(count)
        ]
    )
    measurements = pd.DataFrame(
        [
            {
                "study_id": 90000000 + i,
                "name": "lvef",
                "value": 50.0 + i,
                "unit": "%",
                "measurement_id": f"m{i}",
            }
            for i in range(count)
        ]
    )
    return pd.DataFrame(rows), pd.DataFrame(captions), labels, measurements


def test_write_shards_per_split(tmp_path):
    clips, captions, labels, measurements = _tables(6, tmp_path)
    summaries = write_shards(
        tmp_path / "shards", clips, captions, labels, measurements, ShardConfig(max_samples=1)
    )
    assert {split: summary.samples for split, summary in summaries.items()} == {
        "train": 2,
        "val": 2,
        "test": 2,
    }
    with tarfile.open(tmp_path / "shards/val/shard-000000.tar") as tar:
        metadata = json.loads(tar.extractfile(f"{key_for(1)}.json").read())
    assert metadata["split"] == "val"
    assert metadata["labels"] == {"lv_systolic_dysfunction": {"state": "absent", "severity": None}}
    assert metadata["measurements"]["lvef"]["value"] == 51.0
    assert metadata["frame_times_ms"] == [0.0, 33.3, 66.7, 100.0]
    expected = {
        "subject_id",
        "study_id",
        "clip_id",
        "split",
        "view",
        "view_coarse",
        "view_confidence",
        "clip_kind",
        "caption",
        "negatives",
        "labels",
        "findings_key",
        "measurements",
        "provenance",
        "cm_per_pixel_x",
        "cm_per_pixel_y",
        "frame_times_ms",
    }
    assert set(metadata) == expected


def test_write_shards_requires_split(tmp_path):
    clips, captions, labels, measurements = _tables(1, tmp_path)
    with pytest.raises(ValueError, match="split"):
        write_shards(tmp_path / "shards", clips.drop(columns="split"), captions, labels, measurements)
