"""Benchmark the view stage on CPU: clips per second, and its share of DICOM stage plus view stage time.

Usage:
    .venv/bin/python benchmarks/bench_views.py [--clips 64] [--frames 16] [--batch-size 32] [--dicom FILE ...]

The view model is the default architecture with untrained weights (speed does not depend on the
weights). Clips are (frames, 224, 224, 3) uint8 arrays saved as .npy, as the DICOM stage writes them.
With ``--dicom``, each file also runs through the DICOM stage, and the script prints how much of the
time of both stages the view stage takes for those files.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from echoground.views.classifier import ViewClassifier
from echoground.views.network import EchoViewNet
from echoground.views.predict import predict_clips
from echoground.views.preprocess import ImageSpec

FINE = ["A2C", "A3C", "A4C", "A5C", "PLAX", "PSAX_AV", "PSAX_MV", "PSAX_PM", "SUBCOSTAL_4C", "SUPRASTERNAL"]


def _model() -> ViewClassifier:
    torch.manual_seed(0)
    return ViewClassifier(
        EchoViewNet(len(FINE)), tuple(FINE), ImageSpec(size=112, channels=1), frames_per_clip=8
    )


def bench_stage(clips: int, frames: int, batch_size: int) -> float:
    """Return clips per second of predict_clips on random clips written as .npy files."""
    rng = np.random.default_rng(0)
    model = _model()
    with tempfile.TemporaryDirectory() as folder:
        frames_dir = Path(folder)
        for index in range(clips):
            np.save(
                frames_dir / f"clip{index}.npy", rng.integers(0, 256, (frames, 224, 224, 3), dtype=np.uint8)
            )
        table = pd.DataFrame({"clip_id": [f"clip{i}" for i in range(clips)], "clip_kind": "b_mode_2d"})
        predict_clips(table.head(batch_size), frames_dir, model, batch_size=batch_size)  # warm-up
        start = time.perf_counter()
        predict_clips(table, frames_dir, model, batch_size=batch_size)
        elapsed = time.perf_counter() - start
    return clips / elapsed


def bench_share(paths: list[Path]) -> None:
    """Print DICOM stage and view stage seconds per file, and the view stage's share of both."""
    from echoground.dicom import DicomConfig, process_file

    model = _model()
    dicom_total = view_total = 0.0
    for path in paths:
        start = time.perf_counter()
        result = process_file(path, DicomConfig())
        middle = time.perf_counter()
        model.predict_proba([result.frames])
        end = time.perf_counter()
        dicom_total += middle - start
        view_total += end - middle
        print(
            f"{path.name}: {result.clip_kind}, {len(result.frames)} frames kept, DICOM stage "
            f"{middle - start:.3f} s, view model {end - middle:.3f} s"
        )
    share = view_total / (dicom_total + view_total)
    print(f"view stage share of DICOM + view stage time: {share:.1%} over {len(paths)} files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64, help="number of synthetic clips")
    parser.add_argument(
        "--frames", type=int, default=16, help="frames per synthetic clip (DICOM stage default)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="clips per predict_clips batch")
    parser.add_argument("--dicom", type=Path, nargs="*", default=[], help="DICOM files for the stage share")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rate = bench_stage(args.clips, args.frames, args.batch_size)
    print(
        f"predict_clips: {rate:.1f} clips/s ({args.clips} clips of {args.frames} frames, "
        f"batch {args.batch_size})"
    )
    if args.dicom:
        bench_share(args.dicom)


if __name__ == "__main__":
    main()
