"""View vocabulary: aliases, coarse classes per clip kind, and errors for bad names and bad files."""

from __future__ import annotations

import pytest
import yaml

from echoground.views.vocabulary import (
    DEFAULT_VOCABULARY_PATH,
    UnknownViewError,
    VocabularyError,
    load_vocabulary,
    normalize_name,
)


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocabulary()


def test_shipped_vocabulary_has_eleven_coarse_views(vocabulary) -> None:
    assert len(vocabulary.coarse) == 11
    assert vocabulary.version == 2


@pytest.mark.parametrize(
    ("name", "fine"),
    [
        ("A4C", "A4C"),
        ("a4c", "A4C"),
        ("ap4", "A4C"),
        ("Apical 4-chamber", "A4C"),
        ("apical_long_axis", "A3C"),
        ("psax_av", "PSAX_AV"),
        ("Parasternal long axis", "PLAX"),
        (" ssn ", "SUPRASTERNAL"),
    ],
)
def test_to_fine_accepts_aliases(vocabulary, name: str, fine: str) -> None:
    assert vocabulary.to_fine(name) == fine


def test_unknown_view_names_value_and_source(vocabulary) -> None:
    with pytest.raises(UnknownViewError) as caught:
        vocabulary.to_fine("A6C", source="labels.csv line 7")
    assert "'A6C'" in str(caught.value)
    assert "labels.csv line 7" in str(caught.value)


def test_normalize_name_folds_separators() -> None:
    assert normalize_name("psax - mitral/valve") == "PSAX_MITRAL_VALVE"


def test_every_fine_view_has_a_known_coarse_view(vocabulary) -> None:
    for view in vocabulary.fine.values():
        assert view.coarse in vocabulary.coarse


@pytest.mark.parametrize(
    ("kind", "view", "window", "expected"),
    [
        ("b_mode_2d", "PSAX_PM", None, "PSAX"),
        ("b_mode_2d", "ap2", None, "A2C"),
        ("color_doppler", None, "apical", "Apical_Doppler"),
        ("color_doppler", "PLAX", None, "PLAX_Doppler"),
        ("spectral_doppler", "PSAX_AV", None, "PSAX_Doppler"),
        ("spectral_doppler", "A5C", None, "Apical_Doppler"),
        ("color_doppler", "SUBCOSTAL_4C", None, "color_doppler"),
        ("color_doppler", None, None, "color_doppler"),
        ("spectral_doppler", None, "unknown_window", "spectral_doppler"),
        ("m_mode", "PLAX", None, "m_mode"),
        ("other", None, None, "other"),
    ],
)
def test_coarse_for_clip_by_kind(vocabulary, kind, view, window, expected) -> None:
    assert vocabulary.coarse_for_clip(kind, view=view, window=window) == expected


def test_coarse_for_clip_rejects_unknown_kind(vocabulary) -> None:
    with pytest.raises(VocabularyError, match="'doppler_3d'"):
        vocabulary.coarse_for_clip("doppler_3d", view="A4C")


def test_b_mode_without_view_is_an_error(vocabulary) -> None:
    with pytest.raises(ValueError, match="needs a view"):
        vocabulary.coarse_for_clip("b_mode_2d")


def _write_variant(tmp_path, change) -> str:
    data = yaml.safe_load(DEFAULT_VOCABULARY_PATH.read_text())
    change(data)
    path = tmp_path / "vocabulary.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_alias_to_unknown_fine_view_is_rejected(tmp_path) -> None:
    path = _write_variant(tmp_path, lambda data: data["aliases"].update({"AP6": "A6C"}))
    with pytest.raises(VocabularyError, match="alias 'AP6' maps to unknown fine view 'A6C'"):
        load_vocabulary(path)


def test_fine_view_with_unknown_coarse_is_rejected(tmp_path) -> None:
    path = _write_variant(
        tmp_path, lambda data: data["fine"].update({"RV_INFLOW": {"coarse": "RV", "window": "x"}})
    )
    with pytest.raises(VocabularyError, match="'RV_INFLOW' maps to unknown coarse view 'RV'"):
        load_vocabulary(path)


def test_doppler_window_of_no_view_is_rejected(tmp_path) -> None:
    path = _write_variant(
        tmp_path, lambda data: data["doppler_coarse_by_window"].update({"parasternal": "PLAX"})
    )
    with pytest.raises(VocabularyError, match="'parasternal' is the window of no fine view"):
        load_vocabulary(path)


def test_missing_section_is_rejected(tmp_path) -> None:
    path = _write_variant(tmp_path, lambda data: data.pop("coarse"))
    with pytest.raises(VocabularyError, match="missing section 'coarse'"):
        load_vocabulary(path)


def test_missing_vocabulary_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_vocabulary(tmp_path / "nope.yaml")
