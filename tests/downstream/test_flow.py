"""The Prefect downstream flow, run in a subprocess with a fresh Prefect home and a temporary server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from echovlm.downstream.synthetic import write_lvh

# Starting the temporary Prefect server takes tens of seconds.
pytestmark = pytest.mark.slow


def test_flow_writes_run_and_report(tmp_path):
    root = write_lvh(tmp_path / "lvh", videos=10, size=(32, 40))
    settings = {"image_size": 32, "epochs": 1, "batch_size": 4, "decoder_width": 8}
    code = (
        "import json, sys\n"
        "from flows.downstream import downstream_flow\n"
        "report = downstream_flow(sys.argv[1], 'landmark', sys.argv[2], 'train', json.loads(sys.argv[3]))\n"
        "print('REPORT=' + report)\n"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        # The default of 20 s is too short for the temporary server on a busy 2-core machine.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    }
    completed = subprocess.run(
        [sys.executable, "-c", code, str(root), str(tmp_path / "run"), json.dumps(settings)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = next(line[7:] for line in completed.stdout.splitlines() if line.startswith("REPORT="))
    assert report == str(tmp_path / "run" / "report" / "report.md")
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert "Mean landmark error" in (tmp_path / "run" / "report" / "report.md").read_text()
