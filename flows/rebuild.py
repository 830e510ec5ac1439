"""Prefect flow of the scheduled job: rebuild the dataset, then retrain EchoVLM on the new shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from flows.build import build_flow
from flows.train import train_flow


@flow(name="echoground-rebuild-and-retrain")
def rebuild_and_retrain(
    echo_root: str,
    note_root: str,
    hosp_root: str,
    runs_dir: str,
    settings: dict[str, Any] | None = None,
    train_settings: dict[str, Any] | None = None,
) -> str:
    """Rebuild into ``runs_dir/latest``, then train EchoVLM on its shards; return the model folder.

    ``settings`` are build settings (see ``echoground build --help``); ``train_settings`` follow
    ``echovlm.train.TrainConfig``.
    """
    out = Path(runs_dir) / "latest"
    build_flow(echo_root, note_root, hosp_root, str(out), settings)
    return train_flow(str(out / "shards"), str(Path(runs_dir) / "model"), train_settings or {})
