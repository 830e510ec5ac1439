"""The ``echovlm finetune segment|landmark`` and ``echovlm evaluate-downstream`` commands."""

from __future__ import annotations

from pathlib import Path

import click

from echovlm.downstream.samples import LANDMARK, SEGMENT

_DATASET_ROOT = click.option(
    "--dataset-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Dataset folder as distributed: CAMUS, EchoNet-Dynamic, EchoNet-Pediatric (or its A4C/ folder) "
    "or EchoNet-LVH; the layout is detected.",
)


def _check_device(context: click.Context, parameter: click.Parameter, value: str) -> str:
    """Return ``value`` if torch parses it as a device (cpu, cuda, cuda:1, ...); else raise a usage error."""
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError) as error:
        raise click.BadParameter(f"{value!r} is not a torch device; use cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter(f"{value!r} was requested but CUDA is not available; use cpu")
    return value


_DEVICE = click.option(
    "--device",
    default="cpu",
    show_default=True,
    callback=_check_device,
    help="Torch device: cpu, cuda or cuda:N.",
)


def _finetune_options(function):
    options = [
        _DATASET_ROOT,
        click.option(
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            required=True,
            help="Run folder to write: model, downstream.json, training curves and the test report.",
        ),
        click.option(
            "--model",
            "model_dir",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            default=None,
            help="Exported EchoVLM model folder whose image encoder is fine-tuned; omit to start "
            "--image-model from random weights.",
        ),
        click.option(
            "--image-model",
            default="tiny_cnn",
            show_default=True,
            help="Backbone used without --model: tiny_cnn or a torchvision ResNet name.",
        ),
        click.option(
            "--image-size",
            type=click.IntRange(min=32),
            default=224,
            show_default=True,
            help="Model input side, in pixels.",
        ),
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            default=20,
            show_default=True,
            help="Passes over the training split.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=8,
            show_default=True,
            help="Images per optimisation step.",
        ),
        click.option(
            "--lr",
            type=click.FloatRange(min=0.0, min_open=True),
            default=2e-3,
            show_default=True,
            help="Peak learning rate of decoder and head.",
        ),
        click.option(
            "--encoder-lr",
            type=click.FloatRange(min=0.0, min_open=True),
            default=None,
            help="Peak learning rate of the encoder (default: --lr).",
        ),
        click.option(
            "--freeze-encoder", is_flag=True, help="Train only the decoder and head; keep the encoder fixed."
        ),
        click.option(
            "--max-train-samples",
            type=click.IntRange(min=1),
            default=None,
            help="Use at most this many training images.",
        ),
        click.option(
            "--seed", default=0, show_default=True, help="Seed of weights, batch order and augmentation."
        ),
        _DEVICE,
        click.option(
            "--test-split",
            default="test",
            show_default=True,
            type=click.Choice(["train", "val", "test"]),
            help="Split scored after training; the report goes to OUT/report/.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _run_finetune(task: str, dataset_root: Path, out: Path, test_split: str, **settings) -> None:
    from echovlm.downstream.evaluate import evaluate_run
    from echovlm.downstream.layout import open_dataset
    from echovlm.downstream.report import write_report
    from echovlm.downstream.train import FinetuneConfig, finetune

    try:
        dataset = open_dataset(dataset_root, task)
        model_dir = settings.pop("model_dir")
        config = FinetuneConfig(
            model_dir=str(model_dir) if model_dir else None,
            learning_rate=settings.pop("lr"),
            encoder_learning_rate=settings.pop("encoder_lr"),
            **settings,
        )
        finetune(dataset, out, config)
        if not dataset.split(test_split):
            click.echo(f"model written to {out}; the {test_split} split is empty, so no report was written")
            return
        result = evaluate_run(out, dataset, test_split, device=config.device)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    report = write_report(result, out / "report", run_dir=out)
    click.echo(f"model written to {out}; report: {report}")


@click.group("finetune")
def finetune() -> None:
    """Fine-tune the EchoVLM image encoder with a segmentation or landmark head."""


@finetune.command("segment")
@_finetune_options
def segment(**settings) -> None:
    """Segment the LV (EchoNet) or LV, myocardium and LA (CAMUS); scored by Dice per structure."""
    _run_finetune(SEGMENT, **settings)


@finetune.command("landmark")
@_finetune_options
def landmark(**settings) -> None:
    """Locate the IVSd, LVIDd and LVPWd caliper ends (EchoNet-LVH); scored in mm and pixels."""
    _run_finetune(LANDMARK, **settings)


@click.command("evaluate-downstream")
@click.option(
    "--run",
    "run_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Run folder written by `echovlm finetune`.",
)
@_DATASET_ROOT
@click.option(
    "--split",
    default="test",
    show_default=True,
    type=click.Choice(["train", "val", "test"]),
    help="Split to score.",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Report folder to write."
)
@click.option(
    "--max-samples",
    type=click.IntRange(min=1),
    default=None,
    help="Score at most this many images of the split.",
)
@_DEVICE
def evaluate_downstream(
    run_dir: Path, dataset_root: Path, split: str, out: Path, max_samples: int | None, device: str
) -> None:
    """Score a fine-tuned model on a dataset split and write metrics.json, report.md and figures."""
    from echovlm.downstream.evaluate import evaluate_run
    from echovlm.downstream.layout import open_dataset
    from echovlm.downstream.report import write_report

    try:
        dataset = open_dataset(dataset_root)
        result = evaluate_run(run_dir, dataset, split, max_samples, device)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"report: {write_report(result, out, run_dir=run_dir)}")
