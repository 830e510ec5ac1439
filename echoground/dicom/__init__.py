"""DICOM stage: from echo DICOM files to de-identified, masked, calibrated frames and a ledger row per file.

Public entry points: :func:`process_file` for one file and :func:`process_batch` for a record list.
"""

from echoground.dicom.config import DicomConfig
from echoground.dicom.stage import ClipResult, DicomRejected, process_batch, process_file

__all__ = ["ClipResult", "DicomConfig", "DicomRejected", "process_batch", "process_file"]
