"""Temperature scaling and expected calibration error.

Temperature scaling divides all logits by one scalar, fitted to minimise the negative log-likelihood
on held-out data. It changes the confidence of each prediction but never which class wins.
"""

from __future__ import annotations

import numpy as np
import torch

# Search range of log(temperature): temperatures from about 0.05 to 20.
_LOG_T_BOUNDS = (-3.0, 3.0)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, steps: int = 200) -> float:
    """Return the temperature that minimises the NLL of ``softmax(logits / T)`` on ``labels``.

    Args:
        logits: Uncalibrated logits, shape (N, classes).
        labels: True class indices, shape (N,).
        steps: Maximum L-BFGS iterations.

    Returns:
        The fitted temperature; 1.0 when there are no samples, and at least 1.0 when the logits classify
        every sample correctly.
    """
    if len(labels) == 0:
        return 1.0
    logits_tensor = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    labels_tensor = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_temperature = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits_tensor / log_temperature.exp(), labels_tensor)
        loss.backward()
        return loss

    optimizer.step(closure)
    clamped = float(np.clip(log_temperature.item(), *_LOG_T_BOUNDS))
    temperature = float(np.exp(clamped))
    # When every validation sample is classified correctly, the NLL keeps falling as T shrinks, so the
    # fit gives no evidence of how far to sharpen. Sharpening would then make every prediction confident,
    # also on images unlike the training data, so such a fit may only soften (T >= 1).
    if temperature < 1.0 and bool((logits_tensor.argmax(dim=1) == labels_tensor).all()):
        return 1.0
    return temperature


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Return the expected calibration error of the top-class confidence over ``bins`` equal-width bins.

    ECE = sum over bins of (bin size / N) * |accuracy in bin - mean confidence in bin|; 0 for no samples.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i contains confidences in (edges[i], edges[i + 1]]; a confidence of exactly 0 goes to bin 0.
    bin_index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    error = 0.0
    for index in range(bins):
        members = bin_index == index
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)
