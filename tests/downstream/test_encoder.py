"""The downstream encoder taken from an exported EchoVLM model."""

from __future__ import annotations

import json

import pytest
import torch

from echovlm.downstream import FinetuneConfig, finetune, open_dataset
from echovlm.downstream.encoder import load_encoder
from echovlm.downstream.synthetic import write_lvh
from echovlm.model.clip import EchoVLM
from echovlm.model.config import EchoVLMConfig

# Building an EchoVLM loads its MiniLM text encoder, which takes about 10 s of CPU.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(3)
    model = EchoVLM(EchoVLMConfig(image_model="tiny_cnn", image_size=64, image_mean=(0.5, 0.5, 0.5)))
    directory = tmp_path_factory.mktemp("echovlm")
    model.save_pretrained(directory)
    return model, directory


def test_encoder_weights_come_from_export(exported):
    model, directory = exported
    encoder, source = load_encoder(directory)
    assert torch.equal(encoder.blocks[0][0].weight, model.image_encoder.backbone.features[0].weight)
    assert str(directory) in source


def test_finetune_uses_export_normalisation(exported, tmp_path):
    _, directory = exported
    dataset = open_dataset(write_lvh(tmp_path / "lvh", videos=4, size=(32, 40)))
    config = FinetuneConfig(model_dir=str(directory), image_size=32, epochs=1, batch_size=4, decoder_width=8)
    run = finetune(dataset, tmp_path / "run", config)
    description = json.loads((run / "downstream.json").read_text())
    assert description["image_mean"] == [0.5, 0.5, 0.5]
    assert description["image_model"] == "tiny_cnn"
    assert "EchoVLM image encoder" in description["encoder_source"]
