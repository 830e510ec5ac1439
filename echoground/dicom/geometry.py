"""Crop to the sector, pad to a square and resize, keeping the physical calibration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Geometry:
    """Mapping from source to output pixels: crop box (end exclusive), scale and paste offset."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float
    offset_x: int
    offset_y: int
    resized_width: int
    resized_height: int


def plan_geometry(mask: np.ndarray, size: int) -> Geometry:
    """Return the crop to the mask's bounding box and the aspect-preserving fit into ``size`` x ``size``."""
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    x0, x1 = int(columns[0]), int(columns[-1]) + 1
    height, width = y1 - y0, x1 - x0
    scale = size / max(height, width)
    resized_width = max(1, min(size, round(width * scale)))
    resized_height = max(1, min(size, round(height * scale)))
    return Geometry(
        x0,
        y0,
        x1,
        y1,
        scale,
        (size - resized_width) // 2,
        (size - resized_height) // 2,
        resized_width,
        resized_height,
    )


def apply_geometry(
    frames: np.ndarray, mask: np.ndarray, geometry: Geometry, size: int, backend: str = "torch"
) -> tuple[np.ndarray, np.ndarray]:
    """Mask, crop, resize and pad ``frames`` (T, rows, columns, 3); return (T, size, size, 3) and the mask.

    Pixels outside the resized mask are zero in every output frame, whatever the resampling filter
    spreads across the mask edge. ``backend`` is ``torch`` or ``pillow`` (see :func:`resize_frames`).
    """
    g = geometry
    crop_mask = mask[g.y0 : g.y1, g.x0 : g.x1]
    target = (g.resized_width, g.resized_height)
    mask_image = Image.fromarray(crop_mask.astype(np.uint8) * 255).resize(target, Image.Resampling.NEAREST)
    out_mask = np.zeros((size, size), dtype=bool)
    out_mask[g.offset_y : g.offset_y + g.resized_height, g.offset_x : g.offset_x + g.resized_width] = (
        np.asarray(mask_image) > 127
    )

    # Zero everything outside the mask before resampling, so no text or ECG pixel bleeds across its edge.
    # A bitwise AND with 0 or 255 per sample is much faster than multiplying by a broadcast boolean.
    keep = np.repeat(crop_mask[:, :, None], 3, axis=2).astype(np.uint8) * np.uint8(255)
    masked = frames[:, g.y0 : g.y1, g.x0 : g.x1] & keep
    output = np.zeros((len(frames), size, size, 3), dtype=np.uint8)
    rows = slice(g.offset_y, g.offset_y + g.resized_height)
    columns = slice(g.offset_x, g.offset_x + g.resized_width)
    resized_keep = np.repeat(out_mask[rows, columns, None], 3, axis=2).astype(np.uint8) * np.uint8(255)
    output[:, rows, columns] = (
        resize_frames(masked, g.resized_height, g.resized_width, backend) & resized_keep
    )
    return output, out_mask


def resize_frames(frames: np.ndarray, height: int, width: int, backend: str = "torch") -> np.ndarray:
    """Resize (T, rows, columns, 3) uint8 frames to (T, height, width, 3) with antialiased bilinear filtering.

    With ``backend`` ``torch``, torch's uint8 bilinear resize with ``antialias=True`` computes the
    filter of Pillow's ``Image.resize(..., BILINEAR)``, and the outputs differ by at most one grey
    level. On channels-last uint8 input it resizes all frames in one call, about eight times faster
    than Pillow 13 resizes them one by one (torch 2.14.1, see BENCHMARKS.md). It runs on one thread,
    so worker processes do not oversubscribe the cores, and restores the caller's thread setting.
    ``pillow`` never imports torch.
    """
    if frames.shape[1:3] == (height, width):
        return frames.copy()
    if backend == "pillow":
        output = np.empty((len(frames), height, width, 3), dtype=np.uint8)
        for index, frame in enumerate(frames):
            output[index] = np.asarray(
                Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR)
            )
        return output
    if backend != "torch":
        raise ValueError(f"invalid resize backend {backend!r}; use 'torch' or 'pillow'")

    import torch
    import torch.nn.functional as functional

    batch = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resized = functional.interpolate(
            batch, size=(height, width), mode="bilinear", antialias=True, align_corners=False
        )
    finally:
        torch.set_num_threads(threads)
    return resized.permute(0, 2, 3, 1).numpy()
