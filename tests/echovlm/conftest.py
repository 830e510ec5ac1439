"""Fixtures for the EchoVLM tests: tiny models and shards written from Python objects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from echovlm.model import EchoVLMConfig
from echovlm.synthetic import SyntheticSpec, generate_samples, write_shards, write_tiny_text_model

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 64-wide random BERT with the MiniLM tokenizer."""
    return write_tiny_text_model(tmp_path_factory.mktemp("text_model"), hidden_size=64, layers=1)


@pytest.fixture(scope="session")
def tiny_config(tiny_text_model: Path) -> EchoVLMConfig:
    return EchoVLMConfig(image_model="tiny_cnn", image_size=32, text_model=str(tiny_text_model), embed_dim=32)


def make_sample(key: str, split: str = "train", view: str = "A4C", **overrides: Any) -> dict[str, Any]:
    """Build one shard sample from Python objects; ``overrides`` replace members (None drops one)."""
    labels = {
        label_id: {"state": "absent", "severity": None}
        for label_id in ("mitral_regurgitation", "aortic_stenosis", "pericardial_effusion")
    }
    meta = {
        "subject_id": 10000032,
        "study_id": 90000001,
        "clip_id": key,
        "split": split,
        "view": view,
        "view_coarse": view,
        "clip_kind": "b_mode_2d",
        "caption": "Apical four-chamber view. No mitral regurgitation.",
        "negatives": [
            {
                "text": "Apical four-chamber view. Severe mitral regurgitation.",
                "label": "mitral_regurgitation",
                "flip": "polarity",
            }
        ],
        "labels": labels,
        "findings_key": "normal",
        "measurements": {},
        "provenance": {"source": "test"},
    }
    sample = {
        "key": key,
        "jpg": np.full((224, 224, 3), 80, dtype=np.uint8),
        "txt": meta["caption"],
        "json": meta,
    }
    for name, value in overrides.items():
        if value is None:
            sample.pop(name, None)
        else:
            sample[name] = value
    return sample


@pytest.fixture
def shard_writer(tmp_path: Path):
    """Return ``write(samples, samples_per_shard=...)`` that writes shards under a fresh folder."""

    def write(samples: list[dict[str, Any]], samples_per_shard: int = 50) -> Path:
        return write_shards(tmp_path / "shards", samples, samples_per_shard)

    return write


@pytest.fixture(scope="session")
def synthetic_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic shards of about 100 samples with 2-frame clips, over train, val and test."""
    root = tmp_path_factory.mktemp("synthetic") / "shards"
    samples = generate_samples(SyntheticSpec(subjects=40, frames=2, seed=3))
    write_shards(root, samples, samples_per_shard=30)
    return root


@pytest.fixture
def sample_factory():
    """Return :func:`make_sample`, which builds one shard sample from Python objects."""
    return make_sample
