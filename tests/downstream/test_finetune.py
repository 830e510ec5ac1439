"""Fine-tuning, saving, evaluation and the commands, on tiny phantom copies."""

from __future__ import annotations

import json

import click
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from echovlm.downstream import (
    FinetuneConfig,
    evaluate_run,
    finetune,
    load_finetuned,
    open_dataset,
    write_report,
)
from echovlm.downstream.cli import evaluate_downstream
from echovlm.downstream.cli import finetune as finetune_group
from echovlm.downstream.data import DenseDataset
from echovlm.downstream.synthetic import write_camus, write_lvh

TINY = {"image_size": 32, "batch_size": 4, "decoder_width": 8}


@pytest.fixture(scope="module")
def camus_run(tmp_path_factory):
    root = write_camus(tmp_path_factory.mktemp("camus"), patients=6, size=(40, 32))
    dataset = open_dataset(root)
    run = finetune(dataset, tmp_path_factory.mktemp("run"), FinetuneConfig(epochs=4, **TINY))
    return dataset, run


def test_run_folder_contents(camus_run):
    _, run = camus_run
    names = {path.name for path in run.iterdir()}
    assert {"model.safetensors", "downstream.json", "curves.csv", "curves.png"} <= names
    description = json.loads((run / "downstream.json").read_text())
    assert description["labels"] == ["background", "lv_endocardium", "lv_myocardium", "left_atrium"]


def test_training_loss_falls(camus_run):
    curves = pd.read_csv(camus_run[1] / "curves.csv")
    assert len(curves) == 4
    assert curves.train_loss.iloc[-1] < curves.train_loss.iloc[0]


def test_reloaded_model_matches_saved(camus_run):
    dataset, run = camus_run
    model, description = load_finetuned(run)
    item = DenseDataset(dataset.split("train")[:1], 32, description["image_mean"], description["image_std"])[
        0
    ]
    with torch.no_grad():
        first = model(item["pixels"][None])
        second = load_finetuned(run)[0](item["pixels"][None])
    assert torch.equal(first, second)
    assert first.shape == (1, 4, 32, 32)


def test_evaluation_scores_at_original_size(camus_run, tmp_path):
    dataset, run = camus_run
    result = evaluate_run(run, dataset, "train")
    assert result["samples"] == len(dataset.split("train"))
    assert set(result["dice"]) == {"lv_endocardium", "lv_myocardium", "left_atrium"}
    assert 0.0 <= result["mean_dice"] <= 1.0
    report = write_report(result, tmp_path / "report", run_dir=run)
    text = report.read_text()
    assert "| lv_myocardium |" in text
    assert (tmp_path / "report" / "curves.png").is_file()
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["mean_dice"] == pytest.approx(result["mean_dice"])


def test_evaluation_rejects_other_task(camus_run, tmp_path):
    lvh = open_dataset(write_lvh(tmp_path / "lvh", videos=3, size=(32, 40)))
    with pytest.raises(ValueError, match=r"predicts segment .* needs landmark"):
        evaluate_run(camus_run[1], lvh, "train")


def test_no_training_records(tmp_path):
    root = write_lvh(tmp_path / "lvh", videos=2, size=(32, 40))
    table = pd.read_csv(root / "MeasurementsList.csv")
    table["split"] = "test"
    table.to_csv(root / "MeasurementsList.csv", index=False)
    with pytest.raises(ValueError, match=r"no training records"):
        finetune(open_dataset(root), tmp_path / "run", FinetuneConfig(epochs=1, **TINY))


def test_config_rejects_odd_image_size():
    with pytest.raises(ValueError, match=r"image_size 100 is invalid"):
        FinetuneConfig(image_size=100)


def test_landmark_commands(tmp_path):
    root = write_lvh(tmp_path / "lvh", videos=10, size=(32, 40))
    commands = click.Group(commands=[finetune_group, evaluate_downstream])
    runner = CliRunner()
    common = ["--image-size", "32", "--epochs", "1", "--batch-size", "4"]
    result = runner.invoke(
        commands,
        [
            *("finetune", "landmark", "--dataset-root", str(root), "--out", str(tmp_path / "run")),
            *(*common, "--test-split", "train"),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "report" / "metrics.json").read_text())
    assert set(metrics["measurement_abs_error_mm"]) == {"IVSd", "LVIDd", "LVPWd"}
    assert metrics["landmark_error_mm"]["n"] == 8

    result = runner.invoke(
        commands,
        [
            "evaluate-downstream",
            *("--run", str(tmp_path / "run"), "--dataset-root", str(root)),
            *("--split", "train", "--out", str(tmp_path / "again")),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Mean landmark error" in (tmp_path / "again" / "report.md").read_text()


def test_segment_command_on_landmark_dataset(tmp_path):
    root = write_lvh(tmp_path / "lvh", videos=2, size=(32, 40))
    result = CliRunner().invoke(
        finetune_group, ["segment", "--dataset-root", str(root), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 1
    assert "echonet-lvh, which is a landmark dataset" in result.output
