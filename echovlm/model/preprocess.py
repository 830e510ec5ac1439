"""Turn images and frame stacks into the normalised tensors an EchoVLM image encoder expects."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from echovlm.model.config import EchoVLMConfig


def image_to_tensor(image: Image.Image | np.ndarray, config: EchoVLMConfig) -> torch.Tensor:
    """Resize one RGB image to ``config.image_size`` and normalise it to a ``(3, S, S)`` float tensor.

    Args:
        image: A PIL image, or a uint8 array ``(H, W)`` or ``(H, W, 3)``.
        config: Supplies the image size and the channel mean and standard deviation.
    """
    if isinstance(image, np.ndarray):
        array = image
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"image array must have shape (H, W) or (H, W, 3), got {array.shape}")
        if array.dtype != np.uint8:
            raise ValueError(f"image array must be uint8, got {array.dtype}; scale it to 0..255 first")
        image = Image.fromarray(array)
    image = image.convert("RGB")
    size = config.image_size
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    tensor = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(config.image_mean).view(3, 1, 1)
    std = torch.tensor(config.image_std).view(3, 1, 1)
    return (tensor - mean) / std


def frames_to_tensor(frames: np.ndarray, config: EchoVLMConfig) -> torch.Tensor:
    """Convert uint8 frames ``(T, H, W, 3)`` to a normalised ``(T, 3, S, S)`` tensor."""
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    return torch.stack([image_to_tensor(frame, config) for frame in frames])
