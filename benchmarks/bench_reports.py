"""Measure report NLP throughput (reports per CPU-second, so per core) with batched nlp.pipe processing.

Usage: .venv/bin/python benchmarks/bench_reports.py [--reports N] [--batch-size B] [--repeats R]

The reports are synthetic BIDMC-style texts of about 1,400 characters built here; no MIMIC text is used.
Two sets are timed. "template" fills one template with a few values, so paragraphs repeat between reports
and parse_reports processes each repeated chunk once. "distinct" appends "Ref <n>." to every paragraph,
so no chunk repeats and every chunk goes through the pipeline: a lower bound for real reports.
Each figure is the best of R runs of CPU time (time.process_time), because other jobs share the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from collections.abc import Callable
from functools import partial

from echoground.labels import StudyInput, label_studies
from echoground.reports import parse_reports

TEMPLATE = """PATIENT/TEST INFORMATION:
Indication: Evaluate for {indication}. Height: (in) {height} Weight (lb): {weight} BSA (m2): 1.{bsa} m2
INTERPRETATION:

Findings:

LEFT ATRIUM: {la} LA enlargement.

RIGHT ATRIUM/INTERATRIAL SEPTUM: Normal RA size. No ASD by 2D or color Doppler.

LEFT VENTRICLE: Normal LV wall thickness and cavity size. {lv} global systolic
function (LVEF {lvef}%). Transmitral Doppler and tissue velocity imaging are
consistent with Grade {grade} LV diastolic dysfunction.

RIGHT VENTRICLE: Normal RV chamber size and free wall motion.

AORTA: Normal aortic diameter at the sinus level.

AORTIC VALVE: Mildly thickened aortic valve leaflets. No AS. {ar} AR.

MITRAL VALVE: Mildly thickened mitral valve leaflets. No MVP. {mr} (1+) MR.

TRICUSPID VALVE: Normal tricuspid valve leaflets. Physiologic TR. Normal PA
systolic pressure.

PERICARDIUM: No pericardial effusion.

Conclusions:
The left atrium is mildly dilated. Left ventricular wall thickness, cavity size
and regional/global systolic function are normal (LVEF {lvef}%). There is no
aortic valve stenosis. {mr} (1+) mitral regurgitation is seen. The estimated
pulmonary artery systolic pressure is normal. There is no pericardial effusion.
A small PFO cannot be excluded.

CLINICAL IMPLICATIONS:
Based on [** 2018 **] AHA endocarditis prophylaxis recommendations, the echo
findings indicate prophylaxis is NOT recommended.
"""


def make_reports(count: int) -> list[str]:
    words = ["Mild", "Moderate", "Trace", "No"]
    return [
        TEMPLATE.format(
            indication="AS" if i % 2 else "CHF",
            height=60 + i % 15,
            weight=120 + i % 80,
            bsa=i % 10,
            la=words[i % 2],
            lv="Mildly depressed" if i % 3 else "Normal",
            lvef=35 + i % 30,
            grade=["I", "II", "III"][i % 3],
            ar=words[i % 4],
            mr=words[(i + 1) % 4],
        )
        for i in range(count)
    ]


def make_distinct_reports(count: int) -> list[str]:
    """Return :func:`make_reports` texts with "Ref <n>." closing each paragraph, so no chunk repeats."""
    return [re.sub(r"\.\n\n", f". Ref {index}.\n\n", text) for index, text in enumerate(make_reports(count))]


def best_cpu_seconds(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Return the lowest CPU time of ``repeats`` calls of ``run`` and the wall time of that call."""
    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        run()
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
        if cpu < best_cpu:
            best_cpu, best_wall = cpu, wall
    return best_cpu, best_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=400, help="number of reports to parse")
    parser.add_argument("--batch-size", type=int, default=64, help="reports per nlp.pipe batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure; the best is printed")
    args = parser.parse_args()
    parse_reports(make_reports(2))  # Builds the pipeline outside the timed part.
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; best of {args.repeats} runs"
    )
    for name, reports in (
        ("template", make_reports(args.reports)),
        ("distinct", make_distinct_reports(args.reports)),
    ):
        cpu, wall = best_cpu_seconds(
            partial(parse_reports, reports, batch_size=args.batch_size), args.repeats
        )
        print(
            f"{name} report parse: {len(reports)} reports of ~{len(reports[0])} chars in {wall:.2f} s wall, "
            f"{cpu:.2f} s CPU: {len(reports) / cpu:.1f} reports per CPU-second"
        )
        studies = [
            StudyInput(study_id=i, sex="MF"[i % 2], report_text=text) for i, text in enumerate(reports)
        ]
        cpu, wall = best_cpu_seconds(
            partial(label_studies, studies, batch_size=args.batch_size), args.repeats
        )
        print(f"{name} parse + labels: {len(reports) / cpu:.1f} studies per CPU-second ({wall:.2f} s wall)")


if __name__ == "__main__":
    main()
