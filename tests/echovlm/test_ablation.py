"""The loss ablation runner: variant choice, existing shards and the result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echovlm.ablation import run_ablation


def test_ablation_on_existing_shards(synthetic_shards: Path, tmp_path: Path) -> None:
    results = run_ablation(
        tmp_path / "ablation",
        subjects=0,
        steps=2,
        batch_size=8,
        seed=0,
        threads=1,
        shards=synthetic_shards,
        image_size=32,
        variants=("clip", "clip+negation"),
        num_frames=2,
    )
    assert list(results) == ["clip", "clip+negation"]
    saved_config = json.loads((tmp_path / "ablation" / "clip" / "train_config.json").read_text())
    assert saved_config["loader"]["num_frames"] == 2
    assert results["clip"]["loss"]["negation_weight"] == 0.0
    assert results["clip+negation"]["loss"]["negation_weight"] == 0.5
    # The given shards are used, so no synthetic shards are written into the output folder.
    assert not (tmp_path / "ablation" / "shards").exists()
    saved = json.loads((tmp_path / "ablation" / "ablation.json").read_text())
    assert saved.keys() == results.keys()
    for entry in results.values():
        assert 0.0 <= entry["mean_zero_shot_auc"] <= 1.0
        assert set(entry["negation_by_flip"]) <= {"polarity", "grade"}
        assert all(key.startswith("polarity:") for key in entry["negation_by_direction"])
    table = (tmp_path / "ablation" / "ablation.md").read_text()
    assert "| clip+negation |" in table

    # Without --shards, --evaluate-only uses the shards the run recorded.
    assert results["clip"]["shards"] == str(synthetic_shards.resolve())
    again = run_ablation(
        tmp_path / "ablation",
        subjects=0,
        steps=2,
        batch_size=8,
        seed=0,
        threads=1,
        image_size=32,
        variants=("clip",),
        evaluate_only=True,
        num_frames=2,
    )
    assert not (tmp_path / "ablation" / "shards").exists()
    # The same exported model gives the same metrics, and the training minutes are carried over.
    assert again["clip"]["mean_zero_shot_auc"] == results["clip"]["mean_zero_shot_auc"]
    assert again["clip"]["train_minutes"] == results["clip"]["train_minutes"]


def test_evaluate_only_needs_trained_models(synthetic_shards: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="exported model not found"):
        run_ablation(tmp_path, 0, 1, 8, 0, 1, shards=synthetic_shards, variants=("clip",), evaluate_only=True)


def test_ablation_rejects_unknown_variant(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="clip\\+magic"):
        run_ablation(tmp_path, 0, 1, 8, 0, 1, variants=("clip+magic",))


def test_ablation_rejects_folder_without_shards(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"sizes\.json"):
        run_ablation(tmp_path / "out", 0, 1, 8, 0, 1, shards=tmp_path / "missing")


@pytest.mark.parametrize(
    ("option", "value"),
    [("--steps", "0"), ("--batch-size", "1"), ("--image-size", "31"), ("--num-frames", "0")],
)
def test_ablation_cli_rejects_bad_value(option: str, value: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from echovlm.ablation import main

    result = CliRunner().invoke(main, ["--out", str(tmp_path / "out"), option, value])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output
    assert not (tmp_path / "out").exists()


def test_evaluate_only_rejects_other_shards(synthetic_shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "ablation"
    out.mkdir()
    (out / "ablation.json").write_text(json.dumps({"clip": {"shards": str(tmp_path / "built")}}))
    with pytest.raises(ValueError, match="differs from"):
        run_ablation(out, 0, 1, 8, 0, 1, shards=synthetic_shards, variants=("clip",), evaluate_only=True)
    # With nothing recorded and no --shards, the evaluation raises instead of writing synthetic shards.
    (out / "ablation.json").write_text(json.dumps({}))
    with pytest.raises(ValueError, match="pass --shards"):
        run_ablation(out, 0, 1, 8, 0, 1, variants=("clip",), evaluate_only=True)
    assert not (out / "shards").exists()


def test_ablation_cli_help_and_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from echovlm.ablation import main

    assert "--num-frames" in CliRunner().invoke(main, ["-h"]).output
    result = CliRunner().invoke(
        main, ["--out", str(tmp_path / "out"), "--evaluate-only", "--variant", "clip"]
    )
    assert result.exit_code == 1
    assert "does not record the shards" in result.output
    assert "Traceback" not in result.output
