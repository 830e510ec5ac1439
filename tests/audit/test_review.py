"""Review round-trip: stratified sample export, ratings scoring and agreement between raters."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score

from echoground.audit.cli import audit
from echoground.audit.review import (
    SAMPLE_COLUMNS,
    RatingsError,
    export_sample,
    score_ratings,
    stratified_sample,
)

A4C_CLIP = "p10_p10000001_s90000001_0001"
A4C_TWIN = "p10_p10000001_s90000001_0002"
STUDY_LEVEL_CLIP = "p10_p10000001_s90000001_0003"
PLAX_CLIP = "p10_p10000002_s90000002_0001"
A4C_OTHER = "p10_p10000002_s90000003_0001"


def strata_items(sizes):
    rows = []
    for (view, template), size in sizes.items():
        rows += [
            {"clip_id": f"{view}_{index:03d}", "view": view, "template": template} for index in range(size)
        ]
    return pd.DataFrame(rows)


def test_sample_keeps_every_stratum():
    items = strata_items({("A4C", "A4C"): 80, ("PLAX", "PLAX"): 15, ("none", "study_level"): 5})
    sample = stratified_sample(items, 10, seed=1)
    assert len(sample) == 10
    counts = sample["view"].value_counts().to_dict()
    assert counts == {"A4C": 7, "PLAX": 2, "none": 1}


def test_sample_fewer_than_strata():
    items = strata_items({("A4C", "A4C"): 3, ("PLAX", "PLAX"): 3, ("none", "study_level"): 3})
    assert len(stratified_sample(items, 2, seed=0)) == 2


def test_sample_same_seed_same_rows():
    items = strata_items({("A4C", "A4C"): 30, ("PLAX", "PLAX"): 30})
    first = stratified_sample(items, 7, seed=3)["clip_id"].tolist()
    assert stratified_sample(items, 7, seed=3)["clip_id"].tolist() == first
    assert stratified_sample(items, 7, seed=4)["clip_id"].tolist() != first


def test_sample_larger_than_run_returns_all():
    items = strata_items({("A4C", "A4C"): 3})
    assert len(stratified_sample(items, 10)) == 3


def test_export_sample_csv(built_run, tmp_path):
    out = tmp_path / "sample.csv"
    frame = export_sample(built_run, out, n=5)
    written = pd.read_csv(out, dtype="string", keep_default_na=False)
    assert list(written.columns) == SAMPLE_COLUMNS
    assert len(written) == len(frame) == 5
    for column in ("rater", "caption_correct", "view_correct", "wrong_facts", "comment"):
        assert (written[column] == "").all(), column
    a4c = written.loc[written["item_id"] == A4C_CLIP].iloc[0]
    assert a4c["facts"].startswith("N1: 35 % = lvef (measurement 1001, raw 35 %)")
    assert "F1: 'moderately reduced' = lv_systolic_dysfunction present moderate" in a4c["facts"]
    assert "PERICARDIUM: No pericardial effusion." in a4c["report_sentences"]
    assert "Mild (1+) MR." in a4c["report_sentences"]
    assert a4c["report_sentences"].startswith("TTE (Complete)")
    assert "LVEF = 35 %." not in a4c["report_sentences"]


def ratings_file(path, rater, rows):
    frame = pd.DataFrame(
        [
            {
                "item_id": item,
                "rater": rater,
                "caption_correct": correct,
                "view_correct": view,
                "wrong_facts": wrong,
            }
            for item, correct, view, wrong in rows
        ]
    )
    frame.to_csv(path, index=False)
    return path


def two_raters(tmp_path):
    first = ratings_file(
        tmp_path / "first.csv",
        "ana",
        [
            (A4C_CLIP, "no", "yes", "N1"),
            (A4C_TWIN, "yes", "yes", ""),
            (STUDY_LEVEL_CLIP, "yes", "", ""),
            (PLAX_CLIP, "no", "no", "F1"),
            (A4C_OTHER, "unsure", "yes", ""),
        ],
    )
    second = ratings_file(
        tmp_path / "second.csv",
        "ben",
        [
            (A4C_CLIP, "no", "yes", "N1;F1"),
            (A4C_TWIN, "no", "yes", "N2"),
            (STUDY_LEVEL_CLIP, "yes", "", ""),
            (PLAX_CLIP, "yes", "yes", ""),
            (A4C_OTHER, "yes", "yes", ""),
        ],
    )
    return first, second


def table(report, title):
    return {row[0]: row[1:] for row in next(t for t in report.tables if t.title == title).rows}


def test_score_error_rate_per_template(built_run, tmp_path):
    report = score_ratings(built_run, list(two_raters(tmp_path)))
    rates = table(report, "Caption error rate per template")
    # A4C: ana rates clip 0001 no, its twin yes and study 90000003's clip unsure, which is left out.
    # Ben rates clip 0001 no, its twin no and study 90000003's clip yes.
    assert rates["A4C"] == [3, 5, "60.0%"]
    assert rates["PLAX"] == [1, 2, "50.0%"]
    assert rates["study_level"] == [0, 2, "0.0%"]


def test_score_error_rate_per_view_and_rule(built_run, tmp_path):
    report = score_ratings(built_run, list(two_raters(tmp_path)))
    views = table(report, "Caption error rate per view")
    assert views["A4C"] == [3, 5, "60.0%"]
    rules = table(report, "Fact error rate per rule")
    # lvef appears in 4 A4C ratings and 2 study-level ratings (N1 of each), wrong in 2.
    assert rules["measurement:lvef"] == [2, 8, "25.0%"]
    assert rules["as_baumgartner2017"] == [1, 2, "50.0%"]


def test_score_kappa_matches_sklearn(built_run, tmp_path):
    report = score_ratings(built_run, list(two_raters(tmp_path)))
    agreement = next(t for t in report.tables if t.title == "Agreement between raters")
    caption_row = next(row for row in agreement.rows if row[0] == "caption_correct")
    expected = cohen_kappa_score(
        ["no", "yes", "yes", "no", "unsure"],
        ["no", "no", "yes", "yes", "yes"],
        labels=["yes", "no", "unsure"],
    )
    assert caption_row[1:4] == ["ana", "ben", 5]
    assert caption_row[4] == "40.0%"
    assert caption_row[5] == f"{expected:.3f}"
    view_row = next(row for row in agreement.rows if row[0] == "view_correct")
    assert view_row[3] == 4


def test_score_perfect_agreement_kappa_one(built_run, tmp_path):
    rows = [(A4C_CLIP, "no", "yes", ""), (A4C_TWIN, "yes", "yes", ""), (PLAX_CLIP, "yes", "no", "")]
    first = ratings_file(tmp_path / "a.csv", "ana", rows)
    second = ratings_file(tmp_path / "b.csv", "ben", rows)
    agreement = score_ratings(built_run, [first, second]).tables[-1]
    assert agreement.rows[0][4:] == ["100.0%", "1.000"]


def test_score_unknown_item_rejected(built_run, tmp_path):
    path = ratings_file(tmp_path / "r.csv", "ana", [("p99_p99_s99_0001", "yes", "yes", "")])
    with pytest.raises(RatingsError, match="not captions of run"):
        score_ratings(built_run, [path])


def test_score_invalid_rating_rejected(built_run, tmp_path):
    path = ratings_file(tmp_path / "r.csv", "ana", [(A4C_CLIP, "maybe", "yes", "")])
    with pytest.raises(RatingsError, match="caption_correct 'maybe'"):
        score_ratings(built_run, [path])


def test_score_unknown_fact_rejected(built_run, tmp_path):
    path = ratings_file(tmp_path / "r.csv", "ana", [(PLAX_CLIP, "no", "yes", "N1")])
    with pytest.raises(RatingsError, match=r"lists facts \['N1'\]"):
        score_ratings(built_run, [path])


def test_cli_sample_then_score(built_run, tmp_path):
    runner = CliRunner()
    sample_path = tmp_path / "sample.csv"
    result = runner.invoke(audit, ["sample", str(built_run), "--n", "3", "--out", str(sample_path)])
    assert result.exit_code == 0, result.output
    sample = pd.read_csv(sample_path, dtype="string", keep_default_na=False)
    sample["rater"] = "ana"
    sample["caption_correct"] = "yes"
    sample.to_csv(tmp_path / "ana.csv", index=False)
    result = runner.invoke(
        audit, ["score", str(built_run), str(tmp_path / "ana.csv"), "--json", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 0, result.output
    assert "3 ratings by 1 raters (ana)" in result.output
    assert (tmp_path / "s.json").is_file()


def test_cli_score_bad_file_names_it(built_run, tmp_path):
    path = tmp_path / "broken.csv"
    pd.DataFrame({"item_id": [A4C_CLIP]}).to_csv(path, index=False)
    result = CliRunner().invoke(audit, ["score", str(built_run), str(path)])
    assert result.exit_code == 1
    assert "broken.csv: missing columns ['caption_correct']" in result.output
