"""Synthetic clips and a fixed test model for the view tests (a uniquely named module, imported by tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

SIDE = 64
# Fine view -> (row, column) centre of its bright blob, as a fraction of the side.
BLOB_CENTRES = {"A4C": (0.3, 0.3), "PLAX": (0.3, 0.7), "PSAX_MV": (0.7, 0.5)}


def make_clip(view: str, rng: np.random.Generator, frames: int = 6, side: int = SIDE) -> np.ndarray:
    """Return (frames, side, side, 3) uint8 frames: speckle noise plus a pulsing blob placed by view."""
    row, column = BLOB_CENTRES[view]
    grid_y, grid_x = np.mgrid[0:side, 0:side] / side
    clip = np.empty((frames, side, side, 3), dtype=np.uint8)
    for index in range(frames):
        radius = 0.12 + 0.03 * np.sin(index) + rng.uniform(-0.02, 0.02)
        centre_y = row + rng.uniform(-0.05, 0.05)
        centre_x = column + rng.uniform(-0.05, 0.05)
        blob = ((grid_y - centre_y) ** 2 + (grid_x - centre_x) ** 2) < radius**2
        grey = rng.uniform(0, 60, size=(side, side)) + 150 * blob
        clip[index] = np.clip(grey, 0, 255).astype(np.uint8)[..., None]
    return clip


class MeanBrightness(nn.Module):
    """A fixed two-class 'model': logits (s, -s) where s is the image mean scaled by ``gain``."""

    def __init__(self, gain: float = 4.0) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(gain), requires_grad=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        score = images.mean(dim=(1, 2, 3)) * self.gain
        return torch.stack([score, -score], dim=1)


def constant_clip(level: int, frames: int = 3, side: int = 32) -> np.ndarray:
    return np.full((frames, side, side, 3), level, dtype=np.uint8)


def write_clip_table(
    tmp_path, clips: dict[str, np.ndarray], kinds: dict[str, str] | None = None
) -> pd.DataFrame:
    """Save clips as frames/<clip_id>.npy and return a clips table of their ids and kinds."""
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir(exist_ok=True)
    for clip_id, frames in clips.items():
        np.save(frames_dir / f"{clip_id}.npy", frames)
    kinds = kinds or {}
    return pd.DataFrame(
        {"clip_id": list(clips), "clip_kind": [kinds.get(clip_id, "b_mode_2d") for clip_id in clips]}
    )
