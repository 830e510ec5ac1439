"""Settings of the DICOM stage, with the defaults used when a caller passes none."""

from __future__ import annotations

from dataclasses import dataclass

# Libraries that can resize the kept frames to the output size (see DicomConfig.resize_backend).
RESIZE_BACKENDS = ("torch", "pillow")


@dataclass(frozen=True)
class DicomConfig:
    """Settings of the DICOM stage.

    Attributes:
        n_frames: Maximum number of frames kept per clip.
        size: Side in pixels of the square output frames.
        workers: Number of worker processes for the header and pixel passes (1 runs in-process).
        default_heart_rate_bpm: Heart rate assumed when (0018,1088) Heart Rate is missing or
            implausible. 75 bpm is a typical adult resting rate, so a sampled window covers one
            cycle of 800 ms.
        min_heart_rate_bpm: Lowest Heart Rate value accepted from a header.
        max_heart_rate_bpm: Highest Heart Rate value accepted from a header.
        cycles: Number of cardiac cycles the kept frames span when the cine is long enough.
        max_decoded_bytes: Maximum bytes of decoded RGB frames held for one clip. A header whose kept
            frames would exceed it is rejected before any decoding.
        max_frame_pixels: Maximum Rows x Columns of one frame.
        colour_chroma_min: Chroma (max minus min of R, G, B, 0-255) at or above which a pixel counts
            as colour-flow coded.
        colour_fraction_min: Fraction of sector pixels that must be colour coded for a clip to count
            as colour Doppler.
        motion_threshold: Standard deviation of grey level (0-255) across the kept frames above which
            a pixel counts as moving when the sector is found from the data.
        intensity_threshold: Grey level (0-255) above which a pixel counts as image content when a
            single frame gives no motion.
        min_sector_fraction: Minimum area of a data-derived sector, as a fraction of the image, below
            which the data mask is discarded.
        reduced_decode: Whether JPEG Baseline frames are decoded at 1/2, 1/4 or 1/8 of their size when
            the cropped sector still spans at least ``size`` pixels at that scale. False decodes every
            frame at full size.
        key_frame_min_swing: Minimum range (max minus min) of the mean grey level (0-255) inside the
            sector across the kept frames for end-diastole and end-systole to be estimated from it.
        m_mode_anisotropy_min: Ratio of the mean absolute grey-level change between neighbouring rows
            to that between neighbouring columns at or above which a still that fills a wide
            rectangle, without regions, counts as M-mode rather than spectral Doppler.
        resize_backend: ``torch`` (default) resizes all kept frames in one antialiased bilinear call,
            several times faster than Pillow; importing torch adds about 280 MB of private memory
            to each worker process. ``pillow`` resizes one frame at a time with Pillow's bilinear
            filter and never imports torch. Both compute the same filter; outputs differ by at most
            one grey level.
    """

    n_frames: int = 16
    size: int = 224
    workers: int = 1
    default_heart_rate_bpm: float = 75.0
    min_heart_rate_bpm: float = 20.0
    max_heart_rate_bpm: float = 250.0
    cycles: float = 1.0
    max_decoded_bytes: int = 512 * 1024 * 1024
    max_frame_pixels: int = 4096 * 4096
    colour_chroma_min: int = 80
    colour_fraction_min: float = 0.01
    motion_threshold: float = 4.0
    intensity_threshold: int = 12
    min_sector_fraction: float = 0.02
    reduced_decode: bool = True
    key_frame_min_swing: float = 1.0
    m_mode_anisotropy_min: float = 2.0
    resize_backend: str = "torch"

    def __post_init__(self) -> None:
        if self.n_frames < 1:
            raise ValueError(f"DicomConfig.n_frames must be at least 1, got {self.n_frames}")
        if self.size < 8:
            raise ValueError(f"DicomConfig.size must be at least 8 pixels, got {self.size}")
        if self.resize_backend not in RESIZE_BACKENDS:
            raise ValueError(
                f"DicomConfig.resize_backend must be one of {', '.join(RESIZE_BACKENDS)}, "
                f"got {self.resize_backend!r}"
            )
        if self.workers < 1:
            raise ValueError(f"DicomConfig.workers must be at least 1, got {self.workers}")
        if not self.min_heart_rate_bpm < self.default_heart_rate_bpm < self.max_heart_rate_bpm:
            raise ValueError(
                f"DicomConfig.default_heart_rate_bpm {self.default_heart_rate_bpm} must lie between "
                f"min_heart_rate_bpm {self.min_heart_rate_bpm} and "
                f"max_heart_rate_bpm {self.max_heart_rate_bpm}"
            )
