"""Decoding JPEG frames at 1/2, 1/4 or 1/8 of their size when the output frame is small enough.

libjpeg can scale a JPEG by 1/2, 1/4 or 1/8 inside its inverse DCT (Pillow's ``Image.draft``), which
skips most of the decoding work. The stage picks the largest such reduction at which the area it will
crop still spans at least ``DicomConfig.size`` pixels, so the resize to the output never enlarges a
reduced image. All later steps (clip kind, sector mask, crop, calibration) work in the pixels of the
reduced image through :func:`reduced_header`. The clips table still reports the crop box in source
pixels.
"""

from __future__ import annotations

import math
from dataclasses import replace

from pydicom import uid

from echoground.dicom.config import DicomConfig
from echoground.dicom.header import HeaderInfo
from echoground.dicom.regions import SPATIAL_2D, image_regions

# Scale denominators that libjpeg's DCT scaling supports through Pillow's draft mode, largest first.
JPEG_REDUCTIONS = (8, 4, 2)


def supports_reduced_decode(info: HeaderInfo) -> bool:
    """Return whether the file's frames go through the Pillow JPEG decoder, which can decode at 1/2 to 1/8."""
    return info.transfer_syntax == uid.JPEGBaseline8Bit and info.frame_fragments is not None


def reduced_size(rows: int, columns: int, factor: int) -> tuple[int, int]:
    """Return (rows, columns) of an image decoded at 1/``factor``: libjpeg rounds both sides up."""
    return math.ceil(rows / factor), math.ceil(columns / factor)


def choose_reduction(info: HeaderInfo, config: DicomConfig) -> int:
    """Return the decode reduction factor (1, 2, 4 or 8) for one file.

    The expected crop is the bounding box of the valid 2D regions (of all image regions when there is
    no 2D region), or the whole frame without valid regions. The factor is the largest one at which
    that box's longer side still has at least ``config.size`` pixels. The data-derived sector can be
    smaller than the box; :func:`echoground.dicom.stage.process_file` then decodes again at a finer
    scale.
    """
    if not config.reduced_decode or not supports_reduced_decode(info):
        return 1
    height, width = info.rows, info.columns
    if info.regions_valid:
        regions = image_regions(info.regions)
        two_d = [region for region in regions if region.spatial_format == SPATIAL_2D]
        chosen = two_d or regions
        width = max(region.x1 for region in chosen) - min(region.x0 for region in chosen) + 1
        height = max(region.y1 for region in chosen) - min(region.y0 for region in chosen) + 1
    for factor in JPEG_REDUCTIONS:
        if max(reduced_size(height, width, factor)) >= config.size:
            return factor
    return 1


def reduced_header(info: HeaderInfo, factor: int) -> HeaderInfo:
    """Return a copy of ``info`` in the pixels of frames decoded at 1/``factor``.

    Rows, Columns and the ultrasound regions (bounds and cm per pixel) are scaled. The copy shares
    the ``problems`` lists with ``info``, so a problem recorded on either is recorded on both.
    """
    if factor == 1:
        return info
    rows, columns = reduced_size(info.rows, info.columns, factor)
    regions = [region.reduced(factor) for region in info.regions]
    return replace(info, rows=rows, columns=columns, regions=regions)
