"""Shared fixtures of the build tests: a tiny synthetic cohort and one build of it, made once per session."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from echoground.build import BuildConfig, run_build
from echoground.synth.generate import SynthConfig, generate_cohort

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def is_loopback(address: object) -> bool:
    """Return True for a loopback TCP address or any non-IP address (Unix sockets, in-process pipes)."""
    if not isinstance(address, tuple):
        return True
    return str(address[0]) in LOOPBACK_HOSTS


@pytest.fixture(scope="session")
def network_attempts():
    """Refuse every connection to a non-loopback address for the whole session; list the attempts."""
    attempts: list[object] = []
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded(method):
        def connect(self, address):
            if not is_loopback(address):
                attempts.append(address)
                raise ConnectionRefusedError(f"test blocks non-loopback address {address!r}")
            return method(self, address)

        return connect

    socket.socket.connect = guarded(original_connect)
    socket.socket.connect_ex = guarded(original_connect_ex)
    yield attempts
    socket.socket.connect = original_connect
    socket.socket.connect_ex = original_connect_ex


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    """A cohort of 2 synthetic patients plus the real public files: 7 studies, about 35 DICOM files."""
    out = tmp_path_factory.mktemp("cohort") / "cohort"
    generate_cohort(SynthConfig(out=out, patients=2, frames=(4, 6), files_per_study=(4, 6)))
    return out


def cohort_config(cohort: Path, out: Path, **settings) -> BuildConfig:
    settings.setdefault("batch_size", 2)
    settings.setdefault("view_epochs", 2)
    if "view_model" not in settings:
        settings.setdefault("view_labels", cohort / "ground_truth" / "dicoms.csv")
    return BuildConfig(
        cohort / "mimic-iv-echo", cohort / "mimic-iv-note", cohort / "mimic-iv" / "hosp", out, **settings
    )


@pytest.fixture(scope="session")
def built_run(cohort, tmp_path_factory, network_attempts) -> tuple[BuildConfig, Path]:
    """One build of the cohort with the plain runner, with non-loopback connections refused."""
    config = cohort_config(cohort, tmp_path_factory.mktemp("run") / "run")
    return config, run_build(config)
