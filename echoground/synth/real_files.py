"""The real public echo DICOMs that pydicom and pydicom-data ship, copied byte-for-byte into the demo tree.

Chosen after viewing each ultrasound file in pydicom 3.0 test data and pydicom-data 1.x:

- ``examples_ybr_color.dcm`` (pydicom): apical four-chamber cine, JPEG Baseline YBR_FULL_422, 30 frames.
- ``color3d_jpeg_baseline.dcm`` (pydicom-data): 120-frame JPEG Baseline cardiac cine (SonoSite); the
  screen label says "PLA" but the image shows the apical chambers, so its view is recorded as unknown.
- ``JPGLosslessP14SV1_1s_1f_8b.dcm`` (pydicom-data): adult echo still, JPEG Lossless MONOCHROME2, with an
  ascending-aorta caliper measurement burned in; view unknown.
- ``color-pl.dcm`` and ``color-px.dcm`` (pydicom-data): transoesophageal colour-Doppler stills, uncompressed
  RGB in planar configuration 0 and 1.

Left out as not cardiac: ``US1_*.dcm`` (a lymph node), ``gdcm-US-ALOKA-16*.dcm`` (pelvis) and
``OBXXXX1A*.dcm`` (obstetric).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealFile:
    """A shipped file: package ("pydicom" or "pydicom-data"), name, known view and clip kind."""

    package: str
    name: str
    view: str
    clip_kind: str


REAL_FILES: tuple[RealFile, ...] = (
    RealFile("pydicom", "examples_ybr_color.dcm", "A4C", "b_mode_2d"),
    RealFile("pydicom-data", "color3d_jpeg_baseline.dcm", "unknown", "b_mode_2d"),
    RealFile("pydicom-data", "JPGLosslessP14SV1_1s_1f_8b.dcm", "unknown", "b_mode_2d"),
    RealFile("pydicom-data", "color-pl.dcm", "unknown", "color_doppler"),
    RealFile("pydicom-data", "color-px.dcm", "unknown", "color_doppler"),
)


def locate(real_file: RealFile) -> Path | None:
    """Return the installed path of ``real_file``, or None when its package is not installed."""
    if real_file.package == "pydicom":
        from pydicom.data import get_testdata_file

        found = get_testdata_file(real_file.name, download=False)
        return Path(found) if found else None
    try:
        import data_store
    except ImportError:
        return None
    path = Path(data_store.__file__).parent / "data" / real_file.name
    return path if path.is_file() else None


def copy_real_files(study_dir: Path, study_id: int) -> list[tuple[RealFile, Path]]:
    """Copy every available real file into ``study_dir`` as ``STUDY_NNNN.dcm`` and return what was copied."""
    copied = []
    study_dir.mkdir(parents=True, exist_ok=True)
    for real_file in REAL_FILES:
        source = locate(real_file)
        if source is None:
            logger.warning(
                "real public DICOM %s from package %s is not installed; skipping it",
                real_file.name,
                real_file.package,
            )
            continue
        target = study_dir / f"{study_id}_{len(copied) + 1:04d}.dcm"
        shutil.copyfile(source, target)
        copied.append((real_file, target))
    return copied
