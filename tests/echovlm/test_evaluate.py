"""Evaluation metrics on hand-made embeddings, and the evaluate, zero-shot and export commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from echovlm.cli import main
from echovlm.data import LoaderConfig
from echovlm.evaluate import (
    Embedded,
    label_probe,
    labels_shown,
    negation_probe,
    negative_kind,
    retrieval_recall,
    view_probe,
    zero_shot_auc,
)
from echovlm.losses import LossConfig
from echovlm.model import EchoVLMConfig
from echovlm.train import TrainConfig, train


def _embedded(image, text, studies, views=None, negatives=None) -> Embedded:
    image = torch.nn.functional.normalize(torch.tensor(image, dtype=torch.float32), dim=1)
    text = torch.nn.functional.normalize(torch.tensor(text, dtype=torch.float32), dim=1)
    count = len(studies)
    return Embedded(
        image=image,
        text=text,
        meta=[{"study_id": study, "subject_id": study} for study in studies],
        view_ids=np.array(views if views is not None else [0] * count),
        negative_scores=negatives or [[] for _ in range(count)],
        caption_scores=(image * text).sum(dim=1).numpy(),
        skipped={},
    )


def test_retrieval_recall_same_study_counts() -> None:
    # Image 0 is closest to text 1, which belongs to the same study 7: a hit at rank 1.
    # Image 2 (study 9) scores text 0 at 0.86, text 1 at 0.80 (both study 7) and its own text at 0.60.
    embedded = _embedded(
        image=[[1, 0, 0], [0.9, 0.1, 0], [0.8, 0, 0.6]],
        text=[[0.99, 0, 0.1], [1, 0, 0], [0, 0, 1]],
        studies=[7, 7, 9],
    )
    recall = retrieval_recall(embedded, ks=(1, 2, 3))
    assert recall["image_to_text"]["R@1"] == pytest.approx(2 / 3)
    assert recall["image_to_text"]["R@2"] == pytest.approx(2 / 3)
    assert recall["image_to_text"]["R@3"] == pytest.approx(1.0)
    assert recall["candidates"] == 3


def test_negation_probe_counts_pairs_and_images() -> None:
    embedded = _embedded(image=[[1, 0], [0, 1]], text=[[1, 0], [0, 1]], studies=[1, 2])
    embedded.negative_scores = [[("polarity", 0.5), ("grade", 1.5)], [("polarity", 0.2)]]
    probe = negation_probe(embedded)
    assert probe["pair_accuracy"] == pytest.approx(2 / 3)
    assert probe["image_accuracy"] == pytest.approx(1 / 2)
    assert probe["by_flip"]["grade"]["accuracy"] == 0.0
    assert probe["by_flip"]["polarity"]["accuracy"] == 1.0


def test_negation_probe_splits_polarity_direction() -> None:
    embedded = _embedded(image=[[1, 0], [0, 1]], text=[[1, 0], [0, 1]], studies=[1, 2])
    embedded.negative_scores = [
        [("polarity:to_present", 0.5), ("polarity:to_absent", 1.5)],
        [("polarity:to_present", 1.2), ("grade", 0.1)],
    ]
    probe = negation_probe(embedded)
    assert probe["by_flip"]["polarity"] == {"accuracy": pytest.approx(1 / 3), "pairs": 3}
    assert probe["by_direction"]["polarity:to_present"] == {"accuracy": 0.5, "pairs": 2}
    assert probe["by_direction"]["polarity:to_absent"] == {"accuracy": 0.0, "pairs": 1}
    assert "grade" not in probe["by_direction"]


def test_negative_kind_reads_label_state() -> None:
    meta = {"labels": {"lv_dilation": {"state": "present"}, "mitral_stenosis": {"state": "absent"}}}
    assert negative_kind({"flip": "polarity", "label": "lv_dilation"}, meta) == "polarity:to_absent"
    assert negative_kind({"flip": "polarity", "label": "mitral_stenosis"}, meta) == "polarity:to_present"
    assert negative_kind({"flip": "grade", "label": "lv_dilation"}, meta) == "grade"
    assert negative_kind({"flip": "polarity", "label": "aortic_stenosis"}, meta) == "polarity"


def test_negative_kind_prefers_stored_state() -> None:
    meta = {"labels": {"lv_dilation": {"state": "present"}}}
    item = {"flip": "polarity", "label": "lv_dilation", "state": "present"}
    assert negative_kind(item, meta) == "polarity:to_present"
    assert negative_kind(item | {"state": "absent"}, {}) == "polarity:to_absent"


def test_view_probe_separable_views() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4)[:2] * 5
    views = [0, 1] * 20
    points = np.array([centres[view] + rng.normal(0, 0.3, 4) for view in views])
    embedded = _embedded(image=points, text=points, studies=list(range(40)), views=views)
    result = view_probe(embedded, embedded)
    assert result["accuracy"] == 1.0
    assert result["classes"] == ["A2C", "A3C"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, synthetic_shards: Path, tiny_config: EchoVLMConfig) -> Path:
    out = tmp_path_factory.mktemp("eval_run")
    config = TrainConfig(
        model=tiny_config,
        loss=LossConfig(negation_weight=0.5),
        loader=LoaderConfig(batch_size=8, num_workers=0),
        steps=3,
        samples_per_epoch=24,
        log_every=1,
        threads=1,
    )
    train(synthetic_shards, out, config)
    return out


def test_evaluate_command_writes_report(run_dir: Path, synthetic_shards: Path, tmp_path: Path) -> None:
    arguments = ["evaluate", "--model", str(run_dir / "model"), "--shards", str(synthetic_shards)]
    result = CliRunner().invoke(main, [*arguments, "--out", str(tmp_path), "--workers", "0"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    report = (tmp_path / "report.md").read_text()
    test_samples = metrics["test_samples"]
    assert test_samples > 0
    assert 0.0 <= metrics["zero_shot"]["mean_auc"] <= 1.0
    counterfactual = metrics["zero_shot_counterfactual"]
    assert counterfactual["context_split"] == "val"
    sources = {entry["prompt_source"] for entry in counterfactual["per_label"].values()}
    assert "counterfactual_pairs" in sources
    assert "With counterfactual caption pairs" in report
    assert metrics["subjects_also_in_probe_split"] == 0
    assert "not patient-level" not in report
    assert metrics["label_probe"]["probe_split"] == "train"
    # A split that is not patient-level is flagged in the report itself, not only on the console.
    from echovlm.report import write_report

    leaky = tmp_path / "leaky"
    leaky.mkdir()
    write_report(metrics | {"subjects_also_in_probe_split": 3}, leaky)
    assert "3 test patients also appear" in (leaky / "report.md").read_text()
    assert "| lv_dilation |" in report.split("## Label probe")[1]
    # Metrics of an older evaluation have no label probe: its section is left out, not printed empty.
    older = {key: value for key, value in metrics.items() if key != "label_probe"}
    write_report(older, leaky)
    assert "Label probe" not in (leaky / "report.md").read_text()
    assert metrics["retrieval"]["candidates"] == test_samples
    assert metrics["view_probe"]["probe_split"] == "val"
    assert metrics["negation_probe"]["pairs"] > 0
    assert "same study" in report
    assert (tmp_path / "zero_shot_auc.png").is_file()


def test_zero_shot_command_on_dicom(run_dir: Path, tmp_path: Path) -> None:
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    frames = np.zeros((3, 48, 64), dtype=np.uint8)
    frames[1, 10:30, 10:30] = 200
    dataset.NumberOfFrames = 3
    dataset.Rows, dataset.Columns = 48, 64
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = frames.tobytes()
    path = tmp_path / "clip.dcm"
    dataset.save_as(path, enforce_file_format=True)

    arguments = ["zero-shot", str(path), "--model", str(run_dir / "model")]
    result = CliRunner().invoke(main, [*arguments, "--labels", "mitral_regurgitation,aortic_stenosis"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.strip().splitlines()]
    assert [label for label, _ in lines] == ["mitral_regurgitation", "aortic_stenosis"]
    assert all(0.0 <= float(value) <= 1.0 for _, value in lines)


def test_zero_shot_unknown_label_rejected(run_dir: Path, tmp_path: Path) -> None:
    image = tmp_path / "frame.png"
    from PIL import Image

    Image.new("RGB", (40, 40)).save(image)
    result = CliRunner().invoke(
        main, ["zero-shot", str(image), "--model", str(run_dir / "model"), "--labels", "afib"]
    )
    assert result.exit_code != 0
    assert "unknown labels ['afib']" in result.output


def test_export_matches_trained_model(run_dir: Path, tmp_path: Path) -> None:
    from echovlm.model import EchoVLM

    checkpoint = run_dir / "checkpoints" / "last.pt"
    result = CliRunner().invoke(
        main, ["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    exported = EchoVLM.from_pretrained(tmp_path / "m")
    trained = EchoVLM.from_pretrained(run_dir / "model")
    texts = ["No mitral regurgitation.", "Severe aortic stenosis."]
    assert torch.allclose(exported.embed_texts(texts), trained.embed_texts(texts), atol=1e-6)


def test_labels_shown_follow_caption_templates() -> None:
    plax = labels_shown({"clip_kind": "b_mode_2d", "view": "PLAX", "view_coarse": "PLAX"})
    assert {"lv_dilation", "lv_hypertrophy", "aortic_stenosis", "pericardial_effusion"} <= plax
    assert "mitral_regurgitation" not in plax
    doppler = labels_shown({"clip_kind": "color_doppler", "view": "A4C", "view_coarse": "Apical_Doppler"})
    assert "mitral_regurgitation" in doppler
    assert "lv_hypertrophy" not in doppler
    uncertain = labels_shown({"clip_kind": "b_mode_2d", "view": "uncertain", "view_coarse": "uncertain"})
    assert "lv_systolic_dysfunction" in uncertain
    # A4C states LVEF, whose grade label is LV systolic dysfunction, and TAPSE for the RV.
    a4c = labels_shown({"clip_kind": "b_mode_2d", "view": "A4C", "view_coarse": "A4C"})
    assert {"lv_systolic_dysfunction", "rv_systolic_dysfunction", "la_enlargement"} <= a4c


def test_labels_shown_doppler_without_window() -> None:
    """A Doppler clip of unknown window is captioned at study level but shows only flow findings."""
    unknown = labels_shown({"clip_kind": "spectral_doppler", "view": None, "view_coarse": None})
    # Apical Doppler states the AV gradient and TR velocity, PSAX Doppler tricuspid regurgitation.
    assert {"mitral_regurgitation", "aortic_stenosis", "tricuspid_regurgitation"} <= unknown
    assert "pulmonary_hypertension" in unknown
    assert "lv_hypertrophy" not in unknown
    assert "lv_dilation" not in unknown
    # A B-mode or M-mode clip without a view keeps the study-level template.
    for kind in ("b_mode_2d", "m_mode"):
        assert "lv_hypertrophy" in labels_shown({"clip_kind": kind, "view": None, "view_coarse": None})


def test_zero_shot_auc_by_view_and_study(monkeypatch) -> None:
    """A PSAX_APEX clip cannot show LV dilation, so it counts only in the all-clips AUC."""
    views = ["PLAX", "PLAX", "PLAX", "PSAX_APEX"]
    studies = [1, 1, 2, 2]
    states = {1: "present", 2: "absent"}
    embedded = _embedded(image=[[1, 0]] * 4, text=[[1, 0]] * 4, studies=studies)
    embedded.meta = [
        {
            "study_id": study,
            "subject_id": study,
            "clip_kind": "b_mode_2d",
            "view": view,
            "view_coarse": view,
            "labels": {"lv_dilation": {"state": states[study]}},
        }
        for view, study in zip(views, studies, strict=True)
    ]
    scores = np.array([0.9, 0.3, 0.4, 0.95])

    def fixed(model, image, labels):
        return {label: scores for label in labels}

    monkeypatch.setattr("echovlm.evaluate.zero_shot_probabilities", fixed)
    result = zero_shot_auc(model=None, embedded=embedded)
    entry = result["per_label"]["lv_dilation"]
    # All clips: present 0.9, 0.3 against absent 0.4, 0.95 -> 1 of 4 pairs ordered right.
    assert entry["auc"] == pytest.approx(0.25)
    # Without the PSAX_APEX clip: 0.9 > 0.4 and 0.3 < 0.4.
    assert entry["auc_view"] == pytest.approx(0.5)
    # Per study over the PLAX clips: study 1 mean 0.6 against study 2 mean 0.4.
    assert entry["auc_study"] == pytest.approx(1.0)
    assert (entry["view_clips"], entry["studies"], entry["studies_present"]) == (3, 2, 1)
    assert result["per_label"]["mitral_regurgitation"]["auc"] is None
    assert result["mean_auc_study"] == pytest.approx(1.0)


def _labelled(image, states, studies) -> Embedded:
    embedded = _embedded(image=image, text=image, studies=studies)
    for meta, state in zip(embedded.meta, states, strict=True):
        meta["labels"] = {"lv_dilation": {"state": state}} if state else {}
    return embedded


def test_label_probe_scores_separable_label() -> None:
    # lv_dilation is present along +x; the uncertain sample and the sample without labels are left out.
    train = _labelled(
        image=[[1, 0.1], [0.9, -0.2], [-1, 0.1], [-0.8, 0.3], [1, 1], [0, 1]],
        states=["present", "present", "absent", "absent", "uncertain", None],
        studies=[1, 2, 3, 4, 5, 6],
    )
    # Test: study 7 has a present clip and a weak present clip; study 8 two absent clips.
    test = _labelled(
        image=[[0.9, 0.0], [-0.1, 0.99], [-0.9, 0.1], [0.1, 0.99]],
        states=["present", "present", "absent", "absent"],
        studies=[7, 7, 8, 8],
    )
    result = label_probe(train, test)
    entry = result["per_label"]["lv_dilation"]
    assert entry["train_present"] == 2
    # Clip level: the weak present clip (-0.1, 0.99) scores below the absent clip (0.1, 0.99): 3 of 4 pairs.
    assert entry["auc"] == pytest.approx(0.75)
    assert entry["auc_study"] == pytest.approx(1.0)
    # Labels with one class (or none) in the training split get no probe.
    assert result["per_label"]["mitral_regurgitation"]["auc"] is None
    assert result["mean_auc"] == pytest.approx(0.75)
