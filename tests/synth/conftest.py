"""A small synthetic cohort shared by the synth tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoground.synth import SynthConfig, generate_cohort


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    generate_cohort(SynthConfig(out=out, patients=2, seed=11, frames=(6, 8), files_per_study=(27, 28)))
    return out
