"""``echoground synth``: write the synthetic MIMIC-IV-ECHO-shaped demo cohort."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from echoground.synth.generate import DEFAULT_FRAME_SIZE, FULL_FRAME_SIZE, SynthConfig, generate_cohort

logger = logging.getLogger(__name__)


def _parse_range(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        low_text, _, high_text = value.partition("-")
        low, high = int(low_text), int(high_text or low_text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a range; write MIN-MAX, e.g. 30-60", ctx, param) from None
    if low < 1 or high < low:
        raise click.BadParameter(f"{value!r} must satisfy 1 <= MIN <= MAX", ctx, param)
    return low, high


@click.command(name="synth")
@click.option(
    "--patients",
    type=click.IntRange(min=0),
    default=24,
    show_default=True,
    help="Number of synthetic patients (count); each has 1-3 studies. With --real (the default) the "
    "cohort has one more patient, so --patients 0 writes 1 patient.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed; the same seed and options give byte-identical files.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder (created; must be empty) that receives mimic-iv-echo/, mimic-iv-note/, "
    "mimic-iv/ and ground_truth/.",
)
@click.option(
    "--frames",
    default="30-40",
    show_default=True,
    callback=_parse_range,
    help="Frames per B-mode cine, MIN-MAX (count; real GE cines have 60-90). RLE and uncompressed "
    "cines are capped at 16 and 8 frames.",
)
@click.option(
    "--files-per-study",
    default="15-24",
    show_default=True,
    callback=_parse_range,
    help="DICOM files per study, MIN-MAX (count; real studies have about 70).",
)
@click.option(
    "--full-size/--small",
    default=False,
    show_default=True,
    help=f"Frame size in pixels: {FULL_FRAME_SIZE[0]}x{FULL_FRAME_SIZE[1]} (GE Vivid, rows x columns) "
    f"or {DEFAULT_FRAME_SIZE[0]}x{DEFAULT_FRAME_SIZE[1]}.",
)
@click.option(
    "--jpeg-quality",
    type=click.IntRange(1, 95),
    default=75,
    show_default=True,
    help="Pillow JPEG quality (1-95) of JPEG Baseline frames.",
)
@click.option(
    "--real/--no-real",
    default=True,
    show_default=True,
    help="Add the real public echo DICOMs shipped by pydicom and pydicom-data as one extra patient, "
    "on top of --patients.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show a progress bar of patients written (on stderr).",
)
def synth(
    patients: int,
    seed: int,
    out: Path,
    frames: tuple[int, int],
    files_per_study: tuple[int, int],
    full_size: bool,
    jpeg_quality: int,
    real: bool,
    progress: bool,
) -> None:
    """Write a synthetic cohort shaped like MIMIC-IV-ECHO v1.0, MIMIC-IV-Note and MIMIC-IV hosp.

    Ground truth for evaluation and tests goes to OUT/ground_truth/ (see its README.md).
    """
    if frames[0] < 2:
        raise click.BadParameter(
            f"'{frames[0]}-{frames[1]}': a cine needs at least 2 frames", param_hint="'--frames'"
        )
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{str(out)!r} exists and is not a folder", param_hint="'--out'")
    if out.is_dir() and any(out.iterdir()):
        raise click.BadParameter(
            f"folder {str(out)!r} is not empty; choose a new or empty folder", param_hint="'--out'"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").write_bytes(b"")
        (out / ".write-test").unlink()
    except OSError as error:
        raise click.BadParameter(
            f"cannot write to {str(out)!r}: {error.strerror}", param_hint="'--out'"
        ) from None

    config = SynthConfig(
        out=out,
        patients=patients,
        seed=seed,
        frames=frames,
        files_per_study=files_per_study,
        frame_size=FULL_FRAME_SIZE if full_size else DEFAULT_FRAME_SIZE,
        include_real=real,
        jpeg_quality=jpeg_quality,
    )
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("synth"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("patients"),
            TimeElapsedColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task("patients", total=patients)
            summary = generate_cohort(config, lambda done, total: bar.update(task, completed=done))
    else:
        summary = generate_cohort(config)
    click.echo(
        f"Wrote {summary.patients} patients, {summary.studies} studies, {summary.dicoms} DICOM files, "
        f"{summary.discharge_notes} discharge summaries ({summary.bytes_written / 1e6:.1f} MB) to {out}"
    )
