"""Shard writing speed: echoground.shards.write_split against a bare tarfile write of the same bytes.

The samples are encoded once up front (JPEG, JSON, NPY), so both sides write identical member bytes.
The ratios show the cost of what the writer adds (key checks, fixed headers, SHA-256, fsync, index,
sizes.json and SHA256SUMS), against a bare write and against a bare write that also fsyncs each shard.
The writer also runs with ``fsync=False``, which is as durable as the bare write without fsync.
Each timed write starts after ``os.sync()``, so dirty pages left by the previous one do not slow it
down, and the methods take turns: each repeat starts with the next method. ``--folder /dev/shm``
writes to memory (tmpfs, where fsync does nothing), which leaves only the CPU cost of each method.
Usage::

    .venv/bin/python benchmarks/bench_shards.py --samples 400 --frames 16 --repeats 5 [--folder DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from echoground.shards import make_sample, write_split


def build_samples(count: int, frames: int):
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, size=(frames, 224, 224, 3), dtype=np.uint8)
    return [
        make_sample(
            key=f"p10_p100{index:05d}_s900{index:05d}_0001",
            key_frame=clip[frames // 2],
            caption="Apical four-chamber view. LVEF 35%, moderately reduced. No pericardial effusion.",
            metadata={"clip_id": f"clip{index}", "labels": {"lv_systolic_dysfunction": {"state": "present"}}},
            frames=clip,
        )
        for index in range(count)
    ]


def bare_tarfile(samples, folder: Path, per_shard: int, fsync: bool = False) -> None:
    for start in range(0, len(samples), per_shard):
        with open(folder / f"bare-{start // per_shard:06d}.tar", "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w") as tar:
                for sample in samples[start : start + per_shard]:
                    for extension, data in sample.members.items():
                        info = tarfile.TarInfo(f"{sample.key}.{extension}")
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400, help="number of samples to write")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip in KEY.npy")
    parser.add_argument("--per-shard", type=int, default=100, help="maximum samples per shard")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method; the best is kept")
    parser.add_argument(
        "--folder", type=Path, default=None, help="folder to write in (default: the system temporary folder)"
    )
    args = parser.parse_args()

    samples = build_samples(args.samples, args.frames)
    total_bytes = sum(sample.tar_size() for sample in samples)
    timings = {"write_split": [], "write_split_no_fsync": [], "bare_tarfile": [], "bare_tarfile_fsync": []}
    methods = {
        "bare_tarfile": lambda folder: bare_tarfile(samples, folder, args.per_shard),
        "bare_tarfile_fsync": lambda folder: bare_tarfile(samples, folder, args.per_shard, fsync=True),
        "write_split": lambda folder: write_split(
            samples, folder, max_samples=args.per_shard, max_bytes=None
        ),
        "write_split_no_fsync": lambda folder: write_split(
            samples, folder, max_samples=args.per_shard, max_bytes=None, fsync=False
        ),
    }
    with tempfile.TemporaryDirectory(dir=args.folder) as scratch:
        names = list(methods)
        for repeat in range(args.repeats):
            # Each repeat starts with the next method, so no method always runs last, after the others
            # have filled the page cache.
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for name in order:
                method = methods[name]
                folder = Path(scratch) / f"{name}-{repeat}"
                folder.mkdir()
                os.sync()
                start = time.perf_counter()
                method(folder)
                timings[name].append(time.perf_counter() - start)
            # Deleting after the repeat keeps the unlink and its block discards out of the timed writes.
            for name in methods:
                shutil.rmtree(Path(scratch) / f"{name}-{repeat}")

    best = {name: min(values) for name, values in timings.items()}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    print(f"folder: {args.folder or tempfile.gettempdir()}")
    print(f"samples {args.samples}, frames {args.frames}, {total_bytes / 1e6:.1f} MB, {args.per_shard}/shard")
    for name, seconds in best.items():
        median = sorted(timings[name])[len(timings[name]) // 2]
        rate = total_bytes / 1e6 / seconds
        print(f"{name:>18}: best {seconds:.3f} s ({rate:.0f} MB/s), median {median:.3f} s")
    print(f"ratio bare/ours: {best['bare_tarfile'] / best['write_split']:.2f}")
    print(f"ratio bare with fsync/ours: {best['bare_tarfile_fsync'] / best['write_split']:.2f}")
    print(f"ratio bare/ours without fsync: {best['bare_tarfile'] / best['write_split_no_fsync']:.2f}")


if __name__ == "__main__":
    main()
