"""The ``echovlm`` command: train, evaluate and use the EchoVLM model."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from echoground.cli import UserErrorGroup
from echoground.logs import setup_logging
from echovlm import __version__

# Hugging Face libraries must never download at run time; models load from local files only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tokenizers run inside forked loader workers; their own thread pool would deadlock or warn there.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _Group(UserErrorGroup):
    """Print user input errors (see ``USER_INPUT_ERRORS``) as one line unless the log level is DEBUG."""

    logger_name = "echovlm"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="echovlm")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    envvar="ECHOGROUND_LOG_LEVEL",
    help="Minimum severity of log records written to stderr.",
)
def main(log_level: str) -> None:
    """EchoVLM: a CLIP-style echo image-text model trained on EchoGround shards."""
    setup_logging(level=getattr(logging, log_level.upper()))


def _read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text)


# (option name, section of TrainConfig or None for top level, field, type, help). The help shows the
# TrainConfig default, which applies when neither the option nor --config sets a value.
_TRAIN_OPTIONS: list[tuple[str, str | None, str, Any, str]] = [
    (
        "--image-model",
        "model",
        "image_model",
        str,
        "Image backbone: torchvision name, tiny_cnn, or HF model dir.",
    ),
    (
        "--image-weights",
        "model",
        "image_weights",
        str,
        "Starting weights file for a torchvision backbone (default: none, random initialisation).",
    ),
    ("--image-size", "model", "image_size", click.IntRange(min=32), "Input image side, in pixels."),
    (
        "--temporal-pooling",
        "model",
        "temporal_pooling",
        click.Choice(["mean", "attention"]),
        "Frame pooling.",
    ),
    (
        "--text-model",
        "model",
        "text_model",
        str,
        "Text model: HF name in the local cache or a local directory.",
    ),
    (
        "--text-max-length",
        "model",
        "text_max_length",
        click.IntRange(min=8),
        "Maximum caption length, in tokens.",
    ),
    (
        "--text-trainable-layers",
        "model",
        "text_trainable_layers",
        click.IntRange(min=0),
        "Top text layers that train (0: none; default: all).",
    ),
    ("--embed-dim", "model", "embed_dim", click.IntRange(min=1), "Size of the shared embedding space."),
    (
        "--batch-size",
        "loader",
        "batch_size",
        click.IntRange(min=2),
        "Samples per batch on each process; at least 2, because the contrastive loss contrasts each "
        "sample with the others of its batch.",
    ),
    (
        "--workers",
        "loader",
        "num_workers",
        click.IntRange(min=0),
        "Data loader worker processes per training process (0: load in the training process).",
    ),
    (
        "--num-frames",
        "loader",
        "num_frames",
        click.IntRange(min=1),
        "Frames per clip, sampled evenly from the clip's frame array in the shard (1: the key frame "
        "image only).",
    ),
    (
        "--max-negatives",
        "loader",
        "max_negatives",
        click.IntRange(min=0),
        "Counterfactual captions per sample per step.",
    ),
    (
        "--view-soft-target",
        "loss",
        "view_soft_target",
        click.FloatRange(0.0, 1.0),
        "Target mass of same-view same-findings pairs, from 0 (plain CLIP targets) to 1 (full positives).",
    ),
    (
        "--view-cluster-weight",
        "loss",
        "view_cluster_weight",
        click.FloatRange(min=0.0),
        "Weight of the view clustering term (0: off).",
    ),
    (
        "--negation-weight",
        "loss",
        "negation_weight",
        click.FloatRange(min=0.0),
        "Weight of the counterfactual-negative term (0: off).",
    ),
    (
        "--negation-balance",
        "loss",
        "negation_balance",
        click.BOOL,
        "true: each counterfactual kind (polarity to present, polarity to absent, grade) gets equal "
        "total weight in the counterfactual-negative term.",
    ),
    ("--steps", None, "steps", click.IntRange(min=1), "Optimizer steps to train for."),
    (
        "--samples-per-epoch",
        None,
        "samples_per_epoch",
        click.IntRange(min=1),
        "Samples per epoch, all processes (default: the total in the train split's sizes.json).",
    ),
    ("--lr", None, "learning_rate", click.FloatRange(min=0.0, min_open=True), "Peak learning rate."),
    (
        "--warmup-steps",
        None,
        "warmup_steps",
        click.IntRange(min=0),
        "Linear warm-up, in optimizer steps (0: none).",
    ),
    (
        "--accumulation-steps",
        None,
        "accumulation_steps",
        click.IntRange(min=1),
        "Micro-batches per optimizer step.",
    ),
    ("--seed", None, "seed", int, "Seed of initialisation and data order."),
    (
        "--log-every",
        None,
        "log_every",
        click.IntRange(min=1),
        "Optimizer steps between progress lines and CSV rows.",
    ),
    (
        "--checkpoint-every",
        None,
        "checkpoint_every",
        click.IntRange(min=1),
        "Optimizer steps between checkpoints (one is always written at the end).",
    ),
    (
        "--val-every",
        None,
        "val_every",
        click.IntRange(min=0),
        "Optimizer steps between validation losses (0: never).",
    ),
    ("--device", None, "device", click.Choice(["auto", "cpu", "cuda"]), "Device to train on."),
    (
        "--precision",
        None,
        "precision",
        click.Choice(["auto", "bf16", "fp32"]),
        "auto: bf16 on CUDA, fp32 on CPU.",
    ),
    (
        "--threads",
        None,
        "threads",
        click.IntRange(min=1),
        "torch CPU threads per process (default: the torch default).",
    ),
]


def _option_parameter(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


def _train_options(function: Any) -> Any:
    """Add the ``_TRAIN_OPTIONS`` to ``function``, each with its TrainConfig default shown in the help."""
    from echovlm.train import TrainConfig

    defaults = TrainConfig().to_dict()
    for name, section, field_name, kind, help_text in reversed(_TRAIN_OPTIONS):
        default = defaults[section][field_name] if section else defaults[field_name]
        function = click.option(
            name, type=kind, default=default, show_default=default is not None, help=help_text
        )(function)
    return function


@main.command()
@click.option(
    "--shards",
    "shards_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Shards folder holding train/ (and val/, test/).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Run folder for checkpoints, curves and the exported model.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML or JSON training settings (sections model, loss, loader); options override it.",
)
@click.option("--no-resume", is_flag=True, help="Start afresh even if the run folder contains a checkpoint.")
@_train_options
def train(shards_dir: Path, out_dir: Path, config_path: Path | None, no_resume: bool, **options: Any) -> None:
    """Train EchoVLM on WebDataset shards (run under torchrun for several GPUs or nodes).

    Options given on the command line override --config, and the defaults shown apply to settings
    that neither sets.
    """
    from echovlm.train import TrainConfig
    from echovlm.train import train as run_training

    context = click.get_current_context()
    values = _read_config_file(config_path)
    for name, section, field_name, _, _ in _TRAIN_OPTIONS:
        parameter = _option_parameter(name)
        if context.get_parameter_source(parameter) is ParameterSource.DEFAULT:
            continue
        value = options[parameter]
        target = values.setdefault(section, {}) if section else values
        target[field_name] = value
    if no_resume:
        values["resume"] = False
    result = run_training(shards_dir, out_dir, TrainConfig.from_dict(values))
    click.echo(f"model: {result.model_dir}")


@main.command()
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Exported EchoVLM model directory (a run's model/ folder), scored on --shards.",
)
@click.option(
    "--shards",
    "shards_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Shards folder holding test/ and val/ or train/ (with --model).",
)
@click.option(
    "--run",
    "finetune_run",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Run folder of 'echovlm finetune segment|landmark', scored on --dataset-root instead of --model.",
)
@click.option(
    "--dataset-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Downstream dataset as distributed (CAMUS, EchoNet-Dynamic/-Pediatric, EchoNet-LVH; with --run).",
)
@click.option(
    "--split",
    default="test",
    show_default=True,
    type=click.Choice(["train", "val", "test"]),
    help="Downstream split to score (with --run).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for metrics.json, report.md and plots.",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Samples per batch."
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Data loader worker processes (0: load in the main process).",
)
@click.option(
    "--num-frames",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Frames per clip, sampled evenly from the clip's frame array in the shard (1: the key frame "
    "image only).",
)
@click.option(
    "--probe-samples",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Maximum samples (count) read from the val split, or train when val is missing. They fit the view "
    "and label probes and give the captions of the counterfactual zero-shot pairs.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Device to run on (auto: CUDA when available, else CPU).",
)
@click.pass_context
def evaluate(
    context: click.Context,
    model_dir: Path | None,
    shards_dir: Path | None,
    finetune_run: Path | None,
    dataset_root: Path | None,
    split: str,
    out_dir: Path,
    batch_size: int,
    workers: int,
    num_frames: int,
    probe_samples: int,
    device: str,
) -> None:
    """Evaluate EchoVLM (--model, --shards) or a fine-tuned downstream model (--run, --dataset-root).

    EchoVLM is scored on the test split: zero-shot AUC, retrieval, view probe and negation probe.
    A downstream run is scored with Dice per structure or landmark error in mm.
    """
    device = _resolve_device(device)
    if finetune_run is not None:
        if dataset_root is None:
            raise click.UsageError("--run needs --dataset-root, the dataset the model was fine-tuned on")
        from echovlm.downstream.cli import evaluate_downstream

        context.invoke(
            evaluate_downstream,
            run_dir=finetune_run,
            dataset_root=dataset_root,
            split=split,
            out=out_dir,
            max_samples=None,
            device=device,
        )
        return
    if model_dir is None or shards_dir is None:
        raise click.UsageError(
            "pass --model and --shards (EchoVLM), or --run and --dataset-root (downstream)"
        )

    from echovlm.data import LoaderConfig
    from echovlm.evaluate import evaluate as run_evaluation

    loader = LoaderConfig(batch_size=batch_size, num_workers=workers, num_frames=num_frames)
    metrics = run_evaluation(model_dir, shards_dir, out_dir, loader, probe_samples, device)

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    for name, key in (
        ("template prompts", "zero_shot"),
        ("counterfactual pairs", "zero_shot_counterfactual"),
    ):
        result = metrics[key]
        click.echo(
            f"mean zero-shot AUC, {name}: every clip {number(result['mean_auc'])}, view shows label "
            f"{number(result['mean_auc_view'])}, per study {number(result['mean_auc_study'])}"
        )
    click.echo(f"report: {out_dir / 'report.md'}")


def _resolve_device(device: str) -> str:
    """Map ``auto`` to ``cuda`` or ``cpu``, and reject ``cuda`` on a machine without CUDA."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter(
            "'cuda' was requested but CUDA is not available: use cpu or auto", param_hint="--device"
        )
    return device


@main.command("zero-shot")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Exported model directory.",
)
@click.option(
    "--labels", default="all", show_default=True, help="Comma-separated canonical label ids, or 'all'."
)
def zero_shot(image: Path, model_dir: Path, labels: str) -> None:
    """Print P(present) per label for an image file or a DICOM file (its middle frame).

    P(present) is the softmax over the label's present and absent template prompts at the model's
    temperature: a score for ranking images, not a calibrated probability of disease.
    """
    from echovlm.model import EchoVLM
    from echovlm.prompts import CANONICAL_LABELS
    from echovlm.zero_shot import predict_labels

    chosen = list(CANONICAL_LABELS) if labels == "all" else [label.strip() for label in labels.split(",")]
    unknown = [label for label in chosen if label not in CANONICAL_LABELS]
    if unknown:
        raise click.BadParameter(
            f"unknown labels {unknown}; use ids from {list(CANONICAL_LABELS)}", param_hint="--labels"
        )
    model = EchoVLM.from_pretrained(model_dir)
    for label, probability in predict_labels(model, image, chosen).items():
        click.echo(f"{label}\t{probability:.3f}")


@main.command()
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Training checkpoint, e.g. RUN/checkpoints/last.pt.",
)
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Model directory to write."
)
def export(checkpoint: Path, out_dir: Path) -> None:
    """Export a training checkpoint as a standalone model directory."""
    from echovlm.export import export_checkpoint

    click.echo(f"model: {export_checkpoint(checkpoint, out_dir)}")


def _register_downstream_commands() -> None:
    from echovlm.downstream.cli import evaluate_downstream, finetune

    main.add_command(finetune)
    main.add_command(evaluate_downstream)


_register_downstream_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
