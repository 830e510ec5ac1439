"""The --profile option: an unknown profile is rejected before any work, listing the known ones."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from echoground.build.config import BuildConfig
from echoground.build.selection import load_profiles
from echoground.build_cli import build, profile_names


def _arguments(tmp_path, profile: str) -> list[str]:
    # The roots do not exist: a run that got past option parsing stops at the root check.
    return [
        "--echo-root",
        str(tmp_path / "echo"),
        "--note-root",
        str(tmp_path / "note"),
        "--hosp-root",
        str(tmp_path / "hosp"),
        "--out",
        str(tmp_path / "run"),
        "--profile",
        profile,
    ]


def test_profile_names_match_profiles_file() -> None:
    assert profile_names() == list(load_profiles())


def test_unknown_profile_rejected_at_once(tmp_path) -> None:
    result = CliRunner().invoke(build, _arguments(tmp_path, "nonsense"))

    assert result.exit_code == 2
    assert "--profile" in result.output
    assert "'nonsense'" in result.output
    for name in load_profiles():
        assert name in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("profile", sorted(load_profiles()))
def test_known_profile_passes_option_check(tmp_path, profile) -> None:
    result = CliRunner().invoke(build, _arguments(tmp_path, profile))

    assert result.exit_code == 2
    assert "--profile" not in result.output
    assert "no view classifier" in result.output


def test_config_rejects_unknown_profile(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown selection profile 'nonsense'") as error:
        BuildConfig(tmp_path, tmp_path, tmp_path, tmp_path / "out", profile="nonsense")

    assert "echoground-mimic" in str(error.value)
    assert "profiles.yaml" in str(error.value)
