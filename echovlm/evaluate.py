"""Evaluate an exported EchoVLM model on the test split (held-out patients) of EchoGround shards.

Metrics:
- Zero-shot classification per canonical label: AUC of P(present) against the label state, over the
  samples whose state is present or absent (uncertain and not_assessed are left out), and their mean.
  Two prompt sources: the template prompts of :mod:`echovlm.prompts`, and counterfactual caption
  pairs of the val split (:mod:`echovlm.context_prompts`).
- Image-text retrieval, Recall@1/5/10 in both directions. The candidate pool is every test sample;
  a retrieved item counts as a match when it comes from the same study (study_id) as the query.
- View classification: a logistic-regression probe on frozen image embeddings, fitted on the val split
  (or the train split when val is absent) and scored as accuracy on the test split.
- Label probe: the same kind of probe per canonical label, fitted on the train split and scored as
  AUC. It is the supervised reference for the zero-shot AUC.
- Negation probe: the share of (test image, counterfactual) pairs where the image scores its true
  caption above the counterfactual, overall and per flip kind; also the share of images that beat all
  their counterfactuals.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from echovlm.context_prompts import (
    DEFAULT_MAX_PAIRS,
    DEFAULT_MIN_PAIRS,
    POOLED_VIEW,
    build_classifier,
    caption_pairs,
    clip_view,
    context_probabilities,
)
from echovlm.data import (
    LoaderConfig,
    ShardError,
    TruncatedShardError,
    build_loader,
    find_shards,
    load_coarse_views,
)
from echovlm.model import EchoVLM
from echovlm.negatives import negative_kind
from echovlm.prompts import load_prompts

logger = logging.getLogger(__name__)

RECALL_KS = (1, 5, 10)


@dataclass
class Embedded:
    """Embeddings and metadata of one split."""

    image: torch.Tensor
    text: torch.Tensor
    meta: list[dict[str, Any]]
    view_ids: np.ndarray
    negative_scores: list[list[tuple[str, float]]]
    caption_scores: np.ndarray
    skipped: dict[str, int]
    captions: list[str] = field(default_factory=list)


@torch.no_grad()
def embed_split(
    model: EchoVLM,
    shards_dir: Path,
    split: str,
    loader_config: LoaderConfig,
    max_samples: int | None = None,
    with_negatives: bool = False,
) -> Embedded:
    """Embed every sample of a split (up to ``max_samples``), and score its negatives when asked."""
    shards = find_shards(shards_dir, split)
    loader = build_loader(shards, model.config, model.tokenizer, loader_config, train=False)
    device = model.logit_scale.device
    images, texts, meta, views, negatives, caption_scores, captions = [], [], [], [], [], [], []
    skipped: Counter[str] = Counter()
    for batch in loader:
        skipped.update(batch["skipped"])
        image = model.encode_image(batch["pixels"].to(device), batch["frame_mask"].to(device))
        text = model.encode_text(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        images.append(image.cpu())
        texts.append(text.cpu())
        meta.extend(batch["meta"])
        captions.extend(batch["captions"])
        views.extend(batch["view_ids"].tolist())
        true_scores = (image * text).sum(dim=1).cpu()
        caption_scores.extend(true_scores.tolist())
        if with_negatives:
            for index, sample_meta in enumerate(batch["meta"]):
                items = [item for item in sample_meta.get("negatives") or [] if item.get("text")]
                if not items:
                    negatives.append([])
                    continue
                embedded = model.embed_texts([item["text"] for item in items])
                scores = (embedded @ image[index]).cpu().tolist()
                negatives.append(
                    [
                        (negative_kind(item, sample_meta), score)
                        for item, score in zip(items, scores, strict=True)
                    ]
                )
        if max_samples is not None and len(meta) >= max_samples:
            break
    if not meta:
        raise ShardError(
            f"the {split} split of {shards_dir} yielded no readable sample; skipped: {dict(skipped)}"
        )
    count = min(len(meta), max_samples or len(meta))
    return Embedded(
        image=torch.cat(images)[:count],
        text=torch.cat(texts)[:count],
        meta=meta[:count],
        view_ids=np.array(views[:count]),
        negative_scores=negatives[:count],
        caption_scores=np.array(caption_scores[:count]),
        skipped=dict(skipped),
        captions=captions[:count],
    )


def zero_shot_probabilities(model: EchoVLM, image: torch.Tensor, labels: list[str]) -> dict[str, np.ndarray]:
    """Return P(present) per label for L2-normalised image embeddings ``(N, D)``.

    Each class embedding is the normalised mean of its prompt embeddings; the probability is the softmax
    over (present, absent) of the model's scaled cosine similarities.
    """
    prompts = load_prompts()
    unknown = [label for label in labels if label not in prompts]
    if unknown:
        raise ValueError(f"no prompts for labels {unknown}; known labels are {list(prompts)}")
    scale = float(model.scale().detach())
    device = model.logit_scale.device
    probabilities = {}
    for label in labels:
        classes = []
        for texts in (prompts[label].present, prompts[label].absent):
            mean = model.embed_texts(list(texts)).mean(dim=0)
            classes.append(mean / mean.norm())
        class_matrix = torch.stack(classes).to(device)
        logits = scale * image.to(device) @ class_matrix.T
        probabilities[label] = torch.softmax(logits, dim=1)[:, 0].cpu().numpy()
    return probabilities


DOPPLER_CLIP_KINDS = ("color_doppler", "spectral_doppler")


def _template_labels(template: Any, templates: Any) -> set[str]:
    labels = set(template.findings)
    for key in template.measurements:
        measurement = templates.measurements.get(key)
        if measurement is not None and measurement.grade_label:
            labels.add(measurement.grade_label)
    return labels


def labels_shown(meta: dict[str, Any]) -> set[str]:
    """Return the labels that a clip's image can show.

    For most clips these are the labels that its caption template can state: the template's findings
    and the grade labels of its measurements. The template is the one the EchoGround caption writer
    picks (fine view for B-mode and M-mode, coarse view for Doppler, the study-level template for an
    uncertain view). A PSAX apical clip carries no evidence on aortic stenosis.

    A colour or spectral Doppler clip whose acoustic window is unknown (MIMIC-IV-ECHO does not record
    it) is captioned at study level, but its image shows flow, not the LV walls. It can show what a
    Doppler template of any window states, so that union is its set.
    """
    from echoground.captions.compose import select_template
    from echoground.captions.records import ClipInput
    from echoground.captions.templates import load_templates

    templates = load_templates()
    clip = ClipInput(
        clip_id=str(meta.get("clip_id", "")),
        subject_id=int(meta.get("subject_id") or 0),
        study_id=int(meta.get("study_id") or 0),
        clip_kind=str(meta.get("clip_kind") or ""),
        view=meta.get("view"),
        view_coarse=meta.get("view_coarse"),
    )
    template = select_template(clip, templates)
    if template is None and clip.clip_kind in DOPPLER_CLIP_KINDS:
        return set().union(*(_template_labels(entry, templates) for entry in templates.doppler.values()))
    return _template_labels(template or templates.study_level, templates)


def _auc(truth: list[int], scores: list[float]) -> float | None:
    from sklearn.metrics import roc_auc_score

    positives = sum(truth)
    return float(roc_auc_score(truth, scores)) if 0 < positives < len(truth) else None


def _mean(values: list[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None


def zero_shot_auc(
    model: EchoVLM, embedded: Embedded, probabilities: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """Return zero-shot AUC per label, three ways, and the mean of each over the labels where it is defined.

    ``probabilities`` gives P(present) per label and test clip; by default the template prompts'.

    - ``auc``: every test clip, whatever its view.
    - ``auc_view``: only clips whose view can show the label (see :func:`labels_shown`).
    - ``auc_study``: one score per study, the mean P(present) over its clips that can show the label.
      Labels are study-level facts, so this is the clinical question.

    An AUC is None when the test split lacks either class. Uncertain and not_assessed states are left out.
    """
    labels = list(load_prompts())
    if probabilities is None:
        probabilities = zero_shot_probabilities(model, embedded.image, labels)
    labels_by_clip = [labels_shown(meta) for meta in embedded.meta]
    per_label: dict[str, Any] = {}
    for label in labels:
        truth, scores, view_truth, view_scores = [], [], [], []
        study_scores: dict[Any, list[float]] = defaultdict(list)
        study_truth: dict[Any, int] = {}
        for index, meta in enumerate(embedded.meta):
            state = (meta.get("labels") or {}).get(label, {}).get("state")
            if state not in ("present", "absent"):
                continue
            value = 1 if state == "present" else 0
            score = float(probabilities[label][index])
            truth.append(value)
            scores.append(score)
            if label in labels_by_clip[index]:
                view_truth.append(value)
                view_scores.append(score)
                study_scores[meta.get("study_id")].append(score)
                study_truth[meta.get("study_id")] = value
        studies = list(study_scores)
        per_label[label] = {
            "auc": _auc(truth, scores),
            "auc_view": _auc(view_truth, view_scores),
            "auc_study": _auc(
                [study_truth[key] for key in studies], [np.mean(study_scores[key]) for key in studies]
            ),
            "present": sum(truth),
            "absent": len(truth) - sum(truth),
            "view_clips": len(view_truth),
            "studies": len(studies),
            "studies_present": sum(study_truth[key] for key in studies),
        }
    return {
        "per_label": per_label,
        "mean_auc": _mean([entry["auc"] for entry in per_label.values()]),
        "mean_auc_view": _mean([entry["auc_view"] for entry in per_label.values()]),
        "mean_auc_study": _mean([entry["auc_study"] for entry in per_label.values()]),
    }


def counterfactual_zero_shot_auc(
    model: EchoVLM,
    test: Embedded,
    context: Embedded,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    min_pairs: int = DEFAULT_MIN_PAIRS,
    template_probabilities: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Return :func:`zero_shot_auc` with class embeddings from counterfactual caption pairs of ``context``.

    Labels without any pair in ``context`` keep the template prompts, whose probabilities the caller
    may pass as ``template_probabilities`` when it has them. Per label, ``prompt_source`` names the
    prompts used and ``pairs`` counts the pairs pooled over views.
    """
    labels = list(load_prompts())
    pairs = caption_pairs(context.captions, context.meta)
    classifier = build_classifier(model, pairs, labels, max_pairs=max_pairs, min_pairs=min_pairs)
    views = [clip_view(meta) for meta in test.meta]
    if template_probabilities is None:
        template_probabilities = zero_shot_probabilities(model, test.image, labels)
    probabilities = dict(template_probabilities)
    probabilities.update(context_probabilities(model, classifier, test.image, views))
    result = zero_shot_auc(model, test, probabilities)
    for label, entry in result["per_label"].items():
        counted = classifier.pair_counts.get(label, {})
        entry["prompt_source"] = "counterfactual_pairs" if label in classifier.classes else "templates"
        entry["pairs"] = counted.get(POOLED_VIEW, 0)
    result["context_samples"] = len(context.meta)
    result["max_pairs"] = max_pairs
    result["min_pairs"] = min_pairs
    return result


def retrieval_recall(embedded: Embedded, ks: tuple[int, ...] = RECALL_KS) -> dict[str, Any]:
    """Return Recall@k for image-to-text and text-to-image retrieval over all test samples."""
    studies = np.array([meta.get("study_id") for meta in embedded.meta])
    similarity = (embedded.image @ embedded.text.T).numpy()
    results: dict[str, Any] = {"candidates": len(studies), "match": "same study_id"}
    for name, matrix in (("image_to_text", similarity), ("text_to_image", similarity.T)):
        order = np.argsort(-matrix, axis=1)
        hits = studies[order] == studies[:, None]
        results[name] = {f"R@{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks}
    return results


def view_probe(train: Embedded, test: Embedded, seed: int = 0) -> dict[str, Any]:
    """Fit a logistic-regression view classifier on ``train`` image embeddings and score it on ``test``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix

    views = load_coarse_views()
    train_known = train.view_ids >= 0
    test_known = test.view_ids >= 0
    classes = np.unique(train.view_ids[train_known])
    if len(classes) < 2 or not test_known.any():
        return {"accuracy": None, "reason": "fewer than 2 known views in the probe's training split"}
    probe = LogisticRegression(max_iter=2000, random_state=seed)
    probe.fit(train.image[train_known].numpy(), train.view_ids[train_known])
    predicted = probe.predict(test.image[test_known].numpy())
    truth = test.view_ids[test_known]
    present = sorted(set(truth) | set(predicted))
    return {
        "accuracy": float((predicted == truth).mean()),
        "train_samples": int(train_known.sum()),
        "test_samples": int(test_known.sum()),
        "classes": [views[index] for index in present],
        "confusion": confusion_matrix(truth, predicted, labels=present).tolist(),
    }


def _label_targets(embedded: Embedded, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of samples whose ``label`` is present or absent, and 1/0 targets."""
    indices, targets = [], []
    for index, meta in enumerate(embedded.meta):
        state = ((meta.get("labels") or {}).get(label) or {}).get("state")
        if state in ("present", "absent"):
            indices.append(index)
            targets.append(1 if state == "present" else 0)
    return np.array(indices, dtype=int), np.array(targets, dtype=int)


def label_probe(train: Embedded, test: Embedded, seed: int = 0) -> dict[str, Any]:
    """Fit one logistic regression per label on ``train`` image embeddings and return test AUC per label.

    The supervised reference for zero-shot classification: it shows how much of each label the image
    embeddings hold, whether or not the text side has learnt to point at it. Scored like zero-shot,
    over every clip (``auc``) and per study from the mean probability over its clips (``auc_study``).
    A label without both classes in ``train`` gets no probe.
    """
    from sklearn.linear_model import LogisticRegression

    per_label: dict[str, Any] = {}
    for label in load_prompts():
        train_index, train_target = _label_targets(train, label)
        test_index, test_target = _label_targets(test, label)
        if len(set(train_target.tolist())) < 2 or len(test_index) == 0:
            per_label[label] = {"auc": None, "auc_study": None, "train_present": int(train_target.sum())}
            continue
        probe = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
        probe.fit(train.image[train_index].numpy(), train_target)
        scores = probe.predict_proba(test.image[test_index].numpy())[:, 1]
        by_study: dict[Any, list[float]] = defaultdict(list)
        study_truth: dict[Any, int] = {}
        for index, target, score in zip(test_index, test_target, scores, strict=True):
            study = test.meta[index].get("study_id")
            by_study[study].append(float(score))
            study_truth[study] = int(target)
        studies = list(by_study)
        per_label[label] = {
            "auc": _auc(test_target.tolist(), scores.tolist()),
            "auc_study": _auc(
                [study_truth[key] for key in studies], [np.mean(by_study[key]) for key in studies]
            ),
            "train_present": int(train_target.sum()),
        }
    return {
        "per_label": per_label,
        "mean_auc": _mean([entry["auc"] for entry in per_label.values()]),
        "mean_auc_study": _mean([entry["auc_study"] for entry in per_label.values()]),
    }


def negation_probe(embedded: Embedded) -> dict[str, Any]:
    """Return the share of counterfactual pairs, and of images, where the true caption scores higher.

    ``by_flip`` groups the pairs by flip kind (``polarity``, ``grade``) and ``by_direction`` splits
    polarity flips by direction (see :func:`negative_kind`).
    """
    wins_by_kind: dict[str, list[bool]] = defaultdict(list)
    images_all_won = []
    for caption_score, negatives in zip(embedded.caption_scores, embedded.negative_scores, strict=True):
        if not negatives:
            continue
        outcomes = [caption_score > score for _, score in negatives]
        images_all_won.append(all(outcomes))
        for (kind, _), won in zip(negatives, outcomes, strict=True):
            wins_by_kind[kind].append(won)
    wins_by_flip: dict[str, list[bool]] = defaultdict(list)
    for kind, wins in wins_by_kind.items():
        wins_by_flip[kind.split(":")[0]].extend(wins)
    pairs = [won for outcomes in wins_by_kind.values() for won in outcomes]
    return {
        "pair_accuracy": float(np.mean(pairs)) if pairs else None,
        "image_accuracy": float(np.mean(images_all_won)) if images_all_won else None,
        "pairs": len(pairs),
        "images": len(images_all_won),
        "by_flip": {
            flip: {"accuracy": float(np.mean(wins)), "pairs": len(wins)}
            for flip, wins in sorted(wins_by_flip.items())
        },
        "by_direction": {
            kind: {"accuracy": float(np.mean(wins)), "pairs": len(wins)}
            for kind, wins in sorted(wins_by_kind.items())
            if ":" in kind
        },
    }


def _require_ids(embedded: Embedded, where: Path) -> None:
    """Raise ShardError when a sample lacks the subject or study id that patient and study metrics need."""
    for meta in embedded.meta:
        missing = [key for key in ("subject_id", "study_id") if meta.get(key) is None]
        if missing:
            count = sum(
                1 for item in embedded.meta if item.get("subject_id") is None or item.get("study_id") is None
            )
            raise ShardError(
                f"{count} samples of {where} have no {' or '.join(missing)} in their JSON (e.g. clip_id "
                f"{meta.get('clip_id')!r}); retrieval matches, per-study AUC and the patient split need both"
            )


def evaluate(
    model_dir: str | Path,
    shards_dir: str | Path,
    out_dir: str | Path,
    loader_config: LoaderConfig | None = None,
    probe_samples: int = 5000,
    device: str = "cpu",
) -> dict[str, Any]:
    """Run every evaluation and write ``metrics.json``, ``report.md`` and plots to ``out_dir``."""
    shards_dir, out_dir = Path(shards_dir), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"output folder {out_dir} is a file; pass a folder for the report")
    loader_config = loader_config or LoaderConfig(batch_size=64, num_workers=2)
    model = EchoVLM.from_pretrained(model_dir, device=device)
    test = embed_split(model, shards_dir, "test", loader_config, with_negatives=True)
    _require_ids(test, shards_dir / "test")
    logger.info("embedded %d test samples from %s", len(test.meta), shards_dir / "test")
    try:
        probe_split = "val"
        probe_train = embed_split(model, shards_dir, "val", loader_config, max_samples=probe_samples)
    except TruncatedShardError:
        raise
    except ShardError as error:
        logger.warning(
            "using the train split for the view and label probes and the counterfactual caption pairs: %s",
            error,
        )
        probe_split = "train"
        probe_train = embed_split(model, shards_dir, "train", loader_config, max_samples=probe_samples)

    # The label probe needs positives of every label, which a val split of a few patients rarely
    # has, so it is fitted on the train split, whose patients are kept out of test like val's.
    label_split, label_train = probe_split, probe_train
    if probe_split != "train":
        try:
            label_train = embed_split(model, shards_dir, "train", loader_config, max_samples=probe_samples)
            label_split = "train"
        except TruncatedShardError:
            raise
        except ShardError as error:
            logger.warning("fitting the label probe on the %s split: %s", probe_split, error)

    test_subjects = {meta.get("subject_id") for meta in test.meta}
    fitted_on = probe_train.meta + (label_train.meta if label_train is not probe_train else [])
    overlap = test_subjects & {meta.get("subject_id") for meta in fitted_on}
    if overlap:
        logger.warning(
            "%d subjects appear in both the test split and a split that fits a probe (%s) (e.g. subject_id "
            "%s): the split is not patient-level, so the test metrics are optimistic",
            len(overlap),
            ", ".join(sorted({probe_split, label_split})),
            sorted(overlap)[0],
        )
    templates = zero_shot_probabilities(model, test.image, list(load_prompts()))
    metrics = {
        "model": str(model_dir),
        "shards": str(shards_dir),
        "test_samples": len(test.meta),
        "test_subjects": len(test_subjects),
        "subjects_also_in_probe_split": len(overlap),
        "skipped": test.skipped,
        "zero_shot": zero_shot_auc(model, test, templates),
        "zero_shot_counterfactual": counterfactual_zero_shot_auc(
            model, test, probe_train, template_probabilities=templates
        )
        | {"context_split": probe_split},
        "retrieval": retrieval_recall(test),
        "view_probe": view_probe(probe_train, test) | {"probe_split": probe_split},
        "label_probe": label_probe(label_train, test) | {"probe_split": label_split},
        "negation_probe": negation_probe(test),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    from echovlm.report import write_report

    write_report(metrics, out_dir)
    return metrics
