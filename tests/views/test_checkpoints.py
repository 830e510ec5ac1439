"""Loading view checkpoints: our format, torchvision, timm and Hugging Face, and bad checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from echoground.views.checkpoint import CONFIG_NAME, CheckpointError, load_classifier, write_checkpoint
from echoground.views.network import EchoViewNet

CLASSES = ["A4C", "PLAX", "PSAX_MV"]


def _config(**changes) -> dict:
    base = {
        "architecture": "echoviewnet",
        "classes": CLASSES,
        "vocabulary_version": 2,
        "input_size": 32,
        "channels": 1,
        "mean": [0.5],
        "std": [0.25],
        "temperature": 1.5,
        "frames_per_clip": 2,
    }
    return base | changes


@pytest.fixture
def saved_model(tmp_path):
    torch.manual_seed(0)
    model = EchoViewNet(len(CLASSES)).eval()
    write_checkpoint(tmp_path / "model", model, _config())
    return model, tmp_path / "model"


def test_roundtrip_gives_same_logits(saved_model) -> None:
    model, directory = saved_model
    classifier = load_classifier(directory)
    images = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        expected = model(images)
    assert torch.allclose(classifier.frame_logits(images), expected, atol=1e-6)
    assert classifier.classes == tuple(CLASSES)
    assert classifier.temperature == 1.5
    assert classifier.vocabulary_version == 2


def test_wrong_class_count_is_rejected(saved_model) -> None:
    _, directory = saved_model
    config = json.loads((directory / CONFIG_NAME).read_text())
    config["classes"] = [*CLASSES, "A2C"]
    (directory / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"'classifier\.weight' has shape \(3, 128\).*4 classes"):
        load_classifier(directory)


def test_corrupt_weights_are_rejected(saved_model) -> None:
    _, directory = saved_model
    (directory / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match=r"model\.safetensors are corrupt or unreadable"):
        load_classifier(directory)


def test_truncated_weights_are_rejected(saved_model) -> None:
    _, directory = saved_model
    data = (directory / "model.safetensors").read_bytes()
    (directory / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        load_classifier(directory)


def test_missing_tensor_is_rejected(saved_model, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    _, directory = saved_model
    state = load_file(str(directory / "model.safetensors"))
    state.pop("classifier.bias")
    save_file(state, str(directory / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing \['classifier\.bias'\]"):
        load_classifier(directory)


def test_corrupt_config_is_rejected(saved_model) -> None:
    _, directory = saved_model
    (directory / CONFIG_NAME).write_text("{not json")
    with pytest.raises(CheckpointError, match="not JSON"):
        load_classifier(directory)


def test_folder_without_config_is_rejected(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="cannot tell the backend"):
        load_classifier(tmp_path / "empty")


def test_missing_path_is_rejected(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_classifier(tmp_path / "absent")


def test_requested_backend_must_match(saved_model) -> None:
    _, directory = saved_model
    with pytest.raises(CheckpointError, match="is a 'echoground' model, but backend 'torchvision'"):
        load_classifier(directory, backend="torchvision")


def test_torchvision_state_dict_with_sidecar_json(tmp_path) -> None:
    import torchvision

    model = torchvision.models.get_model("resnet18", weights=None, num_classes=2).eval()
    torch.save(model.state_dict(), tmp_path / "resnet.pt")
    sidecar = {
        "backend": "torchvision",
        "architecture": "resnet18",
        "classes": ["A4C", "PLAX"],
        "input_size": 64,
    }
    (tmp_path / "resnet.json").write_text(json.dumps(sidecar))
    classifier = load_classifier(tmp_path / "resnet.pt")
    assert classifier.backend == "torchvision"
    assert classifier.spec.channels == 3
    probabilities = classifier.predict_proba([np.zeros((3, 80, 80, 3), dtype=np.uint8)])
    assert probabilities.shape == (1, 2)
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(classifier.frame_logits(images), model(images), atol=1e-5)


def test_torchvision_pickle_of_whole_model_is_rejected(tmp_path) -> None:
    import torchvision

    model = torchvision.models.get_model("resnet18", weights=None, num_classes=2)
    torch.save(model, tmp_path / "whole.pt")
    (tmp_path / "whole.json").write_text(
        json.dumps({"backend": "torchvision", "architecture": "resnet18", "classes": ["A4C", "PLAX"]})
    )
    with pytest.raises(CheckpointError, match=r"whole\.pt"):
        load_classifier(tmp_path / "whole.pt")


def test_timm_state_dict_with_sidecar_json(tmp_path) -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet10t", pretrained=False, num_classes=3).eval()
    torch.save({"state_dict": model.state_dict()}, tmp_path / "timm.pth")
    (tmp_path / "timm.json").write_text(
        json.dumps({"backend": "timm", "architecture": "resnet10t", "classes": CLASSES, "input_size": 64})
    )
    classifier = load_classifier(tmp_path / "timm.pth", backend="timm")
    assert classifier.classes == tuple(CLASSES)
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(classifier.frame_logits(images), model(images), atol=1e-5)


def _tiny_hf_model(num_labels: int):
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        num_labels=num_labels,
        id2label={0: "A4C", 1: "PLAX"},
        label2id={"A4C": 0, "PLAX": 1},
    )
    torch.manual_seed(0)
    return ResNetForImageClassification(config).eval()


def test_hugging_face_folder_loads(tmp_path) -> None:
    model = _tiny_hf_model(2)
    model.save_pretrained(tmp_path / "hf")
    classifier = load_classifier(tmp_path / "hf")
    assert classifier.backend == "hf"
    assert classifier.classes == ("A4C", "PLAX")
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(classifier.frame_logits(images), model(images).logits, atol=1e-5)


def test_hugging_face_folder_without_head_weights_is_rejected(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    _tiny_hf_model(2).save_pretrained(tmp_path / "hf")
    weights = tmp_path / "hf" / "model.safetensors"
    state = {
        name: tensor for name, tensor in load_file(str(weights)).items() if not name.startswith("classifier")
    }
    save_file(state, str(weights), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="random weights"):
        load_classifier(tmp_path / "hf")
