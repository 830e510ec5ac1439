"""The view stage: B-mode classification, thresholds, non-B-mode kinds and clips without frames."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from views_fixtures import MeanBrightness, constant_clip, write_clip_table

from echoground.ledger import Ledger
from echoground.views.classifier import ViewClassifier
from echoground.views.predict import (
    UNCERTAIN,
    ClassMapError,
    ClassTarget,
    decide_view,
    map_classes,
    predict_clips,
)
from echoground.views.preprocess import ClipFramesError, ImageSpec
from echoground.views.vocabulary import load_vocabulary


def test_bright_and_dark_clips_get_their_views(tmp_path, brightness_classifier) -> None:
    table = write_clip_table(tmp_path, {"bright": constant_clip(250), "dark": constant_clip(5)})
    result = predict_clips(table, tmp_path / "frames", brightness_classifier)
    assert list(result.columns) == ["clip_id", "view", "view_coarse", "view_confidence", "view_probabilities"]
    assert result.set_index("clip_id")["view"].to_dict() == {"bright": "A4C", "dark": "PLAX"}
    probabilities = json.loads(result.loc[0, "view_probabilities"])
    assert set(probabilities) == {"A4C", "PLAX"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_batches_give_same_result_as_one_batch(tmp_path, brightness_classifier) -> None:
    clips = {f"clip{level}": constant_clip(level) for level in range(0, 256, 15)}
    table = write_clip_table(tmp_path, clips)
    one = predict_clips(table, tmp_path / "frames", brightness_classifier, batch_size=100)
    many = predict_clips(table, tmp_path / "frames", brightness_classifier, batch_size=3)
    assert one["view"].tolist() == many["view"].tolist()
    assert np.allclose(one["view_confidence"], many["view_confidence"])


def _confidence_of_level(classifier: ViewClassifier, level: int) -> float:
    return float(classifier.predict_proba([constant_clip(level)]).max())


def test_threshold_boundary(tmp_path, brightness_classifier) -> None:
    level = 160
    confidence = _confidence_of_level(brightness_classifier, level)
    table = write_clip_table(tmp_path, {"clip": constant_clip(level)})
    above = predict_clips(table, tmp_path / "frames", brightness_classifier, threshold=confidence - 1e-4)
    below = predict_clips(table, tmp_path / "frames", brightness_classifier, threshold=confidence + 1e-4)
    assert above.loc[0, "view"] == "A4C"
    assert below.loc[0, "view"] == UNCERTAIN
    assert below.loc[0, "view_coarse"] == UNCERTAIN
    assert below.loc[0, "view_confidence"] == pytest.approx(confidence, abs=1e-6)


def test_temperature_changes_confidence_not_view(brightness_classifier) -> None:
    clip = constant_clip(200)
    sharp = brightness_classifier.predict_proba([clip])[0]
    brightness_classifier.temperature = 4.0
    soft = brightness_classifier.predict_proba([clip])[0]
    assert soft.argmax() == sharp.argmax()
    assert soft.max() < sharp.max()


def test_coarse_view_sums_fine_probabilities() -> None:
    targets = [ClassTarget("A4C", "A4C"), ClassTarget("PSAX_MV", "PSAX"), ClassTarget("PSAX_PM", "PSAX")]
    view, coarse, confidence = decide_view(np.array([0.4, 0.3, 0.3]), targets, threshold=0.5)
    assert view == UNCERTAIN
    assert coarse == "PSAX"
    assert confidence == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("kind", "window", "view_coarse"),
    [
        ("color_doppler", "apical", "Apical_Doppler"),
        ("spectral_doppler", "parasternal_short", "PSAX_Doppler"),
        ("color_doppler", None, "color_doppler"),
        ("color_doppler", "subcostal", "color_doppler"),
        ("m_mode", "parasternal_long", "m_mode"),
    ],
)
def test_non_b_mode_clip_keeps_kind(tmp_path, brightness_classifier, kind, window, view_coarse) -> None:
    table = write_clip_table(tmp_path, {"clip": constant_clip(200)}, kinds={"clip": kind})
    table["window"] = [window]
    result = predict_clips(table, tmp_path / "frames", brightness_classifier)
    assert result.loc[0, "view"] == kind
    assert result.loc[0, "view_coarse"] == view_coarse
    assert math.isnan(result.loc[0, "view_confidence"])
    assert result.loc[0, "view_probabilities"] is None


def test_missing_frames_file_raises_with_clip_id(tmp_path, brightness_classifier) -> None:
    table = write_clip_table(tmp_path, {"good": constant_clip(200)})
    table.loc[1] = ["ghost_0001", "b_mode_2d"]
    with pytest.raises(ClipFramesError, match="ghost_0001"):
        predict_clips(table, tmp_path / "frames", brightness_classifier)


def test_empty_clip_raises(tmp_path, brightness_classifier) -> None:
    table = write_clip_table(tmp_path, {"empty": np.zeros((0, 32, 32, 3), dtype=np.uint8)})
    with pytest.raises(ClipFramesError, match="clip empty: no usable frames"):
        predict_clips(table, tmp_path / "frames", brightness_classifier)


def test_float_frames_raise(tmp_path, brightness_classifier) -> None:
    table = write_clip_table(tmp_path, {"floats": np.zeros((2, 32, 32, 3), dtype=np.float32)})
    with pytest.raises(ClipFramesError, match="clip floats: frames must be uint8"):
        predict_clips(table, tmp_path / "frames", brightness_classifier)


def test_bad_clip_goes_to_ledger_when_given(tmp_path, brightness_classifier) -> None:
    table = write_clip_table(
        tmp_path,
        {
            "good": constant_clip(200),
            "empty": np.zeros((0, 8, 8, 3), dtype=np.uint8),
            "doppler": constant_clip(9),
        },
        kinds={"doppler": "color_doppler"},
    )
    table["subject_id"] = [10000001, 10000002, 10000003]
    ledger = Ledger()
    result = predict_clips(table, tmp_path / "frames", brightness_classifier, ledger=ledger)
    by_clip = result.set_index("clip_id")
    assert by_clip.loc["good", "view"] == "A4C"
    assert pd.isna(by_clip.loc["empty", "view"])
    rows = ledger.to_frame().set_index("item_id")
    assert rows.loc["empty", "status"] == "rejected"
    assert rows.loc["empty", "reason"] == "no_usable_frames"
    assert rows.loc["empty", "subject_id"] == 10000002
    assert rows.loc["good", "reason"] == "view_predicted"
    assert rows.loc["doppler", "reason"] == "view_from_kind"


def test_missing_columns_rejected(tmp_path, brightness_classifier) -> None:
    table = write_clip_table(tmp_path, {"clip": constant_clip(1)}).drop(columns=["clip_kind"])
    with pytest.raises(ValueError, match=r"missing columns \['clip_kind'\]"):
        predict_clips(table, tmp_path / "frames", brightness_classifier)


def test_unknown_model_class_names_class_and_model() -> None:
    classifier = ViewClassifier(
        module=MeanBrightness(), classes=("A4C", "RV_INFLOW"), spec=ImageSpec(size=16), source="user-model"
    )
    with pytest.raises(ClassMapError) as caught:
        map_classes(classifier, load_vocabulary())
    assert "'RV_INFLOW'" in str(caught.value)
    assert "user-model" in str(caught.value)


def test_coarse_and_alias_classes_map() -> None:
    classifier = ViewClassifier(
        module=MeanBrightness(), classes=("PSAX", "apical 4 chamber"), spec=ImageSpec(size=16), source="m"
    )
    targets = map_classes(classifier, load_vocabulary())
    assert targets == [ClassTarget("PSAX", "PSAX"), ClassTarget("A4C", "A4C")]
