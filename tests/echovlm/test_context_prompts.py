"""Counterfactual caption pairs: which negatives make a pair, view matching, and the probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from echovlm.context_prompts import (
    POOLED_VIEW,
    CaptionPair,
    _stable_sample,
    build_classifier,
    caption_pairs,
    clip_view,
    context_probabilities,
)
from echovlm.evaluate import Embedded, counterfactual_zero_shot_auc


def _meta(view: str, states: dict[str, str], negatives: list[dict]) -> dict:
    return {
        "view_coarse": view,
        "labels": {label: {"state": state} for label, state in states.items()},
        "negatives": negatives,
    }


def test_pairs_follow_stated_states() -> None:
    metas = [
        # MR present; its polarity flip denies it, its grade flip keeps it present (no pair).
        _meta(
            "A4C",
            {"mitral_regurgitation": "present"},
            [
                {"text": "no MR", "label": "mitral_regurgitation", "flip": "polarity", "state": "absent"},
                {"text": "severe MR", "label": "mitral_regurgitation", "flip": "grade", "state": "present"},
            ],
        ),
        # LV dilation absent; a measurement grade flip to severely dilated asserts it.
        _meta(
            "PLAX",
            {"lv_dilation": "absent"},
            [{"text": "LVEDD severely dilated", "label": "lv_dilation", "flip": "grade", "state": "present"}],
        ),
        # Uncertain state: no side is known to be right, so no pair.
        _meta(
            "A4C",
            {"aortic_stenosis": "uncertain"},
            [{"text": "moderate AS", "label": "aortic_stenosis", "flip": "polarity", "state": "present"}],
        ),
        # A negative without a stored state (older shards): the polarity flip of an absent label.
        _meta(
            "A4C",
            {"pericardial_effusion": "absent"},
            [{"text": "small effusion", "label": "pericardial_effusion", "flip": "polarity"}],
        ),
    ]
    captions = ["MR moderate", "LVEDD normal", "AS unclear", "no effusion"]
    pairs = caption_pairs(captions, metas)
    assert pairs == {
        "mitral_regurgitation": {"A4C": [CaptionPair("MR moderate", "no MR")]},
        "lv_dilation": {"PLAX": [CaptionPair("LVEDD severely dilated", "LVEDD normal")]},
        "pericardial_effusion": {"A4C": [CaptionPair("small effusion", "no effusion")]},
    }


def test_grade_flip_without_state_makes_no_pair() -> None:
    metas = [
        _meta("A4C", {"lv_dilation": "absent"}, [{"text": "x", "label": "lv_dilation", "flip": "grade"}])
    ]
    assert caption_pairs(["y"], metas) == {}


class _TextModel:
    """Embeds text by keywords: "present" -> +x, "absent" -> -x, "viewA" adds +y; inverse temperature 1."""

    logit_scale = torch.zeros(())

    def scale(self) -> torch.Tensor:
        return torch.ones(())

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            x = 1.0 if "present" in text else -1.0
            y = 1.0 if "viewA" in text else 0.0
            rows.append([x, y])
        return torch.nn.functional.normalize(torch.tensor(rows), dim=1)


def _pairs(view: str, count: int, tag: str = "") -> list[CaptionPair]:
    return [CaptionPair(f"present {tag} {i}", f"absent {tag} {i}") for i in range(count)]


def test_clips_without_view_share_the_uncertain_group() -> None:
    metas = [
        _meta(
            "A4C",
            {"mitral_regurgitation": "absent"},
            [{"text": "MR present", "label": "mitral_regurgitation", "flip": "polarity", "state": "present"}],
        )
    ]
    metas[0]["view_coarse"] = None
    pairs = caption_pairs(["MR absent"], metas)
    assert list(pairs["mitral_regurgitation"]) == ["uncertain"]
    assert clip_view({"view_coarse": None}) == clip_view({}) == "uncertain"
    assert clip_view({"view_coarse": "PLAX"}) == "PLAX"


def test_view_with_enough_pairs_uses_its_own_classes() -> None:
    pairs = {"mitral_regurgitation": {"A4C": _pairs("A4C", 3, "viewA"), "PLAX": _pairs("PLAX", 2)}}
    classifier = build_classifier(
        _TextModel(), pairs, ["mitral_regurgitation", "aortic_stenosis"], min_pairs=3
    )
    # A label without pairs is left to the template prompts.
    assert classifier.labels() == ["mitral_regurgitation"]
    assert classifier.pair_counts["mitral_regurgitation"] == {"A4C": 3, "PLAX": 2, POOLED_VIEW: 5}
    # A4C has 3 pairs (= min_pairs): its own classes, both tilted towards +y.
    own = classifier.class_matrix("mitral_regurgitation", "A4C")
    assert own[0].tolist() == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(2)])
    # PLAX has 2 (< min_pairs), and an unknown view none: both fall back to the pooled classes.
    pooled = classifier.class_matrix("mitral_regurgitation", POOLED_VIEW)
    assert torch.equal(classifier.class_matrix("mitral_regurgitation", "PLAX"), pooled)
    assert torch.equal(classifier.class_matrix("mitral_regurgitation", None), pooled)
    assert not torch.equal(own, pooled)


def test_probabilities_are_softmax_of_class_similarities() -> None:
    pairs = {"mitral_regurgitation": {"PLAX": _pairs("PLAX", 4)}}
    classifier = build_classifier(_TextModel(), pairs, ["mitral_regurgitation"], min_pairs=4)
    image = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    probabilities = context_probabilities(_TextModel(), classifier, image, ["PLAX", "PLAX", "A4C"])
    # Classes are +x (present) and -x (absent): logits (1, -1), (-1, 1) and (0, 0) at scale 1.
    expected = [1 / (1 + math.exp(-2)), 1 / (1 + math.exp(2)), 0.5]
    assert probabilities["mitral_regurgitation"] == pytest.approx(np.array(expected))


def test_max_pairs_caps_and_fixes_the_choice() -> None:
    pairs = _pairs("PLAX", 10)
    chosen = _stable_sample(pairs, 3)
    assert len(chosen) == 3
    # The choice depends on the texts, not on the order the split was read in, and drops repeats.
    assert _stable_sample(list(reversed(pairs)) + pairs[:2], 3) == chosen
    classifier = build_classifier(
        _TextModel(),
        {"mitral_regurgitation": {"PLAX": pairs}},
        ["mitral_regurgitation"],
        max_pairs=3,
        min_pairs=3,
    )
    assert classifier.pair_counts["mitral_regurgitation"] == {"PLAX": 3, POOLED_VIEW: 3}


def test_counterfactual_auc_uses_context_pairs(monkeypatch) -> None:
    """Images on +x (present side) are the studies with MR; the context split gives +x/-x pairs."""
    context_meta = [
        _meta(
            "A4C",
            {"mitral_regurgitation": "present"},
            [{"text": f"absent {i}", "label": "mitral_regurgitation", "flip": "polarity", "state": "absent"}],
        )
        for i in range(4)
    ]
    context = Embedded(
        image=torch.zeros(4, 2),
        text=torch.zeros(4, 2),
        meta=context_meta,
        view_ids=np.zeros(4),
        negative_scores=[[] for _ in range(4)],
        caption_scores=np.zeros(4),
        skipped={},
        captions=[f"present {i}" for i in range(4)],
    )
    states = ["present", "present", "absent", "absent"]
    test_meta = [
        {
            "study_id": index,
            "subject_id": index,
            "clip_kind": "color_doppler",
            "view": "A4C",
            "view_coarse": "Apical_Doppler",
            "labels": {"mitral_regurgitation": {"state": state}},
        }
        for index, state in enumerate(states)
    ]
    image = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.2], [0.8, -0.1], [-0.9, 0.3], [-1.0, 0.0]]), dim=1
    )
    test = Embedded(
        image=image,
        text=image,
        meta=test_meta,
        view_ids=np.zeros(4),
        negative_scores=[[] for _ in range(4)],
        caption_scores=np.zeros(4),
        skipped={},
    )

    def flat(model, image, labels):
        return {label: np.full(len(image), 0.5) for label in labels}

    monkeypatch.setattr("echovlm.evaluate.zero_shot_probabilities", flat)
    result = counterfactual_zero_shot_auc(_TextModel(), test, context, min_pairs=2)
    entry = result["per_label"]["mitral_regurgitation"]
    assert entry["prompt_source"] == "counterfactual_pairs"
    assert entry["pairs"] == 4
    assert entry["auc"] == pytest.approx(1.0)
    assert entry["auc_study"] == pytest.approx(1.0)
    # Labels without pairs keep the flat template scores: AUC undefined (one class) or 0.5.
    assert result["per_label"]["aortic_stenosis"]["prompt_source"] == "templates"
    assert result["context_samples"] == 4
