"""Training checkpoints: model and optimizer state, step, epoch and RNG states in one ``torch.save`` file.

Checkpoints load with ``torch.load(weights_only=True)``, so every value stored is a tensor or a plain
Python container; the numpy RNG state is converted to lists for that reason.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"


class CheckpointMismatchError(ValueError):
    """The checkpoint was written by a run with another model configuration."""


def rng_state() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    python_state = state["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state[0], np.array(numpy_state[1], dtype=np.uint32), *numpy_state[2:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    step: int,
    epoch: int,
    model_config: dict[str, Any],
) -> Path:
    """Write ``directory/last.pt`` through a temporary file, so a crash never leaves half a checkpoint."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_NAME
    temporary = path.with_name(path.name + ".partial")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "epoch": epoch,
            "rng": rng_state(),
            "model_config": model_config,
        },
        temporary,
    )
    temporary.replace(path)
    return path


def load_checkpoint(path: Path, model_config: dict[str, Any]) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` and check it was written for ``model_config``.

    Raises:
        CheckpointMismatchError: When the stored model configuration differs; the message lists the keys.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise ValueError(
            f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); delete it to start afresh"
        ) from error
    stored = state.get("model_config", {})
    # The backbone weights file matters only when a model is first built, so a moved file is no mismatch.
    ignored = {"image_weights"}
    keys = (set(stored) | set(model_config)) - ignored
    differing = sorted(key for key in keys if stored.get(key) != model_config.get(key))
    if differing:
        details = ", ".join(f"{key}: {stored.get(key)!r} -> {model_config.get(key)!r}" for key in differing)
        raise CheckpointMismatchError(
            f"checkpoint {path} was written for another model configuration ({details}); use the same "
            "model options as that run, or a new --out directory"
        )
    return state
