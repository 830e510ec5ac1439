"""The --patients and --real help of `echoground synth` states that --real adds one patient."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from echoground.synth.cli import synth


def _help_text() -> str:
    result = CliRunner().invoke(synth, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_patients_help_counts_real_patient() -> None:
    text = _help_text()

    assert "one more patient" in text
    assert "--patients 0 writes 1 patient" in text


def test_real_help_says_extra_patient() -> None:
    assert "one extra patient, on top of --patients" in _help_text()


def test_zero_patients_with_real_writes_one(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    arguments = ["--patients", "0", "--out", str(out), "--real", "--no-progress"]

    result = CliRunner().invoke(synth, arguments)

    assert result.exit_code == 0, result.output
    assert "Wrote 1 patients" in result.output


def test_zero_patients_without_real_writes_none(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    arguments = ["--patients", "0", "--out", str(out), "--no-real", "--no-progress"]

    result = CliRunner().invoke(synth, arguments)

    assert result.exit_code == 0, result.output
    assert "Wrote 0 patients" in result.output
