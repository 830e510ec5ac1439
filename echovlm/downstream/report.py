"""Write an evaluation as ``metrics.json``, ``per_sample.csv``, ``report.md`` and its figures."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from echovlm.downstream.samples import SEGMENT
from echovlm.downstream.train import CURVES_CSV, CURVES_PNG

METRICS_JSON = "metrics.json"
PER_SAMPLE_CSV = "per_sample.csv"
REPORT_MD = "report.md"
EXAMPLES_PNG = "examples.png"
DISTRIBUTION_PNG = "distribution.png"

# Overlay colours (RGB) of classes 1 to 3: LV cavity, myocardium, left atrium.
_CLASS_COLOURS = np.array([[0, 0, 0], [230, 60, 60], [60, 200, 90], [70, 120, 240]], np.uint8)


def _format(value: float, digits: int = 3) -> str:
    return (
        "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"
    )


def _overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rgb = np.repeat(image[..., None], 3, axis=2).astype(float)
    colours = _CLASS_COLOURS[np.clip(mask, 0, len(_CLASS_COLOURS) - 1)].astype(float)
    blended = np.where(mask[..., None] > 0, 0.55 * rgb + 0.45 * colours, rgb)
    return blended.astype(np.uint8)


def _plot_examples(result: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    examples = result["_examples"]
    segment = result["task"] == SEGMENT
    columns = 2 if segment else 1
    figure, axes = plt.subplots(
        len(examples), columns, figsize=(3.2 * columns, 3.0 * len(examples)), squeeze=False
    )
    for row, (image, truth, predicted) in enumerate(examples):
        if segment:
            axes[row, 0].imshow(_overlay(image, truth))
            axes[row, 0].set_title("ground truth", fontsize=8)
            axes[row, 1].imshow(_overlay(image, predicted))
            axes[row, 1].set_title("prediction", fontsize=8)
        else:
            axes[row, 0].imshow(image, cmap="gray")
            axes[row, 0].scatter(truth[:, 0], truth[:, 1], s=14, c="lime", label="truth")
            axes[row, 0].scatter(
                predicted[:, 0], predicted[:, 1], s=14, c="red", marker="x", label="prediction"
            )
            if row == 0:
                axes[row, 0].legend(fontsize=7, loc="lower right")
        for axis in axes[row]:
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _plot_distribution(result: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(result["per_sample"])
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    if result["task"] == SEGMENT:
        columns = [column for column in frame.columns if column.startswith("dice_")]
        axis.boxplot([frame[column].dropna() for column in columns], tick_labels=[c[5:] for c in columns])
        axis.set(ylabel="Dice", title="Dice per structure")
    else:
        axis.hist(frame["error_model_px"], bins=20)
        axis.set(xlabel="mean landmark error per image (model px)", ylabel="images", title="Landmark error")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(result: dict, out_dir: str | Path, run_dir: str | Path | None = None) -> Path:
    """Write ``metrics.json``, ``per_sample.csv``, the figures and ``report.md`` into ``out_dir``.

    The training curves of ``run_dir`` (``curves.csv``, ``curves.png``) are copied beside them when present.

    Returns:
        The path of ``report.md``.
    """
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    public = {key: value for key, value in result.items() if not key.startswith("_") and key != "per_sample"}
    (out_dir / METRICS_JSON).write_text(json.dumps(public, indent=2) + "\n", encoding="utf-8")
    pd.DataFrame(result["per_sample"]).to_csv(out_dir / PER_SAMPLE_CSV, index=False)
    _plot_examples(result, out_dir / EXAMPLES_PNG)
    _plot_distribution(result, out_dir / DISTRIBUTION_PNG)
    curves = None
    if run_dir is not None and (Path(run_dir) / CURVES_CSV).is_file():
        for name in (CURVES_CSV, CURVES_PNG):
            if (Path(run_dir) / name).is_file() and Path(run_dir).resolve() != out_dir.resolve():
                shutil.copy(Path(run_dir) / name, out_dir / name)
        curves = pd.read_csv(Path(run_dir) / CURVES_CSV)

    lines = [
        f"# {result['dataset']} {result['task']} evaluation",
        "",
        f"Model `{result['model']}` (encoder: {result['encoder_source']}, input {result['image_size']} px), "
        f"scored on the `{result['split']}` split of `{result['dataset_root']}`: {result['samples']} images.",
        "",
    ]
    if result["task"] == SEGMENT:
        lines += [
            f"Mean Dice over structures: **{_format(result['mean_dice'])}** "
            "(scored at the original image size).",
            "",
            "| Structure | Dice mean | SD | median | 90th pct | images |",
            "|---|---|---|---|---|---|",
        ]
        for name, summary in result["dice"].items():
            lines.append(
                f"| {name} | {_format(summary['mean'])} | {_format(summary['std'])} | "
                f"{_format(summary['median'])} "
                f"| {_format(summary['p90'])} | {summary['n']} |"
            )
    else:
        model_px, px, mm = (
            result[key] for key in ("landmark_error_model_px", "landmark_error_px", "landmark_error_mm")
        )
        lines += [
            f"Mean landmark error: **{_format(model_px['mean'], 2)} px** at the "
            f"{result['image_size']} px model input, {_format(px['mean'], 2)} px in original pixels, "
            f"{_format(mm['mean'], 2)} mm.",
            "",
            "| Landmark | error mean (mm) | SD | median | 90th pct |",
            "|---|---|---|---|---|",
        ]
        for name, summary in result["per_landmark_mm"].items():
            lines.append(
                f"| {name} | {_format(summary['mean'], 2)} | {_format(summary['std'], 2)} | "
                f"{_format(summary['median'], 2)} | {_format(summary['p90'], 2)} |"
            )
        lines += [
            "",
            "| Measurement | absolute error mean (mm) | SD | median | 90th pct |",
            "|---|---|---|---|---|",
        ]
        for name, summary in result["measurement_abs_error_mm"].items():
            lines.append(
                f"| {name} | {_format(summary['mean'], 2)} | {_format(summary['std'], 2)} | "
                f"{_format(summary['median'], 2)} | {_format(summary['p90'], 2)} |"
            )
    lines += ["", f"![distribution]({DISTRIBUTION_PNG})", "", f"![examples]({EXAMPLES_PNG})", ""]
    if curves is not None:
        last = curves.iloc[-1]
        lines += [
            "## Training curves",
            "",
            f"{len(curves)} epochs, {int(last['step'])} steps, {_format(float(last['seconds']), 0)} s "
            f"(`{CURVES_CSV}`).",
            "",
            f"![training curves]({CURVES_PNG})",
            "",
        ]
    lines += [f"Per-image scores: `{PER_SAMPLE_CSV}`; all figures as JSON: `{METRICS_JSON}`.", ""]
    path = out_dir / REPORT_MD
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
