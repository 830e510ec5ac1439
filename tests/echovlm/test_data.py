"""Shard input: discovery errors, skipped bad samples with counts, seeded order and batching."""

from __future__ import annotations

import io
import itertools
import tarfile
from pathlib import Path

import numpy as np
import pytest

from echoground.shards import make_sample, write_split
from echovlm.data import (
    LoaderConfig,
    SeededShardSampler,
    ShardError,
    TruncatedShardError,
    build_loader,
    find_shards,
)
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


def _write_real_shard(root: Path) -> Path:
    """Write one shard of three 2-frame samples with the EchoGround writer and return its path."""
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 224, 224, 3), dtype=np.uint8)
    samples = [
        make_sample(f"k{index:03d}", frames[0], "Apical four-chamber view.", {"split": "train"}, frames)
        for index in range(3)
    ]
    write_split(samples, root / "train", fsync=False)
    return root / "train" / "shard-000000.tar"


def test_intact_shard_passes_check(tmp_path: Path) -> None:
    tar = _write_real_shard(tmp_path)
    assert tar.stat().st_size % tarfile.RECORDSIZE == 0
    assert find_shards(tmp_path, "train").urls == (str(tar),)


# A positive cut keeps that many bytes from the start, and a negative one drops bytes from the end.
@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (-1, "not a multiple of 512"),
        (-511, "not a multiple of 512"),
        (-513, "not a multiple of 512"),
        (-tarfile.RECORDSIZE, "no end-of-archive zero blocks"),
        (100 * 512, "no end-of-archive zero blocks"),
        (100 * 512 + 7, "not a multiple of 512"),
        (512, "no end-of-archive zero blocks"),
        (1024, "no end-of-archive zero blocks"),
    ],
)
def test_truncated_shard_rejected(tmp_path: Path, cut: int, reason: str) -> None:
    tar = _write_real_shard(tmp_path)
    data = tar.read_bytes()
    size = cut if cut > 0 else len(data) + cut
    tar.write_bytes(data[:size])
    with pytest.raises(TruncatedShardError) as raised:
        find_shards(tmp_path, "train")
    message = str(raised.value)
    assert str(tar) in message
    assert f"{size} bytes" in message
    assert reason in message
    assert "echoground build" in message


def test_truncated_shards_listed_up_to_five(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    for index in range(7):
        (tmp_path / "train" / f"shard-{index:06d}.tar").write_bytes(bytes(700))
    with pytest.raises(TruncatedShardError) as raised:
        find_shards(tmp_path, "train")
    message = str(raised.value)
    assert message.startswith("7 truncated shard file(s)")
    assert "shard-000004.tar (700 bytes, not a multiple of 512)" in message
    assert "shard-000005.tar" not in message
    assert "and 2 more" in message


def test_cut_in_record_padding_passes(tmp_path: Path) -> None:
    # Python's tarfile pads to a whole 10240-byte record after the two end blocks. Losing part of that
    # padding loses no sample, so the check accepts it.
    tar = _write_real_shard(tmp_path)
    data = tar.read_bytes()
    tar.write_bytes(data[:-1024])
    assert find_shards(tmp_path, "train").urls == (str(tar),)


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


def test_malformed_metadata_skipped_with_field(
    sample_factory, shard_writer, tiny_config: EchoVLMConfig, caplog
) -> None:
    bad_label = sample_factory("badlabel")
    bad_label["json"]["labels"]["mitral_regurgitation"] = None
    labels_list = sample_factory("labelslist")
    labels_list["json"]["labels"] = ["mitral_regurgitation"]
    negative_text = sample_factory("negativetext")
    negative_text["json"]["negatives"] = ["Severe mitral regurgitation."]
    negatives_dict = sample_factory("negativesdict")
    negatives_dict["json"]["negatives"] = {"text": "x"}
    no_labels = sample_factory("nolabels")
    del no_labels["json"]["labels"]
    root = shard_writer(
        [sample_factory("good"), bad_label, labels_list, negative_text, negatives_dict, no_labels]
    )
    with caplog.at_level("WARNING"):
        batches = _loader(root, tiny_config, train=False)
    keys = sorted(key for batch in batches for key in batch["keys"])
    # A sample without labels is still usable for training; wrong types are not.
    assert keys == ["good", "nolabels"]
    assert sum(batch["skipped"].get("invalid_metadata", 0) for batch in batches) == 4
    assert "'labels'['mitral_regurgitation'] is None" in caplog.text
    assert "'negatives'[0] is 'Severe mitral regurgitation.'" in caplog.text


def test_caption_falls_back_to_json(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    root = shard_writer([sample_factory("k1", txt=None)])
    batches = _loader(root, tiny_config, train=False)
    assert batches[0]["captions"] == ["Apical four-chamber view. No mitral regurgitation."]


def _garbage_tar(text: bytes) -> bytes:
    """Return bytes that are no tar file but pass the size and end-block check of ``find_shards``."""
    return text + bytes(-len(text) % 512) + bytes(1024)


def test_corrupt_tar_skipped(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    root = shard_writer([sample_factory(f"k{i}") for i in range(4)], samples_per_shard=4)
    (root / "train" / "shard-000001.tar").write_bytes(_garbage_tar(b"this is not a tar file" * 50))
    batches = _loader(root, tiny_config, train=False)
    assert sum(len(batch["keys"]) for batch in batches) == 4
    assert sum(batch["skipped"].get("unreadable_shard", 0) for batch in batches) >= 1


def test_all_corrupt_raises_instead_of_hanging(tmp_path: Path, tiny_config: EchoVLMConfig) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "shard-000000.tar").write_bytes(_garbage_tar(b"garbage" * 100))
    with pytest.raises(ShardError, match="consecutive"):
        _loader(tmp_path, tiny_config, train=True, max_consecutive_failures=20)


def test_training_order_follows_seed(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    root = shard_writer([sample_factory(f"k{i:02d}") for i in range(30)], samples_per_shard=10)
    first = [batch["keys"] for batch in _loader(root, tiny_config, train=True, shuffle_buffer=20)]
    second = [batch["keys"] for batch in _loader(root, tiny_config, train=True, shuffle_buffer=20)]
    assert first == second
    assert len(first) == 3
    assert all(len(keys) == 4 for keys in first)


def _train_keys(shards: Path, config: EchoVLMConfig, seed: int, epoch: int, workers: int = 0) -> list:
    loader_config = LoaderConfig(batch_size=4, num_workers=workers, shuffle_buffer=20)
    tokenizer = load_tokenizer(config.text_model)
    split = find_shards(shards, "train")
    loader = build_loader(
        split, config, tokenizer, loader_config, train=True, seed=seed, epoch=epoch, batches_per_epoch=4
    )
    return [batch["keys"] for batch in loader]


def test_training_order_changes_with_seed_epoch(
    sample_factory, shard_writer, tiny_config: EchoVLMConfig
) -> None:
    root = shard_writer([sample_factory(f"k{i:02d}") for i in range(30)], samples_per_shard=10)
    base = _train_keys(root, tiny_config, seed=5, epoch=0)
    assert _train_keys(root, tiny_config, seed=5, epoch=0) == base
    assert _train_keys(root, tiny_config, seed=6, epoch=0) != base
    assert _train_keys(root, tiny_config, seed=5, epoch=1) != base


def test_training_order_changes_with_rank(
    sample_factory, shard_writer, tiny_config: EchoVLMConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = shard_writer([sample_factory(f"k{i:02d}") for i in range(30)], samples_per_shard=10)
    monkeypatch.setenv("RANK", "0")
    rank_zero = _train_keys(root, tiny_config, seed=5, epoch=0)
    monkeypatch.setenv("RANK", "1")
    rank_one = _train_keys(root, tiny_config, seed=5, epoch=0)
    assert rank_one == _train_keys(root, tiny_config, seed=5, epoch=0)
    assert rank_one != rank_zero


def test_training_workers_differ(sample_factory, shard_writer, tiny_config: EchoVLMConfig) -> None:
    root = shard_writer([sample_factory(f"k{i:02d}") for i in range(30)], samples_per_shard=10)
    batches = _train_keys(root, tiny_config, seed=5, epoch=0, workers=2)
    assert len(batches) == 4
    # The DataLoader takes batches from its two workers in turn, so batches 0 and 2 come from worker 0 and
    # batches 1 and 3 from worker 1.
    assert batches[0] != batches[1]
    assert batches[2] != batches[3]
    assert _train_keys(root, tiny_config, seed=5, epoch=0, workers=2) == batches


def _draw_urls(seed: int, rank: int, count: int = 60) -> list[str]:
    sampler = SeededShardSampler(("a.tar", "b.tar", "c.tar"), seed=seed, epoch=0, rank=rank)
    return [item["url"] for item in itertools.islice(sampler, count)]


def test_shard_sampler_draws_with_replacement() -> None:
    draws = _draw_urls(seed=1, rank=0)
    assert set(draws) == {"a.tar", "b.tar", "c.tar"}
    # Sampling without replacement would make every aligned window of three a permutation of the shards.
    assert any(len(set(draws[start : start + 3])) < 3 for start in range(0, 60, 3))
    assert _draw_urls(seed=1, rank=0) == draws
    assert _draw_urls(seed=1, rank=1) != draws
    assert _draw_urls(seed=2, rank=0) != draws


def test_evaluation_workers_read_each_sample_once(
    sample_factory, shard_writer, tiny_config: EchoVLMConfig
) -> None:
    root = shard_writer([sample_factory(f"k{i:02d}") for i in range(10)], samples_per_shard=3)
    loader_config = LoaderConfig(batch_size=4, num_workers=2)
    tokenizer = load_tokenizer(tiny_config.text_model)
    loader = build_loader(find_shards(root, "train"), tiny_config, tokenizer, loader_config, train=False)
    keys = [key for batch in loader for key in batch["keys"]]
    assert sorted(keys) == [f"k{i:02d}" for i in range(10)]


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
