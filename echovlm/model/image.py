"""Image encoder: a 2D backbone applied to every frame, then pooled over the frames of a clip."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

TINY_CNN = "tiny_cnn"


class TinyCNN(nn.Module):
    """A 4-layer convolutional network (about 0.1 M parameters) for tests and quick CPU runs."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for multiplier in (1, 2, 4, 8):
            layers += [
                nn.Conv2d(channels, width * multiplier, kernel_size=3, stride=2, padding=1),
                nn.BatchNorm2d(width * multiplier),
                nn.ReLU(inplace=True),
            ]
            channels = width * multiplier
        self.features = nn.Sequential(*layers)
        self.output_dim = channels

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.features(pixels).mean(dim=(2, 3))


def _strip_torchvision_head(model: nn.Module, name: str) -> tuple[nn.Module, int]:
    """Replace the classification head of a torchvision model by an identity; return its feature size."""
    if hasattr(model, "fc") and isinstance(model.fc, nn.Linear):  # resnet, resnext, regnet, googlenet
        dim = model.fc.in_features
        model.fc = nn.Identity()
        return model, dim
    if hasattr(model, "heads"):  # vit
        linear = [module for module in model.heads.modules() if isinstance(module, nn.Linear)]
        dim = linear[0].in_features
        model.heads = nn.Identity()
        return model, dim
    if hasattr(model, "head") and isinstance(model.head, nn.Linear):  # swin
        dim = model.head.in_features
        model.head = nn.Identity()
        return model, dim
    if hasattr(model, "classifier"):  # efficientnet, mobilenet, convnext, densenet
        classifier = model.classifier
        linear = [module for module in classifier.modules() if isinstance(module, nn.Linear)]
        if linear:
            dim = linear[0].in_features
            if isinstance(classifier, nn.Sequential) and not isinstance(classifier[0], nn.Linear):
                # convnext keeps LayerNorm and Flatten before its Linear; keep those layers.
                kept = [layer for layer in classifier if not isinstance(layer, nn.Linear | nn.Dropout)]
                model.classifier = nn.Sequential(*kept)
            else:
                model.classifier = nn.Identity()
            return model, dim
    raise ValueError(
        f"image_model {name!r}: cannot find the classification head of this torchvision model; "
        "use a resnet, efficientnet, mobilenet, convnext or vit model, or a Hugging Face model"
    )


def _load_backbone_weights(model: nn.Module, path: Path, name: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"image_weights {path} for image_model {name!r} not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    head_only = all(key.split(".")[0] in ("fc", "heads", "head", "classifier") for key in unexpected)
    if missing or not head_only:
        raise ValueError(
            f"image_weights {path} do not fit image_model {name!r}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}; pass weights saved from that torchvision architecture"
        )
    logger.info("loaded image backbone weights for %s from %s", name, path)


def _is_hugging_face(name: str) -> bool:
    path = Path(name)
    return (path / "config.json").is_file() or ("/" in name and not path.exists())


class HuggingFaceVisionBackbone(nn.Module):
    """Wrap a transformers vision model so that it maps pixels to one feature vector per image."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        config = model.config
        sizes = getattr(config, "hidden_sizes", None)
        self.output_dim = int(sizes[-1]) if sizes else int(config.hidden_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        output = self.model(pixel_values=pixels)
        pooled = getattr(output, "pooler_output", None)
        if pooled is None:
            pooled = output.last_hidden_state[:, 0]
        return pooled.flatten(1)


def build_backbone(
    name: str, weights: str | None = None, saved_config_dir: Path | None = None
) -> tuple[nn.Module, int]:
    """Build a 2D image backbone and return it with the size of its feature vector.

    Args:
        name: ``tiny_cnn``, a torchvision model name, or a Hugging Face name or local directory.
        weights: Optional torchvision backbone weights file.
        saved_config_dir: For a Hugging Face backbone of an exported model, the directory holding its
            config; the model is then built from the config alone, because the exported weights replace it.

    Returns:
        The backbone module and its output feature size.
    """
    if name == TINY_CNN:
        backbone = TinyCNN()
        return backbone, backbone.output_dim

    import torchvision

    if name in torchvision.models.list_models(module=torchvision.models):
        model = torchvision.models.get_model(name, weights=None)
        if weights:
            _load_backbone_weights(model, Path(weights), name)
        else:
            logger.info("image backbone %s starts from random weights (no --image-weights given)", name)
        return _strip_torchvision_head(model, name)

    if saved_config_dir is not None or _is_hugging_face(name):
        from transformers import AutoConfig, AutoModel

        if saved_config_dir is not None:
            model = AutoModel.from_config(AutoConfig.from_pretrained(str(saved_config_dir)))
        else:
            # local_files_only: never download at run time; a name must already be in the local cache.
            model = AutoModel.from_pretrained(name, local_files_only=True)
        backbone = HuggingFaceVisionBackbone(model)
        return backbone, backbone.output_dim

    raise ValueError(
        f"image_model {name!r} is neither 'tiny_cnn', a torchvision model name (e.g. resnet18, resnet50, "
        "efficientnet_b0, vit_b_16) nor a local Hugging Face model directory"
    )


class AttentionPool(nn.Module):
    """Pool frame features with weights from a learned linear score, softmaxed over the valid frames."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(features).squeeze(-1).float()
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).to(features.dtype)
        return (weights.unsqueeze(-1) * features).sum(dim=1)


class ImageEncoder(nn.Module):
    """Encode images ``(B, 3, H, W)`` or clips ``(B, T, 3, H, W)`` to one feature vector each."""

    def __init__(self, backbone: nn.Module, output_dim: int, temporal_pooling: str = "mean") -> None:
        super().__init__()
        self.backbone = backbone
        self.output_dim = output_dim
        self.temporal_pooling = temporal_pooling
        self.attention_pool = AttentionPool(output_dim) if temporal_pooling == "attention" else None

    def forward(self, pixels: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return pooled features ``(B, output_dim)``.

        Args:
            pixels: Normalised images ``(B, 3, H, W)`` or clips ``(B, T, 3, H, W)``.
            frame_mask: For clips, ``(B, T)`` booleans that are True for real frames and False for padding.
        """
        if pixels.dim() == 4:
            return self.backbone(pixels)
        if pixels.dim() != 5:
            raise ValueError(
                f"pixels must have shape (B, 3, H, W) or (B, T, 3, H, W), got {tuple(pixels.shape)}"
            )
        batch, frames = pixels.shape[:2]
        if frame_mask is None:
            frame_mask = torch.ones(batch, frames, dtype=torch.bool, device=pixels.device)
        features = self.backbone(pixels.flatten(0, 1)).view(batch, frames, -1)
        if self.attention_pool is not None:
            return self.attention_pool(features, frame_mask)
        weights = frame_mask.to(features.dtype).unsqueeze(-1)
        return (features * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
