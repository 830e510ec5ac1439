"""EchoVLM: CLIP-style dual encoder trained on EchoGround shards."""

__version__ = "0.1.0"
