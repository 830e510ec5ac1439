"""Prefect flow of the scheduled job: rebuild the dataset, then retrain EchoVLM on the new shards."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from prefect import flow

from flows.build import build_flow


@flow(name="echoground-rebuild-and-retrain")
def rebuild_and_retrain(
    echo_root: str,
    note_root: str,
    hosp_root: str,
    runs_dir: str,
    settings: dict[str, Any] | None = None,
    train_settings: dict[str, Any] | None = None,
) -> str:
    """Rebuild into ``runs_dir/latest``, then train EchoVLM on its shards; return the training result.

    Raises:
        RuntimeError: the EchoVLM training flow (``flows/train.py``, ``train_flow``) is not available.
    """
    out = Path(runs_dir) / "latest"
    summary = build_flow(echo_root, note_root, hosp_root, str(out), settings)
    try:
        train_flow = importlib.import_module("flows.train").train_flow
    except (ModuleNotFoundError, AttributeError) as error:
        raise RuntimeError(
            f"the dataset was rebuilt ({summary}), but EchoVLM training cannot start: flows/train.py "
            f"with a train_flow flow is missing ({error}); train with 'echovlm train' on {out / 'shards'}"
        ) from error
    return train_flow(shards=str(out / "shards"), out=str(Path(runs_dir) / "model"), **(train_settings or {}))
