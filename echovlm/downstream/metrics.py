"""Dice per structure, landmark error and derived-measurement error."""

from __future__ import annotations

import numpy as np


def dice_per_class(predicted: np.ndarray, truth: np.ndarray, classes: int) -> dict[int, float]:
    """Return ``{class: Dice}`` for classes 1 to ``classes - 1`` of one image.

    A class absent from both masks scores NaN (not counted in means), so images without a structure do
    not inflate its score.
    """
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted mask {predicted.shape} and ground truth {truth.shape} differ in shape")
    scores = {}
    for label in range(1, classes):
        predicted_area = predicted == label
        true_area = truth == label
        total = int(predicted_area.sum()) + int(true_area.sum())
        scores[label] = float("nan") if total == 0 else 2.0 * int((predicted_area & true_area).sum()) / total
    return scores


def point_errors(
    predicted: np.ndarray, truth: np.ndarray, spacing_mm: tuple[float, float] | None
) -> dict[str, np.ndarray]:
    """Return per-landmark Euclidean errors in pixels and, when the spacing is known, in mm.

    Args:
        predicted: ``(K, 2)`` ``(x, y)`` positions.
        truth: ``(K, 2)`` ``(x, y)`` positions.
        spacing_mm: ``(row_mm, column_mm)``: mm per pixel along y and x.
    """
    difference = np.asarray(predicted, float) - np.asarray(truth, float)
    errors = {"px": np.hypot(difference[:, 0], difference[:, 1])}
    if spacing_mm is not None:
        row_mm, column_mm = spacing_mm
        errors["mm"] = np.hypot(difference[:, 0] * column_mm, difference[:, 1] * row_mm)
    return errors


def measurement_lengths(
    points: np.ndarray, pairs: dict[str, tuple[int, int]], spacing_mm: tuple[float, float]
) -> dict[str, float]:
    """Return the length in mm of each measurement: the distance between its two landmarks."""
    row_mm, column_mm = spacing_mm
    lengths = {}
    for name, (first, second) in pairs.items():
        dx = (points[second, 0] - points[first, 0]) * column_mm
        dy = (points[second, 1] - points[first, 1]) * row_mm
        lengths[name] = float(np.hypot(dx, dy))
    return lengths


def summarise(values: list[float]) -> dict[str, float]:
    """Return mean, standard deviation, median, 90th percentile and count of the finite values."""
    finite = np.asarray([value for value in values if np.isfinite(value)], float)
    if finite.size == 0:
        return {
            "mean": float("nan"),
            "std": float("nan"),
            "median": float("nan"),
            "p90": float("nan"),
            "n": 0,
        }
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "median": float(np.median(finite)),
        "p90": float(np.percentile(finite, 90)),
        "n": int(finite.size),
    }
