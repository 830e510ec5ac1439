"""EchoVLM model: configuration, encoders and the dual-encoder module with save and load."""

from echovlm.model.clip import EchoVLM, describe_initialisation, parameter_count
from echovlm.model.config import EchoVLMConfig
from echovlm.model.preprocess import frames_to_tensor, image_to_tensor

__all__ = [
    "EchoVLM",
    "EchoVLMConfig",
    "describe_initialisation",
    "frames_to_tensor",
    "image_to_tensor",
    "parameter_count",
]
