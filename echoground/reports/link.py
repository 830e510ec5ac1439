"""Link each echo study to the nearest discharge summary within +/-7 days that carries an echo section."""

from __future__ import annotations

import re

import pandas as pd

from echoground.ledger import Ledger, Status

STAGE = "reports"
MAX_DISTANCE_DAYS = 7.0
STUDY_COLUMNS = ("subject_id", "study_id", "study_datetime")
NOTE_COLUMNS = ("note_id", "subject_id", "charttime", "text")
# An echo block starts with a line such as "TTE (Complete) Done ___ at 10:15 AM FINAL" or "ECHO: ...".
_ECHO_START = re.compile(r"(?im)^[ \t]*(?:TTE|ECHO(?:CARDIOGRAM)?|TRANSTHORACIC ECHO\w*)\b[^\n]*$")
# The block ends at the next discharge-summary heading: a line starting with a capitalised heading and a
# colon that is not an echo report heading or header field, or a lab result line ("___ 06:00AM BLOOD").
_ECHO_HEADINGS = (
    r"PATIENT/TEST INFORMATION|Indication|(?:Clinical )?History|INTERPRETATION|Findings|LEFT ATRIUM|"
    r"RIGHT ATRIUM(?:/INTERATRIAL SEPTUM)?|LEFT VENTRICLE|LV WALL MOTION|RIGHT VENTRICLE|AORTA|AORTIC VALVE|"
    r"MITRAL VALVE|TRICUSPID VALVE|PULMONIC VALVE(?:/PULMONARY ARTERY)?|PERICARDIUM|GENERAL COMMENTS|"
    r"Conclusions|IMPRESSION|CLINICAL IMPLICATIONS|Height|Weight|BSA|BP|HR|Status|Date/Time|Test|Doppler|"
    r"Contrast|Technical Quality|Echocardiographic Measurements|Results|Measurements"
)
_NEXT_HEADING = re.compile(
    rf"(?m)^[ \t]*(?!(?:{_ECHO_HEADINGS})\b)[A-Z][A-Za-z/&() -]{{0,40}}:"
    r"|^[ \t]*_{3}\s+\d{1,2}:\d{2}\s*[AP]M\b"
)


def find_echo_section(text: str) -> tuple[int, int] | None:
    """Return the (start, end) character span of the first echo block in a discharge summary, or None."""
    start_match = _ECHO_START.search(text)
    if start_match is None:
        return None
    end_match = _NEXT_HEADING.search(text, start_match.end())
    end = end_match.start() if end_match else len(text)
    return start_match.start(), end


def link_notes(studies_df: pd.DataFrame, discharge_df: pd.DataFrame) -> tuple[pd.DataFrame, Ledger]:
    """Pair each study with the nearest discharge summary within 7 days that has an echo section.

    Returns one row per study (``note_id`` is missing for studies without such a note, which stay in the
    table), with the signed distance in days (note minus study), the section span and its text, and a
    ledger row per study.

    Raises:
        ValueError: when a required column is missing from either table.
    """
    for frame, columns, name in (
        (studies_df, STUDY_COLUMNS, "studies"),
        (discharge_df, NOTE_COLUMNS, "discharge"),
    ):
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise ValueError(f"{name} table is missing columns {missing}; expected at least {list(columns)}")
    notes = discharge_df.loc[:, list(NOTE_COLUMNS)].copy()
    notes["charttime"] = pd.to_datetime(notes["charttime"])
    studies = studies_df.loc[:, list(STUDY_COLUMNS)].copy()
    studies["study_datetime"] = pd.to_datetime(studies["study_datetime"])
    candidates = studies.merge(notes, on="subject_id", how="inner")
    candidates["distance_days"] = (
        candidates["charttime"] - candidates["study_datetime"]
    ).dt.total_seconds() / 86400
    candidates = candidates[candidates["distance_days"].abs() <= MAX_DISTANCE_DAYS].copy()
    candidates["abs_distance"] = candidates["distance_days"].abs()
    candidates = candidates.sort_values(["study_id", "abs_distance", "note_id"], kind="stable")

    ledger = Ledger()
    rows = []
    by_study = {study_id: group for study_id, group in candidates.groupby("study_id", sort=False)}
    for study in studies.itertuples(index=False):
        row = {
            "subject_id": study.subject_id,
            "study_id": study.study_id,
            "note_id": None,
            "distance_days": None,
            "section_start": None,
            "section_end": None,
            "report_text": None,
        }
        group = by_study.get(study.study_id)
        nearby = 0 if group is None else len(group)
        for candidate in () if group is None else group.itertuples(index=False):
            span = find_echo_section(str(candidate.text))
            if span is None:
                continue
            row.update(
                note_id=candidate.note_id,
                distance_days=float(candidate.distance_days),
                section_start=span[0],
                section_end=span[1],
                report_text=str(candidate.text)[span[0] : span[1]],
            )
            break
        if row["note_id"] is not None:
            ledger.add(
                STAGE,
                "study",
                str(study.study_id),
                Status.ACCEPTED,
                "report_linked",
                f"study {study.study_id}: note {row['note_id']} at {row['distance_days']:+.2f} days",
                subject_id=int(study.subject_id),
                study_id=int(study.study_id),
            )
        else:
            reason = "no_note_within_7_days" if nearby == 0 else "no_echo_section_in_notes"
            ledger.add(
                STAGE,
                "study",
                str(study.study_id),
                Status.ACCEPTED,
                reason,
                f"study {study.study_id}: no report text ({nearby} notes within 7 days); kept without text",
                subject_id=int(study.subject_id),
                study_id=int(study.study_id),
            )
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            "subject_id",
            "study_id",
            "note_id",
            "distance_days",
            "section_start",
            "section_end",
            "report_text",
        ],
    ), ledger
