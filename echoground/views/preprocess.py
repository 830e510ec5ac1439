"""Turn clip frames from the DICOM stage into normalised model input tensors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as functional

# ITU-R BT.601 luma weights, the grey level of an RGB pixel.
_LUMA = (0.299, 0.587, 0.114)


class ClipFramesError(ValueError):
    """A clip has no usable frames (empty, wrong shape or wrong dtype)."""


@dataclass(frozen=True)
class ImageSpec:
    """The input a model expects: square side in pixels, channels, and per-channel mean and std.

    Pixel values are scaled to [0, 1] before ``(value - mean) / std``.
    """

    size: int = 112
    channels: int = 1
    mean: tuple[float, ...] = field(default=(0.5,))
    std: tuple[float, ...] = field(default=(0.25,))

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"ImageSpec.channels must be 1 or 3, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(
                f"ImageSpec mean {self.mean} and std {self.std} must each have {self.channels} values"
            )
        if self.size < 16:
            raise ValueError(f"ImageSpec.size must be at least 16 pixels, got {self.size}")


def check_clip_frames(frames: np.ndarray, clip: str) -> np.ndarray:
    """Return ``frames`` as a (T, H, W, 3) uint8 array, or raise naming ``clip``.

    A (T, H, W) grey array gets three equal channels.

    Raises:
        ClipFramesError: the array is empty, not uint8, or not (T, H, W) or (T, H, W, 3).
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ClipFramesError(f"clip {clip}: frames must be uint8, got {frames.dtype}")
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ClipFramesError(f"clip {clip}: frames must have shape (T, H, W, 3), got {frames.shape}")
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise ClipFramesError(f"clip {clip}: no usable frames (shape {frames.shape})")
    return frames


def sample_frame_indices(num_frames: int, count: int) -> np.ndarray:
    """Return ``min(count, num_frames)`` frame indices spread evenly over the clip (centres of equal bins)."""
    if num_frames < 1:
        raise ValueError(f"cannot sample frames from a clip of {num_frames} frames")
    count = min(count, num_frames)
    return np.floor((np.arange(count) + 0.5) * num_frames / count).astype(np.int64)


def frames_to_tensor(frames: np.ndarray, spec: ImageSpec) -> torch.Tensor:
    """Resize (T, H, W, 3) uint8 frames to ``spec`` and return normalised float32 (T, C, S, S).

    Grey input (one channel) is the BT.601 luma of the RGB frame; resizing is bilinear with
    antialiasing so that downscaling does not alias the speckle.
    """
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    if spec.channels == 1:
        weights = torch.tensor(_LUMA).view(1, 3, 1, 1)
        images = (images * weights).sum(dim=1, keepdim=True)
    if images.shape[-2:] != (spec.size, spec.size):
        images = functional.interpolate(
            images, size=(spec.size, spec.size), mode="bilinear", antialias=True, align_corners=False
        )
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1)
    return (images - mean) / std
