"""Bad input to the ``echovlm`` command: truncated shards and out-of-range options fail with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import echovlm.evaluate as evaluate_module
import echovlm.train as train_module
from echovlm.cli import _TRAIN_OPTIONS, main
from echovlm.cli import train as train_command
from echovlm.data import LoaderConfig
from echovlm.model import EchoVLM, EchoVLMConfig
from echovlm.train import TrainConfig, TrainResult


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


# Train options: (option, first rejected value, lowest accepted value, TrainConfig attribute path).
TRAIN_RANGES = [
    ("--steps", "0", "1", "steps"),
    ("--steps", "-5", "1", "steps"),
    ("--embed-dim", "0", "1", "model.embed_dim"),
    ("--image-size", "31", "32", "model.image_size"),
    ("--text-max-length", "7", "8", "model.text_max_length"),
    ("--text-trainable-layers", "-1", "0", "model.text_trainable_layers"),
    ("--num-frames", "0", "1", "loader.num_frames"),
    ("--batch-size", "0", "2", "loader.batch_size"),
    ("--batch-size", "-1", "2", "loader.batch_size"),
    ("--batch-size", "1", "2", "loader.batch_size"),
    ("--workers", "-1", "0", "loader.num_workers"),
    ("--max-negatives", "-1", "0", "loader.max_negatives"),
    ("--samples-per-epoch", "0", "1", "samples_per_epoch"),
    ("--warmup-steps", "-1", "0", "warmup_steps"),
    ("--accumulation-steps", "0", "1", "accumulation_steps"),
    ("--log-every", "0", "1", "log_every"),
    ("--checkpoint-every", "0", "1", "checkpoint_every"),
    ("--val-every", "-1", "0", "val_every"),
    ("--threads", "0", "1", "threads"),
    ("--view-soft-target", "1.01", "1.0", "loss.view_soft_target"),
    ("--view-soft-target", "-0.01", "0.0", "loss.view_soft_target"),
    ("--view-cluster-weight", "-0.1", "0.0", "loss.view_cluster_weight"),
    ("--negation-weight", "-0.1", "0.0", "loss.negation_weight"),
    ("--lr", "0", "1e-9", "learning_rate"),
]


def _config_value(config: TrainConfig, path: str) -> object:
    value: object = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


@pytest.fixture
def captured_train(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[TrainConfig]:
    """Replace the training run with one that records its TrainConfig and returns at once."""
    configs: list[TrainConfig] = []

    def fake_train(shards_dir: Path, out_dir: Path, config: TrainConfig) -> TrainResult:
        configs.append(config)
        return TrainResult(Path(out_dir) / "model", 0, 0, 0.0, 0.0, 0.0, {})

    monkeypatch.setattr(train_module, "train", fake_train)
    return configs


def _train_arguments(tmp_path: Path, *extra: str) -> list[str]:
    return ["train", "--shards", str(tmp_path / "shards"), "--out", str(tmp_path / "run"), *extra]


@pytest.mark.parametrize(("option", "rejected", "accepted", "path"), TRAIN_RANGES)
def test_train_option_out_of_range(
    option: str, rejected: str, accepted: str, path: str, captured_train: list, tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, _train_arguments(tmp_path, f"{option}={rejected}"))
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': {rejected}" in result.output
    assert captured_train == []


@pytest.mark.parametrize(("option", "rejected", "accepted", "path"), TRAIN_RANGES)
def test_train_option_minimum_accepted(
    option: str, rejected: str, accepted: str, path: str, captured_train: list, tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, _train_arguments(tmp_path, f"{option}={accepted}"))
    assert result.exit_code == 0, result.output
    assert len(captured_train) == 1
    assert _config_value(captured_train[0], path) == float(accepted)


def test_train_defaults_leave_config_file(captured_train: list, tmp_path: Path) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text("steps: 7\nloader:\n  batch_size: 4\n", encoding="utf-8")
    arguments = _train_arguments(tmp_path, "--config", str(config_path))

    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert captured_train[0].steps == 7
    assert captured_train[0].loader.batch_size == 4
    assert captured_train[0].log_every == TrainConfig().log_every

    result = CliRunner().invoke(main, [*arguments, "--steps", "9"])
    assert result.exit_code == 0, result.output
    assert captured_train[1].steps == 9
    assert captured_train[1].loader.batch_size == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: 0\n", "steps=0: use an integer >= 1"),
        ("steps: -5\n", "steps=-5: use an integer >= 1"),
        ("log_every: 0\n", "log_every=0: use an integer >= 1"),
        ("checkpoint_every: 0\n", "checkpoint_every=0: use an integer >= 1"),
        ("accumulation_steps: 0\n", "accumulation_steps=0: use an integer >= 1"),
        ("loader:\n  batch_size: 1\n", "loader.batch_size=1: use an integer >= 2"),
        ("loader:\n  num_frames: 0\n", "loader.num_frames=0: use an integer >= 1"),
        ("model:\n  embed_dim: 0\n", "model.embed_dim=0: use an integer >= 1"),
        ("learning_rate: 1e-4\n", "learning_rate='1e-4': use a number > 0 (YAML 1.1"),
        ("learning_rate: 0\n", "learning_rate=0: use a number > 0"),
    ],
)
def test_train_config_file_out_of_range(
    text: str, message: str, captured_train: list, tmp_path: Path
) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, _train_arguments(tmp_path, "--config", str(config_path)))
    assert result.exit_code == 1
    assert "invalid training setting" in result.output
    assert message in result.output
    assert captured_train == []


@pytest.mark.parametrize(
    ("key", "minimum"),
    [
        ("steps", 1),
        ("samples_per_epoch", 1),
        ("warmup_steps", 0),
        ("accumulation_steps", 1),
        ("log_every", 1),
        ("checkpoint_every", 1),
        ("val_every", 0),
        ("val_batches", 1),
        ("threads", 1),
    ],
)
def test_train_config_minimums(key: str, minimum: int) -> None:
    assert getattr(TrainConfig(**{key: minimum}), key) == minimum
    with pytest.raises(ValueError, match=f"{key}={minimum - 1}: use an integer >= {minimum}"):
        TrainConfig(**{key: minimum - 1})


def test_train_help_shows_defaults() -> None:
    result = CliRunner().invoke(main, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Optimizer steps to train for.  [default: 1000; x>=1]" in result.output
    assert "[default: 0.0; 0.0<=x<=1.0]" in result.output
    assert "KEY.npy" not in result.output
    assert "frame array" in result.output


def test_train_option_defaults_match_config() -> None:
    defaults = TrainConfig().to_dict()
    options = {parameter.name: parameter for parameter in train_command.params}
    for name, section, field_name, _, _ in _TRAIN_OPTIONS:
        parameter = options[name.lstrip("-").replace("-", "_")]
        expected = defaults[section][field_name] if section else defaults[field_name]
        assert parameter.default == expected, name
        assert parameter.show_default == (expected is not None), name


def test_summary_json_has_no_nan(
    synthetic_shards: Path, tiny_config: EchoVLMConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loss of the last logged window is NaN, as when training diverges.
    monkeypatch.setattr(train_module, "_log_window", lambda *arguments: {"loss": float("nan")})
    config = TrainConfig(
        model=tiny_config,
        loader=LoaderConfig(batch_size=4, num_workers=0),
        steps=1,
        samples_per_epoch=8,
        threads=1,
    )
    train_module.train(synthetic_shards, tmp_path, config)
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"summary.json contains {name}"))
    assert summary["final_loss"] is None
    assert summary["steps"] == 1


# Evaluate options: (option, first rejected value, lowest accepted value).
EVALUATE_RANGES = [
    ("--batch-size", "0", "1"),
    ("--probe-samples", "0", "1"),
    ("--num-frames", "0", "1"),
    ("--workers", "-1", "0"),
]


@pytest.fixture
def captured_evaluate(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace the evaluation with one that records its arguments and returns at once."""
    calls: list[tuple] = []

    def fake_evaluate(*arguments: object) -> dict:
        calls.append(arguments)
        means = {"mean_auc": 0.5, "mean_auc_view": 0.5, "mean_auc_study": 0.5}
        return {"zero_shot": means, "zero_shot_counterfactual": means}

    monkeypatch.setattr(evaluate_module, "evaluate", fake_evaluate)
    return calls


def _evaluate_arguments(tmp_path: Path, *extra: str) -> list[str]:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    return ["evaluate", "--model", str(model), "--shards", str(tmp_path), "--out", str(tmp_path), *extra]


@pytest.mark.parametrize(("option", "rejected", "accepted"), EVALUATE_RANGES)
def test_evaluate_option_out_of_range(
    option: str, rejected: str, accepted: str, captured_evaluate: list, tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, _evaluate_arguments(tmp_path, f"{option}={rejected}"))
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': {rejected}" in result.output
    assert captured_evaluate == []

    result = CliRunner().invoke(main, _evaluate_arguments(tmp_path, f"{option}={accepted}"))
    assert result.exit_code == 0, result.output
    assert len(captured_evaluate) == 1


def test_evaluate_passes_checked_values(captured_evaluate: list, tmp_path: Path) -> None:
    arguments = ["--batch-size", "3", "--workers", "0", "--num-frames", "2", "--probe-samples", "7"]
    result = CliRunner().invoke(main, _evaluate_arguments(tmp_path, *arguments))
    assert result.exit_code == 0, result.output
    _, _, _, loader, probe_samples, device = captured_evaluate[0]
    assert (loader.batch_size, loader.num_workers, loader.num_frames) == (3, 0, 2)
    assert probe_samples == 7
    assert device == "cpu"


def test_evaluate_rejects_unknown_device(captured_evaluate: list, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, _evaluate_arguments(tmp_path, "--device", "nonsense"))
    assert result.exit_code == 2
    assert "Invalid value for '--device': 'nonsense' is not one of" in result.output
    assert "Traceback" not in result.output
    assert captured_evaluate == []


def test_evaluate_auto_device_resolved(captured_evaluate: list, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, _evaluate_arguments(tmp_path, "--device", "auto"))
    assert result.exit_code == 0, result.output
    assert captured_evaluate[0][-1] == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_evaluate_cuda_without_cuda(captured_evaluate: list, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, _evaluate_arguments(tmp_path, "--device", "cuda"))
    assert result.exit_code == 2
    assert "CUDA is not available" in result.output
    assert captured_evaluate == []


def test_evaluate_rejects_truncated_val_shard(
    synthetic_shards: Path, model_dir: Path, tmp_path: Path
) -> None:
    """A cut val shard is an error, not a quiet switch of the view probe to the train split."""
    root = tmp_path / "shards"
    shutil.copytree(synthetic_shards, root)
    val = root / "val" / "shard-000000.tar"
    val.write_bytes(val.read_bytes()[: 100 * 512])
    arguments = ["evaluate", "--model", str(model_dir), "--shards", str(root), "--workers", "0"]
    result = CliRunner().invoke(main, [*arguments, "--out", str(tmp_path / "eval")])
    assert result.exit_code == 1
    assert str(val) in result.output
    assert not (tmp_path / "eval" / "metrics.json").exists()


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
def test_negation_balance_reaches_loss_config(
    value: str, expected: bool, captured_train: list, tmp_path
) -> None:
    result = CliRunner().invoke(main, _train_arguments(tmp_path, "--negation-balance", value))
    assert result.exit_code == 0, result.output
    assert captured_train[0].loss.negation_balance is expected


def test_negation_balance_rejects_other_words(captured_train: list, tmp_path) -> None:
    result = CliRunner().invoke(main, _train_arguments(tmp_path, "--negation-balance", "maybe"))
    assert result.exit_code == 2
    assert "'maybe'" in result.output
    assert captured_train == []


def test_zero_shot_rejects_non_dicom(model_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "not_a_scan.dcm"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    result = CliRunner().invoke(main, ["zero-shot", str(fake), "--model", str(model_dir)])
    assert result.exit_code == 1
    assert f"{fake}: not a readable DICOM file" in result.output
    assert "Traceback" not in result.output


def test_evaluate_rejects_file_as_out(model_dir: Path, synthetic_shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "afile"
    out.write_text("x")
    arguments = ["evaluate", "--model", str(model_dir), "--shards", str(synthetic_shards), "--out", str(out)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1
    assert f"output folder {out} is a file" in result.output


def test_evaluate_rejects_samples_without_study_id(
    model_dir: Path, sample_factory, shard_writer, tmp_path: Path
) -> None:
    samples = [sample_factory(f"test{i}", split="test") for i in range(3)]
    del samples[1]["json"]["study_id"]
    root = shard_writer(samples)
    arguments = [
        "evaluate",
        "--model",
        str(model_dir),
        "--shards",
        str(root),
        "--out",
        str(tmp_path / "eval"),
    ]
    result = CliRunner().invoke(main, [*arguments, "--workers", "0"])
    assert result.exit_code == 1
    assert "1 samples of" in result.output
    assert "have no study_id in their JSON (e.g. clip_id 'test1')" in result.output
    assert not (tmp_path / "eval").exists()
