"""Echo report text in the BIDMC layout, and the discharge summaries that copy it.

Phrases come from ``phrases.yaml``; every phrase chosen for a label states that label's ground truth
(phrases with a ``requires`` block are used only when the study's numbers make them true). Lines are
hard-wrapped at 78 columns, so sentences cross line breaks as in the real notes.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from echoground.synth.cohort import ABSENT, LABELS, PRESENT, UNCERTAIN, Patient, Study

WRAP_WIDTH = 78
PLACEHOLDERS = ("___", "[** **]", "[**1-29**]")

# Noun phrases for the pseudo-negation sentence ("no change in ...").
FINDING_NOUNS = {
    "mitral_regurgitation": "mitral regurgitation",
    "aortic_stenosis": "aortic stenosis",
    "tricuspid_regurgitation": "tricuspid regurgitation",
    "lv_systolic_dysfunction": "LV systolic function",
    "pericardial_effusion": "the pericardial effusion",
    "aortic_regurgitation": "aortic regurgitation",
}


@cache
def load_phrases() -> dict[str, Any]:
    """Return the parsed ``phrases.yaml`` next to this module."""
    return yaml.safe_load(Path(__file__).with_name("phrases.yaml").read_text())


def _variables(study: Study) -> dict[str, Any]:
    m = study.measurements
    return {
        "lvef": int(m["lvef"]),
        # 0 when the LVEF is not reported as a range, so that range phrases are never chosen.
        "lvef_lower": int(study.extras.get("lvef_lower", 0)),
        "lvef_upper": int(study.extras.get("lvef_upper", 0)),
        "lavi": round(m["la_vol"] / m["body_surface_area"]),
        "trv": m["tr_velocity"],
        "pasp": round(4 * m["tr_velocity"] ** 2 + 8),
        "av_peak": m["av_pk_vel"],
        "av_mean": int(m["av_mean_grad"]),
        "ava": m["av_area_continuity"],
        "e_e_prime": m["e_e_prime"],
        "walls": study.rwma_walls or "inferior",
        "ph": "___",
    }


def _usable(phrase: str | dict[str, Any], variables: dict[str, Any]) -> bool:
    if isinstance(phrase, str):
        return True
    for name, (low, high) in phrase.get("requires", {}).items():
        value = variables[name]
        if (low is not None and value < low) or (high is not None and value > high):
            return False
    return True


def _pick(rng: np.random.Generator, options: list[Any], variables: dict[str, Any]) -> str:
    usable = [option for option in options if _usable(option, variables)]
    if not usable:
        raise ValueError(f"no phrase fits the study values among {options!r}")
    chosen = usable[int(rng.integers(len(usable)))]
    text = chosen if isinstance(chosen, str) else chosen["text"]
    return text.format(**variables)


def label_sentence(label: str, study: Study, rng: np.random.Generator) -> str:
    """Return one sentence that states the ground truth of ``label`` for ``study``."""
    bank = load_phrases()["labels"][label]
    truth = study.labels[label]
    variables = _variables(study)
    if truth.state == ABSENT:
        return _pick(rng, bank["absent"], variables)
    if truth.state == UNCERTAIN:
        return _pick(rng, bank["uncertain"], variables)
    key = "present" if "present" in bank else truth.grade
    return _pick(rng, bank[key], variables)


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=WRAP_WIDTH, break_long_words=False, break_on_hyphens=False)


def build_echo_report(study: Study, rng: np.random.Generator, has_prior: bool) -> tuple[str, list[str]]:
    """Return the report text and the labels it does not mention.

    Absent labels are left out now and then (real reports skip normal findings); present and uncertain
    labels are always stated.
    """
    phrases = load_phrases()
    header = phrases["header"]
    height_in = round(study.height_cm / 2.54)
    weight_lb = round(study.weight_kg * 2.2046)
    when = study.study_datetime
    date_text = f"[**{when.year}-{when.month}-{when.day}**]" if rng.random() < 0.5 else "___"
    lines = [
        "PATIENT/TEST INFORMATION:",
        f"Indication: {_pick(rng, header['indications'], {})}",
        f"Height: (in) {height_in}",
        f"Weight (lb): {weight_lb}",
        f"BSA (m2): {study.bsa:.2f} m2",
        f"BP (mm Hg): {study.sbp}/{study.dbp}",
        f"HR (bpm): {study.heart_rate}",
        f"Status: {_pick(rng, header['status'], {})}",
        f"Date/Time: {date_text} at {when:%H:%M}",
        f"Test: {_pick(rng, header['test'], {})}",
        f"Doppler: {_pick(rng, header['doppler'], {})}",
        f"Contrast: {_pick(rng, header['contrast'], {})}",
        f"Technical Quality: {_pick(rng, header['quality'], {})}",
        "",
        "",
        "INTERPRETATION:",
        "",
        "Findings:",
        "",
    ]
    variables = _variables(study)
    present = [name for name in LABELS if study.labels[name].state == PRESENT and name in FINDING_NOUNS]
    if has_prior and present and rng.random() < 0.5:
        finding = FINDING_NOUNS[present[int(rng.integers(len(present)))]]
        comparison = _pick(rng, phrases["comparison"]["pseudo_negation"], variables | {"finding": finding})
    elif has_prior:
        comparison = _pick(rng, phrases["comparison"]["same"], variables)
    else:
        comparison = _pick(rng, phrases["comparison"]["none"], variables)
    lines += [_wrap(comparison), ""]

    not_mentioned: list[str] = []
    by_section: dict[str, list[str]] = {section: [] for section in phrases["sections"]}
    for label in LABELS:
        section = phrases["labels"][label]["section"]
        if study.labels[label].state == ABSENT and rng.random() < 0.12:
            not_mentioned.append(label)
            continue
        by_section[section].append(label_sentence(label, study, rng))
    for section, options in phrases["filler"].items():
        if rng.random() < 0.6:
            by_section[section].append(_pick(rng, options, variables))
    for section in phrases["sections"]:
        if by_section[section]:
            lines += [_wrap(f"{section}: " + " ".join(by_section[section])), ""]

    lines += ["Conclusions:", _wrap(_conclusions(study, rng)), ""]
    lines += ["IMPRESSION:", _wrap(_impression(study, rng)), ""]
    if rng.random() < 0.3:
        lines += ["CLINICAL IMPLICATIONS:", _wrap(_implications(study, rng)), ""]
    return "\n".join(lines).rstrip() + "\n", not_mentioned


def _conclusions(study: Study, rng: np.random.Generator) -> str:
    sentences = []
    for label in (
        "la_enlargement",
        "lv_hypertrophy",
        "lv_dilation",
        "lv_systolic_dysfunction",
        "regional_wall_motion_abnormality",
        "rv_dilation",
        "rv_systolic_dysfunction",
        "aortic_stenosis",
        "aortic_regurgitation",
        "mitral_regurgitation",
        "tricuspid_regurgitation",
        "pulmonary_hypertension",
        "pericardial_effusion",
    ):
        truth = study.labels[label]
        if truth.state != ABSENT or label in ("lv_systolic_dysfunction", "pericardial_effusion"):
            sentences.append(label_sentence(label, study, rng))
    return " ".join(sentences)


def _impression(study: Study, rng: np.random.Generator) -> str:
    abnormal = [label for label in LABELS if study.labels[label].state == PRESENT]
    hedged = [label for label in LABELS if study.labels[label].state == UNCERTAIN]
    if not abnormal and not hedged:
        return "Normal study. " + label_sentence("lv_systolic_dysfunction", study, rng)
    chosen = (abnormal + hedged)[:3]
    return " ".join(label_sentence(label, study, rng) for label in chosen)


def _implications(study: Study, rng: np.random.Generator) -> str:
    bank = load_phrases()["clinical_implications"]
    if study.labels["aortic_stenosis"].state == PRESENT:
        return _pick(rng, bank["aortic_stenosis"], {"grade": study.labels["aortic_stenosis"].grade})
    if study.labels["lv_systolic_dysfunction"].state == PRESENT:
        return _pick(rng, bank["lv_systolic_dysfunction"], {})
    return _pick(rng, bank["default"], {})


def build_discharge_summary(
    patient: Patient, study: Study, echo_report: str | None, charttime: dt.datetime, rng: np.random.Generator
) -> str:
    """Return a discharge summary; with ``echo_report`` its Pertinent Results carry an echo section."""
    sex_word = "female" if patient.sex == "F" else "male"
    parts = [
        "Name:  ___                    Unit No:   ___",
        "",
        "Admission Date:  ___              Discharge Date:   ___",
        "",
        "Date of Birth:  ___             Sex:   " + patient.sex,
        "",
        "Service: MEDICINE",
        "",
        "Chief Complaint:",
        "Dyspnea",
        "",
        "History of Present Illness:",
        _wrap(
            f"Mr./Ms. ___ is a ___ year-old {sex_word} with a history of hypertension who presented with "
            f"worsening shortness of breath over several days. [**Hospital 123**] records were reviewed."
        ),
        "",
        "Pertinent Results:",
        f"___ 06:10AM BLOOD WBC-{rng.uniform(4, 12):.1f} RBC-{rng.uniform(3, 5):.2f} "
        f"Hgb-{rng.uniform(9, 15):.1f}",
        f"___ 06:10AM BLOOD Glucose-{int(rng.uniform(80, 160))} UreaN-{int(rng.uniform(8, 40))} "
        f"Creat-{rng.uniform(0.6, 2.0):.1f}",
        "",
    ]
    if echo_report is not None:
        keyword = "TTE (Complete)" if rng.random() < 0.7 else "ECHO"
        when = study.study_datetime
        clock = when.strftime("%I:%M:%S %p")
        parts += [f"{keyword} Done ___ at {clock} FINAL", echo_report.rstrip(), ""]
    parts += [
        "CXR: Mild pulmonary vascular congestion. No focal consolidation.",
        "",
        "Brief Hospital Course:",
        _wrap(
            "Ms./Mr. ___ was admitted with dyspnea and treated with diuresis. Her/his symptoms improved "
            "and she/he was discharged home with services."
        ),
        "",
        "Discharge Disposition:",
        "Home With Service",
        "",
        "Discharge Diagnosis:",
        "Acute on chronic heart failure",
        "",
        "Followup Instructions:",
        "___",
    ]
    return "\n".join(parts) + "\n"
