"""Synthetic reports split back into BIDMC sections and state the ground truth of each label."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from echoground.synth import cohort, reports

SECTION_LABEL = re.compile(r"^([A-Z][A-Z /]+):", re.MULTILINE)
ECHO_START = re.compile(r"^(TTE \(Complete\)|ECHO) Done ___ at .* FINAL$", re.MULTILINE)


def split_sections(report: str) -> dict[str, str]:
    """Split a BIDMC report into {upper-case label: text} (a simple splitter, as a reader would write)."""
    matches = list(SECTION_LABEL.finditer(report))
    sections = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(report)
        sections[match.group(1)] = report[match.end() : end].strip()
    return sections


def extract_echo_block(text: str) -> str | None:
    """Return the echo block of a discharge summary: from its FINAL line to the next section."""
    start = ECHO_START.search(text)
    if start is None:
        return None
    end = re.search(r"\n\n(CXR:|Brief Hospital Course:)", text[start.end() :])
    return text[start.end() : start.end() + end.start()] if end else text[start.end() :]


def _study(index: int) -> cohort.Study:
    return cohort.make_study(5, cohort.make_patient(5, index), 0)


def test_report_sections_split_back() -> None:
    for index in range(20):
        study = _study(index)
        text, _ = reports.build_echo_report(study, np.random.default_rng(index), has_prior=False)
        sections = split_sections(text)
        for required in ("PATIENT/TEST INFORMATION", "INTERPRETATION", "Conclusions", "IMPRESSION"):
            assert required in sections or required.upper() in sections or required in text, required
        assert "LEFT VENTRICLE" in sections
        assert "AORTIC VALVE" in sections
        assert all(len(line) <= reports.WRAP_WIDTH for line in text.splitlines())


def test_bsa_is_decimal_in_header() -> None:
    text, _ = reports.build_echo_report(_study(1), np.random.default_rng(0), has_prior=False)
    assert re.search(r"^BSA \(m2\): \d\.\d\d m2$", text, re.MULTILINE)


def test_mentioned_grades_follow_ground_truth() -> None:
    grade_words = {"mild": "Mild", "moderate": "Moderate", "severe": "Severe"}
    for index in range(40):
        study = _study(index)
        truth = study.labels["mitral_regurgitation"]
        sentence = reports.label_sentence("mitral_regurgitation", study, np.random.default_rng(index))
        if truth.state == "absent":
            assert re.search(r"\b(No MR|not seen|Trivial)", sentence), sentence
        elif truth.state == "uncertain":
            assert "cannot be excluded" in sentence, sentence
        else:
            # In-between grades ("Moderate to severe (3+)") belong to the higher grade.
            words = re.findall(r"Mild|Moderate|Severe|mild|moderate|severe", sentence)
            assert words[-1].capitalize() == grade_words[truth.grade], (truth, sentence)


def test_lvef_bound_phrase_is_true() -> None:
    for index in range(60):
        study = _study(index)
        sentence = reports.label_sentence("lv_systolic_dysfunction", study, np.random.default_rng(index))
        bound = re.search(r"LVEF >(\d+)%", sentence)
        if bound:
            assert study.measurements["lvef"] > int(bound.group(1)), sentence


def test_discharge_echo_block_links_to_study(cohort_dir: Path) -> None:
    notes = pd.read_csv(cohort_dir / "mimic-iv-note" / "discharge.csv.gz", dtype=str, keep_default_na=False)
    truth = pd.read_csv(cohort_dir / "ground_truth" / "notes.csv", dtype=str, keep_default_na=False)
    by_note = dict(zip(notes["note_id"], notes["text"], strict=True))
    assert len(truth) > 0
    for row in truth.itertuples():
        block = extract_echo_block(by_note[row.note_id])
        if row.echo_section == "1":
            assert block is not None, row.note_id
            sections = split_sections(block)
            assert "INTERPRETATION" in sections, row.note_id
            assert "LEFT VENTRICLE" in sections, row.note_id
        else:
            assert block is None, row.note_id
