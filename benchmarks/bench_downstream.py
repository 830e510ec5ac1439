"""Fine-tune the downstream heads on phantom copies of CAMUS, EchoNet-Dynamic and EchoNet-LVH at 224 px.

The phantoms' geometry is known exactly, so the targets are Dice >= 0.90 per structure and a mean
landmark error below 2 pixels at the 224 px model input. Writes the fixtures, run folders and reports
under --out and prints one JSON line per task with the headline figures and the wall time.

    .venv/bin/python benchmarks/bench_downstream.py --out /tmp/bench_downstream
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import torch

from echoground.logs import setup_logging
from echovlm.downstream import FinetuneConfig, evaluate_run, finetune, open_dataset, write_report
from echovlm.downstream.synthetic import write_camus, write_echonet, write_lvh

TASKS = ("camus", "echonet", "lvh")


def _run(name: str, root: Path, out: Path, config: FinetuneConfig) -> dict:
    dataset = open_dataset(root)
    started = time.perf_counter()
    finetune(dataset, out / f"run_{name}", config)
    train_seconds = time.perf_counter() - started
    result = evaluate_run(out / f"run_{name}", dataset, "test")
    write_report(result, out / f"report_{name}", run_dir=out / f"run_{name}")
    summary = {
        "task": name,
        "train_images": len(dataset.split("train")),
        "test_images": result["samples"],
        "epochs": config.epochs,
        "train_seconds": round(train_seconds, 1),
    }
    if "mean_dice" in result:
        summary["dice"] = {label: round(value["mean"], 4) for label, value in result["dice"].items()}
        summary["mean_dice"] = round(result["mean_dice"], 4)
    else:
        summary["landmark_error_model_px"] = round(result["landmark_error_model_px"]["mean"], 3)
        summary["landmark_error_mm"] = round(result["landmark_error_mm"]["mean"], 3)
        summary["measurement_abs_error_mm"] = {
            label: round(value["mean"], 3) for label, value in result["measurement_abs_error_mm"].items()
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for fixtures, runs and reports.")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="Tasks to run.")
    parser.add_argument(
        "--camus-patients", type=int, default=30, help="Phantom CAMUS patients (4 images each)."
    )
    parser.add_argument(
        "--echonet-videos", type=int, default=120, help="Phantom EchoNet videos (2 traced frames)."
    )
    parser.add_argument(
        "--lvh-videos", type=int, default=120, help="Phantom EchoNet-LVH videos (1 frame each)."
    )
    parser.add_argument("--epochs", type=int, default=20, help="Fine-tuning epochs per task.")
    parser.add_argument("--image-size", type=int, default=224, help="Model input side, in pixels.")
    parser.add_argument("--decoder-width", type=int, default=32, help="Channels of every decoder stage.")
    args = parser.parse_args()

    setup_logging(logging.INFO)
    print(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
        )
    )

    fixtures = args.out / "fixtures"
    for name in args.tasks:
        config = FinetuneConfig(
            image_size=args.image_size, epochs=args.epochs, batch_size=8, decoder_width=args.decoder_width
        )
        if name == "camus":
            root = write_camus(fixtures / "camus", args.camus_patients, size=(256, 224), seed=1)
        elif name == "echonet":
            root = write_echonet(fixtures / "echonet", args.echonet_videos, size=(112, 112), seed=2)
        else:
            root = write_lvh(fixtures / "lvh", args.lvh_videos, size=(240, 320), seed=3, spacing_mm=0.6)
        print(json.dumps(_run(name, root, args.out, config)), flush=True)


if __name__ == "__main__":
    main()
