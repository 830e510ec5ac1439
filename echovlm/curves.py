"""Loss and metric curves of a training run: appended to a CSV file and drawn to a PNG plot."""

from __future__ import annotations

import csv
from pathlib import Path

CURVE_COLUMNS = (
    "step",
    "epoch",
    "samples",
    "loss",
    "loss_clip",
    "loss_view",
    "loss_negation",
    "val_loss",
    "logit_scale",
    "learning_rate",
    "samples_per_s",
    "loader_wait_share",
)


class CurveWriter:
    """Append rows of :data:`CURVE_COLUMNS` to ``metrics.csv``; missing values are left empty."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        if not (resume and path.is_file()):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as stream:
                csv.writer(stream).writerow(CURVE_COLUMNS)

    def write(self, row: dict[str, float | int]) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerow([_format(row.get(column)) for column in CURVE_COLUMNS])


def _format(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_curves(path: Path) -> dict[str, list[float | None]]:
    """Read ``metrics.csv`` into columns; empty cells become None."""
    columns: dict[str, list[float | None]] = {column: [] for column in CURVE_COLUMNS}
    with path.open(newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            for column in CURVE_COLUMNS:
                value = row.get(column, "")
                columns[column].append(float(value) if value not in ("", None) else None)
    return columns


def plot_curves(csv_path: Path, png_path: Path) -> Path:
    """Draw training and validation loss, the loss terms and throughput against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = read_curves(csv_path)
    steps = columns["step"]
    figure, (loss_axis, speed_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for name in ("loss", "loss_clip", "loss_view", "loss_negation", "val_loss"):
        points = [
            (step, value) for step, value in zip(steps, columns[name], strict=True) if value is not None
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            loss_axis.plot(xs, ys, label=name, marker="o" if name == "val_loss" else None)
    loss_axis.set_xlabel("optimizer step")
    loss_axis.set_ylabel("loss")
    loss_axis.legend()
    points = [(s, v) for s, v in zip(steps, columns["samples_per_s"], strict=True) if v is not None]
    if points:
        xs, ys = zip(*points, strict=True)
        speed_axis.plot(xs, ys)
    speed_axis.set_xlabel("optimizer step")
    speed_axis.set_ylabel("samples/s")
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return png_path
