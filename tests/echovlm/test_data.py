"""Shard input: discovery errors, skipped bad samples with counts, seeded order and batching."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from echovlm.data import LoaderConfig, ShardError, build_loader, find_shards
from echovlm.model import EchoVLMConfig
from echovlm.model.text import load_tokenizer


def _loader(shards: Path, config: EchoVLMConfig, train: bool, **options) -> list[dict]:
    loader_config = LoaderConfig(batch_size=options.pop("batch_size", 4), num_workers=0, **options)
    tokenizer = load_tokenizer(config.text_model)
    split = find_shards(shards, "train")
    extra = {"batches_per_epoch": 3, "seed": 5} if train else {}
    return list(build_loader(split, config, tokenizer, loader_config, train=train, **extra))


def test_missing_shard_directory(tmp_path: Path) -> None:
    with pytest.raises(ShardError, match=r"shard directory .* not found"):
        find_shards(tmp_path / "nowhere", "train")


def test_missing_split_folder(sample_factory, shard_writer) -> None:
    root = shard_writer([sample_factory("k1", split="test")])
    with pytest.raises(ShardError, match=r"split folder .*train not found"):
        find_shards(root, "train")


def test_empty_split_folder(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(ShardError, match=r"no \.tar shards"):
        find_shards(tmp_path, "train")


def test_sizes_json_counts_samples(sample_factory, shard_writer) -> None:
    root = shard_writer([sample_factory(f"k{i}") for i in range(7)], samples_per_shard=3)
    split = find_shards(root, "train")
    assert len(split.urls) == 3
    assert split.samples == 7


def test_sizes_json_naming_missing_shard(sample_factory, shard_writer) -> None:
    root = shard_writer([sample_factory("k1")])
    (root / "train" / "sizes.json").write_text('{"shard-000000.tar": 1, "shard-000009.tar": 4}')
    with pytest.raises(ShardError, match=r"shard-000009\.tar"):
        find_shards(root, "train")


def test_bad_samples_skipped_and_counted(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    samples = [sample_factory(f"good{i}") for i in range(4)]
    no_caption = sample_factory("nocaption", txt=None)
    no_caption["json"]["caption"] = ""
    samples += [
        no_caption,
        sample_factory("noimage", jpg=None),
        sample_factory("badimage", jpg=b"not a jpeg"),
        sample_factory("badview", view="Apical_9"),
    ]
    root = shard_writer(samples)
    batches = _loader(root, tiny_config, train=False)
    keys = [key for batch in batches for key in batch["keys"]]
    skipped: dict[str, int] = {}
    for batch in batches:
        for reason, count in batch["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + count
    assert sorted(keys) == [f"good{i}" for i in range(4)]
    assert skipped == {"missing_caption": 1, "missing_image": 1, "invalid_image": 1, "unknown_view": 1}


def test_caption_falls_back_to_json(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    root = shard_writer([sample_factory("k1", txt=None)])
    batches = _loader(root, tiny_config, train=False)
    assert batches[0]["captions"] == ["Apical four-chamber view. No mitral regurgitation."]


def test_corrupt_tar_skipped(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    root = shard_writer([sample_factory(f"k{i}") for i in range(4)], samples_per_shard=4)
    (root / "train" / "shard-000001.tar").write_bytes(b"this is not a tar file" * 50)
    batches = _loader(root, tiny_config, train=False)
    assert sum(len(batch["keys"]) for batch in batches) == 4
    assert sum(batch["skipped"].get("unreadable_shard", 0) for batch in batches) >= 1


def test_all_corrupt_raises_instead_of_hanging(tmp_path: Path, tiny_config: EchoVLMConfig) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "shard-000000.tar").write_bytes(b"garbage" * 100)
    with pytest.raises(ShardError, match="consecutive"):
        _loader(tmp_path, tiny_config, train=True, max_consecutive_failures=20)


def test_training_order_follows_seed(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    root = shard_writer([sample_factory(f"k{i:02d}") for i in range(30)], samples_per_shard=10)
    first = [batch["keys"] for batch in _loader(root, tiny_config, train=True, shuffle_buffer=20)]
    second = [batch["keys"] for batch in _loader(root, tiny_config, train=True, shuffle_buffer=20)]
    assert first == second
    assert len(first) == 3
    assert all(len(keys) == 4 for keys in first)


def test_batch_tensors_and_negatives(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    samples = [sample_factory("a"), sample_factory("b", view="PLAX"), sample_factory("c")]
    samples[2]["json"]["negatives"] = []
    samples[2]["json"]["findings_key"] = "other"
    batch = _loader(shard_writer(samples), tiny_config, train=False)[0]
    assert batch["pixels"].shape == (3, 1, 3, 32, 32)
    assert batch["negative_valid"].tolist() == [[True], [True], [False]]
    assert batch["negative_input_ids"].shape[0] == 2
    assert batch["findings_ids"].tolist() == [0, 0, 1]
    assert batch["view_ids"][0] != batch["view_ids"][1]


def test_frames_read_from_npy(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    frames = np.zeros((5, 224, 224, 3), dtype=np.uint8)
    samples = [sample_factory("clip", npy=frames), sample_factory("still")]
    batch = _loader(shard_writer(samples), tiny_config, train=False, num_frames=3)[0]
    assert batch["pixels"].shape[:2] == (2, 3)
    assert batch["frame_mask"].tolist() == [[True, True, True], [True, False, False]]


def test_pickled_npy_rejected(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    samples = [sample_factory("pickled", npy=buffer.getvalue()), sample_factory("fine")]
    batches = _loader(shard_writer(samples), tiny_config, train=False, num_frames=3)
    assert [key for batch in batches for key in batch["keys"]] == ["fine"]
