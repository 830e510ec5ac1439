"""Benchmark of the DICOM stage on synthetic GE-sized JPEG Baseline cines (708 x 1016, 90 frames).

Measures, for 16 kept frames per clip:
1. frames delivered per second by ``process_file`` against a bare Pillow decode of the same frames.
   The bare decode runs at full size (the baseline) and at the reduced size the stage decodes at.
   The stage also runs with reduced decoding off, at the baseline's decode scale, and with the
   Pillow resize backend instead of torch's;
2. time per clip against decoding the whole cine with pydicom's ``Dataset.pixel_array``;
3. peak resident memory of one worker after 4, 8 and 16 files (it should stay flat).

Run: ``.venv/bin/python benchmarks/bench_dicom.py [--files 16] [--frames 90]``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageFilter
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.sequence import Sequence

from echoground.dicom import DicomConfig, process_file
from echoground.dicom.header import read_header
from echoground.dicom.sampling import select_frames

ROWS, COLUMNS = 708, 1016


def make_cine(path: Path, n_frames: int, seed: int) -> Path:
    """Write a JPEG Baseline YBR_FULL_422 cine of blurred speckle inside a fan, with text outside it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    dx, dy = x - COLUMNS / 2, y - 40
    fan = (np.hypot(dx, dy) < 640) & (dy > 0) & (np.abs(np.arctan2(dx, dy)) < 0.75)
    encoded = []
    for _ in range(n_frames):
        noise = Image.fromarray(rng.integers(0, 255, size=(ROWS, COLUMNS), dtype=np.uint8))
        speckle = np.asarray(noise.filter(ImageFilter.GaussianBlur(2)))
        frame = np.zeros((ROWS, COLUMNS, 3), dtype=np.uint8)
        frame[fan] = speckle[fan][:, None]
        frame[10:30, 10:200] = 255
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = uid.UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    meta.TransferSyntaxUID = uid.JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLUMNS, n_frames
    ds.SamplesPerPixel, ds.PlanarConfiguration, ds.PhotometricInterpretation = 3, 0, "YBR_FULL_422"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime, ds.HeartRate = 16.7, 70
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 100, 40
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 915, 690
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.03
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def bare_pillow(path: Path, indices: list[int], n_frames: int, reduction: int = 1) -> float:
    """Return seconds to decode ``indices`` to RGB arrays with Pillow alone, the compressed bytes in memory.

    With ``reduction`` above 1, Pillow's draft mode decodes at that fraction of the size, as the stage does.
    """
    pixel_data = pydicom.dcmread(path).PixelData
    frames = list(generate_frames(pixel_data, number_of_frames=n_frames))
    start = time.perf_counter()
    for index in indices:
        image = Image.open(io.BytesIO(frames[index]))
        if reduction > 1:
            image.draft("RGB", (image.size[0] // reduction, image.size[1] // reduction))
        np.asarray(image.convert("RGB"))
    return time.perf_counter() - start


def best_of(repeats: int, function, *args) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16, help="Number of cines for the memory check.")
    parser.add_argument("--frames", type=int, default=90, help="Frames per synthetic cine.")
    parser.add_argument(
        "--repeats", type=int, default=7, help="Rounds of the speed measures; the best counts."
    )
    args = parser.parse_args()
    config = DicomConfig(n_frames=16, size=224)

    with tempfile.TemporaryDirectory() as folder:
        # Four distinct cines, copied to make up --files, keep the set-up time short.
        distinct = [make_cine(Path(folder) / f"cine_{i}.dcm", args.frames, i) for i in range(4)]
        paths = []
        for i in range(args.files):
            copy = Path(folder) / f"copy_{i}.dcm"
            shutil.copyfile(distinct[i % 4], copy)
            paths.append(copy)
        path = distinct[0]
        indices = select_frames(read_header(path), config).indices
        process_file(path, config)  # warm-up: imports and caches

        checkpoints = {4, 8, 16, args.files}
        memory = []
        for count, cine in enumerate(paths, start=1):
            process_file(cine, config)
            if count in checkpoints:
                memory.append((count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))

        reduction = process_file(path, config).decode_reduction
        full_config = replace(config, reduced_decode=False)
        pillow_config = replace(config, resize_backend="pillow")
        # The five measures run back to back in each round, so load from other jobs hits them alike.
        times: dict[str, list[float]] = {
            "pillow": [],
            "pillow_reduced": [],
            "stage": [],
            "stage_full": [],
            "stage_pillow_resize": [],
        }
        for _ in range(args.repeats):
            times["pillow"].append(bare_pillow(path, indices, args.frames))
            times["pillow_reduced"].append(bare_pillow(path, indices, args.frames, reduction))
            times["stage"].append(best_of(1, process_file, path, config))
            times["stage_full"].append(best_of(1, process_file, path, full_config))
            times["stage_pillow_resize"].append(best_of(1, process_file, path, pillow_config))
        whole_s = best_of(2, lambda: pydicom.dcmread(path).pixel_array)

    best = {name: min(values) for name, values in times.items()}
    count = len(indices)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    print(f"cine: {ROWS} x {COLUMNS}, {args.frames} frames, JPEG Baseline; kept frames: {count}")
    print(f"best of {args.repeats} rounds; the stage decodes at 1/{reduction} of full size")
    rows = [
        ("bare Pillow decode, full size", best["pillow"]),
        (f"bare Pillow decode, 1/{reduction} size", best["pillow_reduced"]),
        (f"process_file, decode at 1/{reduction}", best["stage"]),
        ("process_file, full-size decode", best["stage_full"]),
        (f"process_file, decode at 1/{reduction}, Pillow resize", best["stage_pillow_resize"]),
    ]
    for label, seconds in rows:
        print(f"{label}: {seconds * 1000:.1f} ms ({count / seconds:.1f} frames/s)")
    print(f"ratio process_file (reduced) / bare Pillow full size: {best['pillow'] / best['stage']:.2f}")
    print(
        f"ratio process_file (reduced) / bare Pillow at 1/{reduction}: "
        f"{best['pillow_reduced'] / best['stage']:.2f}"
    )
    print(
        f"ratio process_file (full size) / bare Pillow full size: {best['pillow'] / best['stage_full']:.2f}"
    )
    print(
        "ratio process_file (reduced, Pillow resize) / bare Pillow full size: "
        f"{best['pillow'] / best['stage_pillow_resize']:.2f}"
    )
    print(
        f"pydicom pixel_array of the whole cine: {whole_s * 1000:.1f} ms; "
        f"speed-up {whole_s / best['stage']:.1f}x"
    )
    for count_files, megabytes in memory:
        print(f"peak RSS after {count_files} files: {megabytes:.0f} MiB")


if __name__ == "__main__":
    main()
