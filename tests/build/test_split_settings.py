"""Split ratios and salt of the build: validation, the CLI option and their effect on the run."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest
from click.testing import CliRunner

from echoground.build import run_build
from echoground.build.config import BuildConfig
from echoground.cli import main


def test_default_ratios_and_salt(tmp_path) -> None:
    config = BuildConfig(tmp_path, tmp_path, tmp_path, tmp_path / "out")
    assert config.split_ratios == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert config.split_salt == "echoground-v1"


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ({"train": 0.8, "val": 0.1, "test": 0.2}, "sum to 1.1"),
        ({"train": 1.1, "val": -0.1, "test": 0.0}, "'val' is -0.1"),
        ({"train": 0.9, "val": 0.1}, "missing \\['test'\\]"),
    ],
)
def test_invalid_ratios_rejected(tmp_path, ratios, message) -> None:
    with pytest.raises(ValueError, match=message):
        BuildConfig(tmp_path, tmp_path, tmp_path, tmp_path / "out", split_ratios=ratios)


def test_empty_salt_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="split_salt"):
        BuildConfig(tmp_path, tmp_path, tmp_path, tmp_path / "out", split_salt="")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.5,0.5", "expected 3 numbers"),
        ("0.6,0.2,x", "could not convert"),
        ("0.6,0.2,0.3", "sum to"),
    ],
)
def test_cli_split_ratios_errors(tmp_path, value, message) -> None:
    result = CliRunner().invoke(main, ["build", "--split-ratios", value, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "--split-ratios" in result.output
    assert message in result.output


def test_all_patients_in_test_split(built_run, tmp_path) -> None:
    """Ratios 0/0/1 put every clip and shard sample in test; the view model is reused to save time."""
    first_config, _ = built_run
    config = replace(
        first_config,
        out=tmp_path / "run",
        view_model=first_config.out / "view_model",
        view_labels=None,
        split_ratios={"train": 0.0, "val": 0.0, "test": 1.0},
    )
    run_build(config)
    out = config.out
    clips = pd.read_parquet(out / "clips.parquet")
    assert len(clips) > 0
    assert set(clips["split"]) == {"test"}
    test_sizes = json.loads((out / "shards" / "test" / "sizes.json").read_text())
    assert sum(test_sizes.values()) > 0
    assert not list((out / "shards" / "train").glob("shard-*.tar"))
