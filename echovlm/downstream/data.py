"""Turn dataset records into fixed-size tensors for the dense heads, and map predictions back."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from echovlm.downstream.samples import Record


def resize_points(points: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Rescale ``(x, y)`` pixel-centre coordinates from image size ``from_size`` to ``to_size``."""
    scale = np.array([to_size[1] / from_size[1], to_size[0] / from_size[0]])
    return (np.asarray(points, float) + 0.5) * scale - 0.5


def image_to_tensor(
    image: np.ndarray, size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """Resize a uint8 ``(H, W)`` or ``(H, W, 3)`` image to ``(3, size, size)`` and normalise it."""
    pil = Image.fromarray(image).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    tensor = torch.from_numpy(np.asarray(pil, np.uint8).copy()).permute(2, 0, 1).float() / 255.0
    return (tensor - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


class DenseDataset(Dataset):
    """Records loaded and resized to ``image_size`` squares; items are dicts of tensors.

    Items hold ``pixels`` ``(3, S, S)``, ``index``, and ``mask`` ``(S, S)`` (segmentation) or ``points``
    ``(K, 2)`` in resized pixels (landmarks). With ``cache`` the resized tensors stay in memory after the
    first load: about ``3 * S * S`` bytes per item more than the source files.

    Args:
        records: The records to serve.
        image_size: Side of the square model input, in pixels.
        mean: Per-channel mean of the normalisation.
        std: Per-channel standard deviation of the normalisation.
        augment: Apply a random brightness gain and gamma (training only).
        cache: Keep resized items in memory.
        seed: Seed of the augmentation.
    """

    def __init__(
        self,
        records: list[Record],
        image_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: bool = False,
        cache: bool = True,
        seed: int = 0,
    ) -> None:
        self.records = records
        self.image_size = image_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.augment = augment
        self.cache = cache
        self._cached: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.records)

    def _resized(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index in self._cached:
            return self._cached[index]
        sample = self.records[index].load()
        size = (self.image_size, self.image_size)
        grey = sample.image if sample.image.ndim == 2 else sample.image.mean(axis=2).astype(np.uint8)
        image = np.asarray(Image.fromarray(grey).resize(size[::-1], Image.Resampling.BILINEAR))
        if sample.mask is not None:
            target = np.asarray(Image.fromarray(sample.mask).resize(size[::-1], Image.Resampling.NEAREST))
        else:
            target = resize_points(sample.points, sample.image.shape[:2], size).astype(np.float32)
        if self.cache:
            self._cached[index] = (image, target)
        return image, target

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, target = self._resized(index)
        if self.augment:
            gain = self._rng.uniform(0.8, 1.2)
            gamma = self._rng.uniform(0.8, 1.25)
            image = np.clip(255.0 * (image / 255.0) ** gamma * gain, 0, 255).astype(np.uint8)
        pixels = torch.from_numpy(np.repeat(image[None], 3, axis=0).astype(np.float32) / 255.0)
        pixels = (pixels - torch.tensor(self.mean).view(3, 1, 1)) / torch.tensor(self.std).view(3, 1, 1)
        item = {"pixels": pixels, "index": torch.tensor(index)}
        if target.dtype == np.uint8:
            item["mask"] = torch.from_numpy(target.astype(np.int64))
        else:
            item["points"] = torch.from_numpy(target)
        return item
