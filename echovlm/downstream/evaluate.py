"""Evaluate a fine-tuned dense model on one split, at the resolution of the source annotations.

Segmentation logits are upsampled to each image's original size before the argmax, so Dice compares
with the mask as distributed. Landmark positions are mapped back to original pixels. Errors are given
in those pixels, in model-input pixels, and in mm where the dataset gives a pixel spacing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from echovlm.downstream.data import image_to_tensor, resize_points
from echovlm.downstream.heads import soft_argmax
from echovlm.downstream.metrics import dice_per_class, measurement_lengths, point_errors, summarise
from echovlm.downstream.samples import SEGMENT, DownstreamDataset
from echovlm.downstream.train import load_finetuned

logger = logging.getLogger(__name__)

# Examples kept for the report figure.
EXAMPLES = 6


@torch.no_grad()
def evaluate_run(
    run_dir: str | Path,
    dataset: DownstreamDataset,
    split: str = "test",
    max_samples: int | None = None,
    device: str = "cpu",
) -> dict:
    """Score the model in ``run_dir`` on one split of ``dataset``.

    Returns:
        A JSON-ready dict: dataset, task, split, sample count, summaries per structure or landmark and
        measurement, per-sample scores, and up to six examples (image, truth, prediction) under the
        private key ``_examples`` for the report figure.

    Raises:
        ValueError: if the model was trained for another task or other labels, or the split is empty.
    """
    model, description = load_finetuned(run_dir, device)
    if description["task"] != dataset.task or list(description["labels"]) != list(dataset.labels):
        raise ValueError(
            f"model in {run_dir} predicts {description['task']} {description['labels']}, but {dataset.root} "
            f"({dataset.name}) needs {dataset.task} {list(dataset.labels)}; fine-tune a model on this dataset"
        )
    records = dataset.split(split)[:max_samples]
    if not records:
        raise ValueError(
            f"{dataset.root}: the {split!r} split of {dataset.name} is empty; choose another split"
        )
    size = description["image_size"]
    mean, std = tuple(description["image_mean"]), tuple(description["image_std"])
    task = dataset.task
    result: dict = {
        "dataset": dataset.name,
        "dataset_root": str(dataset.root),
        "task": task,
        "split": split,
        "samples": len(records),
        "model": str(run_dir),
        "encoder_source": description["encoder_source"],
        "image_size": size,
    }
    per_sample = []
    examples = []
    for record in records:
        sample = record.load()
        pixels = image_to_tensor(sample.image, size, mean, std).unsqueeze(0).to(device)
        outputs = model(pixels)
        height, width = sample.image.shape[:2]
        if task == SEGMENT:
            logits = F.interpolate(
                outputs.float(), size=(height, width), mode="bilinear", align_corners=False
            )
            predicted = logits.argmax(dim=1)[0].cpu().numpy().astype(np.uint8)
            scores = dice_per_class(predicted, sample.mask, len(dataset.labels))
            row = {
                "sample_id": record.sample_id,
                **{f"dice_{dataset.labels[key]}": value for key, value in scores.items()},
            }
            if len(examples) < EXAMPLES:
                examples.append((sample.image, sample.mask, predicted))
        else:
            predicted_model = soft_argmax(outputs)[0].cpu().numpy()
            truth_model = resize_points(sample.points, (height, width), (size, size))
            predicted = resize_points(predicted_model, (size, size), (height, width))
            errors = point_errors(predicted, sample.points, sample.spacing_mm)
            row = {
                "sample_id": record.sample_id,
                "error_model_px": float(np.linalg.norm(predicted_model - truth_model, axis=1).mean()),
                "error_px": float(errors["px"].mean()),
            }
            for index, name in enumerate(dataset.labels):
                row[f"error_px_{name}"] = float(errors["px"][index])
                if "mm" in errors:
                    row[f"error_mm_{name}"] = float(errors["mm"][index])
            if "mm" in errors:
                row["error_mm"] = float(errors["mm"].mean())
                true_lengths = measurement_lengths(sample.points, dataset.measurements, sample.spacing_mm)
                predicted_lengths = measurement_lengths(predicted, dataset.measurements, sample.spacing_mm)
                for name in dataset.measurements:
                    row[f"{name}_true_mm"] = true_lengths[name]
                    row[f"{name}_predicted_mm"] = predicted_lengths[name]
                    row[f"{name}_abs_error_mm"] = abs(predicted_lengths[name] - true_lengths[name])
            if len(examples) < EXAMPLES:
                examples.append((sample.image, sample.points, predicted))
        per_sample.append(row)

    if task == SEGMENT:
        result["dice"] = {
            name: summarise([row.get(f"dice_{name}", float("nan")) for row in per_sample])
            for name in dataset.labels[1:]
        }
        result["mean_dice"] = float(np.nanmean([summary["mean"] for summary in result["dice"].values()]))
    else:
        result["landmark_error_model_px"] = summarise([row["error_model_px"] for row in per_sample])
        result["landmark_error_px"] = summarise([row["error_px"] for row in per_sample])
        result["landmark_error_mm"] = summarise([row.get("error_mm", float("nan")) for row in per_sample])
        result["per_landmark_mm"] = {
            name: summarise([row.get(f"error_mm_{name}", float("nan")) for row in per_sample])
            for name in dataset.labels
        }
        result["measurement_abs_error_mm"] = {
            name: summarise([row.get(f"{name}_abs_error_mm", float("nan")) for row in per_sample])
            for name in dataset.measurements
        }
    result["per_sample"] = per_sample
    result["_examples"] = examples
    headline = result.get("mean_dice", result.get("landmark_error_model_px", {}))
    logger.info(
        "evaluated %s on %s %s (%d samples): %s", run_dir, dataset.name, split, len(records), headline
    )
    return result
