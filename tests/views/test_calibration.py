"""Temperature scaling and expected calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from echoground.views.calibration import expected_calibration_error, fit_temperature


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("true_temperature", [0.5, 2.0])
def test_fit_temperature_recovers_known_value(true_temperature: float) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, size=(4000, 4))
    probabilities = _softmax(logits / true_temperature)
    labels = np.array([rng.choice(4, p=row) for row in probabilities])
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.1)


def test_fit_temperature_without_samples_is_one() -> None:
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_separable_validation_never_sharpens() -> None:
    logits = np.array([[4.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 3.0], [6.0, 1.0, 0.0]])
    labels = np.array([0, 1, 2, 0])
    assert fit_temperature(logits, labels) == 1.0


def test_ece_of_confident_correct_is_zero() -> None:
    assert expected_calibration_error(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])) == 0.0


def test_ece_of_confident_wrong_is_one() -> None:
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(1.0)


def test_ece_of_overconfident_half_right() -> None:
    # Confidence 0.9 everywhere, accuracy 0.5: one bin, gap 0.4.
    probabilities = np.array([[0.9, 0.1]] * 4)
    labels = np.array([0, 0, 1, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.4)


def test_temperature_lowers_ece_of_overconfident_model() -> None:
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 2, size=(3000, 3))
    labels = np.array([rng.choice(3, p=row) for row in _softmax(logits)])
    overconfident = logits * 3
    temperature = fit_temperature(overconfident, labels)
    before = expected_calibration_error(_softmax(overconfident), labels)
    after = expected_calibration_error(_softmax(overconfident / temperature), labels)
    assert after < before / 2
