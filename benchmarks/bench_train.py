"""Benchmark EchoVLM training on CPU: throughput and the share of time the model waits for the loader.

Writes synthetic shards, trains a fixed number of steps and prints samples/s and the loader wait share
as measured by the training loop (time blocked in ``next(loader)`` over the run's wall time).

    python benchmarks/bench_train.py --out /tmp/bench_train --steps 30 --workers 2
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import click
import torch

from echoground.logs import setup_logging
from echovlm.data import LoaderConfig
from echovlm.losses import LossConfig
from echovlm.model import EchoVLMConfig
from echovlm.synthetic import SyntheticSpec, write_synthetic_shards, write_tiny_text_model
from echovlm.train import TrainConfig, train


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Scratch folder.")
@click.option("--steps", default=30, show_default=True, help="Optimizer steps to time.")
@click.option("--batch-size", default=32, show_default=True, help="Samples per batch.")
@click.option("--workers", default=2, show_default=True, help="Loader worker processes.")
@click.option("--threads", default=2, show_default=True, help="torch threads of the training process.")
@click.option("--image-size", default=64, show_default=True, help="Input side in pixels.")
@click.option("--frames", default=0, show_default=True, help="Frames per clip (0: key frame only).")
@click.option(
    "--default-text-model", is_flag=True, help="Use the packaged MiniLM instead of a tiny text model."
)
def main(
    out_dir: Path, steps: int, batch_size: int, workers: int, threads: int, image_size: int, frames: int,
    default_text_model: bool,
) -> None:  # fmt: skip
    """Time a short training run on synthetic shards."""
    setup_logging()
    shards = out_dir / "shards"
    if not (shards / "train" / "sizes.json").is_file():
        write_synthetic_shards(shards, SyntheticSpec(subjects=300, frames=frames), samples_per_shard=100)
    text_model = "all-MiniLM-L6-v2"
    if not default_text_model:
        text_model = str(out_dir / "tiny_text_model")
        if not (Path(text_model) / "config.json").is_file():
            write_tiny_text_model(Path(text_model))
    config = TrainConfig(
        model=EchoVLMConfig(image_model="tiny_cnn", image_size=image_size, text_model=text_model),
        loss=LossConfig(view_soft_target=0.5, view_cluster_weight=0.2, negation_weight=0.5),
        loader=LoaderConfig(batch_size=batch_size, num_workers=workers, num_frames=max(1, frames)),
        steps=steps,
        samples_per_epoch=steps * batch_size,
        log_every=max(1, steps // 5),
        checkpoint_every=steps,
        threads=threads,
        resume=False,
    )
    start = time.perf_counter()
    result = train(shards, out_dir / "run", config)
    record = {
        "steps": result.steps,
        "samples": result.samples,
        "samples_per_s": round(result.samples_per_s, 2),
        "loader_wait_share": round(result.loader_wait_share, 3),
        "wall_s": round(time.perf_counter() - start, 1),
        "batch_size": batch_size,
        "workers": workers,
        "threads": threads,
        "image_size": image_size,
        "frames": frames,
        "text_model": "MiniLM-L6" if default_text_model else "tiny BERT (2 layers, 128 wide)",
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    click.echo(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
