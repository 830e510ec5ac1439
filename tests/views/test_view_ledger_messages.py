"""Ledger messages of the view stage: each clip row names the clip and the value behind its reason."""

from __future__ import annotations

from views_fixtures import constant_clip, write_clip_table

from echoground.ledger import Ledger
from echoground.views.classifier import ViewClassifier
from echoground.views.predict import predict_clips


def _confidence_of_level(classifier: ViewClassifier, level: int) -> float:
    return float(classifier.predict_proba([constant_clip(level)]).max())


def _messages(table, tmp_path, classifier, threshold: float) -> dict[str, tuple[str, str]]:
    ledger = Ledger()
    predict_clips(table, tmp_path / "frames", classifier, threshold=threshold, ledger=ledger)
    return {entry.item_id: (entry.reason, entry.message) for entry in ledger.entries}


def test_uncertain_row_gives_confidence_and_threshold(tmp_path, brightness_classifier) -> None:
    level = 160
    confidence = _confidence_of_level(brightness_classifier, level)
    threshold = round(confidence + 0.01, 4)
    table = write_clip_table(tmp_path, {"clip": constant_clip(level)})

    reason, message = _messages(table, tmp_path, brightness_classifier, threshold)["clip"]

    assert reason == "view_uncertain"
    assert message.startswith("clip clip:")
    assert f"confidence {confidence:.4f}" in message
    assert f"below the threshold {threshold:g}" in message
    assert "'A4C'" in message


def test_predicted_row_gives_confidence_and_threshold(tmp_path, brightness_classifier) -> None:
    level = 160
    confidence = _confidence_of_level(brightness_classifier, level)
    threshold = round(confidence - 0.01, 4)
    table = write_clip_table(tmp_path, {"clip": constant_clip(level)})

    reason, message = _messages(table, tmp_path, brightness_classifier, threshold)["clip"]

    assert reason == "view_predicted"
    assert message.startswith("clip clip: view 'A4C'")
    assert f"confidence {confidence:.4f}" in message
    assert f"at or above the threshold {threshold:g}" in message


def test_kind_row_names_kind_and_window(tmp_path, brightness_classifier) -> None:
    table = write_clip_table(tmp_path, {"doppler": constant_clip(9)}, kinds={"doppler": "color_doppler"})
    table["window"] = ["apical"]

    reason, message = _messages(table, tmp_path, brightness_classifier, 0.5)["doppler"]

    assert reason == "view_from_kind"
    assert message.startswith("clip doppler:")
    assert "'color_doppler'" in message
    assert "'Apical_Doppler'" in message
    assert "'apical'" in message


def test_every_view_row_has_message(tmp_path, brightness_classifier) -> None:
    levels = {f"clip{level}": constant_clip(level) for level in range(0, 256, 51)}
    table = write_clip_table(tmp_path, levels, kinds={"clip0": "m_mode"})

    messages = _messages(table, tmp_path, brightness_classifier, 0.9)

    assert set(messages) == set(levels)
    for clip_id, (_, message) in messages.items():
        assert message.startswith(f"clip {clip_id}:")
