"""The caption templates file: it loads, every reference resolves, and bad files are rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from echoground.captions.templates import TEMPLATES_PATH, load_templates

VOCABULARY = yaml.safe_load((Path(__file__).parents[2] / "echoground/views/vocabulary.yaml").read_text())


def test_templates_load():
    templates = load_templates()
    assert templates.version >= 1
    assert templates.uncertain_view_policy in ("study_level", "none")


def test_every_fine_view_has_template():
    templates = load_templates()
    assert set(VOCABULARY["fine"]) == set(templates.views)


def test_doppler_templates_use_coarse_views():
    templates = load_templates()
    assert set(templates.doppler) <= set(VOCABULARY["coarse"])


def _broken(tmp_path, edit):
    raw = yaml.safe_load(TEMPLATES_PATH.read_text())
    edit(raw)
    path = tmp_path / "templates.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_unknown_finding_rejected(tmp_path):
    path = _broken(tmp_path, lambda raw: raw["views"]["A4C"]["findings"].append("not_a_label"))
    with pytest.raises(ValueError, match="not_a_label"):
        load_templates(path)


def test_unknown_sentence_field_rejected(tmp_path):
    path = _broken(tmp_path, lambda raw: raw["sentences"]["finding_absent"].append("no {severity} {name}"))
    with pytest.raises(ValueError, match="severity"):
        load_templates(path)


def test_bad_policy_rejected(tmp_path):
    path = _broken(tmp_path, lambda raw: raw.update(uncertain_view_policy="guess"))
    with pytest.raises(ValueError, match="uncertain_view_policy"):
        load_templates(path)


def test_missing_key_named(tmp_path):
    path = _broken(tmp_path, lambda raw: raw.pop("study_level"))
    with pytest.raises(ValueError, match="study_level"):
        load_templates(path)
