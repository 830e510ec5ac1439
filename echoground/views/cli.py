"""``echoground views``: train the view classifier, predict views of DICOM files, run the view stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from echoground.views.checkpoint import BACKENDS

if TYPE_CHECKING:
    from echoground.views.classifier import ViewClassifier

DEFAULT_MODEL_DIR = Path(__file__).with_name("default_model")


def _resolve_checkpoint(checkpoint: Path | None) -> Path:
    if checkpoint is not None:
        return checkpoint
    if (DEFAULT_MODEL_DIR / "view_model.json").is_file():
        return DEFAULT_MODEL_DIR
    raise click.ClickException(
        f"no view model given and no default model in {DEFAULT_MODEL_DIR}; train one with "
        "'echoground views train --labels CSV --out DIR' and pass '--checkpoint DIR'"
    )


def _load(checkpoint: Path | None, backend: str, device: str) -> ViewClassifier:
    from echoground.views.checkpoint import CheckpointError, load_classifier

    try:
        return load_classifier(_resolve_checkpoint(checkpoint), backend=backend, device=device)
    except CheckpointError as error:
        raise click.ClickException(str(error)) from error


checkpoint_option = click.option(
    "--checkpoint",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="View model folder or weights file. Default: the model shipped in echoground/views/default_model.",
)
backend_option = click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="auto",
    show_default=True,
    help="Checkpoint format; 'auto' reads it from view_model.json or a Hugging Face config.json.",
)
device_option = click.option(
    "--device", default="cpu", show_default=True, help="Torch device to run the model on, e.g. cpu or cuda."
)
threshold_option = click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Calibrated probability (0-1) below which a clip's view is reported as 'uncertain'.",
)


@click.group()
def views() -> None:
    """Train, predict and evaluate the view classifier."""


@views.command()
@click.option(
    "--labels",
    "labels_csv",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with a dicom_path or dicom_filepath column and a view column (fine view or alias).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output model folder.",
)
@click.option(
    "--dicom-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder that relative DICOM paths are resolved against. Default: the CSV's folder.",
)
@click.option("--epochs", type=click.IntRange(1), default=12, show_default=True, help="Training epochs.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True, help="Frames per step.")
@click.option(
    "--input-size",
    type=click.IntRange(16),
    default=112,
    show_default=True,
    help="Network input side in pixels.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the patient split and training."
)
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue from OUT/checkpoints.")
@device_option
def train(
    labels_csv: Path,
    out_dir: Path,
    dicom_root: Path | None,
    epochs: int,
    batch_size: int,
    input_size: int,
    seed: int,
    resume: bool,
    device: str,
) -> None:
    """Train the default view model on labelled DICOMs, split by patient, and write its evaluation."""
    from echoground.views.labels import LabelError
    from echoground.views.train import TrainConfig, ViewTrainingError, train_view_model
    from echoground.views.vocabulary import UnknownViewError

    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, input_size=input_size, seed=seed, device=device
    )
    try:
        metrics = train_view_model(labels_csv, out_dir, dicom_root=dicom_root, config=config, resume=resume)
    except (LabelError, UnknownViewError, ViewTrainingError) as error:
        raise click.ClickException(str(error)) from error
    test = metrics["test"]
    click.echo(
        f"view model written to {out_dir}: test accuracy {test['accuracy']:.4f} on {test['clips']} clips "
        f"of held-out patients, ECE {test['ece']:.4f}, temperature {metrics['temperature']:.3f}"
    )


@views.command()
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@checkpoint_option
@backend_option
@device_option
@threshold_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array instead of one line per file.")
def predict(
    paths: tuple[Path, ...],
    checkpoint: Path | None,
    backend: str,
    device: str,
    threshold: float,
    as_json: bool,
) -> None:
    """Predict the view of each DICOM file: view, coarse view, confidence, clip kind."""
    from echoground.views.predict import ClassMapError, predict_files
    from echoground.views.preprocess import ClipFramesError

    model = _load(checkpoint, backend, device)
    try:
        results = predict_files(list(paths), model, threshold=threshold)
    except (ClipFramesError, ClassMapError) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for result in results:
        confidence = "n/a" if result["confidence"] is None else f"{result['confidence']:.3f}"
        click.echo(
            f"{result['path']}\t{result['clip_kind']}\t{result['view']}\t{result['view_coarse']}\t{confidence}"
        )


@views.command()
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Run folder with clips.parquet and frames/ from the DICOM stage.",
)
@checkpoint_option
@backend_option
@device_option
@threshold_option
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Clips per batch.")
def stage(
    run_dir: Path, checkpoint: Path | None, backend: str, device: str, threshold: float, batch_size: int
) -> None:
    """Run the view stage on a run folder; write views.parquet and add ledger rows."""
    import pandas as pd

    from echoground.ledger import Ledger
    from echoground.views.predict import predict_clips

    clips_path = run_dir / "clips.parquet"
    if not clips_path.is_file():
        raise click.ClickException(f"{clips_path} not found; run the DICOM stage on this run folder first")
    model = _load(checkpoint, backend, device)
    ledger = Ledger()
    views_table = predict_clips(
        pd.read_parquet(clips_path), run_dir / "frames", model, threshold, batch_size, ledger=ledger
    )
    views_table.to_parquet(run_dir / "views.parquet", index=False)
    ledger.write(run_dir / "views_ledger.parquet")
    counts = views_table["view"].value_counts(dropna=False).to_dict()
    click.echo(f"views written to {run_dir / 'views.parquet'}: {counts}")
