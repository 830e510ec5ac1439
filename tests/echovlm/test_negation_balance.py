"""Direction balance of the negation-aware loss: counterfactual kinds, their weights and the loss."""

from __future__ import annotations

import math

import pytest
import torch

from echovlm.losses import LossConfig, balance_weights, echovlm_loss, negation_loss, negative_kinds

IMAGE = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
TEXT = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
SCALE = torch.tensor(1.0)


def _meta(state: str) -> dict:
    return {
        "labels": {"mitral_regurgitation": {"state": state}, "aortic_stenosis": {"state": "present"}},
        "negatives": [
            {"text": "no MR", "label": "mitral_regurgitation", "flip": "polarity"},
            {"text": "severe AS", "label": "aortic_stenosis", "flip": "grade"},
        ],
    }


def test_negative_kinds_follow_label_state() -> None:
    batch = {
        "meta": [_meta("present"), _meta("absent")],
        "negatives": [["no MR", "severe AS"], ["no MR", "other"]],
    }
    assert negative_kinds(batch) == [
        ["polarity:to_absent", "grade"],
        ["polarity:to_present", "unknown"],
    ]


def test_balance_weights_equal_total_per_kind() -> None:
    kinds = [["polarity:to_present", "polarity:to_present"], ["polarity:to_present", "polarity:to_absent"]]
    valid = torch.tensor([[True, True], [True, True]])
    weights = balance_weights(kinds, valid)
    # M = 4 negatives, D = 2 kinds: to_present (3) gets 4 / 6 each, to_absent (1) gets 4 / 2.
    assert weights[0, 0].item() == pytest.approx(4 / 6)
    assert weights[1, 1].item() == pytest.approx(2.0)
    assert (weights[0].sum() + weights[1, 0]).item() == pytest.approx(weights[1, 1].item())
    assert weights.sum().item() == pytest.approx(4.0)


def test_balance_weights_one_kind_all_ones() -> None:
    weights = balance_weights([["grade"], ["grade"]], torch.tensor([[True], [True]]))
    assert torch.equal(weights, torch.ones(2, 1))


def test_weighted_negation_loss_hand_computed() -> None:
    # Image 0 has one negative (0.8, 0.6) scoring 0.8, with weight 3: it enters the sum as 3 * e^0.8.
    negative_text = torch.tensor([[0.8, 0.6]])
    valid = torch.tensor([[True], [False]])
    weight = torch.tensor([[3.0], [1.0]])
    expected = -(1 - math.log(math.exp(1) + math.exp(0) + 3 * math.exp(0.8)))
    loss = negation_loss(IMAGE, TEXT, negative_text, valid, SCALE, negative_weight=weight)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    unweighted = negation_loss(IMAGE, TEXT, negative_text, valid, SCALE)
    assert loss.item() > unweighted.item()


def test_balance_changes_only_negation_term() -> None:
    outputs = {
        "image": IMAGE.clone(),
        "text": TEXT.clone(),
        "logit_scale": SCALE,
        "negative_text": torch.tensor([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]]),
    }
    # Kinds: to_absent and grade once each, to_present twice, so the weights are not all 1.
    batch = {
        "view_ids": torch.tensor([0, 1]),
        "findings_ids": torch.tensor([0, 1]),
        "negative_valid": torch.tensor([[True, True], [True, True]]),
        "meta": [_meta("present"), _meta("absent")],
        "negatives": [["no MR", "severe AS"], ["no MR", "no MR"]],
    }
    _, plain = echovlm_loss(outputs, batch, LossConfig(negation_weight=1.0))
    _, balanced = echovlm_loss(outputs, batch, LossConfig(negation_weight=1.0, negation_balance=True))
    assert balanced["loss_clip"] == pytest.approx(plain["loss_clip"])
    assert balanced["loss_negation"] != pytest.approx(plain["loss_negation"])
