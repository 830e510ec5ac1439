"""Dense heads, soft-argmax, losses and the evaluation metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from echovlm.downstream.data import resize_points
from echovlm.downstream.encoder import feature_maps_of
from echovlm.downstream.heads import DenseModel, dice_loss, gaussian_heatmaps, soft_argmax
from echovlm.downstream.metrics import dice_per_class, measurement_lengths, point_errors, summarise
from echovlm.model.image import build_backbone


def test_soft_argmax_of_sharp_peak():
    heatmaps = torch.full((1, 2, 20, 30), -50.0)
    heatmaps[0, 0, 7, 12] = 50.0
    heatmaps[0, 1, 19, 0] = 50.0
    points = soft_argmax(heatmaps)[0]
    assert points[0].tolist() == pytest.approx([12.0, 7.0], abs=1e-3)
    assert points[1].tolist() == pytest.approx([0.0, 19.0], abs=1e-3)


def test_soft_argmax_between_pixels():
    heatmaps = torch.full((1, 1, 10, 10), -50.0)
    heatmaps[0, 0, 4, 3] = heatmaps[0, 0, 4, 4] = 50.0
    assert soft_argmax(heatmaps)[0, 0].tolist() == pytest.approx([3.5, 4.0], abs=1e-3)


def test_gaussian_targets_normalised_and_centred():
    targets = gaussian_heatmaps(torch.tensor([[[10.0, 5.0]]]), 16, 24, sigma=2.0)
    assert float(targets.sum()) == pytest.approx(1.0)
    # The image edge 2.5 sigma above the centre truncates the Gaussian, which pulls the mean by 0.02 px.
    assert soft_argmax(targets.log())[0, 0].tolist() == pytest.approx([10.0, 5.0], abs=0.05)


def test_dice_loss_perfect_and_wrong():
    masks = torch.zeros(1, 8, 8, dtype=torch.long)
    masks[0, 2:6, 2:6] = 1
    perfect = torch.nn.functional.one_hot(masks, 2).permute(0, 3, 1, 2).float() * 100
    assert float(dice_loss(perfect, masks)) == pytest.approx(0.0, abs=0.05)
    assert float(dice_loss(-perfect, masks)) > 0.9


@pytest.mark.parametrize("name", ["tiny_cnn", "resnet18"])
def test_dense_model_output_shape(name):
    backbone, _ = build_backbone(name)
    model = DenseModel(feature_maps_of(backbone, name), outputs=4, width=16).eval()
    with torch.no_grad():
        output = model(torch.zeros(2, 3, 64, 64))
    assert output.shape == (2, 4, 64, 64)


def test_unsupported_backbone_named():
    with pytest.raises(ValueError, match=r"'Identity' has no feature-map adapter"):
        feature_maps_of(torch.nn.Identity())


def test_frozen_encoder_keeps_weights_and_statistics():
    backbone, _ = build_backbone("tiny_cnn")
    model = DenseModel(feature_maps_of(backbone), outputs=2, width=8)
    model.set_encoder_trainable(False)
    before = {key: value.clone() for key, value in model.encoder.state_dict().items()}
    model.train()
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(2, 3, 32, 32)).mean().backward()
    optimiser.step()
    after = model.encoder.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)


def test_dice_per_class_values():
    truth = np.zeros((4, 4), np.uint8)
    truth[:2] = 1
    predicted = np.zeros((4, 4), np.uint8)
    predicted[:1] = 1
    scores = dice_per_class(predicted, truth, classes=3)
    assert scores[1] == pytest.approx(2 * 4 / (4 + 8))
    assert math.isnan(scores[2])


def test_point_errors_anisotropic_spacing():
    errors = point_errors(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]]), spacing_mm=(2.0, 0.5))
    assert errors["px"][0] == pytest.approx(5.0)
    assert errors["mm"][0] == pytest.approx(math.hypot(3 * 0.5, 4 * 2.0))


def test_point_errors_without_spacing():
    assert "mm" not in point_errors(np.zeros((2, 2)), np.ones((2, 2)), None)


def test_measurement_lengths():
    points = np.array([[0.0, 0.0], [0.0, 10.0], [0.0, 10.0], [0.0, 40.0]])
    lengths = measurement_lengths(points, {"IVSd": (0, 1), "LVIDd": (2, 3)}, (0.5, 0.5))
    assert lengths == pytest.approx({"IVSd": 5.0, "LVIDd": 15.0})


def test_summarise_ignores_nan():
    summary = summarise([1.0, float("nan"), 3.0])
    assert summary["mean"] == pytest.approx(2.0)
    assert summary["n"] == 2


def test_resize_points_pixel_centres():
    # Image edges map to image edges: the right edge of a 10-wide image (x = 9.5) to that of a 20-wide one.
    resized = resize_points(np.array([[9.5, 0.0], [-0.5, -0.5], [9.0, 2.0]]), (5, 10), (10, 20))
    assert resized[0].tolist() == pytest.approx([19.5, 0.5])
    assert resized[1].tolist() == pytest.approx([-0.5, -0.5])
    assert resized[2].tolist() == pytest.approx([18.5, 4.5])
