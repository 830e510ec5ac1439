"""Zero-shot label probabilities for one image file or DICOM file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from echovlm.evaluate import zero_shot_probabilities
from echovlm.model import EchoVLM, image_to_tensor

DICOM_SUFFIXES = {".dcm", ".dicom"}


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    with path.open("rb") as stream:
        header = stream.read(132)
    return len(header) == 132 and header[128:132] == b"DICM"


def read_middle_frame(path: Path) -> np.ndarray:
    """Decode the middle frame of a DICOM file as uint8 RGB ``(H, W, 3)`` with pydicom.

    NOTE: this is a plain decode without the sector masking and de-identification of the echoground
    DICOM stage; burned-in annotations stay in the image.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(path)
    except InvalidDicomError as error:
        raise ValueError(f"{path}: not a readable DICOM file ({error})") from error
    if "PixelData" not in dataset:
        raise ValueError(f"{path}: DICOM file has no (7FE0,0010) Pixel Data")
    pixels = dataset.pixel_array
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    samples_per_pixel = int(getattr(dataset, "SamplesPerPixel", 1))
    if frames > 1:
        pixels = pixels[frames // 2]
    if samples_per_pixel == 1:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.dtype != np.uint8:
        low, high = float(pixels.min()), float(pixels.max())
        pixels = ((pixels - low) / max(high - low, 1e-6) * 255).round().astype(np.uint8)
    return pixels


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file (PNG, JPEG ...) or the middle frame of a DICOM file as uint8 RGB."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} not found")
    if _is_dicom(path):
        return read_middle_frame(path)
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@torch.no_grad()
def predict_labels(model: EchoVLM, path: str | Path, labels: list[str]) -> dict[str, float]:
    """Return P(present) per label for one image or DICOM file."""
    pixels = image_to_tensor(load_image(path), model.config).unsqueeze(0).to(model.logit_scale.device)
    embedding = model.encode_image(pixels)
    probabilities = zero_shot_probabilities(model, embedding, labels)
    return {label: float(values[0]) for label, values in probabilities.items()}
