"""Training runs: outputs, learning, resume, mismatched checkpoints, bad input and DDP with gloo."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from echovlm.checkpoint import CheckpointMismatchError
from echovlm.data import LoaderConfig, ShardError
from echovlm.losses import LossConfig
from echovlm.model import EchoVLM, EchoVLMConfig
from echovlm.train import TrainConfig, train


def _config(model: EchoVLMConfig, steps: int, **overrides) -> TrainConfig:
    values = {
        "model": model,
        "loss": LossConfig(view_soft_target=0.5, view_cluster_weight=0.2, negation_weight=0.5),
        "loader": LoaderConfig(batch_size=8, num_workers=1, shuffle_buffer=50),
        "steps": steps,
        "samples_per_epoch": 64,
        "learning_rate": 3e-3,
        "warmup_steps": 1,
        "log_every": 1,
        "checkpoint_every": 2,
        "threads": 1,
    }
    return TrainConfig(**(values | overrides))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, synthetic_shards: Path, tiny_config: EchoVLMConfig) -> Path:
    out = tmp_path_factory.mktemp("run")
    train(synthetic_shards, out, _config(tiny_config, steps=14, val_every=7, val_batches=2))
    return out


def test_run_writes_outputs(trained_run: Path) -> None:
    rows = _rows(trained_run / "metrics.csv")
    train_rows = [row for row in rows if row["loss"]]
    val_rows = [row for row in rows if row["val_loss"]]
    summary = json.loads((trained_run / "summary.json").read_text())
    assert [int(row["step"]) for row in train_rows] == list(range(1, 15))
    assert len(val_rows) == 2
    assert all(row["loss_negation"] and row["loss_view"] for row in train_rows)
    assert (trained_run / "curves.png").stat().st_size > 0
    assert (trained_run / "checkpoints" / "last.pt").is_file()
    assert summary["steps"] == 14
    assert summary["samples"] == 14 * 8
    assert summary["skipped"] == {}


def test_run_lowers_loss(trained_run: Path) -> None:
    losses = [float(row["loss_clip"]) for row in _rows(trained_run / "metrics.csv") if row["loss"]]
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4


def test_run_model_loads(trained_run: Path) -> None:
    model = EchoVLM.from_pretrained(trained_run / "model")
    assert model.embed_texts(["No mitral regurgitation."]).shape == (1, 32)


def test_resume_continues_from_checkpoint(
    synthetic_shards: Path, tiny_config: EchoVLMConfig, tmp_path: Path
) -> None:
    train(synthetic_shards, tmp_path, _config(tiny_config, steps=2))
    result = train(synthetic_shards, tmp_path, _config(tiny_config, steps=3))
    steps = [int(row["step"]) for row in _rows(tmp_path / "metrics.csv")]
    assert steps == [1, 2, 3]
    assert result.steps == 3


def test_resume_from_other_config_rejected(
    synthetic_shards: Path, tiny_config: EchoVLMConfig, tmp_path: Path
) -> None:
    train(synthetic_shards, tmp_path, _config(tiny_config, steps=1))
    other = EchoVLMConfig.from_dict(tiny_config.to_dict() | {"embed_dim": 16})
    with pytest.raises(CheckpointMismatchError, match="embed_dim: 32 -> 16"):
        train(synthetic_shards, tmp_path, _config(other, steps=2))


def test_missing_shards_rejected(tiny_config: EchoVLMConfig, tmp_path: Path) -> None:
    with pytest.raises(ShardError, match="not found"):
        train(tmp_path / "absent", tmp_path / "run", _config(tiny_config, steps=1))


def test_unusable_samples_raise(
    sample_factory, shard_writer, tiny_config: EchoVLMConfig, tmp_path: Path
) -> None:
    root = shard_writer([sample_factory(f"k{i}", jpg=None) for i in range(5)])
    config = _config(
        tiny_config, steps=1, loader=LoaderConfig(batch_size=2, num_workers=0, max_consecutive_failures=30)
    )
    with pytest.raises(ShardError, match="missing_image"):
        train(root, tmp_path / "run", config)


@pytest.mark.slow
def test_two_process_ddp_gloo(synthetic_shards: Path, tiny_config: EchoVLMConfig, tmp_path: Path) -> None:
    config = _config(
        tiny_config, steps=2, loader=LoaderConfig(batch_size=4, num_workers=1, shuffle_buffer=20)
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config.to_dict()))
    script = (
        "import json, sys\n"
        "from echovlm.train import TrainConfig, train\n"
        "config = TrainConfig.from_dict(json.load(open(sys.argv[3])))\n"
        "train(sys.argv[1], sys.argv[2], config)\n"
    )
    script_path = tmp_path / "run_ddp.py"
    script_path.write_text(script)
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
    ]
    command = [*launcher, str(script_path), str(synthetic_shards), str(tmp_path / "run"), str(config_path)]
    environment = os.environ | {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["steps"] == 2
    assert summary["samples"] == 2 * 4 * 2
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
