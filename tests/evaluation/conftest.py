"""A small synthetic cohort and one build of it, made once per session for the evaluation tests.

The build tests' ``built_run`` fixture lives in tests/build/conftest.py, which pytest does not share
with this folder, so these tests build their own run with the same plain runner.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from echoground.build import BuildConfig, run_build
from echoground.synth.generate import SynthConfig, generate_cohort


@pytest.fixture(scope="session")
def evaluated_cohort(tmp_path_factory) -> Path:
    """A cohort of 5 synthetic patients (seed 0, no real public files): 10 studies."""
    out = tmp_path_factory.mktemp("evaluation") / "cohort"
    generate_cohort(
        SynthConfig(out=out, patients=5, frames=(4, 6), files_per_study=(4, 6), include_real=False)
    )
    return out


@pytest.fixture(scope="session")
def evaluated_run(evaluated_cohort, tmp_path_factory) -> Path:
    """The run folder of one plain build of ``evaluated_cohort``."""
    out = tmp_path_factory.mktemp("evaluation_run") / "run"
    config = BuildConfig(
        evaluated_cohort / "mimic-iv-echo",
        evaluated_cohort / "mimic-iv-note",
        evaluated_cohort / "mimic-iv" / "hosp",
        out,
        batch_size=8,
        view_epochs=2,
        view_labels=evaluated_cohort / "ground_truth" / "dicoms.csv",
    )
    run_build(config)
    return out
