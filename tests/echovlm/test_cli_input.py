"""Bad input to the ``echovlm`` command: truncated shards and out-of-range options fail with one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from echovlm.cli import main
from echovlm.model import EchoVLM, EchoVLMConfig


@pytest.fixture
def truncated_shards(synthetic_shards: Path, tmp_path: Path) -> Path:
    """A copy of the synthetic shards whose first train and test shards are cut to 100 blocks."""
    root = tmp_path / "shards"
    shutil.copytree(synthetic_shards, root)
    for split in ("train", "test"):
        tar = root / split / "shard-000000.tar"
        tar.write_bytes(tar.read_bytes()[: 100 * 512])
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_config: EchoVLMConfig) -> Path:
    """An untrained tiny model saved like an exported one."""
    directory = tmp_path_factory.mktemp("model")
    EchoVLM(tiny_config).save_pretrained(directory)
    return directory


def test_train_rejects_truncated_shard(truncated_shards: Path, tmp_path: Path) -> None:
    arguments = ["train", "--shards", str(truncated_shards), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1
    assert "TruncatedShardError" in result.output
    assert str(truncated_shards / "train" / "shard-000000.tar") in result.output
    assert "51200 bytes" in result.output
    assert "echoground build" in result.output
    assert not (tmp_path / "run").exists()


def test_evaluate_rejects_truncated_shard(truncated_shards: Path, model_dir: Path, tmp_path: Path) -> None:
    arguments = ["evaluate", "--model", str(model_dir), "--shards", str(truncated_shards)]
    result = CliRunner().invoke(main, [*arguments, "--out", str(tmp_path / "eval"), "--workers", "0"])
    assert result.exit_code == 1
    assert "TruncatedShardError" in result.output
    assert str(truncated_shards / "test" / "shard-000000.tar") in result.output
    assert "51200 bytes" in result.output
    assert not (tmp_path / "eval" / "metrics.json").exists()
