"""Synthetic EchoGround shards whose images carry label and view signal, for tests, benchmarks and ablations.

Each image shows a grey sector whose rotation encodes the coarse view (Doppler views add a colour
patch) and a 4 x 4 grid of discs, one cell per canonical label, whose radius encodes the label state
and severity. A model that learns can therefore reach high zero-shot AUC and view accuracy; one that
does not stays at chance. The samples follow the shard format the EchoGround build writes.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from echovlm.prompts import CANONICAL_LABELS, load_prompts

IMAGE_SIZE = 224
SPLITS = ("train", "val", "test")

# (fine view, coarse view, clip kind, phrase) for each of the 11 coarse views.
VIEWS: tuple[tuple[str, str, str, str], ...] = (
    ("A2C", "A2C", "b_mode_2d", "Apical two-chamber view."),
    ("A3C", "A3C", "b_mode_2d", "Apical three-chamber view."),
    ("A4C", "A4C", "b_mode_2d", "Apical four-chamber view."),
    ("A5C", "A5C", "b_mode_2d", "Apical five-chamber view."),
    ("A4C", "Apical_Doppler", "color_doppler", "Apical colour Doppler view."),
    ("PLAX", "PLAX", "b_mode_2d", "Parasternal long-axis view."),
    ("PLAX", "PLAX_Doppler", "color_doppler", "Parasternal long-axis colour Doppler view."),
    ("PSAX_PM", "PSAX", "b_mode_2d", "Parasternal short-axis view."),
    ("PSAX_AV", "PSAX_Doppler", "color_doppler", "Parasternal short-axis colour Doppler view."),
    ("SUPRASTERNAL", "Suprasternal", "b_mode_2d", "Suprasternal view."),
    ("SUBCOSTAL_4C", "Subcostal", "b_mode_2d", "Subcostal view."),
)
COARSE_VIEWS = tuple(view[1] for view in VIEWS)

SEVERITIES = ("mild", "moderate", "severe")
# Disc radius in pixels (224-pixel image) per label state and severity.
RADIUS = {"absent": 4, "uncertain": 8, "mild": 11, "moderate": 16, "severe": 22}


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and mix of a synthetic cohort.

    Attributes:
        subjects: Number of patients; splits are assigned per patient (80/10/10).
        max_studies_per_subject: Each patient has 1 to this many studies.
        max_clips_per_study: Each study has 1 to this many clips, each from a different view.
        normal_share: Share of studies with every label absent.
        present_probability: Probability of each label being present in an abnormal study.
        frames: Frames per clip written as ``KEY.npy``; 0 writes no ``.npy`` member.
        seed: Seed of the generator.
    """

    subjects: int = 400
    max_studies_per_subject: int = 2
    max_clips_per_study: int = 3
    normal_share: float = 0.3
    present_probability: float = 0.25
    frames: int = 0
    seed: int = 0


def _label_states(rng: random.Random, spec: SyntheticSpec) -> dict[str, dict[str, str | None]]:
    normal = rng.random() < spec.normal_share
    labels: dict[str, dict[str, str | None]] = {}
    for label_id in CANONICAL_LABELS:
        draw = rng.random()
        if normal or draw >= spec.present_probability + 0.08:
            labels[label_id] = {"state": "absent", "severity": None}
        elif draw < spec.present_probability:
            labels[label_id] = {"state": "present", "severity": rng.choice(SEVERITIES)}
        elif draw < spec.present_probability + 0.04:
            labels[label_id] = {"state": "uncertain", "severity": None}
        else:
            labels[label_id] = {"state": "not_assessed", "severity": None}
    return labels


def findings_key(labels: dict[str, dict[str, Any]]) -> str:
    """Return a short hash of the label states and severities, equal for studies with equal findings."""
    canonical = json.dumps(
        {key: [value["state"], value.get("severity")] for key, value in sorted(labels.items())}
    )
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]


def _sentence(name: str, state: str, severity: str | None) -> str:
    if state == "present":
        return f"{(severity or 'moderate').capitalize()} {name}."
    if state == "uncertain":
        return f"Possible {name}."
    return f"No {name}."


def _caption_and_negatives(
    rng: random.Random, view_phrase: str, labels: dict[str, dict[str, Any]]
) -> tuple[str, list[dict[str, str]]]:
    names = {label_id: prompts.name for label_id, prompts in load_prompts().items()}
    mentioned = []
    for label_id, value in labels.items():
        if value["state"] in ("present", "uncertain") or (value["state"] == "absent" and rng.random() < 0.5):
            mentioned.append(label_id)
    sentences = {label_id: _sentence(names[label_id], **labels[label_id]) for label_id in mentioned}
    opening = (
        view_phrase
        if any(labels[m]["state"] == "present" for m in mentioned)
        else view_phrase + " Normal study."
    )
    caption = " ".join([opening, *sentences.values()])

    negatives = []
    flippable = [label_id for label_id in mentioned if labels[label_id]["state"] in ("present", "absent")]
    for label_id in rng.sample(flippable, k=min(3, len(flippable))):
        state, severity = labels[label_id]["state"], labels[label_id]["severity"]
        if state == "present" and rng.random() < 0.5:
            flipped = {"mild": "severe", "moderate": "mild", "severe": "mild"}[severity]
            replacement, flip, new_state = _sentence(names[label_id], "present", flipped), "grade", "present"
        elif state == "present":
            replacement, flip, new_state = _sentence(names[label_id], "absent", None), "polarity", "absent"
        else:
            replacement = _sentence(names[label_id], "present", rng.choice(SEVERITIES))
            flip, new_state = "polarity", "present"
        text = caption.replace(sentences[label_id], replacement)
        negatives.append({"text": text, "label": label_id, "flip": flip, "state": new_state})
    return caption, negatives


def draw_image(
    view_index: int, labels: dict[str, dict[str, Any]], rng: random.Random, jitter: int = 0
) -> np.ndarray:
    """Draw one 224 x 224 RGB frame: a view-specific sector plus one disc per label."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    start = view_index * 360 / len(VIEWS)
    draw.pieslice((8, 8, IMAGE_SIZE - 8, IMAGE_SIZE - 8), start, start + 70, fill=(70, 70, 70))
    if VIEWS[view_index][2] == "color_doppler":
        corner = 20 + 16 * (view_index % 3)
        draw.rectangle((corner, corner, corner + 40, corner + 40), fill=(160, 30, 30))
    cell = IMAGE_SIZE // 4
    for index, label_id in enumerate(CANONICAL_LABELS):
        value = labels[label_id]
        if value["state"] == "not_assessed":
            continue
        radius = (
            RADIUS[value["severity"] or "moderate"] if value["state"] == "present" else RADIUS[value["state"]]
        )
        radius = max(2, radius + jitter)
        x = cell * (index % 4) + cell // 2
        y = cell * (index // 4) + cell // 2
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(225, 225, 225))
    array = np.asarray(image, dtype=np.int16)
    noise = np.array([rng.randint(-12, 12) for _ in range(64)], dtype=np.int16)
    array = array + np.resize(noise, array.shape[:2])[:, :, None]
    return np.clip(array, 0, 255).astype(np.uint8)


def generate_samples(spec: SyntheticSpec) -> list[dict[str, Any]]:
    """Generate samples: dicts with ``key``, ``jpg`` (uint8 array), optional ``npy``, ``txt`` and ``json``."""
    rng = random.Random(spec.seed)
    samples = []
    for subject_index in range(spec.subjects):
        subject_id = 10_000_000 + subject_index
        fraction = rng.random()
        split = "test"
        if fraction < 0.8:
            split = "train"
        elif fraction < 0.9:
            split = "val"
        for study_index in range(rng.randint(1, spec.max_studies_per_subject)):
            study_id = 50_000_000 + subject_index * 10 + study_index
            labels = _label_states(rng, spec)
            key_of_findings = findings_key(labels)
            views = rng.sample(range(len(VIEWS)), k=rng.randint(1, spec.max_clips_per_study))
            for clip_index, view_index in enumerate(views):
                fine, coarse, clip_kind, phrase = VIEWS[view_index]
                caption, negatives = _caption_and_negatives(rng, phrase, labels)
                clip_id = f"p{str(subject_id)[:2]}_p{subject_id}_s{study_id}_{clip_index + 1:04d}"
                sample: dict[str, Any] = {
                    "key": clip_id,
                    "jpg": draw_image(view_index, labels, rng),
                    "txt": caption,
                    "json": {
                        "subject_id": subject_id,
                        "study_id": study_id,
                        "clip_id": clip_id,
                        "split": split,
                        "view": fine,
                        "view_coarse": coarse,
                        "clip_kind": clip_kind,
                        "caption": caption,
                        "negatives": negatives,
                        "labels": labels,
                        "findings_key": key_of_findings,
                        "measurements": {},
                        "provenance": {"source": "echovlm.synthetic", "seed": spec.seed},
                    },
                }
                if spec.frames > 0:
                    sample["npy"] = np.stack(
                        [draw_image(view_index, labels, rng, jitter=(t % 3) - 1) for t in range(spec.frames)]
                    )
                samples.append(sample)
    return samples


def _encode(member: str, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if member == "jpg":
        buffer = io.BytesIO()
        Image.fromarray(value).save(buffer, format="JPEG", quality=92)
        return buffer.getvalue()
    if member == "npy":
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return buffer.getvalue()
    if member == "json":
        return json.dumps(value, sort_keys=True).encode("utf-8")
    if member == "txt":
        return str(value).encode("utf-8")
    raise ValueError(f"no encoder for shard member {member!r}; pass bytes")


def write_shards(root: Path, samples: list[dict[str, Any]], samples_per_shard: int = 200) -> Path:
    """Write samples to ``root/{split}/shard-NNNNNN.tar`` with a ``sizes.json`` per split.

    Args:
        root: The shards folder to create.
        samples: Dicts with ``key``, a ``json`` dict whose ``split`` picks the folder, and any of
            ``jpg``, ``npy``, ``txt`` (arrays and strings are encoded; bytes are written as given).
        samples_per_shard: Maximum samples per tar file.

    Returns:
        ``root``.
    """
    import webdataset as wds

    root = Path(root)
    by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in samples:
        by_split[sample["json"]["split"]].append(sample)
    for split, split_samples in by_split.items():
        directory = root / split
        directory.mkdir(parents=True, exist_ok=True)
        sizes = {}
        for shard_index, start in enumerate(range(0, len(split_samples), samples_per_shard)):
            name = f"shard-{shard_index:06d}.tar"
            chunk = split_samples[start : start + samples_per_shard]
            # A fixed mtime makes the tar bytes reproducible.
            with wds.TarWriter(str(directory / name), encoder=False, mtime=0) as writer:
                for sample in chunk:
                    record = {"__key__": sample["key"]}
                    for member in ("jpg", "npy", "txt", "json"):
                        if member in sample and sample[member] is not None:
                            record[member] = _encode(member, sample[member])
                    writer.write(record)
            sizes[name] = len(chunk)
        (directory / "sizes.json").write_text(json.dumps(sizes, indent=2) + "\n", encoding="utf-8")
    return root


def write_synthetic_shards(root: Path, spec: SyntheticSpec, samples_per_shard: int = 200) -> dict[str, int]:
    """Generate a synthetic cohort and write its shards; return the sample count per split."""
    samples = generate_samples(spec)
    write_shards(root, samples, samples_per_shard)
    counts = {split: 0 for split in SPLITS}
    for sample in samples:
        counts[sample["json"]["split"]] += 1
    return counts


def write_tiny_text_model(directory: Path, hidden_size: int = 128, layers: int = 2, seed: int = 0) -> Path:
    """Write a small randomly initialised BERT with the MiniLM tokenizer, for tests and CPU ablations.

    Its context is 512 positions, so captions of 256 tokens fit.
    """
    import torch
    from transformers import BertConfig, BertModel

    from echovlm.model.text import load_tokenizer

    directory = Path(directory)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden_size // 64),
        intermediate_size=hidden_size * 2,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(str(directory))
    load_tokenizer("all-MiniLM-L6-v2").save_pretrained(str(directory))
    return directory
