"""Caption writing: view content, grades, negations, uncertain views, provenance and hard negatives."""

from __future__ import annotations

import dataclasses
import json
import re

import pandas as pd
import pytest

from echoground.captions import (
    ClipInput,
    LabelInput,
    MeasurementInput,
    build_captions,
    caption_clip,
    findings_key,
    load_templates,
)

NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def clip(view="A4C", kind="b_mode_2d", coarse=None, clip_id="p10_p10000032_s90000001_0001"):
    return ClipInput(clip_id, 10000032, 90000001, kind, view, coarse or view, 0.9)


MEASUREMENTS = [
    MeasurementInput("lvef", 35.0, "%", "m-100", "35", "%"),
    MeasurementInput("lvidd", 5.94, "cm", "m-101", "5.94", "cm"),
    MeasurementInput("ivsd", 1.1, "cm", "m-102", "11", "mm"),
    MeasurementInput("tapse", 15.2, "mm", "m-103", "1.52", "cm"),
    MeasurementInput("av_peak_velocity", 3.2, "m/s", "m-104", "320", "cm/s"),
    MeasurementInput("ivc_diameter", 2.3, "cm", "m-105", "2.3", "cm"),
]

LABELS = [
    LabelInput("lv_systolic_dysfunction", "present", "moderate", "measurement", "lvef_ase_2015"),
    LabelInput("lv_dilation", "present", "mild", "measurement", "lvidd_ase_2015"),
    LabelInput("lv_hypertrophy", "absent", None, "measurement", "ivsd_ase_2015"),
    LabelInput("rv_systolic_dysfunction", "present", "mild", "measurement", "tapse_ase_2015"),
    LabelInput("mitral_regurgitation", "present", "moderate", "cardiologist", "mitral_regurg_field"),
    LabelInput("aortic_stenosis", "present", "moderate", "measurement", "av_vmax_2017"),
    LabelInput("pericardial_effusion", "absent", None, "report", "pericardium_negated"),
    LabelInput("tricuspid_regurgitation", "uncertain", None, "report", "tr_possible"),
    LabelInput("aortic_regurgitation", "not_assessed", None, "report", "not_mentioned"),
]


def write(
    view="A4C", kind="b_mode_2d", coarse=None, labels=LABELS, measurements=MEASUREMENTS, seed=0, **kwargs
):
    return caption_clip(clip(view, kind, coarse, **kwargs), measurements, labels, seed=seed)


def test_a4c_states_lvef_with_grade():
    caption, reason = write("A4C")
    assert reason == "captioned_view"
    assert "LVEF" in caption.text
    assert "35%, moderately reduced" in caption.text


def test_negative_finding_is_negation():
    caption, _ = write("A4C")
    assert re.search(r"No (evidence of )?pericardial effusion", caption.text)


def test_view_states_only_its_content():
    plax, _ = write("PLAX")
    a4c, _ = write("A4C")
    subcostal_ivc, _ = write("SUBCOSTAL_IVC")
    assert "5.9 cm, mildly dilated" in plax.text
    assert "LVEF" not in plax.text
    assert "TAPSE" in a4c.text
    assert "septal thickness" not in a4c.text
    assert "IVC diameter" in subcostal_ivc.text
    assert "LVEF" not in subcostal_ivc.text


def test_doppler_clip_states_valve_flow():
    caption, reason = write("A4C", kind="color_doppler", coarse="Apical_Doppler")
    assert reason == "captioned_view"
    assert caption.template == "Apical_Doppler"
    assert "moderate mitral regurgitation" in caption.text.lower()
    assert "LVEF" not in caption.text


def test_uncertain_and_absent_labels_not_stated():
    caption, _ = write("Apical_Doppler", kind="color_doppler", coarse="Apical_Doppler")
    assert "tricuspid" not in caption.text.lower()
    assert "aortic regurgitation" not in caption.text.lower()


def test_conflicting_label_not_stated():
    labels = [
        dataclasses.replace(label, conflict=True) if label.label_id == "aortic_stenosis" else label
        for label in LABELS
    ]
    caption, _ = write("A4C", kind="color_doppler", coarse="Apical_Doppler", labels=labels)
    assert "stenosis" not in caption.text
    assert "aortic valve peak velocity" in caption.text.lower()


@pytest.mark.parametrize("view", [None, "uncertain", "NOT_A_VIEW"])
def test_uncertain_view_gets_study_level_caption(view):
    caption, reason = write(view)
    assert reason == "captioned_study_level"
    assert caption.level == "study"
    assert caption.text.startswith("Transthoracic echocardiogram.")
    assert "35%, moderately reduced" in caption.text


def test_other_clip_kind_gets_study_level_caption():
    _, reason = write("A4C", kind="other")
    assert reason == "captioned_study_level"


def test_uncertain_view_policy_none_gives_no_caption():
    templates = dataclasses.replace(load_templates(), uncertain_view_policy="none")
    caption, reason = caption_clip(clip("uncertain"), MEASUREMENTS, LABELS, templates=templates)
    assert caption is None
    assert reason == "no_view_template"


def test_no_facts_gives_no_caption():
    caption, reason = write("SUPRASTERNAL")
    assert caption is None
    assert reason == "no_caption_facts"


def test_measurement_in_wrong_unit_skipped():
    measurements = [MeasurementInput("lvef", 0.35, "1", "m-1", "0.35", "")]
    caption, _ = write("A4C", measurements=measurements)
    assert "LVEF" not in caption.text


def test_graded_label_not_repeated_as_finding():
    caption, _ = write("A4C")
    assert "left ventricular systolic dysfunction" not in caption.text


def test_grade_left_out_without_label():
    caption, _ = write("A4C", labels=[])
    assert caption is not None
    assert "reduced" not in caption.text
    assert "LVEF" in caption.text


def test_same_seed_same_caption():
    first, _ = write("A4C", seed=7)
    second, _ = write("A4C", seed=7)
    assert first.text == second.text
    assert [negative.text for negative in first.negatives] == [negative.text for negative in second.negatives]


def test_seeds_and_clips_vary_paraphrase():
    texts = {write("A4C", seed=seed)[0].text for seed in range(20)}
    texts |= {write("A4C", clip_id=f"p10_p10000032_s90000001_{index:04d}")[0].text for index in range(20)}
    assert len(texts) > 3


@pytest.mark.parametrize(
    "view, kind, coarse",
    [
        ("A4C", "b_mode_2d", None),
        ("PLAX", "b_mode_2d", None),
        ("PLAX", "m_mode", None),
        ("SUBCOSTAL_IVC", "b_mode_2d", None),
        ("A4C", "spectral_doppler", "Apical_Doppler"),
        ("uncertain", "b_mode_2d", None),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_number_traces_to_provenance(view, kind, coarse, seed):
    caption, _ = write(view, kind, coarse, seed=seed)
    numbers = caption.provenance["numbers"]
    spans = {tuple(entry["span"]): entry for entry in numbers}
    by_id = {measurement.measurement_id: measurement for measurement in MEASUREMENTS}
    templates = load_templates()
    found = list(NUMBER.finditer(caption.text))
    assert len(found) == len(numbers), caption.text
    for match in found:
        entry = spans.get((match.start(), match.end()))
        assert entry is not None, (
            f"{match.group()!r} at {match.start()} in {caption.text!r} has no provenance"
        )
        source = by_id[entry["measurement_id"]]
        decimals = templates.measurements[entry["measurement"]].decimals
        assert float(match.group()) == pytest.approx(round(source.value, decimals))
        assert entry["raw_value"] == source.raw_value
        assert entry["raw_unit"] == source.raw_unit
        assert entry["unit"] == source.unit


def test_findings_provenance_names_label_source_rule():
    caption, _ = write("A4C")
    by_label = {entry["label_id"]: entry for entry in caption.provenance["findings"]}
    effusion = by_label["pericardial_effusion"]
    assert effusion["state"] == "absent"
    assert effusion["source"] == "report"
    assert effusion["rule_id"] == "pericardium_negated"
    start, end = by_label["lv_systolic_dysfunction"]["span"]
    assert caption.text[start:end] == "moderately reduced"


def test_negative_flips_absent_to_present():
    caption, _ = write("A4C")
    flips = [negative for negative in caption.negatives if negative.label == "pericardial_effusion"]
    assert len(flips) == 1
    assert flips[0].flip == "polarity"
    assert flips[0].state == "present"
    assert "Small pericardial effusion." in flips[0].text


def test_negative_flips_present_to_absent_and_grade():
    caption, _ = write("A4C", kind="color_doppler", coarse="Apical_Doppler")
    by_flip = {
        negative.flip: negative for negative in caption.negatives if negative.label == "mitral_regurgitation"
    }
    assert {flip: negative.state for flip, negative in by_flip.items()} == {
        "polarity": "absent",
        "grade": "present",
    }
    flips = {flip: negative.text for flip, negative in by_flip.items()}
    assert re.search(r"No (evidence of )?mitral regurgitation", flips["polarity"])
    assert "moderate mitral regurgitation" not in flips["grade"].lower()
    assert "mitral regurgitation" in flips["grade"].lower()


def test_negative_flips_measurement_grade():
    caption, _ = write("A4C")
    flips = [negative for negative in caption.negatives if negative.label == "lv_systolic_dysfunction"]
    assert [negative.flip for negative in flips] == ["grade"]
    # The caption states a moderately reduced LVEF; its farthest grade, normal, denies the label.
    assert flips[0].state == "absent"
    assert "35%, normal" in flips[0].text


def test_negatives_differ_from_caption_and_each_other():
    caption, _ = write("A4C")
    texts = [negative.text for negative in caption.negatives]
    assert caption.text not in texts
    assert len(set(texts)) == len(texts)


def test_findings_key_changes_with_state():
    base = findings_key(LABELS)
    changed = [dataclasses.replace(LABELS[0], severity="severe"), *LABELS[1:]]
    assert findings_key(reversed(LABELS)) == base
    assert findings_key(changed) != base


def test_build_captions_table_and_ledger():
    clips = pd.DataFrame(
        {
            "clip_id": [
                "p10_p10000032_s90000001_0002",
                "p10_p10000032_s90000001_0001",
                "p10_p10000032_s90000001_0003",
            ],
            "subject_id": [10000032] * 3,
            "study_id": [90000001] * 3,
            "clip_kind": ["b_mode_2d", "b_mode_2d", "b_mode_2d"],
            "view": ["PLAX", "A4C", "SUPRASTERNAL"],
            "view_coarse": ["PLAX", "A4C", "Suprasternal"],
            "view_confidence": [0.9, 0.8, 0.95],
        }
    )
    measurements = pd.DataFrame([dataclasses.asdict(m) | {"study_id": 90000001} for m in MEASUREMENTS])
    labels = pd.DataFrame([dataclasses.asdict(label) | {"study_id": 90000001} for label in LABELS])
    table, ledger = build_captions(clips, measurements, labels, seed=3)
    assert list(table["clip_id"]) == ["p10_p10000032_s90000001_0001", "p10_p10000032_s90000001_0002"]
    assert {entry.reason for entry in ledger} == {"captioned_view", "no_caption_facts"}
    assert len(ledger) == 3
    plax = next(entry for entry in ledger if entry.item_id.endswith("_0002"))
    assert plax.message.startswith(
        "clip p10_p10000032_s90000001_0002: clip-level caption from template 'PLAX' version 3"
    )
    assert all(entry.message for entry in ledger)
    negatives = json.loads(table.loc[0, "negatives"])
    assert all(set(negative) == {"text", "label", "flip", "state"} for negative in negatives)
    assert json.loads(table.loc[0, "provenance"])["numbers"]


def test_build_captions_missing_column_named():
    with pytest.raises(ValueError, match="clip_kind"):
        build_captions(
            pd.DataFrame({"clip_id": ["a"], "subject_id": [1], "study_id": [2]}),
            pd.DataFrame(),
            pd.DataFrame(),
        )
