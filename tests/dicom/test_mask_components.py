"""The data fan inside a valid 2D region keeps every sizeable component, not only the largest."""

from __future__ import annotations

import numpy as np

from echoground.dicom.config import DicomConfig
from echoground.dicom.mask import data_fan


def _two_walls(frames: int = 4) -> tuple[np.ndarray, np.ndarray]:
    # Two bright walls separated by a dark cavity, as in an apical view; the right one is smaller.
    image = np.zeros((frames, 240, 320, 3), dtype=np.uint8)
    image[:, 40:200, 40:120] = 180
    image[:, 60:180, 200:260] = 180
    region = np.zeros((240, 320), dtype=bool)
    region[20:220, 20:300] = True
    return image, region


def test_region_fan_spans_both_walls() -> None:
    frames, region = _two_walls()
    fan = data_fan(frames, DicomConfig(), within=region)
    assert fan[100, 80]
    assert fan[100, 230]
    assert fan[100, 160]  # the cavity between them lies inside the convex hull


def test_whole_image_fan_keeps_largest_only() -> None:
    frames, _ = _two_walls()
    fan = data_fan(frames, DicomConfig())
    assert fan[100, 80]
    assert not fan[100, 230]


def test_region_excludes_text_outside() -> None:
    frames, region = _two_walls()
    frames[:, 225:235, 10:310] = 255  # a bright text line below the region
    fan = data_fan(frames, DicomConfig(), within=region)
    assert not fan[230, 160]
