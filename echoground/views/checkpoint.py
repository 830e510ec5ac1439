"""Write and load view models: our safetensors + JSON format, torchvision, timm and Hugging Face.

A model directory in our format contains ``view_model.json`` (class list, vocabulary version, input
size, temperature, backend and architecture) and the weights it names, ``model.safetensors`` by
default. The same JSON beside a torchvision or timm state dict lets those load without code changes.
A Hugging Face image classifier is a directory saved with ``save_pretrained``.

Every load checks that each weight tensor was found and that the output has one logit per class, so
a wrong or partial checkpoint raises :class:`CheckpointError` instead of running with random weights.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from echoground.views.classifier import ViewClassifier
from echoground.views.network import ARCHITECTURE, EchoViewNet
from echoground.views.preprocess import ImageSpec

logger = logging.getLogger(__name__)

CONFIG_NAME = "view_model.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "echoground.view_model"
FORMAT_VERSION = 1
BACKENDS = ("auto", "echoground", "torchvision", "timm", "hf")

# ImageNet statistics, the usual normalisation of torchvision, timm and Hugging Face image models.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointError(ValueError):
    """A view checkpoint is missing, corrupt, or does not match its configuration."""


def write_checkpoint(directory: Path, module: nn.Module, config: dict[str, Any]) -> Path:
    """Write ``module``'s weights as safetensors and ``config`` as ``view_model.json`` into ``directory``.

    ``config`` needs at least ``classes``, ``architecture``, ``input_size``, ``channels``, ``mean``,
    ``std``, ``temperature``, ``frames_per_clip`` and ``vocabulary_version``. The JSON is written
    last, so a directory with a JSON always has its weights.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = config.get("weights", WEIGHTS_NAME)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in module.state_dict().items()}
    save_file(state, str(directory / weights))
    full_config = {"format": FORMAT, "format_version": FORMAT_VERSION, "backend": "echoground"} | config
    full_config["weights"] = weights
    temporary = directory / (CONFIG_NAME + ".partial")
    temporary.write_text(json.dumps(full_config, indent=2) + "\n")
    temporary.replace(directory / CONFIG_NAME)
    return directory


def read_config(path: Path) -> dict[str, Any]:
    """Read a ``view_model.json``, raising :class:`CheckpointError` naming the file when it is invalid."""
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"view model config {path} is unreadable or not JSON: {error}") from error
    if not isinstance(config, dict):
        raise CheckpointError(f"view model config {path} must be a JSON object")
    missing = [key for key in ("classes", "architecture") if key not in config]
    if missing:
        raise CheckpointError(f"view model config {path} is missing {missing}")
    classes = config["classes"]
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(name, str) for name in classes)
    ):
        raise CheckpointError(f"view model config {path}: 'classes' must be a list of at least 2 names")
    if len(set(classes)) != len(classes):
        raise CheckpointError(f"view model config {path}: 'classes' contains duplicates: {classes}")
    return config


def _find_config(path: Path) -> Path | None:
    """Return the JSON config for a model directory or weights file, if one exists."""
    if path.is_dir():
        candidate = path / CONFIG_NAME
        return candidate if candidate.is_file() else None
    for candidate in (path.with_suffix(".json"), path.parent / CONFIG_NAME):
        if candidate.is_file():
            return candidate
    return None


def detect_backend(path: Path) -> str:
    """Return the backend of a checkpoint path: the JSON's ``backend``, or hf for a Hugging Face folder.

    Raises:
        CheckpointError: the path does not exist or its backend cannot be determined.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"view checkpoint not found: {path}")
    config_path = _find_config(path)
    if config_path is not None:
        return str(read_config(config_path).get("backend", "echoground"))
    if path.is_dir() and (path / "config.json").is_file():
        return "hf"
    raise CheckpointError(
        f"cannot tell the backend of view checkpoint {path}: expected a folder or weights file with "
        f"{CONFIG_NAME} (our format, torchvision or timm) or a Hugging Face folder with config.json"
    )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read weights from safetensors, or from a torch file of tensors only (``weights_only=True``)."""
    if not path.is_file():
        raise CheckpointError(f"view model weights not found: {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError, EOFError) as error:
        raise CheckpointError(f"view model weights {path} are corrupt or unreadable: {error}") from error
    except Exception as error:  # torch.load raises UnpicklingError and others on a damaged file
        raise CheckpointError(f"view model weights {path} are corrupt or unreadable: {error}") from error
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(isinstance(value, torch.Tensor) for value in loaded.values()):
        raise CheckpointError(f"view model weights {path} do not contain a state dict of tensors")
    return loaded


def _build_module(
    backend: str, architecture: str, num_classes: int, channels: int, source: Path
) -> nn.Module:
    """Build an untrained module of ``architecture``; its weights are loaded right after."""
    if backend == "echoground":
        if architecture != ARCHITECTURE:
            raise CheckpointError(f"{source}: unknown echoground architecture {architecture!r}")
        return EchoViewNet(num_classes, in_channels=channels)
    if backend == "torchvision":
        import torchvision

        try:
            return torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)
        except ValueError as error:
            raise CheckpointError(f"{source}: unknown torchvision architecture {architecture!r}") from error
    if backend == "timm":
        try:
            import timm
        except ModuleNotFoundError as error:
            raise CheckpointError(
                f"{source}: backend 'timm' needs the timm package: pip install timm"
            ) from error
        try:
            return timm.create_model(
                architecture, pretrained=False, num_classes=num_classes, in_chans=channels
            )
        except RuntimeError as error:
            raise CheckpointError(f"{source}: unknown timm architecture {architecture!r}") from error
    raise CheckpointError(f"{source}: unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], source: Path, classes: list[str]) -> None:
    """Load every tensor of ``state`` into ``module``; a missing, extra or misshapen tensor raises."""
    result_missing: list[str] = []
    expected = module.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            result_missing.append(name)
        elif state[name].shape != tensor.shape:
            raise CheckpointError(
                f"view model weights {source}: tensor {name!r} has shape {tuple(state[name].shape)}, the "
                f"architecture expects {tuple(tensor.shape)}; the config lists {len(classes)} classes, check "
                f"that 'classes' and 'architecture' match the weights"
            )
    unexpected = sorted(set(state) - set(expected))
    if result_missing or unexpected:
        raise CheckpointError(
            f"view model weights {source} do not match the architecture: missing {result_missing[:5]}, "
            f"unexpected {unexpected[:5]} ({len(result_missing)} missing, {len(unexpected)} unexpected)"
        )
    module.load_state_dict(state, strict=True)


def _check_output_size(classifier: ViewClassifier) -> None:
    """Run one blank image through the model and check it returns one logit per class."""
    blank = torch.zeros(1, classifier.spec.channels, classifier.spec.size, classifier.spec.size)
    logits = classifier.frame_logits(blank)
    if logits.ndim != 2 or logits.shape[1] != len(classifier.classes):
        raise CheckpointError(
            f"view model {classifier.source} returns {tuple(logits.shape)} logits for one image but its "
            f"config lists {len(classifier.classes)} classes"
        )


def _spec_from_config(config: dict[str, Any], default_channels: int, source: Path) -> ImageSpec:
    channels = int(config.get("channels", default_channels))
    default_mean = IMAGENET_MEAN if channels == 3 else (0.5,)
    default_std = IMAGENET_STD if channels == 3 else (0.25,)
    try:
        return ImageSpec(
            size=int(config.get("input_size", 224 if channels == 3 else 112)),
            channels=channels,
            mean=tuple(config.get("mean", default_mean)),
            std=tuple(config.get("std", default_std)),
        )
    except ValueError as error:
        raise CheckpointError(f"view model config {source}: {error}") from error


def _load_from_config(path: Path, backend: str) -> ViewClassifier:
    config_path = _find_config(path)
    if config_path is None:
        raise CheckpointError(
            f"view checkpoint {path} has no {CONFIG_NAME} (or a .json beside the weights file) naming its "
            f"architecture and classes; write one as described in docs/views.md"
        )
    config = read_config(config_path)
    declared = config.get("backend", "echoground")
    if backend != "auto" and declared != backend:
        raise CheckpointError(
            f"view checkpoint {path} is a {declared!r} model, but backend {backend!r} was requested"
        )
    weights_path = path if path.is_file() else path / config.get("weights", WEIGHTS_NAME)
    default_channels = 1 if declared == "echoground" else 3
    spec = _spec_from_config(config, default_channels, config_path)
    module = _build_module(
        declared, config["architecture"], len(config["classes"]), spec.channels, config_path
    )
    _load_strict(module, _read_state_dict(weights_path), weights_path, config["classes"])
    return ViewClassifier(
        module=module,
        classes=tuple(config["classes"]),
        spec=spec,
        temperature=float(config.get("temperature", 1.0)),
        frames_per_clip=int(config.get("frames_per_clip", 8)),
        backend=declared,
        source=str(path),
        vocabulary_version=config.get("vocabulary_version"),
    )


def _load_hf(path: Path) -> ViewClassifier:
    """Load a Hugging Face image classifier saved with ``save_pretrained`` from a local folder."""
    from transformers import AutoModelForImageClassification

    if not path.is_dir():
        raise CheckpointError(f"a Hugging Face view model must be a folder with config.json, got {path}")
    try:
        module, info = AutoModelForImageClassification.from_pretrained(
            str(path), local_files_only=True, output_loading_info=True
        )
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
        raise CheckpointError(f"Hugging Face view model {path} failed to load: {error}") from error
    if info.get("missing_keys") or info.get("mismatched_keys"):
        raise CheckpointError(
            f"Hugging Face view model {path} lacks weights for {list(info.get('missing_keys', []))[:5]} "
            f"or has misshapen ones {list(info.get('mismatched_keys', []))[:5]}; "
            "it would run with random weights, so it is rejected"
        )
    id2label = module.config.id2label
    classes = [id2label[index] for index in range(len(id2label))]
    processor_path = path / "preprocessor_config.json"
    processor = json.loads(processor_path.read_text()) if processor_path.is_file() else {}
    size = processor.get("size", {})
    side = size.get("height") or size.get("shortest_edge") if isinstance(size, dict) else size
    config: dict[str, Any] = {
        "channels": int(getattr(module.config, "num_channels", 3)),
        "input_size": int(side or 224),
        "mean": processor.get("image_mean", list(IMAGENET_MEAN)),
        "std": processor.get("image_std", list(IMAGENET_STD)),
    }
    extra_path = path / CONFIG_NAME
    extra = read_config(extra_path) if extra_path.is_file() else {}
    return ViewClassifier(
        module=module,
        classes=tuple(classes),
        spec=_spec_from_config(config, 3, path),
        temperature=float(extra.get("temperature", 1.0)),
        frames_per_clip=int(extra.get("frames_per_clip", 8)),
        backend="hf",
        source=str(path),
        vocabulary_version=extra.get("vocabulary_version"),
        output_transform=lambda output: output.logits,
    )


def load_classifier(
    path: Path | str, backend: str = "auto", device: str | torch.device = "cpu"
) -> ViewClassifier:
    """Load a view classifier from a checkpoint path.

    Args:
        path: A model folder or weights file (see the module docstring for the accepted layouts).
        backend: ``auto`` reads it from the checkpoint; otherwise one of echoground, torchvision, timm, hf.
        device: Torch device to run on, such as ``cpu`` or ``cuda``.

    Raises:
        CheckpointError: the checkpoint is missing, corrupt, or its weights do not fit its class list.
    """
    path = Path(path)
    if backend not in BACKENDS:
        raise CheckpointError(
            f"unknown view model backend {backend!r}; expected one of {', '.join(BACKENDS)}"
        )
    resolved = detect_backend(path) if backend == "auto" else backend
    classifier = _load_hf(path) if resolved == "hf" else _load_from_config(path, backend)
    classifier.to(device)
    _check_output_size(classifier)
    logger.info(
        "loaded %s view model from %s: %d classes, temperature %.3f",
        classifier.backend,
        path,
        len(classifier.classes),
        classifier.temperature,
    )
    return classifier
