"""Export a training checkpoint as a standalone model directory (``save_pretrained`` format)."""

from __future__ import annotations

import json
from pathlib import Path

from echovlm.checkpoint import load_checkpoint
from echovlm.model import EchoVLM, EchoVLMConfig


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """Load ``checkpoint`` (weights_only) with the model config stored in it and save it to ``out_dir``."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} not found; training writes checkpoints/last.pt")
    import torch

    stored = torch.load(checkpoint, map_location="cpu", weights_only=True).get("model_config")
    if not stored:
        raise ValueError(f"checkpoint {checkpoint} has no model_config; it was not written by echovlm train")
    config = EchoVLMConfig.from_dict(stored)
    # The checkpoint contains every weight, so the image backbone need not load its starting weights again.
    config.image_weights = None
    state = load_checkpoint(checkpoint, config.to_dict() | {"image_weights": stored.get("image_weights")})
    model = EchoVLM(config)
    model.load_state_dict(state["model"])
    out = model.save_pretrained(out_dir)
    (Path(out) / "export.json").write_text(
        json.dumps({"checkpoint": str(checkpoint), "step": int(state["step"])}, indent=2) + "\n",
        encoding="utf-8",
    )
    return out
