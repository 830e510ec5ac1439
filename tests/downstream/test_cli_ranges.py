"""Option checks of ``echovlm finetune`` and ``evaluate-downstream``: bad values fail before any work."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from echovlm.cli import main


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--epochs", "0"),
        ("--batch-size", "0"),
        ("--lr", "0"),
        ("--encoder-lr", "-1e-3"),
        ("--image-size", "31"),
        ("--max-train-samples", "0"),
        ("--device", "nonsense"),
    ],
)
def test_finetune_rejects_bad_value(option: str, value: str, tmp_path) -> None:
    arguments = ["finetune", "segment", "--dataset-root", str(tmp_path), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, [*arguments, option, value])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output
    assert not (tmp_path / "run").exists()


def test_device_message_names_the_forms(tmp_path) -> None:
    arguments = ["finetune", "landmark", "--dataset-root", str(tmp_path), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, [*arguments, "--device", "gpu0"])
    assert result.exit_code == 2
    assert "'gpu0' is not a torch device; use cpu, cuda or cuda:N" in result.output


def test_cuda_without_cuda_rejected(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    arguments = ["finetune", "segment", "--dataset-root", str(tmp_path), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, [*arguments, "--device", "cuda:1"])
    assert result.exit_code == 2
    assert "CUDA is not available" in result.output


@pytest.mark.parametrize(("option", "value"), [("--max-samples", "0"), ("--device", "nonsense")])
def test_evaluate_downstream_rejects_bad_value(option: str, value: str, tmp_path) -> None:
    arguments = ["evaluate-downstream", "--run", str(tmp_path), "--dataset-root", str(tmp_path)]
    result = CliRunner().invoke(main, [*arguments, "--out", str(tmp_path / "report"), option, value])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output
