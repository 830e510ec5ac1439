"""Read (DICOM path, view) label tables for training, checking every view name and file first."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from echoground.views.vocabulary import B_MODE, Vocabulary

logger = logging.getLogger(__name__)

PATH_COLUMNS = ("dicom_path", "dicom_filepath")
# View values that mean "no label": such rows are skipped, not rejected.
UNLABELLED = {"", "unknown", "nan", "none"}
# MIMIC-IV-ECHO layout: files/pNN/pSUBJECT/sSTUDY/STUDY_NNNN.dcm.
_SUBJECT_DIR = re.compile(r"^p(\d{6,})$")
_STUDY_DIR = re.compile(r"^s(\d{6,})$")


class LabelError(ValueError):
    """A label table is missing a column, names an unknown view, or points to missing files."""


@dataclass(frozen=True)
class LabeledClip:
    """One labelled DICOM: resolved path, fine view, patient and study, and its row in the table."""

    dicom_path: Path
    view: str
    subject_id: int
    study_id: int | None
    row: int


def _ids_from_path(path: Path) -> tuple[int | None, int | None]:
    subject = study = None
    for part in path.parts:
        if match := _SUBJECT_DIR.match(part):
            subject = int(match.group(1))
        elif match := _STUDY_DIR.match(part):
            study = int(match.group(1))
    return subject, study


def read_labels(csv_path: Path, vocabulary: Vocabulary, dicom_root: Path | None = None) -> list[LabeledClip]:
    """Read a label CSV into :class:`LabeledClip` rows.

    The CSV needs a path column (``dicom_path`` or ``dicom_filepath``, relative paths resolved against
    ``dicom_root``, else against the CSV's folder) and a ``view`` column. ``subject_id`` and
    ``study_id`` columns are used when present, else read from the MIMIC folder names
    ``pSUBJECT/sSTUDY``. Rows whose view is empty or ``unknown``, and rows whose ``clip_kind`` column
    is present and not ``b_mode_2d``, are skipped and counted in the log.

    Raises:
        LabelError: a column is missing, a path or patient cannot be resolved, or files are missing.
        UnknownViewError: a view name matches no fine view or alias; the message names the row.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise LabelError(f"view label file not found: {csv_path}")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    path_column = next((column for column in PATH_COLUMNS if column in table.columns), None)
    if path_column is None or "view" not in table.columns:
        raise LabelError(
            f"{csv_path}: needs columns 'view' and one of {list(PATH_COLUMNS)}; found {list(table.columns)}"
        )
    root = Path(dicom_root) if dicom_root is not None else csv_path.parent

    clips: list[LabeledClip] = []
    missing: list[str] = []
    skipped_unlabelled = skipped_kind = 0
    for index, row in enumerate(table.to_dict("records")):
        line = index + 2  # the header is line 1
        source = f"{csv_path} line {line}"
        if row["view"].strip().lower() in UNLABELLED:
            skipped_unlabelled += 1
            continue
        if "clip_kind" in row and row["clip_kind"] and row["clip_kind"] != B_MODE:
            skipped_kind += 1
            continue
        view = vocabulary.to_fine(row["view"], source=source)
        path = Path(row[path_column])
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            missing.append(f"{path} ({source})")
            continue
        subject, study = _ids_from_path(path)
        if row.get("subject_id"):
            subject = int(row["subject_id"])
        if row.get("study_id"):
            study = int(row["study_id"])
        if subject is None:
            raise LabelError(
                f"{source}: no subject_id column and no pSUBJECT folder in {path}; add a subject_id column "
                "so that the split keeps each patient in one set"
            )
        clips.append(LabeledClip(path, view, subject, study, line))

    if missing:
        raise LabelError(
            f"{csv_path}: {len(missing)} DICOM files not found, first: {missing[:3]}; check --dicom-root"
        )
    logger.info(
        "read %d labelled clips from %s (skipped %d unlabelled rows and %d non-B-mode rows)",
        len(clips),
        csv_path,
        skipped_unlabelled,
        skipped_kind,
    )
    return clips
