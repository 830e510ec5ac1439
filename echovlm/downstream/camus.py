"""Read CAMUS: segmentation of the LV endocardium, myocardium and left atrium in 2- and 4-chamber views.

Layout (the patient folders may sit directly in the root or in ``training/``, ``testing/`` or
``database_nifti/`` below it)::

    patient0001/patient0001_2CH_ED.nii.gz      image at end-diastole (older copies: .mhd + .raw)
    patient0001/patient0001_2CH_ED_gt.nii.gz   labels: 0 background, 1 LV endocardium, 2 myocardium, 3 LA
    patient0001/patient0001_4CH_ES.nii.gz ...
    patient0001/Info_2CH.cfg                   "ED: 1", "ES: 13", "ImageQuality: Good", "LVef: 61.4" ...

Images without a ground-truth file (the challenge test set) are skipped. CAMUS has no split column, so
patients are split 80/10/10 by a hash of the patient number.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import numpy as np

from echovlm.downstream.samples import SEGMENT, DownstreamDataset, Record, Sample, hash_split, to_uint8
from echovlm.downstream.volumes import read_volume

logger = logging.getLogger(__name__)

LABELS = ("background", "lv_endocardium", "lv_myocardium", "left_atrium")
VIEWS = ("2CH", "4CH")
PHASES = ("ED", "ES")
_EXTENSIONS = (".nii.gz", ".nii", ".mhd")
_PATIENT = re.compile(r"^patient(\d+)$", re.IGNORECASE)


def find_patient_folders(root: Path) -> list[Path]:
    """Return the ``patientNNNN`` folders in ``root`` or one level below it, sorted by name."""
    folders = [path for path in root.iterdir() if path.is_dir() and _PATIENT.match(path.name)]
    if not folders:
        for child in sorted(path for path in root.iterdir() if path.is_dir()):
            folders += [path for path in child.iterdir() if path.is_dir() and _PATIENT.match(path.name)]
    return sorted(folders, key=lambda path: path.name)


def read_info(path: Path) -> dict[str, object]:
    """Parse an ``Info_2CH.cfg`` file of ``Key: value`` lines; numbers become int or float."""
    info: dict[str, object] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        try:
            info[key] = int(value)
        except ValueError:
            try:
                info[key] = float(value)
            except ValueError:
                info[key] = value
    return info


def _find_file(folder: Path, stem: str) -> Path | None:
    for extension in _EXTENSIONS:
        path = folder / f"{stem}{extension}"
        if path.is_file():
            return path
    return None


def _load(image_path: Path, mask_path: Path, sample_id: str) -> Sample:
    image = read_volume(image_path)
    mask = read_volume(mask_path)
    if image.array.shape != mask.array.shape:
        raise ValueError(
            f"{mask_path} has shape {mask.array.shape} but its image {image_path} has {image.array.shape}; "
            "they must match pixel for pixel"
        )
    if image.array.ndim != 2:
        raise ValueError(f"{image_path} has shape {image.array.shape}; expected a single 2D frame")
    labels = np.unique(mask.array)
    unexpected = [int(value) for value in labels if value not in range(len(LABELS))]
    if unexpected:
        raise ValueError(
            f"{mask_path} contains label values {unexpected}; CAMUS labels are 0 to 3 ({', '.join(LABELS)})"
        )
    return Sample(
        sample_id=sample_id,
        image=to_uint8(image.array, image_path),
        mask=mask.array.astype(np.uint8),
        spacing_mm=image.spacing_mm,
    )


def read_camus(root: str | Path) -> DownstreamDataset:
    """Index a CAMUS root: one record per patient, view (2CH, 4CH) and phase (ED, ES) with ground truth.

    Raises:
        FileNotFoundError: if the root has no ``patientNNNN`` folder.
    """
    root = Path(root)
    folders = find_patient_folders(root)
    if not folders:
        raise FileNotFoundError(
            f"{root}: no patientNNNN folders in it or one level below; is this a CAMUS root?"
        )
    records: list[Record] = []
    without_ground_truth = 0
    for folder in folders:
        patient = int(_PATIENT.match(folder.name).group(1))
        split = hash_split(f"camus-patient-{patient}")
        for view in VIEWS:
            info_path = folder / f"Info_{view}.cfg"
            info = read_info(info_path) if info_path.is_file() else {}
            for phase in PHASES:
                stem = f"{folder.name}_{view}_{phase}"
                image_path = _find_file(folder, stem)
                if image_path is None:
                    continue
                mask_path = _find_file(folder, f"{stem}_gt")
                if mask_path is None:
                    without_ground_truth += 1
                    continue
                meta = {"patient": patient, "view": view, "phase": phase, "file": image_path.name}
                meta.update({key: info[key] for key in ("ImageQuality", "LVef", "Sex", "Age") if key in info})
                records.append(
                    Record(stem, split, functools.partial(_load, image_path, mask_path, stem), meta)
                )
    if without_ground_truth:
        logger.info("camus: %d images in %s have no _gt file and were skipped", without_ground_truth, root)
    if not records:
        raise FileNotFoundError(
            f"{root}: patient folders found, but no image with a _gt ground-truth file "
            f"(expected names such as {folders[0].name}/{folders[0].name}_4CH_ED_gt.nii.gz)"
        )
    logger.info("camus: %d annotated images from %d patients in %s", len(records), len(folders), root)
    return DownstreamDataset(name="camus", task=SEGMENT, root=root, labels=LABELS, records=records)
