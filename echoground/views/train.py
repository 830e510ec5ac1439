"""Train the default view model on (DICOM path, view) labels, split by patient, with resumable checkpoints.

Output folder layout:
    view_model.json, model.safetensors   the final model (best validation epoch, calibrated)
    metrics.json, confusion_matrix.png, MODEL_CARD.md   evaluation on the held-out test patients
    splits.csv                           each labelled clip with its patient and split
    checkpoints/                         last epoch's weights, optimizer state and progress; best weights
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as functional
from safetensors.torch import load_file, save_file

from echoground.views.calibration import fit_temperature
from echoground.views.checkpoint import CheckpointError, write_checkpoint
from echoground.views.classifier import ViewClassifier
from echoground.views.evaluate import compute_metrics, write_evaluation
from echoground.views.frames import read_dicom_clip
from echoground.views.labels import LabeledClip, read_labels
from echoground.views.network import ARCHITECTURE, EchoViewNet
from echoground.views.preprocess import (
    ClipFramesError,
    ImageSpec,
    check_clip_frames,
    frames_to_tensor,
    sample_frame_indices,
)
from echoground.views.vocabulary import Vocabulary, load_vocabulary

logger = logging.getLogger(__name__)

FrameLoader = Callable[[Path], np.ndarray]


class ViewTrainingError(ValueError):
    """Training cannot start or continue: too few patients, a bad clip, or a mismatched resume state."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of view model training.

    Attributes:
        epochs: Passes over the training clips.
        batch_size: Frames per optimisation step.
        learning_rate: Peak AdamW learning rate, decayed by a cosine over the epochs.
        weight_decay: AdamW weight decay.
        input_size: Side in pixels of the network input.
        frames_per_clip: Frames kept per clip, for training samples and for clip-level evaluation.
        samples_per_clip: Random frames drawn from each training clip per epoch.
        seed: Seed of weight initialisation, sampling and augmentation; also of the patient split.
        val_fraction: Fraction of patients held out for model selection and temperature fitting.
        test_fraction: Fraction of patients held out for the reported metrics.
        device: Torch device.
    """

    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    input_size: int = 112
    frames_per_clip: int = 4
    samples_per_clip: int = 4
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.frames_per_clip < 1 or self.samples_per_clip < 1:
            raise ValueError("epochs, batch_size, frames_per_clip and samples_per_clip must be at least 1")
        if not (
            0 < self.val_fraction < 1
            and 0 < self.test_fraction < 1
            and self.val_fraction + self.test_fraction < 1
        ):
            raise ValueError(
                f"val_fraction {self.val_fraction} and test_fraction {self.test_fraction} must be in (0, 1) "
                "and sum to less than 1"
            )


def split_subjects(subject_ids: Sequence[int], config: TrainConfig) -> dict[int, str]:
    """Assign each patient to train, val or test: a seeded shuffle cut at the configured fractions.

    Each held-out split gets at least one patient.

    Raises:
        ViewTrainingError: fewer than 3 distinct patients.
    """
    subjects = sorted(set(int(subject) for subject in subject_ids))
    if len(subjects) < 3:
        raise ViewTrainingError(
            f"view training needs at least 3 patients for a train/val/test split, got {len(subjects)}"
        )
    order = np.random.default_rng(config.seed).permutation(len(subjects))
    test_count = max(1, round(config.test_fraction * len(subjects)))
    val_count = max(1, round(config.val_fraction * len(subjects)))
    if test_count + val_count >= len(subjects):
        test_count, val_count = 1, 1
    assignment = {}
    for position, index in enumerate(order):
        if position < test_count:
            assignment[subjects[index]] = "test"
        elif position < test_count + val_count:
            assignment[subjects[index]] = "val"
        else:
            assignment[subjects[index]] = "train"
    return assignment


def _prepare_clip(frames: np.ndarray, clip: LabeledClip, spec: ImageSpec, count: int) -> torch.Tensor:
    frames = check_clip_frames(frames, str(clip.dicom_path))
    indices = sample_frame_indices(frames.shape[0], count)
    return frames_to_tensor(frames[indices], spec).to(torch.float16)


def _default_loader(path: Path) -> np.ndarray:
    return read_dicom_clip(path).frames


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply a random small rotation, scale and shift, and a random gain and offset, per image."""
    count = images.shape[0]
    angle = (torch.rand(count, generator=generator) - 0.5) * math.radians(20)
    scale = 0.9 + 0.2 * torch.rand(count, generator=generator)
    shift = (torch.rand(count, 2, generator=generator) - 0.5) * 0.16
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = functional.affine_grid(theta, list(images.shape), align_corners=False)
    # Pad with the value of black (0 before normalisation) so the sector edge stays a black border.
    black = images.amin(dim=(1, 2, 3), keepdim=True)
    moved = functional.grid_sample(images - black, grid, align_corners=False, padding_mode="zeros") + black
    gain = 0.8 + 0.4 * torch.rand(count, 1, 1, 1, generator=generator)
    offset = (torch.rand(count, 1, 1, 1, generator=generator) - 0.5) * 0.4
    return moved * gain + offset


def _save_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> dict[str, Any]:
    """Write optimizer tensors to safetensors and return the JSON-safe remainder (param groups)."""
    state = optimizer.state_dict()
    tensors = {
        f"{index}.{key}": value.detach().cpu().contiguous()
        for index, entry in state["state"].items()
        for key, value in entry.items()
    }
    save_file(tensors, str(path))
    return {"param_groups": state["param_groups"]}


def _load_optimizer(optimizer: torch.optim.Optimizer, path: Path, groups: dict[str, Any]) -> None:
    nested: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in load_file(str(path)).items():
        index, key = name.split(".", 1)
        nested.setdefault(int(index), {})[key] = tensor
    optimizer.load_state_dict({"state": nested, "param_groups": groups["param_groups"]})


class _Trainer:
    """One training run: data, model, optimizer and the checkpoint folder."""

    def __init__(
        self,
        clips: list[LabeledClip],
        tensors: list[torch.Tensor],
        classes: list[str],
        assignment: dict[int, str],
        out_dir: Path,
        config: TrainConfig,
        vocabulary: Vocabulary,
        labels_name: str,
    ) -> None:
        self.clips, self.tensors, self.classes = clips, tensors, classes
        self.assignment, self.out_dir, self.config = assignment, out_dir, config
        self.vocabulary, self.labels_name = vocabulary, labels_name
        self.spec = ImageSpec(size=config.input_size, channels=1)
        self.targets = torch.tensor([classes.index(clip.view) for clip in clips])
        self.split_of = [assignment[clip.subject_id] for clip in clips]
        torch.manual_seed(config.seed)
        self.model = EchoViewNet(len(classes), in_channels=1).to(config.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.checkpoints = out_dir / "checkpoints"

    def indices(self, split: str) -> list[int]:
        return [index for index, name in enumerate(self.split_of) if name == split]

    def run_epoch(self, epoch: int) -> float:
        config = self.config
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        torch.manual_seed(config.seed * 100_003 + epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = config.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
        train = torch.tensor(self.indices("train")).repeat(config.samples_per_clip)
        train = train[torch.randperm(len(train), generator=generator)]
        self.model.train()
        total_loss = 0.0
        for start in range(0, len(train), config.batch_size):
            batch = train[start : start + config.batch_size]
            images = torch.stack(
                [
                    self.tensors[i][torch.randint(len(self.tensors[i]), (1,), generator=generator).item()]
                    for i in batch.tolist()
                ]
            ).float()
            images = _augment(images, generator).to(config.device)
            loss = functional.cross_entropy(self.model(images), self.targets[batch].to(config.device))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total_loss += loss.item() * len(batch)
        return total_loss / max(1, len(train))

    def classifier(self, temperature: float = 1.0) -> ViewClassifier:
        return ViewClassifier(
            module=self.model,
            classes=tuple(self.classes),
            spec=self.spec,
            temperature=temperature,
            frames_per_clip=self.config.frames_per_clip,
            source=str(self.out_dir),
            vocabulary_version=self.vocabulary.version,
        )

    def logits(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        indices = self.indices(split)
        classifier = self.classifier()
        logits = classifier.logits_from_tensors([self.tensors[i].float() for i in indices])
        self.model.train(False)
        return logits, self.targets[indices].numpy()

    def model_config(self, temperature: float, epochs_run: int) -> dict[str, Any]:
        return {
            "architecture": ARCHITECTURE,
            "classes": self.classes,
            "vocabulary_version": self.vocabulary.version,
            "input_size": self.spec.size,
            "channels": self.spec.channels,
            "mean": list(self.spec.mean),
            "std": list(self.spec.std),
            "temperature": temperature,
            "frames_per_clip": self.config.frames_per_clip,
            "training": {"labels": self.labels_name, "epochs": epochs_run, "seed": self.config.seed}
            | {"config": asdict(self.config)},
        }

    def save_progress(self, epoch: int, best_accuracy: float, best_epoch: int) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in self.model.state_dict().items()}
        save_file(state, str(self.checkpoints / "last.safetensors"))
        groups = _save_optimizer(self.optimizer, self.checkpoints / "last_optimizer.safetensors")
        progress = {
            "epoch": epoch,
            "best_accuracy": best_accuracy,
            "best_epoch": best_epoch,
            "classes": self.classes,
            "config": asdict(self.config),
        } | groups
        temporary = self.checkpoints / "last_state.json.partial"
        temporary.write_text(json.dumps(progress, indent=2))
        temporary.replace(self.checkpoints / "last_state.json")

    def load_progress(self) -> dict[str, Any] | None:
        state_path = self.checkpoints / "last_state.json"
        if not state_path.is_file():
            return None
        progress = json.loads(state_path.read_text())
        if progress["classes"] != self.classes:
            raise ViewTrainingError(
                f"cannot resume from {state_path}: it was trained on classes {progress['classes']}, "
                f"the labels give {self.classes}; use a new --out folder"
            )
        saved_config = {
            key: value for key, value in progress["config"].items() if key not in ("epochs", "device")
        }
        current = {
            key: value for key, value in asdict(self.config).items() if key not in ("epochs", "device")
        }
        if saved_config != current:
            raise ViewTrainingError(
                f"cannot resume from {state_path}: its settings {saved_config} differ from {current}"
            )
        try:
            self.model.load_state_dict(load_file(str(self.checkpoints / "last.safetensors")))
            _load_optimizer(self.optimizer, self.checkpoints / "last_optimizer.safetensors", progress)
        except Exception as error:
            raise CheckpointError(f"cannot resume from {self.checkpoints}: {error}") from error
        return progress


def load_training_clips(
    clips: list[LabeledClip], spec: ImageSpec, frames_per_clip: int, frame_loader: FrameLoader
) -> list[torch.Tensor]:
    """Load and preprocess each clip's frames once.

    Raises:
        ViewTrainingError: a clip has no usable frames; the message names its file and label row.
    """
    tensors = []
    for clip in clips:
        try:
            tensors.append(_prepare_clip(frame_loader(clip.dicom_path), clip, spec, frames_per_clip))
        except ClipFramesError as error:
            raise ViewTrainingError(
                f"labelled clip {clip.dicom_path} (label row {clip.row}) has no usable frames: {error}; "
                "remove it from the labels or fix the file"
            ) from error
    return tensors


def train_view_model(
    labels_csv: Path,
    out_dir: Path,
    dicom_root: Path | None = None,
    config: TrainConfig | None = None,
    frame_loader: FrameLoader | None = None,
    vocabulary: Vocabulary | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Train, calibrate and evaluate the default view model; return the metrics written to metrics.json.

    Args:
        labels_csv: CSV of (dicom_path or dicom_filepath, view), read by :func:`read_labels`.
        out_dir: Output folder (layout in the module docstring).
        dicom_root: Folder that relative DICOM paths are resolved against.
        config: Training settings.
        frame_loader: Returns a clip's (T, H, W, 3) uint8 frames for a path; default: the DICOM stage.
        vocabulary: View vocabulary; default: the shipped one.
        resume: Continue from ``out_dir/checkpoints`` when it contains a previous run's last epoch.

    Raises:
        LabelError, UnknownViewError: the labels are invalid.
        ViewTrainingError: too few patients or classes, a clip without frames, or a mismatched resume.
    """
    config = config or TrainConfig()
    vocabulary = vocabulary or load_vocabulary()
    out_dir = Path(out_dir)
    clips = read_labels(labels_csv, vocabulary, dicom_root)
    classes = [view for view in vocabulary.fine_names if any(clip.view == view for clip in clips)]
    if len(classes) < 2:
        raise ViewTrainingError(
            f"{labels_csv}: labels name {len(classes)} distinct views; training needs 2 or more"
        )
    assignment = split_subjects([clip.subject_id for clip in clips], config)
    spec = ImageSpec(size=config.input_size, channels=1)
    tensors = load_training_clips(clips, spec, config.frames_per_clip, frame_loader or _default_loader)
    trainer = _Trainer(
        clips, tensors, classes, assignment, out_dir, config, vocabulary, Path(labels_csv).name
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "dicom_path": [str(clip.dicom_path) for clip in clips],
            "view": [clip.view for clip in clips],
            "subject_id": [clip.subject_id for clip in clips],
            "split": trainer.split_of,
        }
    ).to_csv(out_dir / "splits.csv", index=False)

    start_epoch, best_accuracy, best_epoch = 0, -1.0, -1
    progress = trainer.load_progress() if resume else None
    if progress is not None:
        start_epoch, best_accuracy, best_epoch = (
            progress["epoch"] + 1,
            progress["best_accuracy"],
            progress["best_epoch"],
        )
        logger.info("resuming view training from epoch %d in %s", start_epoch, trainer.checkpoints)

    for epoch in range(start_epoch, config.epochs):
        loss = trainer.run_epoch(epoch)
        val_logits, val_targets = trainer.logits("val")
        accuracy = float((val_logits.argmax(axis=1) == val_targets).mean()) if len(val_targets) else 0.0
        logger.info(
            "view training epoch %d/%d: loss %.4f, validation accuracy %.4f",
            epoch + 1,
            config.epochs,
            loss,
            accuracy,
        )
        if accuracy >= best_accuracy:
            best_accuracy, best_epoch = accuracy, epoch
            trainer.checkpoints.mkdir(parents=True, exist_ok=True)
            best = {
                name: tensor.detach().cpu().contiguous()
                for name, tensor in trainer.model.state_dict().items()
            }
            save_file(best, str(trainer.checkpoints / "best.safetensors"))
        trainer.save_progress(epoch, best_accuracy, best_epoch)

    trainer.model.load_state_dict(load_file(str(trainer.checkpoints / "best.safetensors")))
    val_logits, val_targets = trainer.logits("val")
    temperature = fit_temperature(val_logits, val_targets)
    test_logits, test_targets = trainer.logits("test")
    calibrated = trainer.classifier(temperature).probabilities(test_logits)
    uncalibrated = trainer.classifier(1.0).probabilities(test_logits)
    model_config = trainer.model_config(temperature, config.epochs)
    model_config["training"]["best_epoch"] = best_epoch + 1
    metrics = {
        "test": compute_metrics(test_targets, calibrated, classes, uncalibrated),
        "validation_accuracy": best_accuracy,
        "temperature": temperature,
        "split": {
            name: {
                "subjects": sum(1 for split in assignment.values() if split == name),
                "clips": len(trainer.indices(name)),
            }
            for name in ("train", "val", "test")
        },
    }
    write_checkpoint(out_dir, trainer.model, model_config)
    write_evaluation(out_dir, model_config, metrics)
    logger.info(
        "view model written to %s: test accuracy %.4f on %d clips, temperature %.3f",
        out_dir,
        metrics["test"]["accuracy"] or 0.0,
        metrics["test"]["clips"],
        temperature,
    )
    return metrics
