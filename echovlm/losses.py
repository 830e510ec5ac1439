"""Contrastive losses of EchoVLM: CLIP InfoNCE, a view-informed extension and a negation-aware term.

Notation for a batch of N image-caption pairs: ``u_i`` and ``v_j`` are the L2-normalised image and text
embeddings, ``s`` the softmax inverse temperature, and ``S_ij = s * u_i . v_j`` the logits.

Base, CLIP InfoNCE (Radford et al. 2021), symmetric::

    L_clip = 1/2 * [ CE(S, Q) + CE(S^T, Q^T) ]
    CE(S, Q) = -1/N sum_i sum_j Q_ij log softmax_j(S_i)

with one-hot targets ``Q = I``.

View-informed, part (a), soft targets. Echo captions repeat: two normal studies seen from the same view
get near-identical captions, so a one-hot target forces the model to tell apart pairs whose texts carry
the same content, and the gradient pushes true matches apart. We call j *equivalent* to i when both
have the same coarse view (not ``uncertain``) and the same ``findings_key``, and give them target mass::

    Q_ii = 1,   Q_ij = alpha if j is equivalent to i else 0,   then normalise each row of Q to sum 1.

``alpha`` = 0 gives back CLIP; ``alpha`` = 1 treats equivalent pairs as full positives. The relation is
symmetric, so the text-to-image direction uses the same Q.

View-informed, part (b), view clustering. A supervised contrastive term (Khosla et al. 2020) over image
embeddings, with positives the other images of the same coarse view and temperature ``tau_v``::

    L_view = -1/|A| sum_{i in A} 1/|P(i)| sum_{p in P(i)} log p_v(i, p)
    p_v(i, p) = exp(u_i.u_p / tau_v) / sum_{a != i} exp(u_i.u_a / tau_v)

where A is the set of images with a known view and at least one positive; images of ``uncertain`` view
take no part. It gives the image space a view structure, which captions mention only in a phrase.

Negation-aware. In-batch negatives almost never contain the caption that differs from the true one only
by "no" or by a grade, so CLIP can score well while ignoring negation. Each image i is also contrasted
against its own counterfactual negatives ``w_ik`` (polarity or grade flipped, from the shards)::

    L_neg = -1/|B| sum_{i in B} sum_j Q_ij log [ exp(S_ij) / Z_i ]
    Z_i = sum_j' exp(S_ij') + sum_k exp(s * u_i . w_ik)

over the images B that have at least one negative, with the same targets Q as the base term.

Direction balance (optional, ``negation_balance``). Captions state absent findings far more often than
present ones, so most counterfactuals assert a finding the image lacks ("moderate X" for "no X").
Trained on those alone, the text encoder can lower ``L_neg`` by learning that stated findings are
unlikely, a prior that needs no image. With the balance on, each counterfactual k of kind d (polarity
to present, polarity to absent, grade) enters ``Z_i`` with weight ``c_k = M / (D * M_d)``. M is the
number of counterfactuals in the batch, M_d the number of kind d and D the number of kinds present.
Every kind then carries the same total weight, so the rare denials of a finding the image has count
as much as the common assertions.

Total: ``L = L_clip(Q) + lambda_view * L_view + lambda_neg * L_neg``. With ``alpha = lambda_view =
lambda_neg = 0`` it equals CLIP InfoNCE exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from echovlm.negatives import negative_kind


@dataclass
class LossConfig:
    """Weights of the loss terms; all zero gives plain CLIP InfoNCE.

    Attributes:
        view_soft_target: ``alpha``, target mass of an equivalent pair (same coarse view, same findings).
        view_cluster_weight: ``lambda_view``, weight of the supervised contrastive term over views.
        view_cluster_temperature: ``tau_v``, temperature of that term.
        negation_weight: ``lambda_neg``, weight of the counterfactual-negative term.
        negation_balance: Whether counterfactual kinds get equal total weight in that term (see the
            module docstring).
    """

    view_soft_target: float = 0.0
    view_cluster_weight: float = 0.0
    view_cluster_temperature: float = 0.1
    negation_weight: float = 0.0
    negation_balance: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.view_soft_target <= 1.0:
            raise ValueError(f"view_soft_target {self.view_soft_target} must lie in [0, 1]")
        if self.view_cluster_weight < 0 or self.negation_weight < 0:
            raise ValueError(
                f"loss weights must be >= 0, got view_cluster_weight={self.view_cluster_weight}, "
                f"negation_weight={self.negation_weight}"
            )
        if self.view_cluster_temperature <= 0:
            raise ValueError(f"view_cluster_temperature {self.view_cluster_temperature} must be > 0")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def soft_targets(view_ids: torch.Tensor, findings_ids: torch.Tensor, alpha: float) -> torch.Tensor:
    """Return the row-normalised target matrix Q ``(N, N)``.

    Args:
        view_ids: Coarse view index per sample, -1 for ``uncertain``.
        findings_ids: Integer id of each sample's ``findings_key``.
        alpha: Target mass of an equivalent pair before normalisation.
    """
    count = view_ids.shape[0]
    eye = torch.eye(count, device=view_ids.device)
    if alpha == 0:
        return eye
    same_view = (view_ids[:, None] == view_ids[None, :]) & (view_ids[:, None] >= 0)
    same_findings = findings_ids[:, None] == findings_ids[None, :]
    equivalent = (same_view & same_findings).float() * (1 - eye)
    targets = eye + alpha * equivalent
    return targets / targets.sum(dim=1, keepdim=True)


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def clip_loss(
    image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor, targets: torch.Tensor | None = None
) -> torch.Tensor:
    """Return the symmetric InfoNCE loss, with soft targets Q when given (default: identity)."""
    logits = logit_scale * image @ text.T
    if targets is None:
        labels = torch.arange(image.shape[0], device=image.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    return 0.5 * (_soft_cross_entropy(logits, targets) + _soft_cross_entropy(logits.T, targets.T))


def view_cluster_loss(image: torch.Tensor, view_ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return the supervised contrastive loss over image embeddings grouped by coarse view.

    Returns 0 (still attached to the graph) when no image has a positive in the batch.
    """
    known = view_ids >= 0
    embeddings = image[known]
    views = view_ids[known]
    count = embeddings.shape[0]
    if count < 2:
        return image.sum() * 0.0
    not_self = ~torch.eye(count, dtype=torch.bool, device=image.device)
    logits = (embeddings @ embeddings.T) / temperature
    logits = logits.masked_fill(~not_self, float("-inf"))
    log_probability = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (views[:, None] == views[None, :]) & not_self
    positive_count = positives.sum(dim=1)
    anchors = positive_count > 0
    if not anchors.any():
        return image.sum() * 0.0
    positive_log_probability = log_probability.masked_fill(~positives, 0.0).sum(dim=1)
    return -(positive_log_probability[anchors] / positive_count[anchors]).mean()


def negation_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    negative_text: torch.Tensor,
    negative_valid: torch.Tensor,
    logit_scale: torch.Tensor,
    targets: torch.Tensor | None = None,
    negative_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return the image-to-text loss over the batch captions plus each image's own counterfactuals.

    Args:
        image: Image embeddings ``(N, D)``.
        text: Caption embeddings ``(N, D)``.
        negative_text: Embeddings of the valid negatives ``(M, D)``, in row-major order of ``negative_valid``.
        negative_valid: ``(N, K)`` booleans, True where image i has a k-th negative.
        logit_scale: Softmax inverse temperature.
        targets: Soft targets Q ``(N, N)``; identity when None.
        negative_weight: ``(N, K)`` positive weights ``c_k`` of the negatives in the partition function;
            all 1 when None.

    Returns:
        The mean over images with at least one negative; 0 (attached to the graph) when there are none.
    """
    count, slots = negative_valid.shape
    if targets is None:
        targets = torch.eye(count, device=image.device)
    has_negative = negative_valid.any(dim=1)
    if not has_negative.any():
        return image.sum() * 0.0
    padded = negative_text.new_zeros(count, slots, negative_text.shape[-1])
    padded[negative_valid] = negative_text
    batch_logits = logit_scale * image @ text.T
    negative_logits = logit_scale * torch.einsum("nd,nkd->nk", image, padded)
    if negative_weight is not None:
        # A weight c in the partition function is a shift of the logit by log c.
        negative_logits = negative_logits + torch.log(negative_weight.clamp_min(1e-12))
    negative_logits = negative_logits.masked_fill(~negative_valid, float("-inf"))
    logits = torch.cat([batch_logits, negative_logits], dim=1)
    full_targets = torch.cat([targets, targets.new_zeros(count, slots)], dim=1)
    log_probability = F.log_softmax(logits[has_negative], dim=1)
    # Zero-target entries may be -inf (absent negatives); keep them out of the product to avoid 0 * inf.
    weighted = torch.where(full_targets[has_negative] > 0, full_targets[has_negative] * log_probability, 0.0)
    return -weighted.sum(dim=1).mean()


def negative_kinds(batch: dict[str, Any]) -> list[list[str]]:
    """Return the kind of each sampled counterfactual of each sample, in the order of ``negative_valid``.

    The loader keeps the texts; the kind comes from the sample's ``negatives`` entry with the same
    text and from its label state (see :func:`echovlm.negatives.negative_kind`). A text found in no
    entry gets kind ``unknown``.
    """
    kinds = []
    for meta, texts in zip(batch["meta"], batch["negatives"], strict=True):
        by_text = {item.get("text"): item for item in meta.get("negatives") or []}
        kinds.append([negative_kind(by_text[text], meta) if text in by_text else "unknown" for text in texts])
    return kinds


def balance_weights(kinds: list[list[str]], negative_valid: torch.Tensor) -> torch.Tensor:
    """Return ``(N, K)`` weights ``c_k = M / (D * M_d)``: each counterfactual kind gets equal total weight."""
    counts = Counter(kind for row in kinds for kind in row)
    total = sum(counts.values())
    weights = torch.ones(negative_valid.shape, dtype=torch.float32)
    for row, row_kinds in enumerate(kinds):
        for slot, kind in enumerate(row_kinds):
            weights[row, slot] = total / (len(counts) * counts[kind])
    return weights


def echovlm_loss(
    outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], config: LossConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the total loss and its parts for one batch.

    Args:
        outputs: ``image``, ``text``, ``logit_scale`` and optionally ``negative_text`` from the model.
        batch: ``view_ids``, ``findings_ids`` and ``negative_valid`` tensors from the data loader.
        config: Weights of the terms.
    """
    image, text, scale = outputs["image"], outputs["text"], outputs["logit_scale"]
    targets = None
    if config.view_soft_target > 0:
        targets = soft_targets(batch["view_ids"], batch["findings_ids"], config.view_soft_target)
    base = clip_loss(image, text, scale, targets)
    total = base
    parts = {"loss_clip": float(base.detach())}
    if config.view_cluster_weight > 0:
        view = view_cluster_loss(image, batch["view_ids"], config.view_cluster_temperature)
        total = total + config.view_cluster_weight * view
        parts["loss_view"] = float(view.detach())
    if config.negation_weight > 0 and "negative_text" in outputs:
        weights = None
        if config.negation_balance:
            weights = balance_weights(negative_kinds(batch), batch["negative_valid"]).to(image.device)
        negation = negation_loss(
            image, text, outputs["negative_text"], batch["negative_valid"], scale, targets, weights
        )
        total = total + config.negation_weight * negation
        parts["loss_negation"] = float(negation.detach())
    parts["loss"] = float(total.detach())
    return total, parts
