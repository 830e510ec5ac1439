"""The DICOM stage: header pass, clip kind, frame decode, sector mask, resize and the run ledger.

:func:`process_file` turns one file into a :class:`ClipResult` held in memory; :func:`process_batch`
runs it over a record list with worker processes, writes the frames and masks under ``out_dir/frames``
and returns the clips table and a ledger row for every input file.
"""

from __future__ import annotations

import logging
import posixpath
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from echoground.dicom.clip_kind import ClipKindDecision, decide_clip_kind
from echoground.dicom.config import DicomConfig
from echoground.dicom.decode import decode_frames
from echoground.dicom.errors import DicomRejected, RecordListError
from echoground.dicom.geometry import Geometry, apply_geometry, plan_geometry
from echoground.dicom.header import HeaderInfo, read_header
from echoground.dicom.key_frames import estimate_key_frames
from echoground.dicom.mask import SectorMask, data_fan, region_mask, sector_mask
from echoground.dicom.reduction import choose_reduction, reduced_header
from echoground.dicom.regions import SPATIAL_2D, calibration_cm
from echoground.dicom.sampling import select_frames
from echoground.ledger import Ledger, Status
from echoground.logs import RateLimitedLogger

logger = logging.getLogger(__name__)
STAGE = "dicom"
ITEM_KIND = "dicom_file"

CLIP_COLUMNS = [
    "clip_id",
    "subject_id",
    "study_id",
    "dicom_filepath",
    "clip_kind",
    "clip_kind_source",
    "colour_fraction",
    "n_frames_source",
    "frame_indices",
    "frame_times_ms",
    "frame_rate_hz",
    "timing_source",
    "heart_rate_bpm",
    "heart_rate_source",
    "cm_per_pixel_x",
    "cm_per_pixel_y",
    "mask_source",
    "crop_box",
    "transfer_syntax",
    "photometric",
    "rows_source",
    "columns_source",
    "decoder",
    "decode_reduction",
    "end_diastole_frame",
    "end_systole_frame",
    "key_frame_source",
    "header_problems",
    "frames_path",
    "mask_path",
]


@dataclass
class ClipResult:
    """One accepted clip: its facts (the clips table row) and, until saved, its frames and mask."""

    clip_id: str
    dicom_filepath: str
    clip_kind: str
    clip_kind_source: str
    colour_fraction: float
    n_frames_source: int
    frame_indices: list[int]
    frame_times_ms: list[float] | None
    frame_rate_hz: float | None
    timing_source: str
    heart_rate_bpm: float
    heart_rate_source: str
    cm_per_pixel_x: float | None
    cm_per_pixel_y: float | None
    mask_source: str
    crop_box: list[int]
    transfer_syntax: str
    photometric: str
    rows_source: int
    columns_source: int
    decoder: str
    decode_reduction: int
    end_diastole_frame: int | None
    end_systole_frame: int | None
    key_frame_source: str
    header_problems: list[str]
    problem_messages: list[str]
    subject_id: int | None = None
    study_id: int | None = None
    frames_path: str | None = None
    mask_path: str | None = None
    frames: np.ndarray | None = field(default=None, repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)

    def facts(self) -> dict[str, Any]:
        """Return the JSON-ready facts of the clip (no arrays)."""
        data = asdict(self)
        data.pop("frames")
        data.pop("mask")
        return data


def clip_id_from_path(path: str) -> str:
    """Derive a dot-free clip id from a DICOM path.

    ``files/p10/p10000032/s90000001/90000001_0001.dcm`` becomes ``p10_p10000032_s90000001_0001``: the
    folder names after ``files`` and the file's number without the repeated study id. Other paths keep
    their last three folders and file stem. Characters other than letters, digits, ``-`` and ``_``
    become ``_``, so WebDataset keys never contain a dot.
    """
    parts = list(Path(path).with_suffix("").parts)
    parts = parts[len(parts) - parts[::-1].index("files") :] if "files" in parts else parts[-4:]
    stem = parts[-1]
    if len(parts) >= 2 and parts[-2].startswith("s") and stem.startswith(parts[-2][1:] + "_"):
        parts[-1] = stem[len(parts[-2]) :]
    joined = "_".join(part for part in parts if part not in ("", "/"))
    return re.sub(r"[^A-Za-z0-9_-]", "_", joined)


def _ids_from_path(path: str) -> tuple[int | None, int | None]:
    subject = re.search(r"(?:^|/)p(\d{6,})(?:/|$)", path)
    study = re.search(r"(?:^|/)s(\d{6,})(?:/|$)", path)
    return (int(subject.group(1)) if subject else None, int(study.group(1)) if study else None)


def process_file(
    path: str | Path, config: DicomConfig | None = None, header: HeaderInfo | None = None
) -> ClipResult:
    """Turn one DICOM file into a clip: frames (T, S, S, 3) uint8 and mask (S, S) in memory, plus facts.

    JPEG Baseline frames are decoded at 1/2, 1/4 or 1/8 of their size when the cropped sector still
    spans ``config.size`` pixels at that scale (see :mod:`echoground.dicom.reduction`). ``crop_box``
    stays in source pixels, and ``cm_per_pixel_x/y`` describe the output pixels either way.

    Raises:
        DicomRejected: the file is unusable or excluded; its ``reason`` is the ledger reason code.
    """
    config = config or DicomConfig()
    info = header if header is not None else read_header(path, config)
    selection = select_frames(info, config)
    reduction = choose_reduction(info, config)
    while True:
        decoded = _decode_and_fit(info, selection.indices, reduction, config)
        if decoded.geometry.scale <= 1.0 or reduction == 1:
            break
        # The sector is smaller than the expected crop, so this reduction would enlarge it; decode finer.
        reduction //= 2
    geometry, kind = decoded.geometry, decoded.kind
    output, out_mask = apply_geometry(
        decoded.frames, decoded.sector.mask, geometry, config.size, config.resize_backend
    )
    key_frames = estimate_key_frames(output, out_mask, selection.indices, kind.kind, config)

    scaled_info = reduced_header(info, reduction)
    calibration = calibration_cm(scaled_info.regions) if info.regions_valid else None
    if calibration is None and kind.kind in ("b_mode_2d", "color_doppler"):
        info.add_problem("no_calibration", "no 2D ultrasound region calibrated in cm; cm per pixel unknown")
    cm_x = None if calibration is None else calibration[0] / geometry.scale
    cm_y = None if calibration is None else calibration[1] / geometry.scale
    crop_box = [
        min(geometry.x0 * reduction, info.columns),
        min(geometry.y0 * reduction, info.rows),
        min(geometry.x1 * reduction, info.columns),
        min(geometry.y1 * reduction, info.rows),
    ]
    subject_id, study_id = _ids_from_path(str(path))
    return ClipResult(
        clip_id=clip_id_from_path(str(path)),
        dicom_filepath=str(path),
        clip_kind=kind.kind,
        clip_kind_source=kind.source,
        colour_fraction=round(kind.colour_fraction, 5),
        n_frames_source=info.n_frames,
        frame_indices=selection.indices,
        frame_times_ms=selection.times_ms,
        frame_rate_hz=selection.frame_rate_hz,
        timing_source=info.timing_source,
        heart_rate_bpm=selection.heart_rate_bpm,
        heart_rate_source=selection.heart_rate_source,
        cm_per_pixel_x=cm_x,
        cm_per_pixel_y=cm_y,
        mask_source=decoded.sector.source,
        crop_box=crop_box,
        transfer_syntax=info.transfer_syntax,
        photometric=info.photometric,
        rows_source=info.rows,
        columns_source=info.columns,
        decoder=decoded.decoder,
        decode_reduction=reduction,
        end_diastole_frame=key_frames.end_diastole,
        end_systole_frame=key_frames.end_systole,
        key_frame_source=key_frames.source,
        header_problems=list(info.problems),
        problem_messages=list(info.problem_messages),
        subject_id=subject_id,
        study_id=study_id,
        frames=output,
        mask=out_mask,
    )


@dataclass
class _Fitted:
    frames: np.ndarray
    decoder: str
    kind: ClipKindDecision
    sector: SectorMask
    geometry: Geometry


def _decode_and_fit(info: HeaderInfo, indices: list[int], reduction: int, config: DicomConfig) -> _Fitted:
    """Decode the kept frames at 1/``reduction``, decide the clip kind, build the mask and plan the resize."""
    scaled_info = reduced_header(info, reduction)
    frames, decoder = decode_frames(info, indices, reduction)
    within = region_mask(scaled_info, (SPATIAL_2D,)) if scaled_info.regions_valid else None
    fan = data_fan(frames, config, within)
    kind = decide_clip_kind(scaled_info, frames, fan, config)
    sector = sector_mask(scaled_info, fan, kind.kind, config)
    return _Fitted(frames, decoder, kind, sector, plan_geometry(sector.mask, config.size))


def save_clip(result: ClipResult, frames_dir: Path) -> None:
    """Write ``<clip_id>.npy`` (T, S, S, 3) uint8 and ``<clip_id>_mask.png``, then drop the arrays."""
    frames_dir.mkdir(parents=True, exist_ok=True)
    frames_path = frames_dir / f"{result.clip_id}.npy"
    mask_path = frames_dir / f"{result.clip_id}_mask.png"
    assert result.frames is not None and result.mask is not None
    np.save(frames_path, result.frames)
    Image.fromarray(result.mask.astype(np.uint8) * 255).save(mask_path)
    result.frames_path = str(frames_path)
    result.mask_path = str(mask_path)
    result.frames = None
    result.mask = None


@dataclass(frozen=True)
class _Task:
    path: str
    relative_path: str
    subject_id: int | None
    study_id: int | None


def _run_task(task: _Task, frames_dir: str, config: DicomConfig) -> tuple[_Task, ClipResult | DicomRejected]:
    try:
        result = process_file(task.path, config)
        result.dicom_filepath = task.relative_path
        result.clip_id = clip_id_from_path(task.relative_path)
        result.subject_id = task.subject_id if task.subject_id is not None else result.subject_id
        result.study_id = task.study_id if task.study_id is not None else result.study_id
        save_clip(result, Path(frames_dir))
        return task, result
    except DicomRejected as rejection:
        return task, rejection
    except Exception as error:
        logger.exception("%s: unexpected error in the DICOM stage", task.path)
        return task, DicomRejected("unexpected_error", f"{task.path}: {type(error).__name__}: {error}")


def _records_to_tasks(
    records: pd.DataFrame, echo_root: Path
) -> tuple[list[_Task], list[tuple[_Task, DicomRejected]]]:
    """Validate the record list and split it into files to process and rows settled without opening a file.

    Rows whose path is absolute or leaves the echo root, and repeats of an earlier row's path or clip
    id, are settled here, so no file outside the echo root is ever opened and no clip id is written
    twice. The root check works on the path text after normalising ``.`` and ``..``. It does not
    resolve symbolic links, so an echo root whose folders link to another disk still works.

    Raises:
        RecordListError: the ``dicom_filepath`` column is missing, or a row has an empty path or an id
            that is not a whole number.
    """
    if "dicom_filepath" not in records.columns:
        raise RecordListError(
            f"the record list has no 'dicom_filepath' column (columns: {list(records.columns)}); it needs "
            "the header subject_id,study_id,dicom_filepath as in echo-record-list.csv"
        )
    tasks: list[_Task] = []
    settled: list[tuple[_Task, DicomRejected]] = []
    first_row_of_path: dict[str, int] = {}
    first_row_of_clip: dict[str, tuple[int, str]] = {}
    for position, row in enumerate(records.itertuples(index=False)):
        row_label = f"record list row {position + 1} (CSV line {position + 2})"
        listed = _record_path(row.dicom_filepath, row_label)
        subject = _record_id(getattr(row, "subject_id", None), "subject_id", row_label)
        study = _record_id(getattr(row, "study_id", None), "study_id", row_label)
        relative = posixpath.normpath(listed)
        if posixpath.isabs(relative) or relative == ".." or relative.startswith("../"):
            problem = "is absolute" if posixpath.isabs(relative) else "leads out of the echo root with '..'"
            task = _Task(path=listed, relative_path=listed, subject_id=subject, study_id=study)
            settled.append(
                (
                    task,
                    DicomRejected(
                        "path_outside_root",
                        f"{row_label}: dicom_filepath {listed!r} {problem}, so the file was not opened; "
                        f"list paths relative to the echo root {echo_root}, such as "
                        "files/p10/p10000032/s90000001/90000001_0001.dcm",
                    ),
                )
            )
            continue

        task = _Task(
            path=str(echo_root / relative), relative_path=relative, subject_id=subject, study_id=study
        )
        if relative in first_row_of_path:
            first = first_row_of_path[relative]
            settled.append(
                (
                    task,
                    DicomRejected(
                        "duplicate_record",
                        f"{row_label}: dicom_filepath {listed!r} repeats record list row {first}; the "
                        f"clip from row {first} is kept",
                        Status.SKIPPED,
                    ),
                )
            )
            continue
        first_row_of_path[relative] = position + 1

        clip_id = clip_id_from_path(relative)
        if clip_id in first_row_of_clip:
            first, first_path = first_row_of_clip[clip_id]
            settled.append(
                (
                    task,
                    DicomRejected(
                        "duplicate_clip_id",
                        f"{row_label}: dicom_filepath {listed!r} gives the clip id {clip_id!r}, already "
                        f"taken by {first_path!r} in record list row {first}; rename one of the files",
                    ),
                )
            )
            continue
        first_row_of_clip[clip_id] = (position + 1, relative)
        tasks.append(task)
    return tasks, settled


def _is_empty_cell(value: Any) -> bool:
    # Covers None, NaN from float columns and pd.NA from "string" columns.
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _record_path(value: Any, row_label: str) -> str:
    if _is_empty_cell(value) or not str(value).strip():
        raise RecordListError(
            f"{row_label}: column 'dicom_filepath' is empty; fill in the DICOM path relative to the echo "
            "root or delete the row"
        )
    return str(value).strip()


def _record_id(value: Any, column: str, row_label: str) -> int | None:
    """Return a subject or study id from the record list, or None for an empty cell."""
    if _is_empty_cell(value):
        return None
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0:
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        # A column with an empty cell is read as floats, so 10000032.0 is a valid id.
        number = float(text)
    except ValueError:
        number = float("nan")
    if number.is_integer() and number >= 0:
        return int(number)
    raise RecordListError(
        f"{row_label}: column {column!r} has the value {text!r}, which is not a whole number of 0 or more; "
        "correct it, or leave the cell empty to take the id from dicom_filepath"
    )


def process_batch(
    records: pd.DataFrame, echo_root: str | Path, out_dir: str | Path, config: DicomConfig | None = None
) -> tuple[pd.DataFrame, Ledger]:
    """Process every record's DICOM file; write frames under ``out_dir/frames`` and return (clips, ledger).

    ``records`` needs a ``dicom_filepath`` column relative to ``echo_root`` and may carry ``subject_id``
    and ``study_id``. Every record gets exactly one ledger row: a bad file, a path outside
    ``echo_root`` or a repeated record is recorded as rejected or skipped instead of raising. The
    caller writes the returned tables (see :func:`write_outputs`).

    Each worker reads a file's header and rejects it before decoding any frame, so there is no
    separate header pass here: one would open every file twice and record the same rejections. A
    planner that needs header facts before the pixel pass can call
    :func:`echoground.dicom.header.scan_headers` itself.

    Raises:
        RecordListError: a column or value of ``records`` is unusable; checked before any file is read.
    """
    config = config or DicomConfig()
    frames_dir = Path(out_dir) / "frames"
    tasks, settled = _records_to_tasks(records, Path(echo_root))
    outcomes: list[tuple[_Task, ClipResult | DicomRejected]] = list(settled)
    if config.workers == 1 or len(tasks) < 2:
        outcomes += [_run_task(task, str(frames_dir), config) for task in tasks]
    else:
        outcomes += _run_parallel(tasks, str(frames_dir), config)

    ledger = Ledger()
    rows = []
    warnings = RateLimitedLogger(logger)
    for task, outcome in outcomes:
        if isinstance(outcome, DicomRejected):
            warnings.warning(
                outcome.reason, "%s %s: %s", outcome.status.value, outcome.reason, outcome.message
            )
            ledger.add(
                STAGE,
                ITEM_KIND,
                task.relative_path,
                outcome.status,
                outcome.reason,
                outcome.message,
                task.subject_id,
                task.study_id,
            )
            continue
        reason = outcome.header_problems[0] if outcome.header_problems else "clip_written"
        message = "; ".join(outcome.problem_messages) or f"{outcome.clip_kind} clip {outcome.clip_id}"
        ledger.add(
            STAGE,
            ITEM_KIND,
            task.relative_path,
            Status.ACCEPTED,
            reason,
            message,
            outcome.subject_id,
            outcome.study_id,
        )
        rows.append(outcome.facts())
    return clips_frame(rows), ledger


def _run_parallel(
    tasks: list[_Task], frames_dir: str, config: DicomConfig
) -> list[tuple[_Task, ClipResult | DicomRejected]]:
    outcomes: list[tuple[_Task, ClipResult | DicomRejected]] = []
    with ProcessPoolExecutor(max_workers=config.workers) as pool:
        futures = [(task, pool.submit(_run_task, task, frames_dir, config)) for task in tasks]
        for task, future in futures:
            try:
                outcomes.append(future.result())
            except BrokenProcessPool:
                # NOTE: a crash inside a native decoder kills the worker; the pool's remaining files are
                # recorded as worker_crashed rather than retried.
                outcomes.append(
                    (
                        task,
                        DicomRejected(
                            "worker_crashed", f"{task.path}: the worker process died while decoding"
                        ),
                    )
                )
    return outcomes


def clips_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return the clips table with its fixed columns, sorted by clip id."""
    frame = pd.DataFrame(rows, columns=CLIP_COLUMNS)
    frame["subject_id"] = frame["subject_id"].astype("Int64")
    frame["study_id"] = frame["study_id"].astype("Int64")
    frame["end_diastole_frame"] = frame["end_diastole_frame"].astype("Int64")
    frame["end_systole_frame"] = frame["end_systole_frame"].astype("Int64")
    return frame.sort_values("clip_id", kind="stable").reset_index(drop=True)


def write_outputs(clips: pd.DataFrame, ledger: Ledger, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``clips.parquet`` and ``ledger.parquet`` under ``out_dir`` and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clips_path = out / "clips.parquet"
    temporary = clips_path.with_name(clips_path.name + ".partial")
    clips.to_parquet(temporary, index=False)
    temporary.replace(clips_path)
    return clips_path, ledger.write(out / "ledger.parquet")
