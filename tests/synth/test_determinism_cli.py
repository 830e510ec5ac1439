"""Same seed gives byte-identical trees; the command rejects bad arguments with clear usage errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from echoground.synth import SynthConfig, generate_cohort
from echoground.synth.cli import synth


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _tiny(out: Path, seed: int) -> SynthConfig:
    return SynthConfig(
        out=out, patients=2, seed=seed, frames=(2, 3), files_per_study=(26, 27), include_real=False
    )


def test_same_seed_byte_identical(tmp_path: Path) -> None:
    generate_cohort(_tiny(tmp_path / "a", 7))
    generate_cohort(_tiny(tmp_path / "b", 7))
    first, second = _tree_hashes(tmp_path / "a"), _tree_hashes(tmp_path / "b")
    assert len(first) > 20
    assert first == second


def test_other_seed_differs(tmp_path: Path) -> None:
    generate_cohort(_tiny(tmp_path / "a", 7))
    generate_cohort(_tiny(tmp_path / "b", 8))
    assert _tree_hashes(tmp_path / "a") != _tree_hashes(tmp_path / "b")


def test_cli_writes_cohort(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = [
        "--patients",
        "1",
        "--seed",
        "2",
        "--out",
        str(out),
        "--frames",
        "2-3",
        "--files-per-study",
        "15-15",
        "--no-real",
        "--no-progress",
    ]
    result = CliRunner().invoke(synth, args)
    assert result.exit_code == 0, result.output
    assert "Wrote 1 patients" in result.output
    assert (out / "mimic-iv-echo" / "echo-record-list.csv").is_file()


def test_cli_rejects_negative_patients(tmp_path: Path) -> None:
    result = CliRunner().invoke(synth, ["--patients", "-3", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--patients" in result.output
    assert "-3" in result.output


def test_cli_rejects_bad_frame_range(tmp_path: Path) -> None:
    result = CliRunner().invoke(synth, ["--frames", "60-30", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--frames" in result.output
    assert "60-30" in result.output


def test_cli_rejects_single_frame_cines(tmp_path: Path) -> None:
    result = CliRunner().invoke(synth, ["--frames", "1-5", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--frames" in result.output
    assert "at least 2 frames" in result.output


def test_cli_rejects_non_empty_out(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file.txt").write_text("x")
    result = CliRunner().invoke(synth, ["--out", str(tmp_path / "full"), "--no-progress"])
    assert result.exit_code == 2
    assert "--out" in result.output
    assert "not empty" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_cli_rejects_unwritable_out(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = CliRunner().invoke(synth, ["--out", str(locked / "demo"), "--no-progress"])
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2
    assert "--out" in result.output
    assert "cannot write" in result.output


def test_cli_rejects_out_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    result = CliRunner().invoke(synth, ["--out", str(tmp_path / "plain-file" / "demo"), "--no-progress"])
    assert result.exit_code == 2
    assert "--out" in result.output
    assert "cannot write" in result.output
