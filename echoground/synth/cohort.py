"""Patients, studies, clean measurements and ground-truth labels of the synthetic cohort.

Each study draws latent disease states from correlated prevalences (``cohort.yaml``) and draws numbers
inside the guideline band of each state, rounded as the MIMIC table shows them. The ground-truth label
is then recomputed from the rounded numbers with the same guideline thresholds. The ground truth is
therefore what the guideline says about the published numbers, never the latent draw. Labels with no
number in the table (right atrium, regurgitation, mitral stenosis, effusion, wall motion) keep their
drawn state.

All randomness comes from one ``numpy.random.Generator`` per study seeded from (seed, subject, study),
so a study's content does not depend on how many studies come before it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

LABELS: tuple[str, ...] = (
    "lv_systolic_dysfunction",
    "lv_dilation",
    "lv_hypertrophy",
    "la_enlargement",
    "ra_enlargement",
    "rv_dilation",
    "rv_systolic_dysfunction",
    "diastolic_dysfunction",
    "pulmonary_hypertension",
    "aortic_stenosis",
    "aortic_regurgitation",
    "mitral_regurgitation",
    "mitral_stenosis",
    "tricuspid_regurgitation",
    "pericardial_effusion",
    "regional_wall_motion_abnormality",
)

PRESENT, ABSENT, UNCERTAIN = "present", "absent", "uncertain"
GRADES = ("mild", "moderate", "severe")

# Patients' subject ids and studies' ids follow the MIMIC ranges (8 digits; subjects 10000000-19999999).
SUBJECT_ID_BASE = 10_000_000
STUDY_ID_BASE = 90_000_000


@cache
def load_config() -> dict[str, Any]:
    """Return the parsed ``cohort.yaml`` next to this module."""
    return yaml.safe_load((Path(__file__).with_name("cohort.yaml")).read_text())


@cache
def load_identities() -> dict[str, Any]:
    """Return the invented names and institutions of ``phi.yaml``."""
    return yaml.safe_load((Path(__file__).with_name("phi.yaml")).read_text())


@dataclass(frozen=True)
class Label:
    """Ground truth of one canonical label: ``state`` is present, absent or uncertain."""

    state: str
    grade: str = ""


@dataclass
class Patient:
    """One synthetic patient, with the invented identity that the DICOM headers carry."""

    index: int
    subject_id: int
    sex: str
    anchor_age: int
    anchor_year: int
    anchor_year_group: str
    dod: str
    fake_name: str
    fake_mrn: str
    fake_birth_date: str
    n_studies: int


@dataclass
class Study:
    """One transthoracic study: vitals, clean measurements, labels and the quirks applied to it."""

    subject_id: int
    study_id: int
    study_index: int
    sex: str
    age: int
    study_datetime: dt.datetime
    height_cm: float
    weight_kg: float
    bsa: float
    heart_rate: int
    sbp: int
    dbp: int
    measurements: dict[str, float]
    labels: dict[str, Label]
    cardiologist: dict[str, str]
    cardiologist_disagrees: list[str]
    note_link: str
    test_type: str
    measurement_id: int
    measurement_datetime: dt.datetime
    lvesd_drawn: float
    la_diameter_cm: float
    rwma_walls: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


def study_rng(seed: int, *keys: int) -> np.random.Generator:
    """Return a generator that depends only on the seed and the given integer keys."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _choice(rng: np.random.Generator, weights: dict[Any, float]) -> Any:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _uniform(rng: np.random.Generator, band: list[float], decimals: int) -> float:
    return round(float(rng.uniform(band[0], band[1])), decimals)


def _normal(rng: np.random.Generator, mean_sd: list[float], low: float, high: float) -> float:
    return float(np.clip(rng.normal(mean_sd[0], mean_sd[1]), low, high))


def make_patient(seed: int, index: int) -> Patient:
    """Draw patient ``index`` (0-based) of the cohort of ``seed``."""
    config = load_config()["demographics"]
    identities = load_identities()
    rng = study_rng(seed, 1, index)
    subject_id = SUBJECT_ID_BASE + _scatter(index, seed)
    sex = "F" if rng.random() < config["female_fraction"] else "M"
    age = int(np.clip(rng.normal(config["age"]["mean"], config["age"]["sd"]), config["age"]["min"], 88))
    anchor_year = int(rng.integers(2110, 2190))
    group_start = int(rng.choice([2008, 2011, 2014, 2017, 2020]))
    n_studies = int(_choice(rng, config["studies_per_patient"]))
    dod = ""
    if rng.random() < 0.15:
        death = dt.date(anchor_year + n_studies + 1, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
        dod = death.isoformat()
    first = identities["first_names"][int(rng.integers(len(identities["first_names"])))]
    last = identities["last_names"][int(rng.integers(len(identities["last_names"])))]
    birth_year = 1900 + int(rng.integers(20, 100))
    return Patient(
        index=index,
        subject_id=subject_id,
        sex=sex,
        anchor_age=age,
        anchor_year=anchor_year,
        anchor_year_group=f"{group_start} - {group_start + 2}",
        dod=dod,
        fake_name=f"{last}^{first}",
        fake_mrn=f"{int(rng.integers(1_000_000, 9_999_999))}",
        fake_birth_date=f"{birth_year}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
        n_studies=n_studies,
    )


def _scatter(index: int, seed: int) -> int:
    """Map an index to a 7-digit number, one-to-one for indices below 10**7.

    Multiplying by a number coprime with 10 is a bijection modulo 10**7, so ids never collide while
    their leading digits (and hence the pNN folders) spread over the whole range.
    """
    offset = int(np.random.default_rng(seed).integers(0, 10**7))
    return (index * 7_368_787 + offset) % 10**7


def teichholz_volume(diameter_cm: float) -> float:
    """Return the LV volume in mL from a linear diameter with the Teichholz formula 7 D^3 / (2.4 + D)."""
    return 7.0 * diameter_cm**3 / (2.4 + diameter_cm)


def teichholz_end_systolic_diameter(edd_cm: float, ef_percent: float) -> float:
    """Return the end-systolic diameter whose Teichholz volume gives ``ef_percent`` with ``edd_cm``."""
    target = teichholz_volume(edd_cm) * (1.0 - ef_percent / 100.0)
    low, high = 0.1, edd_cm
    for _ in range(60):
        middle = (low + high) / 2
        if teichholz_volume(middle) < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def grade_above(value: float, limits: dict[str, float]) -> str:
    """Grade a value that is abnormal when high: '' when normal, else mild, moderate or severe."""
    if value <= limits["normal_max"]:
        return ""
    if value <= limits["mild_max"]:
        return "mild"
    if value <= limits["moderate_max"]:
        return "moderate"
    return "severe"


def grade_below(value: float, limits: dict[str, float]) -> str:
    """Grade a value that is abnormal when low: '' when normal, else mild, moderate or severe."""
    if value >= limits["normal_min"]:
        return ""
    if value >= limits["mild_min"]:
        return "mild"
    if value >= limits["moderate_min"]:
        return "moderate"
    return "severe"


def diastolic_grade(m: dict[str, float], reduced_ef: bool) -> str:
    """Return '0', 'I', 'II', 'III' or 'indeterminate' by the Nagueh 2016 algorithm on clean values.

    Only criteria present in ``m`` count; the four criteria for normal LVEF are average E/e' > 14,
    septal e' < 7 cm/s or lateral e' < 10 cm/s, TR velocity > 2.8 m/s and LAVI > 34 mL/m2.
    """
    rules = load_config()["diastology"]
    lavi = m["la_vol"] / m["body_surface_area"] if "la_vol" in m else None
    e_over_e_prime = m.get("e_e_prime")
    tr = m.get("tr_velocity")
    if not reduced_ef:
        criteria = []
        if e_over_e_prime is not None:
            criteria.append(e_over_e_prime > rules["e_over_e_prime_max"])
        if "sept_e_prime" in m and "lat_e_prime" in m:
            criteria.append(
                m["sept_e_prime"] < rules["septal_e_prime_min"]
                or m["lat_e_prime"] < rules["lateral_e_prime_min"]
            )
        if tr is not None:
            criteria.append(tr > rules["tr_velocity_max"])
        if lavi is not None:
            criteria.append(lavi > rules["lavi_max"])
        positive = sum(criteria)
        if positive * 2 < len(criteria):
            return "0"
        if positive * 2 == len(criteria):
            return "indeterminate"
    e_over_a = m["mv_peak_e"] / m["mv_peak_a"]
    if e_over_a <= rules["grade_i_e_over_a_max"] and m["mv_peak_e"] <= rules["grade_i_e_max"]:
        return "I"
    if e_over_a >= rules["grade_iii_e_over_a_min"]:
        return "III"
    votes = []
    if e_over_e_prime is not None:
        votes.append(e_over_e_prime > rules["e_over_e_prime_max"])
    if tr is not None:
        votes.append(tr > rules["tr_velocity_max"])
    if lavi is not None:
        votes.append(lavi > rules["lavi_max"])
    positive = sum(votes)
    if positive * 2 > len(votes):
        return "II"
    if positive * 2 < len(votes):
        return "I"
    return "indeterminate"


@dataclass
class _Latent:
    lvsd: str = ""
    hyperdynamic: bool = False
    dilation: str = ""
    hypertrophy: str = ""
    av_band: str = "normal"
    tr_band: str = "low"
    diastolic_target: str = "0"
    la_enlarged: str = ""
    rv_dilation: str = ""
    rv_dysfunction: str = ""
    drawn: dict[str, Label] = field(default_factory=dict)


def _draw_latent(rng: np.random.Generator, sex: str, age: int) -> _Latent:
    """Draw the correlated disease states of one study (own-estimate prevalences in cohort.yaml)."""
    p = load_config()["prevalence"]
    latent = _Latent()
    if rng.random() < p["lv_systolic_dysfunction"]:
        latent.lvsd = _choice(rng, p["lvsd_grade"])
    elif rng.random() < p["hyperdynamic"]:
        latent.hyperdynamic = True
    dilation_p = p["lv_dilation_if_lvsd"] if latent.lvsd else p["lv_dilation_otherwise"]
    if rng.random() < dilation_p:
        latent.dilation = _choice(rng, p["lv_dilation_grade"])

    as_p = p["aortic_stenosis"] * (p["aortic_stenosis_age_factor"] if age > 70 else 1.0)
    if rng.random() < as_p:
        latent.av_band = _choice(rng, p["aortic_stenosis_grade"])
    elif rng.random() < p["aortic_sclerosis"]:
        latent.av_band = "sclerosis"
    lvh_p = p["lv_hypertrophy_if_as"] if latent.av_band in GRADES else p["lv_hypertrophy"]
    if not latent.dilation and rng.random() < lvh_p:
        latent.hypertrophy = _choice(rng, p["lv_hypertrophy_grade"])

    drawn: dict[str, Label] = {}

    def draw_graded(name: str, probability: float, grades: dict[str, float]) -> None:
        if rng.random() < probability:
            if rng.random() < p["uncertain_fraction"] * 3:
                drawn[name] = Label(UNCERTAIN)
            else:
                drawn[name] = Label(PRESENT, _choice(rng, grades))
        elif rng.random() < p["uncertain_fraction"] / 3:
            drawn[name] = Label(UNCERTAIN)
        else:
            drawn[name] = Label(ABSENT)

    mr_p = p["mitral_regurgitation_if_lv_dilation"] if latent.dilation else p["mitral_regurgitation"]
    draw_graded("mitral_regurgitation", mr_p, p["regurgitation_grade"])
    draw_graded("aortic_regurgitation", p["aortic_regurgitation"], p["regurgitation_grade"])
    draw_graded("mitral_stenosis", p["mitral_stenosis"], {"mild": 0.5, "moderate": 0.3, "severe": 0.2})
    left_disease = bool(latent.lvsd) or drawn["mitral_regurgitation"].grade in ("moderate", "severe")
    ph_p = p["pulmonary_hypertension_if_left_disease"] if left_disease else p["pulmonary_hypertension"]
    if rng.random() < ph_p:
        latent.tr_band = _choice(
            rng, {"intermediate": 0.35, "high_mild": 0.3, "high_moderate": 0.22, "high_severe": 0.13}
        )
    ph = latent.tr_band != "low"
    tr_p = p["tricuspid_regurgitation"] * (2.0 if ph else 1.0)
    draw_graded("tricuspid_regurgitation", min(tr_p, 0.9), p["regurgitation_grade"])
    if rng.random() < (p["rv_dilation_if_ph"] if ph else p["rv_dilation"]):
        latent.rv_dilation = _choice(rng, {"mild": 0.55, "moderate": 0.3, "severe": 0.15})
    if rng.random() < (p["rv_dysfunction_if_ph"] if ph else p["rv_dysfunction"]):
        latent.rv_dysfunction = _choice(rng, {"mild": 0.5, "moderate": 0.3, "severe": 0.2})
    ra_p = (
        p["ra_enlargement_if_ph_or_tr"]
        if ph or drawn["tricuspid_regurgitation"].state == PRESENT
        else p["ra_enlargement"]
    )
    draw_graded("ra_enlargement", ra_p, {"mild": 0.55, "moderate": 0.3, "severe": 0.15})
    draw_graded("pericardial_effusion", p["pericardial_effusion"], p["effusion_grade"])
    rwma_p = p["rwma_if_lvsd"] if latent.lvsd else p["rwma_otherwise"]
    if rng.random() < rwma_p:
        drawn["regional_wall_motion_abnormality"] = Label(PRESENT)
    elif rng.random() < p["uncertain_fraction"]:
        drawn["regional_wall_motion_abnormality"] = Label(UNCERTAIN)
    else:
        drawn["regional_wall_motion_abnormality"] = Label(ABSENT)

    if latent.lvsd:
        latent.diastolic_target = _choice(rng, p["diastolic_grade_if_reduced_ef"])
    elif rng.random() < p["diastolic_dysfunction_normal_ef"] * (1.5 if age > 65 else 0.7):
        latent.diastolic_target = _choice(rng, p["diastolic_grade_normal_ef"])
    la_cause = (
        latent.diastolic_target in ("II", "III")
        or drawn["mitral_regurgitation"].grade in ("moderate", "severe")
        or drawn["mitral_stenosis"].state == PRESENT
    )
    if la_cause or rng.random() < p["la_enlargement_background"]:
        latent.la_enlarged = _choice(rng, {"mild": 0.45, "moderate": 0.3, "severe": 0.25})
    latent.drawn = drawn
    return latent


def _draw_diastology(rng: np.random.Generator, target: str) -> dict[str, float]:
    """Draw E, A and e' (m/s) typical of the target diastolic grade."""
    if target == "I":
        e = rng.uniform(0.35, 0.50)
        e_over_a = rng.uniform(0.5, 0.78)
        septal, lateral = rng.uniform(0.04, 0.065), rng.uniform(0.06, 0.09)
    elif target == "II":
        e = rng.uniform(0.75, 1.1)
        e_over_a = rng.uniform(0.9, 1.8)
        septal, lateral = rng.uniform(0.04, 0.055), rng.uniform(0.05, 0.07)
    elif target == "III":
        e = rng.uniform(0.9, 1.3)
        e_over_a = rng.uniform(2.1, 3.0)
        septal, lateral = rng.uniform(0.035, 0.05), rng.uniform(0.045, 0.065)
    else:
        e = rng.uniform(0.6, 0.95)
        e_over_a = rng.uniform(0.9, 1.8)
        septal, lateral = rng.uniform(0.08, 0.12), rng.uniform(0.11, 0.16)
    e = round(float(e), 2)
    a = round(float(e / e_over_a), 2)
    septal, lateral = round(float(septal), 2), round(float(lateral), 2)
    return {
        "mv_peak_e": e,
        "mv_peak_a": a,
        "mv_peak_e_a": round(e / a, 1),
        "mv_e_decel": float(int(rng.uniform(160, 240) if target in ("0", "I") else rng.uniform(120, 170))),
        "sept_e_prime": septal,
        "lat_e_prime": lateral,
        "e_e_prime": round(e / ((septal + lateral) / 2), 1),
    }


def _band_value(rng: np.random.Generator, name: str, grade: str, sex: str) -> float:
    spec = load_config()["bands"][name]
    table = spec.get(sex, spec.get("all"))
    return _uniform(rng, table[grade or "normal"], spec["decimals"])


def _thresholds(name: str, sex: str) -> dict[str, float]:
    spec = load_config()["bands"][name]["thresholds"]
    return spec.get(sex, spec.get("all"))


def _lvmi_grade(m: dict[str, float], sex: str) -> str:
    """Grade LV hypertrophy by LV mass index (ASE linear formula over the rounded, stored numbers)."""
    lvidd, ivsd, lvpwd = m["lvedd"], m["septal_thickness"], m["inf_lat_thickness"]
    mass_g = 0.8 * 1.04 * ((lvidd + ivsd + lvpwd) ** 3 - lvidd**3) + 0.6
    lvmi = mass_g / m["body_surface_area"]
    limits = _thresholds("lvmi", sex)
    if lvmi <= limits["normal_max"]:
        return ""
    if lvmi < limits["moderate_from"]:
        return "mild"
    if lvmi < limits["severe_from"]:
        return "moderate"
    return "severe"


def _label(grade: str) -> Label:
    return Label(PRESENT, grade) if grade else Label(ABSENT)


def make_study(seed: int, patient: Patient, study_index: int) -> Study:
    """Draw study ``study_index`` (0-based) of ``patient``: numbers, labels, categorical grades, quirks."""
    config = load_config()
    rng = study_rng(seed, 2, patient.subject_id, study_index)
    demographics = config["demographics"]
    sex = patient.sex
    study_id = STUDY_ID_BASE + _scatter(patient.index * 4 + study_index, seed + 1)
    year = patient.anchor_year + study_index + int(rng.integers(0, 2))
    start = dt.datetime(year, 1, 1, 7, 0) + dt.timedelta(days=int(rng.integers(0, 360)))
    study_datetime = start + dt.timedelta(minutes=int(rng.integers(0, 11 * 60)))
    age = min(91, patient.anchor_age + (year - patient.anchor_year))

    height = round(_normal(rng, demographics["height_cm"][sex], 145, 200), 1)
    weight = round(_normal(rng, demographics["weight_kg"][sex], 40, 170), 1)
    bsa = round(math.sqrt(height * weight / 3600.0), 2)
    heart_rate = int(_normal(rng, demographics["heart_rate_bpm"], 48, 125))
    sbp = int(_normal(rng, demographics["sbp_mmhg"], 85, 200))
    dbp = int(min(sbp - 25, _normal(rng, demographics["dbp_mmhg"], 40, 110)))

    latent = _draw_latent(rng, sex, age)
    m: dict[str, float] = {
        "body_surface_area": bsa,
        "resting_hr": heart_rate,
        "resting_sbp": sbp,
        "resting_dbp": dbp,
    }

    ef_band = "hyperdynamic" if latent.hyperdynamic else (latent.lvsd or "normal")
    m["lvef"] = _band_value(rng, "lvef", ef_band, sex)
    m["lvedd"] = _band_value(rng, "lvedd", latent.dilation, sex)
    lvesd_drawn = teichholz_end_systolic_diameter(m["lvedd"], m["lvef"])
    m["lvesd"] = round(lvesd_drawn, 1)
    m["fs"] = round(100.0 * (m["lvedd"] - lvesd_drawn) / m["lvedd"], 0)
    m["biplane_lvedv"] = round(teichholz_volume(m["lvedd"]) * float(rng.uniform(0.92, 1.08)), 0)
    m["biplane_lvesv"] = round(m["biplane_lvedv"] * (1 - m["lvef"] / 100.0), 0)
    m["septal_thickness"] = _band_value(rng, "wall_thickness", latent.hypertrophy, sex)
    m["inf_lat_thickness"] = _band_value(rng, "wall_thickness", latent.hypertrophy, sex)

    lavi = _band_value(rng, "lavi", latent.la_enlarged, sex)
    m["la_vol"] = round(lavi * bsa, 0)
    m["rv_diam"] = _band_value(rng, "rv_diam", latent.rv_dilation, sex)
    m["tapse"] = _band_value(rng, "tapse", latent.rv_dysfunction, sex)
    m["tr_velocity"] = _band_value(rng, "tr_velocity", latent.tr_band, sex)
    m["tr_mmhg"] = round(4 * m["tr_velocity"] ** 2, 0)

    av = config["bands"]["av_pk_vel"]
    m["av_pk_vel"] = _band_value(rng, "av_pk_vel", latent.av_band, sex)
    m["av_pk_grad"] = round(4 * m["av_pk_vel"] ** 2, 0)
    m["av_mean_grad"] = round(av["mean_gradient_factor"] * 4 * m["av_pk_vel"] ** 2, 0)
    m["av_area_continuity"] = _uniform(rng, av["area"][latent.av_band], 1)
    m["lvot_diam"] = _uniform(rng, [1.8, 2.4], 1)
    m["lvot_vti"] = _uniform(rng, [14, 26], 1)
    m.update(_draw_diastology(rng, latent.diastolic_target))

    labels = _labels_from_numbers(m, sex, latent)
    cardiologist, disagrees = _cardiologist_grades(rng, labels, config["quirks"]["cardiologist_disagreement"])
    note_link = _choice(rng, config["quirks"]["note_link"])
    test_type = "tte"
    other = config["quirks"]["other_test_types"]
    draw = rng.random()
    if draw < other["stress"]:
        test_type = "stress"
    elif draw < other["stress"] + other["tee"]:
        test_type = "tee"
    measurement_datetime = study_datetime + dt.timedelta(minutes=int(rng.integers(-600, 2 * 24 * 60)))
    walls = ""
    if labels["regional_wall_motion_abnormality"].state == PRESENT:
        walls = str(rng.choice(["inferior", "anterior", "inferolateral", "anteroseptal", "apical"]))
    # LA anteroposterior diameter of an ellipsoid with long axis 1.6 x the short axes: V = pi/6 x 1.6 D^3.
    extras: dict[str, Any] = {}
    if rng.random() < config["quirks"]["lvef_as_range"]:
        lower = int(m["lvef"] // 5 * 5)
        extras.update(lvef_lower=lower, lvef_upper=lower + 5)
    la_diameter = (6.0 * m["la_vol"] / (1.6 * math.pi)) ** (1.0 / 3.0)
    return Study(
        subject_id=patient.subject_id,
        study_id=study_id,
        study_index=study_index,
        sex=sex,
        age=age,
        study_datetime=study_datetime,
        height_cm=height,
        weight_kg=weight,
        bsa=bsa,
        heart_rate=heart_rate,
        sbp=sbp,
        dbp=dbp,
        measurements=m,
        labels=labels,
        cardiologist=cardiologist,
        cardiologist_disagrees=disagrees,
        note_link=note_link,
        test_type=test_type,
        measurement_id=study_id + 1_000_000_000,
        measurement_datetime=measurement_datetime,
        lvesd_drawn=lvesd_drawn,
        la_diameter_cm=la_diameter,
        rwma_walls=walls,
        extras=extras,
    )


def _labels_from_numbers(m: dict[str, float], sex: str, latent: _Latent) -> dict[str, Label]:
    """Recompute every label that has a number from the rounded numbers with the guideline cut-offs."""
    labels: dict[str, Label] = {}
    labels["lv_systolic_dysfunction"] = _label(grade_below(m["lvef"], _thresholds("lvef", sex)))
    labels["lv_dilation"] = _label(grade_above(m["lvedd"], _thresholds("lvedd", sex)))
    labels["lv_hypertrophy"] = _label(_lvmi_grade(m, sex))
    labels["la_enlargement"] = _label(
        grade_above(m["la_vol"] / m["body_surface_area"], _thresholds("lavi", sex))
    )
    labels["rv_dilation"] = _label(grade_above(m["rv_diam"], _thresholds("rv_diam", sex)))
    labels["rv_systolic_dysfunction"] = _label(grade_below(m["tapse"], _thresholds("tapse", sex)))

    reduced_ef = labels["lv_systolic_dysfunction"].state == PRESENT
    grade = diastolic_grade(m, reduced_ef)
    if grade == "0":
        labels["diastolic_dysfunction"] = Label(ABSENT)
    elif grade == "indeterminate":
        labels["diastolic_dysfunction"] = Label(UNCERTAIN)
    else:
        labels["diastolic_dysfunction"] = Label(PRESENT, grade)

    tr_spec = load_config()["bands"]["tr_velocity"]
    tr = m["tr_velocity"]
    if tr <= tr_spec["thresholds"]["all"]["low_max"]:
        labels["pulmonary_hypertension"] = Label(ABSENT)
    elif tr <= tr_spec["thresholds"]["all"]["intermediate_max"]:
        labels["pulmonary_hypertension"] = Label(UNCERTAIN)
    else:
        pasp = 4 * tr**2 + 8
        limits = tr_spec["pasp_grade_max"]
        if pasp <= limits["mild"]:
            ph_grade = "mild"
        elif pasp <= limits["moderate"]:
            ph_grade = "moderate"
        else:
            ph_grade = "severe"
        labels["pulmonary_hypertension"] = Label(PRESENT, ph_grade)

    av_limits = _thresholds("av_pk_vel", sex)
    v = m["av_pk_vel"]
    if v <= av_limits["none_max"]:
        labels["aortic_stenosis"] = Label(ABSENT)
    elif v <= av_limits["mild_max"]:
        labels["aortic_stenosis"] = Label(PRESENT, "mild")
    elif v <= av_limits["moderate_max"]:
        labels["aortic_stenosis"] = Label(PRESENT, "moderate")
    else:
        labels["aortic_stenosis"] = Label(PRESENT, "severe")
    labels.update(latent.drawn)
    return {name: labels[name] for name in LABELS}


# Cardiologist categorical fields: (measurement name, label, values by grade). The value strings imitate
# the shapes named in public code ('0 (nl)', 'Moderate-severe (3+)'); the other spellings are invented.
_CATEGORICAL: dict[str, tuple[str, dict[str, list[str]]]] = {
    "lv_wall_thickness": (
        "lv_hypertrophy",
        {
            "": ["Normal"],
            "mild": ["Mild symmetric LVH"],
            "moderate": ["Moderate symmetric LVH"],
            "severe": ["Severe symmetric LVH"],
        },
    ),
    "lv_chamber_size": (
        "lv_dilation",
        {
            "": ["Normal"],
            "mild": ["Mildly dilated"],
            "moderate": ["Moderately dilated"],
            "severe": ["Severely dilated"],
        },
    ),
    "la_size": (
        "la_enlargement",
        {
            "": ["Normal"],
            "mild": ["Mildly dilated"],
            "moderate": ["Moderately dilated"],
            "severe": ["Severely dilated", "Markedly dilated"],
        },
    ),
    "ra_size": (
        "ra_enlargement",
        {
            "": ["Normal"],
            "mild": ["Mildly dilated"],
            "moderate": ["Moderately dilated"],
            "severe": ["Severely dilated"],
        },
    ),
    "rv_chamber_size": (
        "rv_dilation",
        {
            "": ["Normal"],
            "mild": ["Mildly dilated"],
            "moderate": ["Moderately dilated"],
            "severe": ["Severely dilated"],
        },
    ),
    "rv_function": (
        "rv_systolic_dysfunction",
        {
            "": ["Normal"],
            "mild": ["Mildly depressed"],
            "moderate": ["Moderately depressed"],
            "severe": ["Severely depressed"],
        },
    ),
    "phtn_severity": (
        "pulmonary_hypertension",
        {"": ["None"], "mild": ["Mild"], "moderate": ["Moderate"], "severe": ["Severe"]},
    ),
    "aortic_stenosis": (
        "aortic_stenosis",
        {"": ["None"], "mild": ["Mild"], "moderate": ["Moderate"], "severe": ["Severe", "Critical"]},
    ),
    "aortic_regurg": (
        "aortic_regurgitation",
        {
            "": ["None", "Trace"],
            "mild": ["Mild (1+)"],
            "moderate": ["Moderate (2+)", "Mild-moderate (1-2+)"],
            "severe": ["Severe (4+)", "Moderate-severe (3+)"],
        },
    ),
    "mitral_regurg": (
        "mitral_regurgitation",
        {
            "": ["None", "Trace"],
            "mild": ["Mild (1+)"],
            "moderate": ["Moderate (2+)", "Mild-moderate (1-2+)"],
            "severe": ["Severe (4+)", "Moderate-severe (3+)"],
        },
    ),
    "mitral_stenosis": (
        "mitral_stenosis",
        {"": ["None"], "mild": ["Mild"], "moderate": ["Moderate"], "severe": ["Severe"]},
    ),
    "tricuspid_regurg": (
        "tricuspid_regurgitation",
        {
            "": ["None", "Trace"],
            "mild": ["Mild (1+)"],
            "moderate": ["Moderate (2+)", "Mild-moderate (1-2+)"],
            "severe": ["Severe (4+)", "Moderate-severe (3+)"],
        },
    ),
    "pericardial_effusion": (
        "pericardial_effusion",
        {"": ["None", "Trivial"], "mild": ["Small"], "moderate": ["Moderate"], "severe": ["Large"]},
    ),
}

# Labels whose categorical grade may be set one step away from the numbers in a disagreement.
_DISAGREEABLE = (
    "lv_wall_thickness",
    "lv_chamber_size",
    "la_size",
    "rv_chamber_size",
    "rv_function",
    "aortic_stenosis",
)
_STEPS = ("", "mild", "moderate", "severe")


def _cardiologist_grades(
    rng: np.random.Generator, labels: dict[str, Label], disagreement: float
) -> tuple[dict[str, str], list[str]]:
    """Return the categorical fields and the labels whose field disagrees with the numbers."""
    values: dict[str, str] = {}
    disagree_field = str(rng.choice(_DISAGREEABLE)) if rng.random() < disagreement else ""
    disagrees: list[str] = []
    for name, (label_name, by_grade) in _CATEGORICAL.items():
        label = labels[label_name]
        if label.state == UNCERTAIN:
            values[name] = "" if rng.random() < 0.5 else "Unable to assess"
            continue
        grade = label.grade if label.state == PRESENT else ""
        if name == disagree_field:
            step = _STEPS.index(grade)
            step = step + 1 if step < 3 and (step == 0 or rng.random() < 0.5) else step - 1
            grade = _STEPS[step]
            disagrees.append(label_name)
        options = by_grade[grade]
        values[name] = options[int(rng.integers(len(options)))]
    diastolic = labels["diastolic_dysfunction"]
    if diastolic.state == PRESENT:
        values["diastolic_grade"] = diastolic.grade
    elif diastolic.state == UNCERTAIN:
        values["diastolic_grade"] = "Indeterminate" if rng.random() < 0.7 else "Unable to assess"
    else:
        values["diastolic_grade"] = "0 (nl)"
    values["mv_prolapse"] = "No"
    values["tamponade"] = "No"
    return values, disagrees
