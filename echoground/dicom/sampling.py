"""Choice of the source frames to keep: a window of at least one cardiac cycle, evenly sampled."""

from __future__ import annotations

import math
from dataclasses import dataclass

from echoground.dicom.config import DicomConfig
from echoground.dicom.header import HeaderInfo


@dataclass(frozen=True)
class FrameSelection:
    """Source frames kept for one clip, with their times and the timing facts behind the choice."""

    indices: list[int]
    times_ms: list[float] | None
    frame_rate_hz: float | None
    heart_rate_bpm: float
    heart_rate_source: str


def heart_rate(info: HeaderInfo, config: DicomConfig) -> tuple[float, str]:
    """Return the heart rate in bpm and its source (``header`` or ``default``)."""
    value = info.heart_rate_header
    if value is not None and config.min_heart_rate_bpm <= value <= config.max_heart_rate_bpm:
        return value, "header"
    return config.default_heart_rate_bpm, "default"


def select_frames(info: HeaderInfo, config: DicomConfig) -> FrameSelection:
    """Pick at most ``config.n_frames`` source frames spanning ``config.cycles`` cardiac cycles.

    The window starts at the first frame (always kept, as the key frame) and is as long as
    ``config.cycles`` cycles at the heart rate, or the whole cine when it is shorter or its frame
    time is unknown. Frames are spread evenly over the window. A window holding fewer frames than
    requested is widened to ``config.n_frames`` frames when the cine has them, so no frame repeats.
    """
    bpm, bpm_source = heart_rate(info, config)
    total = info.n_frames
    frame_time = info.frame_time_ms
    if frame_time is None or frame_time <= 0:
        window = total
    else:
        cycle_ms = 60_000.0 / bpm * config.cycles
        window = min(total, max(config.n_frames, math.ceil(cycle_ms / frame_time) + 1))
    count = min(config.n_frames, window)
    if count == 1:
        indices = [0]
    else:
        step = (window - 1) / (count - 1)
        indices = sorted({round(i * step) for i in range(count)})

    times = None
    if info.frame_times_ms is not None:
        times = [round(info.frame_times_ms[index], 3) for index in indices]
    # Rounded to 0.001 Hz: FrameTime 33.333 ms gives 30.00030000300003 Hz unrounded, noise in every table.
    frame_rate = None if frame_time is None or frame_time <= 0 else round(1000.0 / frame_time, 3)
    return FrameSelection(indices, times, frame_rate, bpm, bpm_source)
