"""Expose the feature maps of an EchoVLM image backbone, which its forward pass pools away.

Dense heads need the intermediate maps. :class:`FeatureMapEncoder` is the interface they use: an
``nn.Module`` that maps ``(B, 3, H, W)`` to a list of maps from fine to coarse, with their channel counts
and strides. Adapters exist for the backbones ``echovlm.model.image.build_backbone`` makes: ``tiny_cnn``
and the torchvision ResNet family. Other backbones raise a ``ValueError`` naming the supported ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from echovlm.model.image import TinyCNN, build_backbone

logger = logging.getLogger(__name__)


class FeatureMapEncoder(nn.Module):
    """Maps ``(B, 3, H, W)`` images to feature maps, finest first.

    Attributes:
        channels: Channel count of each map.
        strides: Downsampling factor of each map relative to the input.
    """

    channels: list[int]
    strides: list[int]

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError


class TinyCNNFeatures(FeatureMapEncoder):
    """The output of each of the four stride-2 blocks of :class:`~echovlm.model.image.TinyCNN`."""

    def __init__(self, backbone: TinyCNN) -> None:
        super().__init__()
        # Only the blocks are registered: registering the backbone too would store every tensor twice.
        layers = list(backbone.features)
        # Each block is Conv2d, BatchNorm2d, ReLU: cut after every ReLU.
        self.blocks = nn.ModuleList(
            nn.Sequential(*layers[start : start + 3]) for start in range(0, len(layers), 3)
        )
        self.channels = [block[0].out_channels for block in self.blocks]
        self.strides = [2 ** (index + 1) for index in range(len(self.blocks))]

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        features = pixels
        for block in self.blocks:
            features = block(features)
            maps.append(features)
        return maps


class ResNetFeatures(FeatureMapEncoder):
    """The outputs of the stem and ``layer1`` to ``layer4`` of a torchvision ResNet or ResNeXt."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.layers = [backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4]
        stem_channels = backbone.conv1.out_channels
        self.channels = [stem_channels] + [self._out_channels(layer) for layer in self.layers]
        self.strides = [2, 4, 8, 16, 32]

    @staticmethod
    def _out_channels(layer: nn.Module) -> int:
        convolutions = [module for module in layer.modules() if isinstance(module, nn.Conv2d)]
        last_block = list(layer.children())[-1]
        block_convolutions = [module for module in last_block.modules() if isinstance(module, nn.Conv2d)]
        return (block_convolutions or convolutions)[-1].out_channels

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        backbone = self.backbone
        stem = backbone.relu(backbone.bn1(backbone.conv1(pixels)))
        maps = [stem]
        features = backbone.maxpool(stem)
        for layer in self.layers:
            features = layer(features)
            maps.append(features)
        return maps


def feature_maps_of(backbone: nn.Module, name: str = "") -> FeatureMapEncoder:
    """Wrap an image backbone so that it returns feature maps.

    Raises:
        ValueError: if the backbone is neither ``tiny_cnn`` nor a torchvision ResNet.
    """
    if isinstance(backbone, FeatureMapEncoder):
        return backbone
    if isinstance(backbone, TinyCNN):
        return TinyCNNFeatures(backbone)
    if all(hasattr(backbone, attribute) for attribute in ("conv1", "bn1", "maxpool", "layer1", "layer4")):
        return ResNetFeatures(backbone)
    raise ValueError(
        f"image backbone {name or type(backbone).__name__!r} has no feature-map adapter for segmentation or "
        "landmarks; use tiny_cnn or a torchvision ResNet (resnet18, resnet34, resnet50, ...)"
    )


def load_encoder(
    model_dir: str | Path | None = None, image_model: str = "tiny_cnn"
) -> tuple[FeatureMapEncoder, str]:
    """Build the feature-map encoder from an exported EchoVLM model, or a fresh backbone.

    Args:
        model_dir: A directory written by ``EchoVLM.save_pretrained`` (``echovlm export``); its image
            backbone and weights are used. None builds ``image_model`` from random weights.
        image_model: Backbone name used when ``model_dir`` is None.

    Returns:
        The encoder and a description of where its weights came from.
    """
    if model_dir is not None:
        from echovlm.model.clip import EchoVLM

        model = EchoVLM.from_pretrained(model_dir)
        backbone = model.image_encoder.backbone
        name = model.config.image_model
        logger.info("downstream encoder: image backbone %s of the EchoVLM model in %s", name, model_dir)
        return feature_maps_of(backbone, name), f"EchoVLM image encoder from {model_dir} ({name})"
    backbone, _ = build_backbone(image_model)
    logger.info("downstream encoder: %s from random weights (no EchoVLM model given)", image_model)
    return feature_maps_of(backbone, image_model), f"{image_model}, random initialisation"
