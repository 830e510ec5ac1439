"""The echoground entry point: subcommand discovery, help and logging options."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from click.testing import CliRunner

from echoground.cli import SUBCOMMANDS, main
from echoground.logs import JsonLineFormatter, RateLimitedLogger


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert f"  {name} " in result.output


def test_help_imports_no_stage() -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom echoground.cli import main\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('echoground.', 'torch', 'prefect'))))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "torch" not in output
    assert "prefect" not in output
    assert "echoground.synth" not in output


def test_unknown_subcommand_is_usage_error() -> None:
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


def test_json_log_line_carries_ids() -> None:
    record = logging.LogRecord(
        "echoground.dicom", logging.WARNING, __file__, 1, "bad file %s", ("x.dcm",), None
    )
    record.study_id = 90000001
    payload = json.loads(JsonLineFormatter().format(record))
    assert payload["message"] == "bad file x.dcm"
    assert payload["study_id"] == 90000001
    assert payload["level"] == "WARNING"


def test_rate_limited_logger_counts_beyond_limit(caplog) -> None:
    logger = logging.getLogger("echoground.test_rate")
    limited = RateLimitedLogger(logger, limit=2)
    with caplog.at_level(logging.WARNING, logger="echoground.test_rate"):
        for index in range(5):
            limited.warning("corrupt_sample", "sample %d is corrupt", index)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[:2] == ["sample 0 is corrupt", "sample 1 is corrupt"]
    assert len(messages) == 3
    assert limited.summary() == {"corrupt_sample": 5}


def test_missing_input_prints_one_line(tmp_path) -> None:
    result = CliRunner().invoke(main, ["report", "parse", str(tmp_path / "absent.txt")])
    assert result.exit_code == 1
    assert "absent.txt" in result.output
    assert "Traceback" not in result.output


def test_build_checks_roots_first(tmp_path) -> None:
    labels = tmp_path / "views.csv"
    labels.write_text("dicom_filepath,view\n")
    arguments = ["build", "--echo-root", str(tmp_path), "--note-root", str(tmp_path)]
    arguments += ["--hosp-root", str(tmp_path), "--view-labels", str(labels), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    assert "echo-record-list.csv: file not found" in result.output
    assert not (tmp_path / "run").exists()


def test_subcommand_help_exits_zero() -> None:
    result = CliRunner().invoke(main, ["build", "--help"])
    assert result.exit_code == 0
    assert "--profile" in result.output
    assert "Error" not in result.output


def test_echovlm_help_exits_zero() -> None:
    from echovlm.cli import main as echovlm_main

    result = CliRunner().invoke(echovlm_main, ["train", "--help"])
    assert result.exit_code == 0
    assert "Error" not in result.output
