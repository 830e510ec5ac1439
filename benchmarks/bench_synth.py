"""Synthetic cohort speed: studies per second, bytes per study and peak memory of generate_cohort.

Writes cohorts of growing size into a temporary folder, reports wall and CPU time per study, bytes
written per study and the peak resident memory after each size (flat when writing streams), and
extrapolates the time and disk space of ``--patients 2000``. Usage::

    .venv/bin/python benchmarks/bench_synth.py --patients 2 4 8
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from echoground.synth import SynthConfig, generate_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--patients", type=int, nargs="+", default=[2, 4, 8], help="cohort sizes to time (count)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the cohorts")
    parser.add_argument("--full-size", action="store_true", help="708 x 1016 frames instead of 300 x 400")
    arguments = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    per_study_seconds = per_study_bytes = studies_per_patient = 0.0
    for patients in arguments.patients:
        with tempfile.TemporaryDirectory(prefix="bench-synth-") as folder:
            config = SynthConfig(
                out=Path(folder) / "cohort",
                patients=patients,
                seed=arguments.seed,
                include_real=False,
                frame_size=(708, 1016) if arguments.full_size else (300, 400),
            )
            wall, cpu = time.perf_counter(), time.process_time()
            summary = generate_cohort(config)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        per_study_seconds = cpu / summary.studies
        per_study_bytes = summary.bytes_written / summary.studies
        studies_per_patient = summary.studies / summary.patients
        print(
            f"patients {patients:5d}: studies {summary.studies:4d}, files {summary.dicoms:5d}, "
            f"wall {wall:7.1f} s, CPU {cpu:7.1f} s, {summary.studies / cpu:5.2f} studies per CPU second, "
            f"{per_study_bytes / 1e6:5.1f} MB per study, peak RSS {peak_mib:6.0f} MiB"
        )
    studies_2000 = 2000 * studies_per_patient
    cpu_hours = studies_2000 * per_study_seconds / 3600
    gigabytes = studies_2000 * per_study_bytes / 1e9
    print(
        f"extrapolated --patients 2000: about {studies_2000:.0f} studies, "
        f"{cpu_hours:.1f} CPU hours, {gigabytes:.0f} GB"
    )


if __name__ == "__main__":
    main()
