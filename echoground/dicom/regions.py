"""Parsing and validation of (0018,6011) Sequence of Ultrasound Regions.

Enumerated values follow DICOM PS3.3 C.8.5.5.1 (US Region Calibration Module):
RegionSpatialFormat 1 = 2D, 2 = M-mode, 3 = spectral, 4 = waveform, 5 = graphics;
RegionDataType 1 = tissue, 2 = colour flow, 3 = PW spectral Doppler, 4 = CW spectral Doppler;
PhysicalUnits 3 = cm, 4 = seconds, 7 = cm/s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from pydicom.dataset import Dataset

SPATIAL_2D = 1
SPATIAL_M_MODE = 2
SPATIAL_SPECTRAL = 3
DATA_TISSUE = 1
DATA_COLOUR_FLOW = 2
DATA_PW_SPECTRAL = 3
DATA_CW_SPECTRAL = 4
UNITS_CM = 3

# Spatial formats whose regions contain image data (as opposed to waveforms and graphics).
IMAGE_FORMATS = (SPATIAL_2D, SPATIAL_M_MODE, SPATIAL_SPECTRAL)


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of Sequence of Ultrasound Regions; bounds are inclusive pixel indices."""

    spatial_format: int
    data_type: int
    x0: int
    y0: int
    x1: int
    y1: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0 + 1) * max(0, self.y1 - self.y0 + 1)

    def inside(self, rows: int, columns: int) -> bool:
        """Return whether the bounds are ordered and lie within an image of ``rows`` x ``columns``.

        A maximum bound equal to the image size is accepted: some writers store it as exclusive
        (pydicom-data's OBXXXX1A has RegionLocationMaxX1 = Columns = 800).
        """
        return 0 <= self.x0 <= self.x1 <= columns and 0 <= self.y0 <= self.y1 <= rows

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def reduced(self, factor: int) -> UltrasoundRegion:
        """Return the region in the pixels of an image decoded at 1/``factor`` of its size.

        Decoded pixel ``i`` covers source pixels ``factor * i`` to ``factor * i + factor - 1``, so bounds
        are floor-divided and the physical size of one pixel grows by ``factor``.
        """
        if factor == 1:
            return self
        return replace(
            self,
            x0=self.x0 // factor,
            y0=self.y0 // factor,
            x1=self.x1 // factor,
            y1=self.y1 // factor,
            delta_x=self.delta_x * factor,
            delta_y=self.delta_y * factor,
        )


def parse_regions(ds: Dataset) -> list[UltrasoundRegion]:
    """Read every item of Sequence of Ultrasound Regions; items missing a bound are left out."""
    regions = []
    for item in ds.get("SequenceOfUltrasoundRegions", []):
        bounds = [item.get(k) for k in ("RegionLocationMinX0", "RegionLocationMinY0")]
        bounds += [item.get(k) for k in ("RegionLocationMaxX1", "RegionLocationMaxY1")]
        if any(value is None for value in bounds):
            continue
        regions.append(
            UltrasoundRegion(
                spatial_format=int(item.get("RegionSpatialFormat", 0) or 0),
                data_type=int(item.get("RegionDataType", 0) or 0),
                x0=int(bounds[0]),
                y0=int(bounds[1]),
                x1=int(bounds[2]),
                y1=int(bounds[3]),
                units_x=int(item.get("PhysicalUnitsXDirection", 0) or 0),
                units_y=int(item.get("PhysicalUnitsYDirection", 0) or 0),
                delta_x=float(item.get("PhysicalDeltaX", 0.0) or 0.0),
                delta_y=float(item.get("PhysicalDeltaY", 0.0) or 0.0),
            )
        )
    return regions


def image_regions(regions: list[UltrasoundRegion]) -> list[UltrasoundRegion]:
    """Return the regions that hold image data (2D, M-mode, spectral)."""
    return [region for region in regions if region.spatial_format in IMAGE_FORMATS]


def calibration_cm(regions: list[UltrasoundRegion]) -> tuple[float, float] | None:
    """Return (cm per pixel x, y) of the largest 2D region calibrated in cm, or None.

    NOTE: when several 2D regions carry different calibrations (dual view), only the largest one's is
    returned, and the output has one calibration for the whole cropped frame.
    """
    candidates = [
        region
        for region in regions
        if region.spatial_format == SPATIAL_2D
        and region.units_x == UNITS_CM
        and region.units_y == UNITS_CM
        and region.delta_x > 0
        and region.delta_y > 0
    ]
    if not candidates:
        return None
    largest = max(candidates, key=lambda region: region.area)
    return largest.delta_x, largest.delta_y
