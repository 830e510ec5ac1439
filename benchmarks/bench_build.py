"""Build cost: seconds per study end to end and per stage, a rerun with nothing changed, and an estimate
for the full MIMIC-IV-ECHO release.

Synthesises a cohort, trains the view model once (not counted: a real build reuses a trained model),
then runs the stages of ``echoground.build.run_build`` in order with a timer around each, and runs the
whole build again into the same folder. Usage::

    .venv/bin/python benchmarks/bench_build.py --patients 8 --out /tmp/bench_build
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import time
from collections import defaultdict
from pathlib import Path

from echoground.build import BuildConfig, new_build_id, run_build
from echoground.build.outputs import validate_run, write_split_shards, write_summary
from echoground.build.plan import plan_build, read_batches
from echoground.build.stages import prepare_view_model, run_dicom_batch, run_study_batch, run_views_batch
from echoground.build.tables import merge_tables
from echoground.splits import SPLIT_NAMES
from echoground.synth.generate import SynthConfig, generate_cohort

# Size of the full MIMIC-IV-ECHO v1.0 release in studies and DICOM files (the file count is rounded).
FULL_STUDIES = 7243
FULL_FILES = 525_000


def timed_build(config: BuildConfig, model_dir: Path) -> dict[str, float]:
    build_id = new_build_id()
    seconds: dict[str, float] = defaultdict(float)

    def clock(stage: str, function, *args):
        start = time.perf_counter()
        result = function(*args)
        seconds[stage] += time.perf_counter() - start
        return result

    plan = clock("plan", plan_build, config, build_id)
    dicom_parts, view_parts, study_parts = [], [], []
    for batch in read_batches(plan):
        dicom_parts.append(clock("dicom", run_dicom_batch, config, batch.path, build_id))
        view_parts.append(clock("views", run_views_batch, config, dicom_parts[-1], model_dir, build_id))
        study_parts.append(clock("studies", run_study_batch, config, batch.path, build_id))
    tables = clock("tables", merge_tables, config, dicom_parts, view_parts, study_parts, build_id)
    clock("validation", validate_run, config, tables, build_id)
    shards = [clock("shards", write_split_shards, config, tables, split, build_id) for split in SPLIT_NAMES]
    clock("summary", write_summary, config, tables, shards, build_id)
    return dict(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=8, help="synthetic patients (count)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_build"), help="work folder")
    parser.add_argument("--batch-size", type=int, default=4, help="mean studies per batch")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    shutil.rmtree(arguments.out, ignore_errors=True)
    cohort = arguments.out / "cohort"
    generate_cohort(SynthConfig(out=cohort, patients=arguments.patients))
    config = BuildConfig(
        cohort / "mimic-iv-echo",
        cohort / "mimic-iv-note",
        cohort / "mimic-iv" / "hosp",
        arguments.out / "run",
        batch_size=arguments.batch_size,
        view_labels=cohort / "ground_truth" / "dicoms.csv",
    )
    model_dir = prepare_view_model(config, new_build_id())

    start = time.perf_counter()
    stages = timed_build(config, model_dir)
    first = time.perf_counter() - start
    start = time.perf_counter()
    summary = json.loads(run_build(config).read_text())
    rerun = time.perf_counter() - start

    studies = summary["inputs"]["studies"]
    files = summary["inputs"]["dicom_files"]
    dicom_per_file = stages["dicom"] / files
    other_per_study = (first - stages["dicom"]) / studies
    # Estimate with two assumptions. DICOM cost scales with files and uses all 16 cores (one process each).
    # The other stages scale with studies and run as 2 batch tasks at once.
    full_hours = (dicom_per_file * FULL_FILES / 16 + other_per_study * FULL_STUDIES / 2) / 3600
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "studies": studies,
        "dicom_files": files,
        "samples": summary["samples"]["total"],
        "first_run_s": round(first, 2),
        "seconds_per_study": round(first / studies, 3),
        "stage_s": {name: round(value, 2) for name, value in sorted(stages.items())},
        "rerun_s": round(rerun, 2),
        "rerun_fraction": round(rerun / first, 4),
        "rerun_computed_parts": summary["work"]["computed_parts"],
        "dicom_s_per_file": round(dicom_per_file, 4),
        "full_release_estimate_hours_16_cores": round(full_hours, 1),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
