"""EchoVLM model: encoders, pooling, export and loading in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from echovlm.model import EchoVLM, EchoVLMConfig
from echovlm.model.image import ImageEncoder, TinyCNN
from echovlm.model.text import resolve_text_model


def test_default_text_model_is_packaged_minilm() -> None:
    path = Path(resolve_text_model("all-MiniLM-L6-v2"))
    config = json.loads((path / "config.json").read_text())
    assert (path / "model.safetensors").is_file()
    assert config["max_position_embeddings"] >= 256


def test_text_max_length_above_context_rejected(tiny_config: EchoVLMConfig) -> None:
    config = EchoVLMConfig.from_dict(tiny_config.to_dict() | {"text_max_length": 600})
    with pytest.raises(ValueError, match="max_position_embeddings 512"):
        EchoVLM(config)


def test_unknown_config_key_rejected() -> None:
    with pytest.raises(ValueError, match="unknown EchoVLM config keys"):
        EchoVLMConfig.from_dict({"image_modle": "resnet18"})


def test_unknown_image_model_rejected(tiny_config: EchoVLMConfig) -> None:
    config = EchoVLMConfig.from_dict(tiny_config.to_dict() | {"image_model": "no_such_net"})
    with pytest.raises(ValueError, match="no_such_net"):
        EchoVLM(config)


def test_mean_pooling_ignores_padded_frames() -> None:
    torch.manual_seed(0)
    encoder = ImageEncoder(TinyCNN(), TinyCNN().output_dim, "mean").eval()
    frames = torch.randn(1, 3, 3, 32, 32)
    padded = torch.cat([frames, torch.full((1, 2, 3, 32, 32), 50.0)], dim=1)
    mask = torch.tensor([[True, True, True, False, False]])
    with torch.no_grad():
        assert torch.allclose(encoder(padded, mask), encoder(frames), atol=1e-5)


def test_attention_pooling_ignores_padded_frames() -> None:
    torch.manual_seed(0)
    backbone = TinyCNN()
    encoder = ImageEncoder(backbone, backbone.output_dim, "attention").eval()
    frames = torch.randn(2, 2, 3, 32, 32)
    padded = torch.cat([frames, torch.full((2, 1, 3, 32, 32), 50.0)], dim=1)
    mask = torch.tensor([[True, True, False], [True, True, False]])
    with torch.no_grad():
        pooled = encoder(padded, mask)
        assert pooled.shape == (2, backbone.output_dim)
        assert torch.allclose(pooled, encoder(frames), atol=1e-5)


def test_text_trainable_layers_freezes_lower_layers(tiny_text_model: Path) -> None:
    config = EchoVLMConfig(image_model="tiny_cnn", image_size=32, text_model=str(tiny_text_model))
    config.text_trainable_layers = 0
    model = EchoVLM(config)
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    assert model.text_projection.weight.requires_grad


def test_gradients_reach_both_encoders(tiny_config: EchoVLMConfig) -> None:
    from echovlm.losses import LossConfig, echovlm_loss

    torch.manual_seed(0)
    model = EchoVLM(tiny_config)
    tokens = model.tokenize(
        ["No mitral regurgitation.", "Severe aortic stenosis.", "Mild pericardial effusion."]
    )
    negatives = model.tokenize(["Severe mitral regurgitation."])
    outputs = model(
        torch.randn(3, 3, 32, 32), tokens["input_ids"], tokens["attention_mask"], None,
        negatives["input_ids"], negatives["attention_mask"],
    )  # fmt: skip
    batch = {
        "view_ids": torch.tensor([1, 1, 2]),
        "findings_ids": torch.tensor([0, 0, 1]),
        "negative_valid": torch.tensor([[True], [False], [False]]),
    }
    loss, _ = echovlm_loss(outputs, batch, LossConfig(0.5, 0.2, 0.1, 0.5))
    loss.backward()
    image_grad = model.image_encoder.backbone.features[0].weight.grad
    text_grad = model.text_encoder.backbone.embeddings.word_embeddings.weight.grad
    assert image_grad is not None and image_grad.abs().sum() > 0
    assert text_grad is not None and text_grad.abs().sum() > 0
    assert model.logit_scale.grad is not None


@pytest.mark.slow
def test_export_loads_in_fresh_process(tiny_config: EchoVLMConfig, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = EchoVLM(tiny_config).eval()
    model.save_pretrained(tmp_path / "model")
    expected = model.embed_texts(["No pericardial effusion."])[0].tolist()
    pixels = torch.zeros(1, 3, 32, 32)
    expected_image = model.encode_image(pixels)[0].tolist()
    # The exported folder must not depend on the original text model folder.
    for path in Path(tiny_config.text_model).iterdir():
        assert path.is_file()
    script = (
        "import json, sys, torch\n"
        "from echovlm.model import EchoVLM\n"
        "model = EchoVLM.from_pretrained(sys.argv[1])\n"
        "text = model.embed_texts(['No pericardial effusion.'])[0].tolist()\n"
        "image = model.encode_image(torch.zeros(1, 3, 32, 32))[0].tolist()\n"
        "print(json.dumps({'text': text, 'image': image}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["text"] == pytest.approx(expected, abs=1e-5)
    assert result["image"] == pytest.approx(expected_image, abs=1e-5)


def test_exported_folder_is_self_contained(tiny_config: EchoVLMConfig, tmp_path: Path) -> None:
    model = EchoVLM(tiny_config)
    out = model.save_pretrained(tmp_path / "model")
    assert (out / "config.json").is_file()
    assert (out / "model.safetensors").is_file()
    assert (out / "text" / "config.json").is_file()
    assert (out / "text" / "tokenizer.json").is_file()
    saved = json.loads((out / "config.json").read_text())
    assert saved["image_model"] == "tiny_cnn"


def test_weights_of_other_architecture_rejected(tiny_config: EchoVLMConfig, tmp_path: Path) -> None:
    EchoVLM(tiny_config).save_pretrained(tmp_path / "model")
    config_path = tmp_path / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["embed_dim"] = 48
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not match"):
        EchoVLM.from_pretrained(tmp_path / "model")


def test_missing_model_directory_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json not found"):
        EchoVLM.from_pretrained(tmp_path / "absent")


def test_hugging_face_image_backbone(tiny_config: EchoVLMConfig, tmp_path: Path) -> None:
    from transformers import ViTConfig, ViTModel

    vit = ViTModel(
        ViTConfig(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            image_size=32, patch_size=8,
        )
    )  # fmt: skip
    vit.save_pretrained(str(tmp_path / "vit"))
    config = EchoVLMConfig.from_dict(tiny_config.to_dict() | {"image_model": str(tmp_path / "vit")})
    model = EchoVLM(config).eval()
    embedding = model.encode_image(torch.zeros(2, 3, 32, 32))
    assert embedding.shape == (2, config.embed_dim)
    model.save_pretrained(tmp_path / "export")
    reloaded = EchoVLM.from_pretrained(tmp_path / "export")
    assert torch.allclose(reloaded.encode_image(torch.zeros(2, 3, 32, 32)), embedding, atol=1e-5)
