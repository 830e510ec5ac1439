"""View training on synthetic shape clips: labels, patient split, accuracy, outputs and resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file
from views_fixtures import BLOB_CENTRES, make_clip

from echoground.views.checkpoint import load_classifier
from echoground.views.labels import LabelError, read_labels
from echoground.views.train import TrainConfig, ViewTrainingError, split_subjects, train_view_model
from echoground.views.vocabulary import UnknownViewError, load_vocabulary

FAST = TrainConfig(epochs=4, batch_size=32, input_size=32, frames_per_clip=4, samples_per_clip=3)


def _write_cohort(tmp_path, subjects: int = 10, clips_per_view: int = 2, seed: int = 0):
    """Write empty DICOM stand-ins in the MIMIC layout, a label CSV, and return (csv, frames by path)."""
    rng = np.random.default_rng(seed)
    root = tmp_path / "mimic-iv-echo"
    rows, frames = [], {}
    for subject_index in range(subjects):
        subject = 10000000 + subject_index
        study = 50000000 + subject_index
        for view in BLOB_CENTRES:
            for clip_index in range(clips_per_view):
                number = len(rows)
                relative = f"files/p10/p{subject}/s{study}/{study}_{number:04d}.dcm"
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                (root / relative).write_bytes(b"")
                frames[root / relative] = make_clip(view, rng)
                rows.append({"dicom_filepath": relative, "view": view.lower() if clip_index else view})
    labels = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return labels, root, frames


def test_training_reaches_accuracy_and_writes_outputs(tmp_path) -> None:
    labels, root, frames = _write_cohort(tmp_path)
    out = tmp_path / "model"
    metrics = train_view_model(labels, out, dicom_root=root, config=FAST, frame_loader=frames.__getitem__)
    assert metrics["test"]["accuracy"] >= 0.9
    for name in (
        "view_model.json",
        "model.safetensors",
        "metrics.json",
        "confusion_matrix.png",
        "MODEL_CARD.md",
    ):
        assert (out / name).is_file(), name
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    splits = pd.read_csv(out / "splits.csv")
    assert splits.groupby("subject_id")["split"].nunique().max() == 1
    assert set(splits["split"]) == {"train", "val", "test"}
    config = json.loads((out / "view_model.json").read_text())
    assert config["classes"] == ["A4C", "PLAX", "PSAX_MV"]
    assert config["vocabulary_version"] == load_vocabulary().version
    assert config["temperature"] == pytest.approx(metrics["temperature"])

    classifier = load_classifier(out)
    test_paths = splits.loc[splits["split"] == "test", ["dicom_path", "view"]]
    predicted = classifier.predict_proba([frames[Path(p)] for p in test_paths["dicom_path"]])
    predicted_views = [classifier.classes[i] for i in predicted.argmax(axis=1)]
    accuracy = np.mean(np.array(predicted_views) == test_paths["view"].to_numpy())
    assert accuracy == pytest.approx(metrics["test"]["accuracy"])


def test_resume_matches_uninterrupted_run(tmp_path) -> None:
    labels, root, frames = _write_cohort(tmp_path, subjects=5, clips_per_view=1)
    two = TrainConfig(epochs=2, batch_size=16, input_size=32, frames_per_clip=2, samples_per_clip=1)
    one = TrainConfig(**{**two.__dict__, "epochs": 1})
    train_view_model(
        labels, tmp_path / "straight", dicom_root=root, config=two, frame_loader=frames.__getitem__
    )
    train_view_model(
        labels, tmp_path / "resumed", dicom_root=root, config=one, frame_loader=frames.__getitem__
    )
    train_view_model(
        labels, tmp_path / "resumed", dicom_root=root, config=two, frame_loader=frames.__getitem__
    )
    state = json.loads((tmp_path / "resumed" / "checkpoints" / "last_state.json").read_text())
    assert state["epoch"] == 1
    straight = load_file(str(tmp_path / "straight" / "checkpoints" / "last.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "checkpoints" / "last.safetensors"))
    for name, tensor in straight.items():
        assert np.allclose(tensor.numpy(), resumed[name].numpy(), atol=1e-5), name


def test_resume_with_other_settings_is_rejected(tmp_path) -> None:
    labels, root, frames = _write_cohort(tmp_path, subjects=4, clips_per_view=1)
    config = TrainConfig(epochs=1, batch_size=16, input_size=32, frames_per_clip=2, samples_per_clip=1)
    train_view_model(labels, tmp_path / "m", dicom_root=root, config=config, frame_loader=frames.__getitem__)
    changed = TrainConfig(**{**config.__dict__, "epochs": 2, "learning_rate": 0.1})
    with pytest.raises(ViewTrainingError, match="cannot resume"):
        train_view_model(
            labels, tmp_path / "m", dicom_root=root, config=changed, frame_loader=frames.__getitem__
        )


def test_clip_without_frames_names_file(tmp_path) -> None:
    labels, root, frames = _write_cohort(tmp_path, subjects=4, clips_per_view=1)
    broken = next(iter(frames))
    frames[broken] = np.zeros((0, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(ViewTrainingError, match=str(broken.name)):
        train_view_model(
            labels, tmp_path / "m", dicom_root=root, config=FAST, frame_loader=frames.__getitem__
        )


def test_labels_with_unknown_view_name_line(tmp_path) -> None:
    labels, root, _ = _write_cohort(tmp_path, subjects=3, clips_per_view=1)
    table = pd.read_csv(labels)
    table.loc[4, "view"] = "A7C"
    table.to_csv(labels, index=False)
    with pytest.raises(UnknownViewError, match=r"'A7C' in .*labels\.csv line 6"):
        read_labels(labels, load_vocabulary(), root)


def test_labels_with_missing_file(tmp_path) -> None:
    labels, root, _ = _write_cohort(tmp_path, subjects=3, clips_per_view=1)
    table = pd.read_csv(labels)
    table.loc[2, "dicom_filepath"] = "files/p10/p1/s1/gone.dcm"
    table.to_csv(labels, index=False)
    with pytest.raises(LabelError, match=r"1 DICOM files not found.*gone\.dcm.*line 4"):
        read_labels(labels, load_vocabulary(), root)


def test_labels_without_view_column(tmp_path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("dicom_path,label\na.dcm,A4C\n")
    with pytest.raises(LabelError, match="needs columns 'view'"):
        read_labels(labels, load_vocabulary())


def test_labels_skip_unknown_and_doppler_rows(tmp_path) -> None:
    labels, root, _ = _write_cohort(tmp_path, subjects=3, clips_per_view=1)
    table = pd.read_csv(labels)
    table["clip_kind"] = "b_mode_2d"
    table.loc[0, "view"] = "unknown"
    table.loc[1, "clip_kind"] = "color_doppler"
    table.to_csv(labels, index=False)
    clips = read_labels(labels, load_vocabulary(), root)
    assert len(clips) == len(table) - 2
    assert clips[0].subject_id == 10000000
    assert clips[0].study_id == 50000000


def test_labels_need_a_patient(tmp_path) -> None:
    (tmp_path / "a.dcm").write_bytes(b"")
    labels = tmp_path / "labels.csv"
    labels.write_text("dicom_path,view\na.dcm,A4C\n")
    with pytest.raises(LabelError, match="no subject_id column"):
        read_labels(labels, load_vocabulary())


def test_split_keeps_each_patient_in_one_set() -> None:
    assignment = split_subjects(list(range(20)) * 3, TrainConfig(seed=1))
    assert len(assignment) == 20
    counts = pd.Series(assignment).value_counts()
    assert counts["test"] == 3
    assert counts["val"] == 3
    assert counts["train"] == 14


def test_split_needs_three_patients() -> None:
    with pytest.raises(ViewTrainingError, match="at least 3 patients"):
        split_subjects([1, 2, 2], TrainConfig())
