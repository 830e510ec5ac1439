"""Where the view stage gets clip frames: the DICOM stage for a file, or the frames a run wrote.

Both return (T, H, W, 3) uint8 RGB frames with the sector masked, as the DICOM stage keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoground.views.preprocess import ClipFramesError

# Names tried, in order, for a clip's frames under a frames folder.
FRAME_FILE_PATTERNS = ("{clip_id}.npy", "{clip_id}.npz", "{clip_id}/frames.npy")


@dataclass(frozen=True)
class DicomClip:
    """Frames and clip kind of one DICOM file, as the DICOM stage returns them."""

    frames: np.ndarray
    clip_kind: str


def read_dicom_clip(path: Path) -> DicomClip:
    """Run the DICOM stage on one file and return its kept frames and clip kind.

    Raises:
        ClipFramesError: the DICOM stage rejected the file or kept no frames; the message names it.
    """
    from echoground.dicom import DicomConfig, DicomRejected, process_file

    try:
        result = process_file(Path(path), DicomConfig())
    except DicomRejected as error:
        raise ClipFramesError(
            f"{path}: the DICOM stage rejected the file ({error.reason}): {error.message}"
        ) from error
    frames = getattr(result, "frames", None)
    if frames is None or len(frames) == 0:
        raise ClipFramesError(f"{path}: the DICOM stage kept no usable frames")
    return DicomClip(frames=np.asarray(frames), clip_kind=str(result.clip_kind))


def read_frames_file(frames_dir: Path, clip_id: str, frames_path: str | None = None) -> np.ndarray:
    """Read one clip's frames from a run's frames folder.

    Args:
        frames_dir: The run's frames folder.
        clip_id: Clip id; tried as ``{clip_id}.npy``, ``{clip_id}.npz`` (array ``frames`` or the first
            array) and ``{clip_id}/frames.npy``.
        frames_path: A path from the clips table, relative to ``frames_dir``; tried first when given.

    Raises:
        ClipFramesError: no frames file exists for the clip, or it cannot be read.
    """
    frames_dir = Path(frames_dir)
    candidates = [frames_dir / frames_path] if frames_path else []
    candidates += [frames_dir / pattern.format(clip_id=clip_id) for pattern in FRAME_FILE_PATTERNS]
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            if candidate.suffix == ".npz":
                with np.load(candidate) as archive:
                    key = "frames" if "frames" in archive.files else archive.files[0]
                    return archive[key]
            return np.load(candidate, allow_pickle=False)
        except (OSError, ValueError, IndexError) as error:
            raise ClipFramesError(
                f"clip {clip_id}: frames file {candidate} is unreadable: {error}"
            ) from error
    raise ClipFramesError(
        f"clip {clip_id}: no frames file under {frames_dir} (tried {[str(c) for c in candidates]})"
    )
