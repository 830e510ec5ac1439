"""Report stage: sections, note linking, CLI output shape, offsets and bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from echoground.reports import find_echo_section, link_notes, parse_reports, split_sections
from echoground.reports.cli import report

REPORT = """PATIENT/TEST INFORMATION:
Indication: Evaluate for AS. Height: (in) 68 Weight (lb): 180 BSA (m2): 1.95 m2
INTERPRETATION:

Findings:

LEFT ATRIUM: Mild LA enlargement.

LEFT VENTRICLE: Normal LV wall thickness and cavity size. Moderately depressed
LVEF. LVEF 35-40%.

AORTIC VALVE: Mildly thickened aortic valve leaflets. No AS.

PERICARDIUM: No pericardial effusion.

Conclusions:
Moderate (2+) mitral regurgitation is seen.

CLINICAL IMPLICATIONS:
Based on the current AHA endocarditis prophylaxis recommendations, severe mitral
regurgitation needs no prophylaxis.
"""


def test_sections_in_order() -> None:
    names = [section.name for section in split_sections(REPORT)]
    assert names[:4] == ["patient_test_information", "indication", "interpretation", "findings"]
    assert names[-3:] == ["pericardium", "conclusions", "clinical_implications"]


def test_findings_offsets_and_sections() -> None:
    parsed = parse_reports([REPORT])[0]
    for finding in parsed.findings:
        assert REPORT[finding.start : finding.end] == finding.text
    labels = parsed.labels
    assert labels["la_enlargement"].severity == "mild"
    assert labels["lv_systolic_dysfunction"].severity == "moderate"
    assert labels["aortic_stenosis"].state == "absent"
    assert labels["mitral_regurgitation"].severity == "moderate"
    # "severe mitral regurgitation" in the boilerplate section is not a finding.
    assert all(f.section != "clinical_implications" for f in parsed.findings)


def test_cli_parse_json_shape(tmp_path) -> None:
    path = tmp_path / "report.txt"
    path.write_text(REPORT)
    result = CliRunner().invoke(report, ["parse", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"sections", "findings", "measurements"}
    assert set(data["findings"][0]) == {"label", "state", "severity", "text", "start", "end", "section"}
    lvef = next(m for m in data["measurements"] if m["name"] == "lvef")
    assert (lvef["qualifier"], lvef["low"], lvef["high"]) == ("range", 35.0, 40.0)


def test_cli_parse_non_utf8(tmp_path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("PERICARDIUM: No pericardial effusion. Caf\xe9.".encode("latin-1"))
    result = CliRunner().invoke(report, ["parse", str(path)])
    assert result.exit_code == 0
    assert json.loads(result.output)["findings"][0]["state"] == "absent"


def test_empty_report() -> None:
    parsed = parse_reports([""])[0]
    assert parsed.sections == []
    assert parsed.findings == []


@pytest.mark.slow
def test_one_megabyte_report() -> None:
    block = "MITRAL VALVE: Mild (1+) MR.\n"
    text = block * (1_000_000 // len(block) + 1)
    parsed = parse_reports([text])[0]
    assert len(text) > 1_000_000
    assert parsed.labels["mitral_regurgitation"].severity == "mild"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_parse_any_text(text: str) -> None:
    parsed = parse_reports([text])[0]
    for finding in parsed.findings:
        assert text[finding.start : finding.end] == finding.text
        assert finding.state in ("present", "absent", "uncertain")


DISCHARGE_TEXT = """Brief summary.
Pertinent Results:
___ 06:00AM BLOOD WBC-7.0
TTE (Complete) Done ___ at 10:15 AM FINAL
LEFT ATRIUM: Mild LA enlargement.
Conclusions:
Mild (1+) MR.

CXR: No acute process.
Brief Hospital Course: stable.
"""


def test_find_echo_section_bounds() -> None:
    start, end = find_echo_section(DISCHARGE_TEXT)
    section = DISCHARGE_TEXT[start:end]
    assert section.startswith("TTE (Complete)")
    assert "Mild (1+) MR." in section
    assert "CXR" not in section


def test_link_notes_nearest_within_window() -> None:
    studies = pd.DataFrame(
        {
            "subject_id": [1, 1, 2],
            "study_id": [10, 11, 20],
            "study_datetime": ["2018-01-10", "2018-03-01", "2018-01-10"],
        }
    )
    notes = pd.DataFrame(
        {
            "note_id": ["1-DS-1", "1-DS-2", "1-DS-3", "2-DS-1"],
            "subject_id": [1, 1, 1, 2],
            "charttime": ["2018-01-16", "2018-01-12", "2018-01-11", "2018-01-12"],
            "text": [DISCHARGE_TEXT, DISCHARGE_TEXT, "No echo here.", "No echo here."],
        }
    )
    links, ledger = link_notes(studies, notes)
    by_study = links.set_index("study_id")
    assert by_study.loc[10, "note_id"] == "1-DS-2"
    assert by_study.loc[10, "distance_days"] == pytest.approx(2.0)
    assert by_study.loc[10, "report_text"].startswith("TTE")
    assert pd.isna(by_study.loc[11, "note_id"])
    assert pd.isna(by_study.loc[20, "note_id"])
    reasons = {entry.study_id: entry.reason for entry in ledger.entries}
    assert reasons == {10: "report_linked", 11: "no_note_within_7_days", 20: "no_echo_section_in_notes"}


def test_link_notes_missing_column() -> None:
    with pytest.raises(ValueError, match="discharge table is missing"):
        link_notes(pd.DataFrame({"subject_id": [], "study_id": [], "study_datetime": []}), pd.DataFrame())
