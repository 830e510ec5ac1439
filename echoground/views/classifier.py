"""One view classifier interface: clips of frames in, class probabilities out, whatever the backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from echoground.views.preprocess import ImageSpec, check_clip_frames, frames_to_tensor, sample_frame_indices


@dataclass
class ViewClassifier:
    """A loaded view model with its class list, input spec and calibration temperature.

    Clip logits are the mean of the frame logits over ``frames_per_clip`` evenly spaced frames;
    probabilities are the softmax of clip logits divided by ``temperature``.

    Attributes:
        module: The network, in eval mode, on ``device``.
        classes: Output class names in logit order, as the checkpoint lists them.
        spec: Input image size, channels and normalisation.
        temperature: Temperature fitted on validation patients (1.0 when uncalibrated).
        frames_per_clip: Frames sampled per clip.
        backend: Backend that loaded the model (echoground, torchvision, timm or hf).
        source: Path the model was loaded from, quoted in errors and model cards.
        vocabulary_version: Vocabulary version the class list was written against, if recorded.
        output_transform: Maps the module's raw output to a logits tensor (Hugging Face models
            return an object with ``.logits``).
    """

    module: nn.Module
    classes: tuple[str, ...]
    spec: ImageSpec
    temperature: float = 1.0
    frames_per_clip: int = 8
    backend: str = "echoground"
    source: str = ""
    vocabulary_version: int | None = None
    output_transform: Callable[[object], torch.Tensor] = field(default=lambda output: output)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(
                f"view model {self.source}: temperature must be positive, got {self.temperature}"
            )
        if self.frames_per_clip < 1:
            raise ValueError(f"view model {self.source}: frames_per_clip must be at least 1")
        self.module.eval()

    @property
    def device(self) -> torch.device:
        """Device of the module's first parameter (CPU for a module without parameters)."""
        parameter = next(self.module.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def to(self, device: str | torch.device) -> ViewClassifier:
        """Move the module to ``device`` and return self."""
        self.module.to(device)
        return self

    @torch.inference_mode()
    def frame_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Return logits (N, classes) for preprocessed images (N, C, S, S) on the model's device."""
        return self.output_transform(self.module(images.to(self.device))).float()

    def clip_tensors(self, frames: np.ndarray, clip: str) -> torch.Tensor:
        """Sample and preprocess one clip's frames into (frames_per_clip or fewer, C, S, S)."""
        frames = check_clip_frames(frames, clip)
        indices = sample_frame_indices(frames.shape[0], self.frames_per_clip)
        return frames_to_tensor(frames[indices], self.spec)

    def clip_logits(
        self, clips: Sequence[np.ndarray], clip_ids: Sequence[str] | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """Return uncalibrated clip logits (len(clips), classes), ``batch_size`` frames per forward pass.

        Raises:
            ClipFramesError: a clip has no usable frames; the message names its id.
        """
        ids = list(clip_ids) if clip_ids is not None else [str(index) for index in range(len(clips))]
        tensors = [self.clip_tensors(frames, clip) for frames, clip in zip(clips, ids, strict=True)]
        return self.logits_from_tensors(tensors, batch_size)

    def logits_from_tensors(self, tensors: Sequence[torch.Tensor], batch_size: int = 256) -> np.ndarray:
        """Return clip logits for already preprocessed clips, each (T_i, C, S, S)."""
        if not tensors:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        lengths = [tensor.shape[0] for tensor in tensors]
        stacked = torch.cat(list(tensors))
        outputs = [
            self.frame_logits(stacked[start : start + batch_size]).cpu()
            for start in range(0, len(stacked), batch_size)
        ]
        frame_logits = torch.cat(outputs)
        clip_logits = [chunk.mean(dim=0) for chunk in torch.split(frame_logits, lengths)]
        return torch.stack(clip_logits).numpy()

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities ``softmax(logits / temperature)`` row by row."""
        return torch.softmax(
            torch.from_numpy(np.asarray(logits, dtype=np.float32)) / self.temperature, dim=1
        ).numpy()

    def predict_proba(
        self, clips: Sequence[np.ndarray], clip_ids: Sequence[str] | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """Return calibrated class probabilities (len(clips), classes) for clips of (T, H, W, 3) uint8."""
        return self.probabilities(self.clip_logits(clips, clip_ids, batch_size))
