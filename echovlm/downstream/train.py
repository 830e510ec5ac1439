"""Fine-tune a segmentation or landmark head on the EchoVLM image encoder and save it with its curves.

A run folder contains ``model.safetensors`` (encoder, decoder and head), ``downstream.json`` (what is
needed to rebuild the model and read its outputs), ``curves.csv`` and ``curves.png``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from echovlm.downstream.data import DenseDataset
from echovlm.downstream.encoder import feature_maps_of, load_encoder
from echovlm.downstream.heads import DenseModel, dice_loss, landmark_loss, soft_argmax
from echovlm.downstream.samples import LANDMARK, SEGMENT, DownstreamDataset
from echovlm.model.config import IMAGENET_MEAN, IMAGENET_STD, EchoVLMConfig
from echovlm.model.image import build_backbone

logger = logging.getLogger(__name__)

RUN_CONFIG = "downstream.json"
WEIGHTS = "model.safetensors"
CURVES_CSV = "curves.csv"
CURVES_PNG = "curves.png"


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run.

    Attributes:
        model_dir: An exported EchoVLM model whose image encoder is fine-tuned; None starts
            ``image_model`` from random weights.
        image_model: Backbone used when ``model_dir`` is None: ``tiny_cnn`` or a torchvision ResNet.
        image_size: Side of the square model input, in pixels.
        epochs: Passes over the training split.
        batch_size: Images per optimisation step.
        learning_rate: AdamW learning rate of the decoder and head.
        encoder_learning_rate: AdamW learning rate of the encoder; None uses ``learning_rate``.
        weight_decay: AdamW weight decay.
        freeze_encoder: Train only the decoder and head; the encoder keeps its weights and BatchNorm
            statistics.
        decoder_width: Channels of every decoder stage.
        heatmap_sigma: Standard deviation of the Gaussian landmark targets, in model-input pixels.
        augment: Random brightness gain and gamma on training images.
        seed: Seed of weights, batch order and augmentation.
        max_train_samples: Use at most this many training records (None: all).
        max_val_samples: Use at most this many validation records per evaluation (None: all).
        device: Torch device, e.g. ``cpu`` or ``cuda``.
    """

    model_dir: str | None = None
    image_model: str = "tiny_cnn"
    image_size: int = 224
    epochs: int = 20
    batch_size: int = 8
    learning_rate: float = 2e-3
    encoder_learning_rate: float | None = None
    weight_decay: float = 1e-4
    freeze_encoder: bool = False
    decoder_width: int = 64
    heatmap_sigma: float = 2.0
    augment: bool = True
    seed: int = 0
    max_train_samples: int | None = None
    max_val_samples: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(
                f"image_size {self.image_size} is invalid: use a multiple of 32, at least 32 pixels"
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs {self.epochs} and batch_size {self.batch_size} must be at least 1")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate {self.learning_rate} must be positive")


def _outputs(dataset: DownstreamDataset) -> int:
    return len(dataset.labels)


def build_model(
    task: str, outputs: int, image_model: str, decoder_width: int, model_dir: str | None = None
) -> tuple[DenseModel, str]:
    """Build the dense model; with ``model_dir`` the encoder starts from that EchoVLM model's weights."""
    if task not in (SEGMENT, LANDMARK):
        raise ValueError(f"task {task!r} is invalid; use {SEGMENT!r} or {LANDMARK!r}")
    encoder, source = load_encoder(model_dir, image_model)
    return DenseModel(encoder, outputs, decoder_width), source


def _normalisation(config: FinetuneConfig) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    if config.model_dir is None:
        return IMAGENET_MEAN, IMAGENET_STD, config.image_model
    echovlm_config = EchoVLMConfig.load(Path(config.model_dir))
    if echovlm_config.image_size != config.image_size:
        logger.warning(
            "EchoVLM model %s was trained at %d px; fine-tuning at %d px",
            config.model_dir,
            echovlm_config.image_size,
            config.image_size,
        )
    return echovlm_config.image_mean, echovlm_config.image_std, echovlm_config.image_model


def _loss(task: str, outputs: torch.Tensor, batch: dict[str, torch.Tensor], sigma: float) -> torch.Tensor:
    if task == SEGMENT:
        masks = batch["mask"]
        return torch.nn.functional.cross_entropy(outputs.float(), masks) + dice_loss(outputs, masks)
    return landmark_loss(outputs, batch["points"], sigma)


@torch.no_grad()
def _validate(
    model: DenseModel, loader: DataLoader, task: str, classes: int, sigma: float, device: str
) -> dict[str, float]:
    """Return the loss and the task metric at model resolution: foreground Dice or landmark error (px)."""
    model.eval()
    losses, scores = [], []
    for batch in loader:
        batch = {key: value.to(device) for key, value in batch.items()}
        outputs = model(batch["pixels"])
        losses.append(float(_loss(task, outputs, batch, sigma)))
        if task == SEGMENT:
            predicted = outputs.argmax(dim=1)
            for label in range(1, classes):
                overlap = ((predicted == label) & (batch["mask"] == label)).sum(dim=(1, 2)).float()
                total = (predicted == label).sum(dim=(1, 2)).float() + (batch["mask"] == label).sum(
                    dim=(1, 2)
                ).float()
                present = total > 0
                scores += (2 * overlap[present] / total[present]).tolist()
        else:
            errors = (soft_argmax(outputs) - batch["points"]).norm(dim=-1)
            scores += errors.flatten().tolist()
    metric = float(np.mean(scores)) if scores else float("nan")
    return {"loss": float(np.mean(losses)) if losses else float("nan"), "metric": metric}


def finetune(dataset: DownstreamDataset, out_dir: str | Path, config: FinetuneConfig) -> Path:
    """Fine-tune on the ``train`` split, validate on ``val`` after every epoch, and save the best epoch.

    The best epoch has the highest validation Dice (segmentation) or the lowest validation landmark
    error (landmarks); without a validation split the last epoch is kept.

    Returns:
        The run folder ``out_dir``.

    Raises:
        ValueError: if the dataset has no training records.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    task = dataset.task
    train_records = dataset.split("train")[: config.max_train_samples]
    val_records = dataset.split("val")[: config.max_val_samples]
    if not train_records:
        raise ValueError(
            f"{dataset.root}: the {dataset.name} copy has no training records; check its split column"
        )
    mean, std, image_model = _normalisation(config)
    model, source = build_model(task, _outputs(dataset), image_model, config.decoder_width, config.model_dir)
    model.to(config.device)
    model.set_encoder_trainable(not config.freeze_encoder)

    encoder_parameters = [parameter for parameter in model.encoder.parameters() if parameter.requires_grad]
    head_parameters = [*model.decoder.parameters(), *model.head.parameters()]
    groups = [{"params": head_parameters, "lr": config.learning_rate}]
    if encoder_parameters:
        groups.append(
            {"params": encoder_parameters, "lr": config.encoder_learning_rate or config.learning_rate}
        )
    optimiser = torch.optim.AdamW(groups, weight_decay=config.weight_decay)

    train_set = DenseDataset(
        train_records, config.image_size, mean, std, augment=config.augment, seed=config.seed
    )
    val_set = DenseDataset(val_records, config.image_size, mean, std)
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, generator=generator, drop_last=False
    )
    val_loader = DataLoader(val_set, batch_size=config.batch_size)
    steps = config.epochs * math.ceil(len(train_set) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=[group["lr"] for group in groups], total_steps=steps, pct_start=0.15
    )
    logger.info(
        "fine-tuning %s on %s: %d train / %d val records, %d epochs, %d steps, encoder %s%s",
        task,
        dataset.name,
        len(train_set),
        len(val_set),
        config.epochs,
        steps,
        source,
        " (frozen)" if config.freeze_encoder else "",
    )

    curves: list[dict[str, float]] = []
    better = (lambda new, old: new > old) if task == SEGMENT else (lambda new, old: new < old)
    best_metric: float | None = None
    best_state = None
    step = 0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_losses = []
        for batch in train_loader:
            batch = {key: value.to(config.device) for key, value in batch.items()}
            loss = _loss(task, model(batch["pixels"]), batch, config.heatmap_sigma)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            epoch_losses.append(loss.item())
            step += 1
        row = {"epoch": epoch, "step": step, "train_loss": float(np.mean(epoch_losses))}
        if len(val_set):
            validation = _validate(
                model, val_loader, task, _outputs(dataset), config.heatmap_sigma, config.device
            )
            row.update(val_loss=validation["loss"], val_metric=validation["metric"])
        row["seconds"] = round(time.perf_counter() - started, 1)
        curves.append(row)
        logger.info(
            "epoch %d/%d: %s", epoch, config.epochs, {key: round(value, 4) for key, value in row.items()}
        )
        metric = row.get("val_metric")
        if metric is None or best_metric is None or math.isnan(best_metric) or better(metric, best_metric):
            best_metric = metric
            best_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
            best_epoch = epoch

    model.load_state_dict(best_state)
    _save_run(out_dir, model, dataset, config, mean, std, image_model, source, best_epoch, best_metric)
    write_curves(out_dir, curves, task)
    return out_dir


def _save_run(
    out_dir: Path,
    model: DenseModel,
    dataset: DownstreamDataset,
    config: FinetuneConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    image_model: str,
    source: str,
    best_epoch: int,
    best_metric: float | None,
) -> None:
    from safetensors.torch import save_model

    description = {
        "task": dataset.task,
        "dataset": dataset.name,
        "dataset_root": str(dataset.root),
        "labels": list(dataset.labels),
        "measurements": {name: list(pair) for name, pair in dataset.measurements.items()},
        "image_model": image_model,
        "image_size": config.image_size,
        "image_mean": list(mean),
        "image_std": list(std),
        "decoder_width": config.decoder_width,
        "encoder_source": source,
        "best_epoch": best_epoch,
        "best_val_metric": best_metric,
        "finetune": asdict(config),
    }
    (out_dir / RUN_CONFIG).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    save_model(model.cpu(), str(out_dir / WEIGHTS))
    logger.info("saved the fine-tuned %s model (epoch %d) to %s", dataset.task, best_epoch, out_dir)


def load_finetuned(run_dir: str | Path, device: str = "cpu") -> tuple[DenseModel, dict]:
    """Load a model saved by :func:`finetune` and its ``downstream.json`` description.

    Raises:
        FileNotFoundError: if ``downstream.json`` or ``model.safetensors`` is missing in ``run_dir``.
    """
    from safetensors.torch import load_model

    run_dir = Path(run_dir)
    for name in (RUN_CONFIG, WEIGHTS):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(
                f"{run_dir / name} not found: pass a folder written by `echovlm finetune`"
            )
    description = json.loads((run_dir / RUN_CONFIG).read_text(encoding="utf-8"))
    backbone, _ = build_backbone(description["image_model"])
    model = DenseModel(
        feature_maps_of(backbone, description["image_model"]),
        len(description["labels"]),
        description["decoder_width"],
    )
    load_model(model, str(run_dir / WEIGHTS), strict=True, device=str(device))
    return model.to(device).eval(), description


def write_curves(out_dir: Path, curves: list[dict[str, float]], task: str) -> None:
    """Write the per-epoch training curves as ``curves.csv`` and ``curves.png``."""
    columns = ["epoch", "step", "train_loss", "val_loss", "val_metric", "seconds"]
    with open(out_dir / CURVES_CSV, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in curves:
            writer.writerow({column: row.get(column, "") for column in columns})

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in curves]
    figure, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss_axis.plot(epochs, [row["train_loss"] for row in curves], label="train")
    if any("val_loss" in row for row in curves):
        loss_axis.plot(epochs, [row.get("val_loss", float("nan")) for row in curves], label="validation")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="Loss")
    loss_axis.legend()
    metric_label = "mean foreground Dice" if task == SEGMENT else "landmark error (model px)"
    metric_axis.plot(epochs, [row.get("val_metric", float("nan")) for row in curves], color="tab:green")
    metric_axis.set(xlabel="epoch", ylabel=metric_label, title=f"Validation {metric_label}")
    figure.tight_layout()
    figure.savefig(out_dir / CURVES_PNG, dpi=110)
    plt.close(figure)
