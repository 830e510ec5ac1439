"""Evaluation of a view model on held-out patients: metrics.json, confusion matrix PNG, model card."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from echoground.views.calibration import expected_calibration_error

METRICS_NAME = "metrics.json"
CONFUSION_NAME = "confusion_matrix.png"
MODEL_CARD_NAME = "MODEL_CARD.md"


def compute_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence[str],
    uncalibrated: np.ndarray | None = None,
) -> dict[str, Any]:
    """Return accuracy, per-class precision and recall, the confusion matrix and ECE.

    Args:
        labels: True class indices (N,).
        probabilities: Calibrated class probabilities (N, classes).
        classes: Class names in index order.
        uncalibrated: Probabilities before temperature scaling, for the ECE comparison.
    """
    labels = np.asarray(labels)
    predicted = np.asarray(probabilities).argmax(axis=1) if len(labels) else np.zeros(0, dtype=int)
    indices = list(range(len(classes)))
    precision, recall, _, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    matrix = (
        confusion_matrix(labels, predicted, labels=indices) if len(labels) else np.zeros((len(classes),) * 2)
    )
    metrics: dict[str, Any] = {
        "clips": len(labels),
        "accuracy": float((predicted == labels).mean()) if len(labels) else None,
        "ece": expected_calibration_error(probabilities, labels),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "support": int(support[i])}
            for i, name in enumerate(classes)
        },
        "confusion_matrix": {
            "classes": list(classes),
            "rows_true_columns_predicted": matrix.astype(int).tolist(),
        },
    }
    if uncalibrated is not None:
        metrics["ece_uncalibrated"] = expected_calibration_error(uncalibrated, labels)
    return metrics


def plot_confusion_matrix(matrix: np.ndarray, classes: Sequence[str], path: Path, title: str) -> Path:
    """Draw a confusion matrix (rows true, columns predicted) with counts in each cell as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    size = max(4.0, 0.55 * len(classes) + 2.0)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted view")
    axes.set_ylabel("true view")
    axes.set_title(title)
    threshold = matrix.max() / 2 if matrix.size and matrix.max() > 0 else 0
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            if matrix[row, column]:
                colour = "white" if matrix[row, column] > threshold else "black"
                axes.text(column, row, str(int(matrix[row, column])), ha="center", va="center", color=colour)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _format_table(metrics: dict[str, Any]) -> list[str]:
    lines = ["| view | precision | recall | clips |", "|---|---|---|---|"]
    for name, row in metrics["per_class"].items():
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['support']} |")
    return lines


def write_model_card(directory: Path, config: dict[str, Any], metrics: dict[str, Any]) -> Path:
    """Write ``MODEL_CARD.md`` for a trained view model from its config and metrics."""
    test = metrics["test"]
    training = config.get("training", {})
    accuracy = "n/a" if test["accuracy"] is None else f"{test['accuracy']:.4f}"
    lines = [
        "# View classifier model card",
        "",
        f"- Architecture: {config['architecture']} ({config.get('backend', 'echoground')} backend), "
        f"input {config['input_size']}x{config['input_size']} with {config['channels']} channel(s), "
        f"{config['frames_per_clip']} frames per clip, clip logits are the mean of frame logits.",
        f"- Classes ({len(config['classes'])}): {', '.join(config['classes'])}; view vocabulary version "
        f"{config['vocabulary_version']}.",
        f"- Training labels: {training.get('labels', 'n/a')}; {training.get('epochs', 'n/a')} epochs, "
        f"seed {training.get('seed', 'n/a')}.",
        f"- Patient-level split: {metrics['split']['train']['subjects']} training, "
        f"{metrics['split']['val']['subjects']} validation and {metrics['split']['test']['subjects']} test "
        f"patients ({metrics['split']['train']['clips']}, {metrics['split']['val']['clips']} and "
        f"{metrics['split']['test']['clips']} clips). No patient is in two splits.",
        f"- Temperature {config['temperature']:.3f}, fitted on the validation patients; predictions with a "
        "calibrated top probability below the stage threshold are reported as 'uncertain'.",
        "",
        "## Held-out test patients",
        "",
        f"- Accuracy: {accuracy} on {test['clips']} clips.",
        f"- Expected calibration error (15 bins): {test['ece']:.4f} after temperature scaling, "
        f"{test.get('ece_uncalibrated', float('nan')):.4f} before.",
        f"- Confusion matrix: [{CONFUSION_NAME}]({CONFUSION_NAME}) (rows true, columns predicted).",
        "",
        *_format_table(test),
        "",
        "## Limits",
        "",
        "- Trained on the labels given above only. A model trained on the synthetic demo cohort has seen no "
        "real echo images; its predictions on real cines are not validated.",
        "- Only 2D B-mode clips are classified. Doppler clips take their window's Doppler class.",
        "",
    ]
    path = Path(directory) / MODEL_CARD_NAME
    path.write_text("\n".join(lines))
    return path


def write_evaluation(directory: Path, config: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Write metrics.json, the test confusion matrix PNG and the model card into ``directory``."""
    directory = Path(directory)
    (directory / METRICS_NAME).write_text(json.dumps(metrics, indent=2) + "\n")
    test = metrics["test"]
    plot_confusion_matrix(
        np.asarray(test["confusion_matrix"]["rows_true_columns_predicted"]),
        test["confusion_matrix"]["classes"],
        directory / CONFUSION_NAME,
        title=f"View classifier, held-out patients (n={test['clips']})",
    )
    write_model_card(directory, config, metrics)
