"""Zero-shot class embeddings from counterfactual caption pairs of a held-out split.

The template prompts of :mod:`echovlm.prompts` are single sentences ("Moderate mitral regurgitation."),
but the model is trained on whole captions of several sentences. A short sentence lies outside
the text distribution the image embeddings were aligned to, so the present-absent difference of its
embedding is a noisy direction.

Counterfactual prompts stay inside that distribution. They come from the context split: val, whose
patients are neither in train nor in test. A caption there that states label L and its hard negative
that flips L between present and absent make a pair of texts that differ only in L. For each label
and coarse view, the present class embedding is the normalised mean of the present sides of up to
``max_pairs`` such pairs, and the absent class embedding the mean of their absent sides.

A test clip is scored against the pairs of its own view, which is the build's view label and needs
no label of the image. Clips without a coarse view form the group ``uncertain``. A view with fewer
than ``min_pairs`` pairs uses the pairs of every view:

    P(present | image i) = softmax(s * [u_i . p_{L,v}, u_i . a_{L,v}])[0]

Only text is used to build the classifier: which side of a pair states L present comes from the
caption writer, not from any image. The method is therefore zero-shot with respect to images, like
template prompts, but it needs a split of captions, so `echovlm zero-shot` on a single file keeps the
template prompts.

A label without any pair in the context split keeps the template prompts, and its AUC enters the
mean like the others. The evaluation records per label which prompts it used.

A pair needs the negative's own state (``state`` in the shard's negatives, captions contract 1.1.0).
Shards without it still give polarity pairs, whose direction follows from the sample's label state.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from echovlm.negatives import TO_ABSENT, TO_PRESENT, negative_kind

POOLED_VIEW = "*"
UNCERTAIN = "uncertain"
DEFAULT_MAX_PAIRS = 32
DEFAULT_MIN_PAIRS = 4


@dataclass(frozen=True)
class CaptionPair:
    """Two captions that differ only in one label: one states it present, the other absent."""

    present: str
    absent: str


def clip_view(meta: dict[str, Any]) -> str:
    """Return the key that matches a clip to pairs: its coarse view, or ``uncertain`` when it has none.

    Doppler and M-mode clips of a MIMIC build have no coarse view and carry study-level captions, so
    they are matched to the pairs of other clips without a view, whose captions are study-level too.
    """
    return str(meta.get("view_coarse") or UNCERTAIN)


def _negative_state(item: dict[str, Any], meta: dict[str, Any]) -> str | None:
    state = item.get("state")
    if state in ("present", "absent"):
        return state
    kind = negative_kind(item, meta)
    return {TO_PRESENT: "present", TO_ABSENT: "absent"}.get(kind)


def caption_pairs(
    captions: Sequence[str], metas: Sequence[dict[str, Any]]
) -> dict[str, dict[str, list[CaptionPair]]]:
    """Return ``{label: {coarse view: [CaptionPair]}}`` from captions and their hard negatives.

    A negative makes a pair when the sample's state of its label is present or absent and the negative
    states the other one. Grade flips within present (mild to severe) make no pair.
    """
    pairs: dict[str, dict[str, list[CaptionPair]]] = defaultdict(lambda: defaultdict(list))
    for caption, meta in zip(captions, metas, strict=True):
        view = clip_view(meta)
        labels = meta.get("labels") or {}
        for item in meta.get("negatives") or []:
            label, text = item.get("label"), item.get("text")
            state = (labels.get(label) or {}).get("state")
            if not text or state not in ("present", "absent"):
                continue
            negative_state = _negative_state(item, meta)
            if negative_state is None or negative_state == state:
                continue
            pair = CaptionPair(caption, text) if state == "present" else CaptionPair(text, caption)
            pairs[label][view].append(pair)
    return {label: dict(views) for label, views in pairs.items()}


def _stable_sample(pairs: list[CaptionPair], count: int) -> list[CaptionPair]:
    """Return ``count`` pairs in an order fixed by their text, so that reruns pick the same ones."""
    unique = {(pair.present, pair.absent): pair for pair in pairs}

    def key(item: tuple[str, str]) -> str:
        return hashlib.sha1("\x00".join(item).encode("utf-8")).hexdigest()

    return [unique[item] for item in sorted(unique, key=key)[:count]]


@dataclass
class ContextClassifier:
    """Present and absent class embeddings per label and view (``POOLED_VIEW`` for all views)."""

    classes: dict[str, dict[str, torch.Tensor]]
    pair_counts: dict[str, dict[str, int]]
    min_pairs: int

    def labels(self) -> list[str]:
        return list(self.classes)

    def class_matrix(self, label: str, view: str | None) -> torch.Tensor:
        """Return the ``(2, D)`` present/absent class matrix for a clip of ``view``."""
        by_view = self.classes[label]
        if view in by_view and self.pair_counts[label][view] >= self.min_pairs:
            return by_view[view]
        return by_view[POOLED_VIEW]


def _classes(model: Any, pairs: list[CaptionPair]) -> torch.Tensor:
    present = model.embed_texts([pair.present for pair in pairs]).mean(dim=0)
    absent = model.embed_texts([pair.absent for pair in pairs]).mean(dim=0)
    return torch.stack([present / present.norm(), absent / absent.norm()])


@torch.no_grad()
def build_classifier(
    model: Any,
    pairs: dict[str, dict[str, list[CaptionPair]]],
    labels: Sequence[str],
    max_pairs: int = DEFAULT_MAX_PAIRS,
    min_pairs: int = DEFAULT_MIN_PAIRS,
) -> ContextClassifier:
    """Embed up to ``max_pairs`` pairs per label and view, and per label over all views.

    Labels without any pair are left out, and the caller falls back to template prompts for them.
    """
    classes: dict[str, dict[str, torch.Tensor]] = {}
    counts: dict[str, dict[str, int]] = {}
    for label in labels:
        by_view = pairs.get(label) or {}
        pooled = [pair for view_pairs in by_view.values() for pair in view_pairs]
        if not pooled:
            continue
        classes[label], counts[label] = {}, {}
        selected = {view: _stable_sample(view_pairs, max_pairs) for view, view_pairs in by_view.items()}
        selected[POOLED_VIEW] = _stable_sample(pooled, max_pairs)
        for view, chosen in selected.items():
            counts[label][view] = len(chosen)
            if view == POOLED_VIEW or len(chosen) >= min_pairs:
                classes[label][view] = _classes(model, chosen)
    return ContextClassifier(classes, counts, min_pairs)


def context_probabilities(
    model: Any, classifier: ContextClassifier, image: torch.Tensor, views: Sequence[str | None]
) -> dict[str, np.ndarray]:
    """Return P(present) per label of the classifier for L2-normalised image embeddings ``(N, D)``."""
    scale = float(model.scale().detach())
    device = model.logit_scale.device
    image = image.to(device)
    probabilities = {}
    for label in classifier.labels():
        rows = []
        for index, view in enumerate(views):
            matrix = classifier.class_matrix(label, view).to(device)
            rows.append(scale * image[index] @ matrix.T)
        logits = torch.stack(rows) if rows else torch.empty(0, 2, device=device)
        probabilities[label] = torch.softmax(logits, dim=1)[:, 0].cpu().numpy()
    return probabilities
