"""The EchoVLM dual encoder: image and text encoders, projection heads and a learnable temperature."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from echovlm.model.config import WEIGHTS_NAME, EchoVLMConfig
from echovlm.model.image import TINY_CNN, ImageEncoder, build_backbone
from echovlm.model.text import TextEncoder, load_text_backbone, load_tokenizer, resolve_text_model

logger = logging.getLogger(__name__)

TEXT_DIR = "text"
IMAGE_DIR = "image"


class EchoVLM(nn.Module):
    """A CLIP-style image-text model for echocardiography.

    Images (or clips) and captions are encoded, projected linearly to ``config.embed_dim`` and
    L2-normalised; their dot products times ``exp(logit_scale)`` are the contrastive logits.
    """

    def __init__(self, config: EchoVLMConfig, _saved_dir: Path | None = None) -> None:
        super().__init__()
        self.config = config
        text_config_dir = _saved_dir / TEXT_DIR if _saved_dir is not None else None
        image_config_dir = None
        if _saved_dir is not None and (_saved_dir / IMAGE_DIR / "config.json").is_file():
            image_config_dir = _saved_dir / IMAGE_DIR

        backbone, image_dim = build_backbone(
            config.image_model,
            weights=None if _saved_dir is not None else config.image_weights,
            saved_config_dir=image_config_dir,
        )
        self.image_encoder = ImageEncoder(backbone, image_dim, config.temporal_pooling)
        self.text_encoder = TextEncoder(
            load_text_backbone(config.text_model, saved_config_dir=text_config_dir),
            config.text_max_length,
            config.text_trainable_layers,
        )
        self.tokenizer = load_tokenizer(str(text_config_dir) if text_config_dir else config.text_model)
        self.image_projection = nn.Linear(image_dim, config.embed_dim, bias=False)
        self.text_projection = nn.Linear(self.text_encoder.output_dim, config.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.init_logit_scale)))

    # Encoding

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenize captions, padded to the longest in the list and truncated to ``text_max_length``."""
        encoded = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.config.text_max_length,
            return_tensors="pt",
        )
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def encode_image(self, pixels: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return L2-normalised image embeddings ``(B, embed_dim)`` for images or clips."""
        features = self.image_encoder(pixels, frame_mask)
        return F.normalize(self.image_projection(features).float(), dim=-1)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return L2-normalised text embeddings ``(B, embed_dim)``."""
        features = self.text_encoder(input_ids, attention_mask)
        return F.normalize(self.text_projection(features).float(), dim=-1)

    @torch.no_grad()
    def embed_texts(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Tokenize and embed texts in batches on the model's device."""
        device = self.logit_scale.device
        chunks = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenize(texts[start : start + batch_size])
            chunks.append(
                self.encode_text(tokens["input_ids"].to(device), tokens["attention_mask"].to(device))
            )
        return torch.cat(chunks) if chunks else torch.empty(0, self.config.embed_dim, device=device)

    def scale(self) -> torch.Tensor:
        """Return the softmax inverse temperature, with its log clamped to [0, max_logit_scale] as in CLIP."""
        return self.logit_scale.clamp(0, self.config.max_logit_scale).exp()

    def forward(
        self,
        pixels: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        frame_mask: torch.Tensor | None = None,
        negative_input_ids: torch.Tensor | None = None,
        negative_attention_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Embed a batch.

        Returns:
            ``image`` and ``text`` embeddings ``(B, D)``, ``logit_scale`` (already exponentiated) and,
            when negatives are given, ``negative_text`` embeddings ``(M, D)`` in the order given.
        """
        outputs = {
            "image": self.encode_image(pixels, frame_mask),
            "text": self.encode_text(input_ids, attention_mask),
            "logit_scale": self.scale(),
        }
        if negative_input_ids is not None and negative_input_ids.shape[0] > 0:
            outputs["negative_text"] = self.encode_text(negative_input_ids, negative_attention_mask)
        return outputs

    # Export

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and the text model's config and tokenizer files.

        The directory then loads with :meth:`from_pretrained` alone, with no training code, no
        original text model and no network.
        """
        from safetensors.torch import save_model

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory)
        text_dir = directory / TEXT_DIR
        text_dir.mkdir(exist_ok=True)
        self.text_encoder.backbone.config.save_pretrained(str(text_dir))
        self.tokenizer.save_pretrained(str(text_dir))
        hugging_face_image = getattr(self.image_encoder.backbone, "model", None)
        if hugging_face_image is not None and hasattr(hugging_face_image, "config"):
            image_dir = directory / IMAGE_DIR
            image_dir.mkdir(exist_ok=True)
            hugging_face_image.config.save_pretrained(str(image_dir))
        temporary = directory / (WEIGHTS_NAME + ".partial")
        # save_model handles tensors shared between modules, which save_file rejects.
        save_model(self, str(temporary))
        temporary.replace(directory / WEIGHTS_NAME)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> EchoVLM:
        """Load a model written by :meth:`save_pretrained` (safetensors weights only)."""
        from safetensors.torch import load_model

        directory = Path(directory)
        config = EchoVLMConfig.load(directory)
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"{weights} not found: the model directory {directory} is incomplete")
        if not (directory / TEXT_DIR / "config.json").is_file():
            raise FileNotFoundError(
                f"{directory / TEXT_DIR / 'config.json'} not found: the model directory {directory} is "
                "incomplete; export it again with `echovlm export`"
            )
        model = cls(config, _saved_dir=directory)
        try:
            load_model(model, str(weights), strict=True, device=str(device))
        except RuntimeError as error:
            raise ValueError(
                f"{weights} does not match {directory / 'config.json'}: {error}. The weights were saved "
                "from another architecture; export the model again"
            ) from error
        return model.to(device).eval()


def describe_initialisation(config: EchoVLMConfig) -> str:
    """Return a one-line account of where the encoders' starting weights come from."""
    import torchvision

    is_torchvision = config.image_model in torchvision.models.list_models(module=torchvision.models)
    if config.image_weights:
        image = f"{config.image_model} from {config.image_weights}"
    elif config.image_model == TINY_CNN or is_torchvision:
        image = f"{config.image_model} from random weights"
    else:
        image = f"{config.image_model} from its Hugging Face weights"
    text = f"{config.text_model} from {resolve_text_model(config.text_model)}"
    return f"image encoder {image}; text encoder {text}"


def parameter_count(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
