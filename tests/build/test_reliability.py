"""Reliability: a build killed at random points and rerun gives the same shards; the flow matches too."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from echoground.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]

# Run in each build subprocess: refuse non-loopback connections and list them in a file.
GUARD = """
import os, socket
_log = os.environ["ECHOGROUND_TEST_NETWORK_LOG"]
_connect = socket.socket.connect
def _guarded(self, address):
    if isinstance(address, tuple) and str(address[0]) not in ("127.0.0.1", "::1", "localhost"):
        with open(_log, "a") as handle:
            handle.write(repr(address) + "\\n")
        raise ConnectionRefusedError(f"test blocks non-loopback address {address!r}")
    return _connect(self, address)
socket.socket.connect = _guarded
"""


def _command(cohort: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "echoground.cli",
        "build",
        "--echo-root",
        str(cohort / "mimic-iv-echo"),
        "--note-root",
        str(cohort / "mimic-iv-note"),
        "--hosp-root",
        str(cohort / "mimic-iv" / "hosp"),
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--view-model",
        str(model),
        *extra,
    ]


def _environment(tmp_path: Path) -> dict[str, str]:
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir(exist_ok=True)
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(guard_dir), str(REPO)])
    environment["ECHOGROUND_TEST_NETWORK_LOG"] = str(tmp_path / "network.log")
    return environment


def _shards(run: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(run)): path.read_bytes()
        for path in sorted((run / "shards").glob("*/*"))
        if path.is_file()
    }


def _assert_accounted(run: Path, cohort: Path) -> None:
    records = pd.read_csv(cohort / "mimic-iv-echo" / "echo-record-list.csv")
    ledger = Ledger.read(run / "ledger.parquet").to_frame()
    assert sorted(ledger.loc[ledger["stage"] == "dicom", "item_id"]) == sorted(records["dicom_filepath"])
    studies = ledger[(ledger["stage"] == "build") & (ledger["item_kind"] == "study")]
    assert set(studies["item_id"]) >= set(records["study_id"].astype(str))


@pytest.mark.slow
def test_killed_build_resumes_identically(built_run, cohort, tmp_path) -> None:
    config, _ = built_run
    run = tmp_path / "killed"
    environment = _environment(tmp_path)
    command = _command(cohort, run, config.out / "view_model", "--engine", "local")
    generator = random.Random(7)
    kills = 0
    for _ in range(3):
        process = subprocess.Popen(
            command, env=environment, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(generator.uniform(3.0, 15.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    finished = subprocess.run(command, env=environment, cwd=REPO, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert kills >= 1
    assert _shards(run) == _shards(config.out)
    _assert_accounted(run, cohort)
    assert not (tmp_path / "network.log").exists()


@pytest.mark.slow
def test_dask_flow_matches_and_rerun_reuses(built_run, cohort, tmp_path) -> None:
    config, _ = built_run
    run = tmp_path / "flow"
    environment = _environment(tmp_path)
    environment["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    dask = _command(cohort, run, config.out / "view_model", "--task-runner", "dask", "--max-workers", "2")
    first = subprocess.run(dask, env=environment, cwd=REPO, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _shards(run) == _shards(config.out)
    _assert_accounted(run, cohort)

    threads = _command(cohort, run, config.out / "view_model", "--task-runner", "threads")
    second = subprocess.run(threads, env=environment, cwd=REPO, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["work"]["computed_parts"] == 0
    assert not (tmp_path / "network.log").exists()
