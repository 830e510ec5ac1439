"""Loss values on tiny cases computed by hand, gradients, and switching each term off."""

from __future__ import annotations

import math

import pytest
import torch

from echovlm.losses import (
    LossConfig,
    clip_loss,
    echovlm_loss,
    negation_loss,
    soft_targets,
    view_cluster_loss,
)

# Two unit image embeddings and two unit text embeddings in 2-D, scale 1.
# cos(u0, v0) = 1, cos(u0, v1) = 0, cos(u1, v0) = 0.6, cos(u1, v1) = 0.8.
IMAGE = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
TEXT = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
SCALE = torch.tensor(1.0)


def test_clip_loss_matches_hand_computation() -> None:
    # Image-to-text rows: [1, 0] and [0.6, 0.8]; text-to-image rows (columns): [1, 0.6] and [0, 0.8].
    row0 = -math.log(math.exp(1) / (math.exp(1) + math.exp(0)))
    row1 = -math.log(math.exp(0.8) / (math.exp(0.6) + math.exp(0.8)))
    column0 = -math.log(math.exp(1) / (math.exp(1) + math.exp(0.6)))
    column1 = -math.log(math.exp(0.8) / (math.exp(0) + math.exp(0.8)))
    expected = 0.5 * ((row0 + row1) / 2 + (column0 + column1) / 2)

    assert clip_loss(IMAGE, TEXT, SCALE).item() == pytest.approx(expected, rel=1e-6)


def test_clip_loss_scale_sharpens() -> None:
    # With scale 10 the well-separated pair (row 0) contributes log(1 + e^-10).
    loss = clip_loss(IMAGE[:1], TEXT[:1], torch.tensor(10.0))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_soft_targets_equivalent_pairs() -> None:
    views = torch.tensor([2, 2, 2, -1, -1])
    findings = torch.tensor([0, 0, 1, 0, 0])
    targets = soft_targets(views, findings, alpha=0.5)
    # Samples 0 and 1 share view and findings: rows [1, 0.5] / 1.5. Sample 2 differs in findings.
    # Samples 3 and 4 have uncertain views, so they are never equivalent.
    expected = torch.tensor(
        [
            [1 / 1.5, 0.5 / 1.5, 0, 0, 0],
            [0.5 / 1.5, 1 / 1.5, 0, 0, 0],
            [0, 0, 1, 0, 0],
            [0, 0, 0, 1, 0],
            [0, 0, 0, 0, 1],
        ]
    )
    assert torch.allclose(targets, expected)


def test_soft_targets_alpha_zero_is_identity() -> None:
    targets = soft_targets(torch.tensor([1, 1]), torch.tensor([0, 0]), alpha=0.0)
    assert torch.equal(targets, torch.eye(2))


def test_clip_loss_with_soft_targets_hand_computed() -> None:
    targets = torch.tensor([[2 / 3, 1 / 3], [1 / 3, 2 / 3]])
    log_rows = [
        [1 - math.log(math.exp(1) + 1), 0 - math.log(math.exp(1) + 1)],
        [0.6 - math.log(math.exp(0.6) + math.exp(0.8)), 0.8 - math.log(math.exp(0.6) + math.exp(0.8))],
    ]
    log_columns = [
        [1 - math.log(math.exp(1) + math.exp(0.6)), 0.6 - math.log(math.exp(1) + math.exp(0.6))],
        [0 - math.log(1 + math.exp(0.8)), 0.8 - math.log(1 + math.exp(0.8))],
    ]
    q = [[2 / 3, 1 / 3], [1 / 3, 2 / 3]]
    image_to_text = -sum(q[i][j] * log_rows[i][j] for i in range(2) for j in range(2)) / 2
    text_to_image = -sum(q[i][j] * log_columns[i][j] for i in range(2) for j in range(2)) / 2
    expected = 0.5 * (image_to_text + text_to_image)

    assert clip_loss(IMAGE, TEXT, SCALE, targets).item() == pytest.approx(expected, rel=1e-6)


def test_view_cluster_loss_hand_computed() -> None:
    # Three unit vectors: 0 and 1 share view 4, 2 has view 5. Similarities: s01 = 0.6, s02 = 0, s12 = 0.8.
    image = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    views = torch.tensor([4, 4, 5])
    tau = 0.5
    anchor0 = -(0.6 / tau - math.log(math.exp(0.6 / tau) + math.exp(0.0 / tau)))
    anchor1 = -(0.6 / tau - math.log(math.exp(0.6 / tau) + math.exp(0.8 / tau)))
    expected = (anchor0 + anchor1) / 2  # sample 2 has no positive, so it is no anchor

    assert view_cluster_loss(image, views, tau).item() == pytest.approx(expected, rel=1e-6)


def test_view_cluster_loss_ignores_uncertain_views() -> None:
    image = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    with_uncertain = view_cluster_loss(image, torch.tensor([4, 4, -1]), 0.5)
    without_third = view_cluster_loss(image[:2], torch.tensor([4, 4]), 0.5)
    # Alone, anchors 0 and 1 see only each other: log-probability 0.
    assert with_uncertain.item() == pytest.approx(without_third.item(), abs=1e-7)
    assert without_third.item() == pytest.approx(0.0, abs=1e-7)


def test_view_cluster_loss_no_positive_is_zero() -> None:
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    loss = view_cluster_loss(image, torch.tensor([1, 2]), 0.1)
    assert loss.item() == 0.0
    assert loss.requires_grad


def test_negation_loss_hand_computed() -> None:
    # Image 0 has one negative w = (0.8, 0.6): score 0.8. Image 1 has none, so only image 0 counts.
    negative_text = torch.tensor([[0.8, 0.6]])
    valid = torch.tensor([[True], [False]])
    denominator = math.exp(1) + math.exp(0) + math.exp(0.8)
    expected = -(1 - math.log(denominator))

    loss = negation_loss(IMAGE, TEXT, negative_text, valid, SCALE)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_negation_loss_two_slots_with_padding() -> None:
    # Image 0: negatives scoring 0.8 and 0.0; image 1: one negative (1, 0) scoring 0.6, second slot empty.
    negative_text = torch.tensor([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])
    valid = torch.tensor([[True, True], [True, False]])
    image0 = -(1 - math.log(math.exp(1) + math.exp(0) + math.exp(0.8) + math.exp(0.0)))
    image1 = -(0.8 - math.log(math.exp(0.6) + math.exp(0.8) + math.exp(0.6)))

    loss = negation_loss(IMAGE, TEXT, negative_text, valid, SCALE)
    assert loss.item() == pytest.approx((image0 + image1) / 2, rel=1e-6)


IMAGE3 = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
TEXT3 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])


def _batch() -> tuple[dict, dict]:
    outputs = {
        "image": IMAGE3.clone().requires_grad_(True),
        "text": TEXT3.clone().requires_grad_(True),
        "logit_scale": SCALE,
        "negative_text": torch.tensor([[0.8, 0.6]]),
    }
    batch = {
        "view_ids": torch.tensor([3, 3, 3]),
        "findings_ids": torch.tensor([0, 0, 1]),
        "negative_valid": torch.tensor([[True], [False], [False]]),
    }
    return outputs, batch


def test_zero_weights_equal_clip() -> None:
    outputs, batch = _batch()
    total, parts = echovlm_loss(outputs, batch, LossConfig())
    assert total.item() == pytest.approx(clip_loss(IMAGE3, TEXT3, SCALE).item(), rel=1e-7)
    assert set(parts) == {"loss", "loss_clip"}


@pytest.mark.parametrize(
    ("config", "part"),
    [
        (LossConfig(view_soft_target=0.5), None),
        (LossConfig(view_cluster_weight=0.3), "loss_view"),
        (LossConfig(negation_weight=0.7), "loss_negation"),
    ],
)
def test_each_term_changes_loss(config: LossConfig, part: str | None) -> None:
    outputs, batch = _batch()
    base = clip_loss(IMAGE3, TEXT3, SCALE).item()
    total, parts = echovlm_loss(outputs, batch, config)
    assert total.item() != pytest.approx(base, rel=1e-4)
    if part is not None:
        assert part in parts


def test_total_is_weighted_sum() -> None:
    outputs, batch = _batch()
    config = LossConfig(view_cluster_weight=0.3, negation_weight=0.7)
    total, parts = echovlm_loss(outputs, batch, config)
    expected = parts["loss_clip"] + 0.3 * parts["loss_view"] + 0.7 * parts["loss_negation"]
    assert total.item() == pytest.approx(expected, rel=1e-6)


def test_loss_config_rejects_invalid_values() -> None:
    with pytest.raises(ValueError, match="view_soft_target"):
        LossConfig(view_soft_target=1.5)
    with pytest.raises(ValueError, match=">= 0"):
        LossConfig(negation_weight=-1)
    with pytest.raises(ValueError, match="temperature"):
        LossConfig(view_cluster_temperature=0)
