"""Prefect flow that trains EchoVLM on a build's shards; the work happens in :func:`echovlm.train.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from echovlm.train import TrainConfig, train


@task(name="train-echovlm")
def train_task(shards_dir: str, out_dir: str, config: dict[str, Any]) -> str:
    """Train EchoVLM and return the exported model directory."""
    result = train(Path(shards_dir), Path(out_dir), TrainConfig.from_dict(config))
    return str(result.model_dir)


@flow(name="echovlm-train")
def train_flow(shards_dir: str, out_dir: str, config: dict[str, Any] | None = None) -> str:
    """Train EchoVLM on ``shards_dir`` (train/, val/) into ``out_dir``; ``config`` follows TrainConfig."""
    return train_task(shards_dir, out_dir, config or {})
