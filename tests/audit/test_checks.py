"""Consistency checks: a clean run flags nothing; each planted error is flagged at its clip and item."""

from __future__ import annotations

import json

import pandas as pd

from echoground.audit.checks import CHECKS, flagged_clips, run_checks

A4C_CLIP = "p10_p10000001_s90000001_0001"
A4C_TWIN = "p10_p10000001_s90000001_0002"
STUDY_LEVEL_CLIP = "p10_p10000001_s90000001_0003"
PLAX_CLIP = "p10_p10000002_s90000002_0001"
CAPTION_CHECKS = [check.name for check in CHECKS if check.kind == "caption"]


def load(run_dir):
    return (
        pd.read_parquet(run_dir / "captions.parquet"),
        pd.read_parquet(run_dir / "measurements.parquet"),
        pd.read_parquet(run_dir / "labels.parquet"),
    )


def edit_caption(captions, clip_id, old, new):
    """Replace ``old`` by ``new`` in one caption and move the provenance spans after it, as a writer would."""
    index = captions.index[captions["clip_id"] == clip_id][0]
    text = captions.at[index, "caption"]
    at = text.index(old)
    shift = len(new) - len(old)
    provenance = json.loads(captions.at[index, "provenance"])
    for entry in [*provenance["numbers"], *provenance["findings"]]:
        start, end = entry["span"]
        if start >= at + len(old):
            entry["span"] = [start + shift, end + shift]
        elif end > at:
            entry["span"] = [start, end + shift]
    captions.at[index, "caption"] = text[:at] + new + text[at + len(old) :]
    captions.at[index, "provenance"] = json.dumps(provenance)


def edit_provenance(captions, clip_id, kind, key, match, field, value):
    index = captions.index[captions["clip_id"] == clip_id][0]
    provenance = json.loads(captions.at[index, "provenance"])
    for entry in provenance[kind]:
        if entry[key] == match:
            entry[field] = value
    captions.at[index, "provenance"] = json.dumps(provenance)


def issues_of(issues, check):
    return [(issue.clip_id, issue.item) for issue in issues[check]]


def test_clean_run_flags_no_caption(built_run):
    issues = run_checks(*load(built_run))
    for check in CAPTION_CHECKS:
        assert issues[check] == [], check
    assert flagged_clips(issues) == {}


def test_clean_run_lists_label_conflict(built_run):
    issues = run_checks(*load(built_run))
    assert issues_of(issues, "label_sources") == [(None, "tricuspid_regurgitation")]
    assert issues["label_sources"][0].study_id == 90000001


def test_changed_number_in_caption_flagged(built_run):
    captions, measurements, labels = load(built_run)
    edit_caption(captions, A4C_CLIP, "35%", "36%")
    issues = run_checks(captions, measurements, labels)
    assert issues_of(issues, "number_value") == [(A4C_CLIP, "lvef")]
    assert issues["number_value"][0].expected == "35"
    assert issues["number_value"][0].found == "36"


def test_changed_source_measurement_flagged(built_run):
    captions, measurements, labels = load(built_run)
    measurements.loc[(measurements["study_id"] == 90000001) & (measurements["name"] == "lvef"), "value"] = (
        45.0
    )
    issues = run_checks(captions, measurements, labels)
    assert sorted(issues_of(issues, "number_value")) == [
        (A4C_CLIP, "lvef"),
        (A4C_TWIN, "lvef"),
        (STUDY_LEVEL_CLIP, "lvef"),
    ]


def test_rounding_within_decimals_not_flagged(built_run):
    captions, measurements, labels = load(built_run)
    # LVEF is shown with 0 decimals, so 35.4 still reads "35" and 35.5 no longer does.
    lvef = (measurements["study_id"] == 90000003) & (measurements["name"] == "lvef")
    measurements.loc[lvef, "value"] = 58.4
    assert run_checks(captions, measurements, labels)["number_value"] == []
    measurements.loc[lvef, "value"] = 58.6
    assert issues_of(run_checks(captions, measurements, labels), "number_value") == [
        ("p10_p10000002_s90000003_0001", "lvef")
    ]


def test_wrong_unit_in_caption_flagged(built_run):
    captions, measurements, labels = load(built_run)
    edit_caption(captions, A4C_CLIP, "21 mm", "21 cm")
    issues = run_checks(captions, measurements, labels)
    assert issues_of(issues, "number_unit") == [(A4C_CLIP, "tapse")]
    assert issues["number_value"] == []


def test_wrong_unit_in_measurements_flagged(built_run):
    captions, measurements, labels = load(built_run)
    measurements.loc[measurements["name"] == "tapse", "unit"] = "cm"
    issues = run_checks(captions, measurements, labels)
    flagged = {clip_id for clip_id, item in issues_of(issues, "number_unit") if item == "tapse"}
    assert flagged == {A4C_CLIP, A4C_TWIN}


def test_flipped_polarity_in_caption_flagged(built_run):
    captions, measurements, labels = load(built_run)
    edit_caption(captions, A4C_CLIP, "No evidence of pericardial effusion", "Small pericardial effusion")
    issues = run_checks(captions, measurements, labels)
    assert issues_of(issues, "finding_text") == [(A4C_CLIP, "pericardial_effusion")]


def test_flipped_polarity_in_labels_flagged(built_run):
    captions, measurements, labels = load(built_run)
    effusion = (labels["study_id"] == 90000002) & (labels["label_id"] == "pericardial_effusion")
    labels.loc[effusion, ["state", "severity"]] = ["present", "mild"]
    issues = run_checks(captions, measurements, labels)
    assert (PLAX_CLIP, "pericardial_effusion") in issues_of(issues, "finding_label")
    assert (PLAX_CLIP, "pericardial_effusion") in issues_of(issues, "finding_text")


def test_flipped_polarity_in_provenance_flagged(built_run):
    captions, measurements, labels = load(built_run)
    edit_provenance(captions, PLAX_CLIP, "findings", "label_id", "aortic_stenosis", "state", "present")
    issues = run_checks(captions, measurements, labels)
    assert issues_of(issues, "finding_label") == [(PLAX_CLIP, "aortic_stenosis")]


def test_changed_grade_word_flagged(built_run):
    captions, measurements, labels = load(built_run)
    edit_caption(captions, A4C_CLIP, "mildly enlarged", "severely enlarged")
    issues = run_checks(captions, measurements, labels)
    assert issues_of(issues, "finding_text") == [(A4C_CLIP, "la_enlargement")]


def test_changed_label_grade_flagged(built_run):
    captions, measurements, labels = load(built_run)
    dilation = (labels["study_id"] == 90000001) & (labels["label_id"] == "lv_dilation")
    labels.loc[dilation, "severity"] = "severe"
    flagged = {
        clip_id for clip_id, item in issues_of(run_checks(captions, measurements, labels), "finding_label")
    }
    assert flagged == {A4C_CLIP, A4C_TWIN, STUDY_LEVEL_CLIP}


def test_stated_conflicting_label_flagged(built_run):
    captions, measurements, labels = load(built_run)
    labels.loc[labels["label_id"] == "la_enlargement", "conflict"] = True
    issues = run_checks(captions, measurements, labels)
    assert {(A4C_CLIP, "la_enlargement"), (A4C_TWIN, "la_enlargement")} <= set(
        issues_of(issues, "finding_label")
    )


def test_number_without_provenance_flagged(built_run):
    captions, measurements, labels = load(built_run)
    edit_caption(
        captions, PLAX_CLIP, "No pericardial effusion.", "No pericardial effusion. Heart rate 72 bpm."
    )
    issues = run_checks(captions, measurements, labels)
    assert issues_of(issues, "number_provenance") == [(PLAX_CLIP, "72")]


def test_study_captions_disagree_flagged(built_run):
    captions, measurements, labels = load(built_run)
    edit_provenance(captions, A4C_TWIN, "findings", "label_id", "lv_dilation", "severity", "moderate")
    issues = run_checks(captions, measurements, labels)
    assert issues_of(issues, "study_agreement") == [(A4C_TWIN, "label lv_dilation")]


def test_negative_equal_to_caption_flagged(built_run):
    captions, measurements, labels = load(built_run)
    index = captions.index[captions["clip_id"] == PLAX_CLIP][0]
    negatives = json.loads(captions.at[index, "negatives"])
    negatives[0]["text"] = captions.at[index, "caption"]
    captions.at[index, "negatives"] = json.dumps(negatives)
    issues = run_checks(captions, measurements, labels)
    assert issues_of(issues, "negatives") == [(PLAX_CLIP, negatives[0]["label"])]
