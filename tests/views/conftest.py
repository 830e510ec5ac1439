"""Fixtures of the view tests."""

from __future__ import annotations

import pytest
from views_fixtures import MeanBrightness

from echoground.views.classifier import ViewClassifier
from echoground.views.preprocess import ImageSpec


@pytest.fixture
def brightness_classifier() -> ViewClassifier:
    """Classes (A4C, PLAX): bright clips are A4C, dark clips PLAX, mid-grey clips near 50/50."""
    return ViewClassifier(
        module=MeanBrightness(),
        classes=("A4C", "PLAX"),
        spec=ImageSpec(size=16, channels=1, mean=(0.5,), std=(0.5,)),
        frames_per_clip=2,
        source="brightness-test-model",
    )
