"""``echoground dicom``: inspect, extract and batch-run the DICOM stage."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pydicom
from PIL import Image

from echoground.dicom.config import RESIZE_BACKENDS, DicomConfig
from echoground.dicom.deid import allowed_header
from echoground.dicom.errors import DicomRejected, RecordListError
from echoground.dicom.stage import process_batch, process_file, write_outputs

FRAMES_OPTION = click.option(
    "--frames",
    "n_frames",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Maximum number of frames kept per clip.",
)
RESIZE_OPTION = click.option(
    "--resize-backend",
    type=click.Choice(RESIZE_BACKENDS),
    default="torch",
    show_default=True,
    help="Library that resizes the kept frames. 'torch' is about eight times faster; 'pillow' never "
    "imports torch and saves about 280 MB of memory per worker process.",
)
# The names extract writes: frame_000.png, frame_001.png and so on (more digits past 999 frames).
FRAME_PNG_NAME = re.compile(r"frame_\d{3,}\.png")
SIZE_OPTION = click.option(
    "--size",
    type=click.IntRange(min=8),
    default=224,
    show_default=True,
    help="Side of the square output frames, in pixels.",
)


@click.group()
def dicom() -> None:
    """Inspect and extract echo DICOM files (DICOM stage)."""


def _facts(path: Path, config: DicomConfig) -> tuple[dict[str, Any], Any]:
    """Return the JSON-ready facts of one file (allowlisted header, clip facts or rejection) and the clip."""
    facts: dict[str, Any] = {"file": str(path)}
    try:
        facts["header"] = allowed_header(pydicom.dcmread(path, stop_before_pixels=True, force=False))
    except Exception:  # the rejection below reports why the header cannot be read
        facts["header"] = {}
    try:
        result = process_file(path, config)
    except DicomRejected as rejection:
        facts.update(status=rejection.status.value, reason=rejection.reason, message=rejection.message)
        return facts, None
    facts.update(status="accepted", **result.facts())
    return facts, result


def _print_text(facts: dict[str, Any]) -> None:
    click.echo(f"file: {facts['file']}")
    if facts["status"] != "accepted":
        click.echo(f"status: {facts['status']} ({facts['reason']}): {facts['message']}")
        return
    lines = [
        ("clip kind", f"{facts['clip_kind']} (from {facts['clip_kind_source']})"),
        ("frames", f"{facts['n_frames_source']} in the file, kept {facts['frame_indices']}"),
        ("frame times (ms)", facts["frame_times_ms"]),
        ("frame rate (Hz)", facts["frame_rate_hz"]),
        ("timing source", facts["timing_source"]),
        ("heart rate (bpm)", f"{facts['heart_rate_bpm']} ({facts['heart_rate_source']})"),
        ("cm per pixel x, y (output)", f"{facts['cm_per_pixel_x']}, {facts['cm_per_pixel_y']}"),
        ("mask source", facts["mask_source"]),
        ("transfer syntax", facts["transfer_syntax"]),
        ("photometric", facts["photometric"]),
        ("source size", f"{facts['rows_source']} x {facts['columns_source']}"),
        ("regions", facts["header"].get("SequenceOfUltrasoundRegions", [])),
        ("header problems", "; ".join(facts["problem_messages"]) or "none"),
    ]
    for label, value in lines:
        click.echo(f"{label}: {value}")


@dicom.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Write the facts as one JSON object instead of text.")
@FRAMES_OPTION
def inspect(path: Path, as_json: bool, n_frames: int) -> None:
    """Show clip kind, frames, timing, regions, calibration and header problems of one DICOM file.

    Exits with status 1 when the stage would not accept the file.
    """
    facts, _ = _facts(path, DicomConfig(n_frames=n_frames))
    if as_json:
        click.echo(json.dumps(facts, indent=2, default=str))
    else:
        _print_text(facts)
    if facts["status"] != "accepted":
        sys.exit(1)


@dicom.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the frame PNGs, mask.png and clip.json (created if missing). The frame_NNN.png "
    "files and mask.png of an earlier extract into it are deleted first; other files are kept.",
)
@FRAMES_OPTION
@SIZE_OPTION
def extract(path: Path, out_dir: Path, n_frames: int, size: int) -> None:
    """Write the kept frames (PNG), the sector mask (PNG) and clip.json for one DICOM file.

    Frame and mask files left in --out by an earlier extract are deleted first, so the folder holds
    only this file's frames.
    """
    facts, result = _facts(path, DicomConfig(n_frames=n_frames, size=size))
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = _remove_earlier_extract(out_dir)
    if removed:
        click.echo(f"deleted {removed} files (frame_NNN.png, mask.png) of an earlier extract from {out_dir}")
    if result is not None:
        for position, frame in enumerate(result.frames):
            Image.fromarray(frame).save(out_dir / f"frame_{position:03d}.png")
        Image.fromarray(result.mask.astype(np.uint8) * 255).save(out_dir / "mask.png")
    (out_dir / "clip.json").write_text(json.dumps(facts, indent=2, default=str) + "\n", encoding="utf-8")
    if result is None:
        raise click.ClickException(f"{facts['reason']}: {facts['message']}")
    click.echo(f"wrote {len(result.frame_indices)} frames, mask.png and clip.json to {out_dir}")


def _remove_earlier_extract(out_dir: Path) -> int:
    """Delete the frame PNGs and mask.png of an earlier extract in ``out_dir`` and return how many."""
    removed = 0
    for child in out_dir.iterdir():
        if child.is_file() and (FRAME_PNG_NAME.fullmatch(child.name) or child.name == "mask.png"):
            child.unlink()
            removed += 1
    return removed


@dicom.command()
@click.option(
    "--echo-root",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="MIMIC-IV-ECHO root folder holding echo-record-list.csv and files/.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder for clips.parquet, ledger.parquet and frames/.",
)
@click.option(
    "--records",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Record list CSV (subject_id, study_id, dicom_filepath). Default: ECHO_ROOT/echo-record-list.csv.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Number of worker processes."
)
@FRAMES_OPTION
@SIZE_OPTION
@RESIZE_OPTION
def run(
    echo_root: Path,
    out_dir: Path,
    records: Path | None,
    workers: int,
    n_frames: int,
    size: int,
    resize_backend: str,
) -> None:
    """Run the DICOM stage over a record list and write clips.parquet, ledger.parquet and frames/.

    Exits with status 1, after writing both tables, when the record list has rows but no clip is
    accepted.
    """
    records_path = records or echo_root / "echo-record-list.csv"
    if not records_path.exists():
        raise click.ClickException(f"record list {records_path} not found; pass --records")
    table = _read_record_list(records_path)
    config = DicomConfig(n_frames=n_frames, size=size, workers=workers, resize_backend=resize_backend)
    try:
        clips, ledger = process_batch(table, echo_root, out_dir, config)
    except RecordListError as error:
        raise click.ClickException(f"{records_path}: {error}") from error
    clips_path, ledger_path = write_outputs(clips, ledger, out_dir)
    counts = ledger.counts().get("dicom", {})
    click.echo(f"{len(clips)} clips from {len(table)} files; wrote {clips_path} and {ledger_path}")
    for key, count in counts.items():
        click.echo(f"  {key}: {count}")
    if len(table) and clips.empty:
        raise click.ClickException(
            f"no clip was accepted from the {len(table)} rows of {records_path}; the counts above and the "
            f"reason and message columns of {ledger_path} give the cause for each row"
        )


def _read_record_list(records_path: Path) -> pd.DataFrame:
    """Read the record list CSV, turning pandas' parse errors into one-line messages naming the file."""
    expected = "a header row subject_id,study_id,dicom_filepath and one row per DICOM file"
    try:
        return pd.read_csv(records_path)
    except pd.errors.EmptyDataError as error:
        raise click.ClickException(f"record list {records_path} is empty; it needs {expected}") from error
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        detail = " ".join(str(error).split())
        raise click.ClickException(
            f"record list {records_path} cannot be read as CSV ({detail}); it needs {expected}"
        ) from error
