"""Ground-truth labels follow the guideline cut-offs of cohort.yaml, on each side of every threshold."""

from __future__ import annotations

import pytest

from echoground.synth import cohort
from echoground.synth.cohort import (
    _lvmi_grade,
    diastolic_grade,
    grade_above,
    grade_below,
    teichholz_end_systolic_diameter,
)


def _limits(name: str, sex: str) -> dict[str, float]:
    spec = cohort.load_config()["bands"][name]["thresholds"]
    return spec.get(sex, spec.get("all"))


@pytest.mark.parametrize(
    ("sex", "lvef", "grade"),
    [
        ("M", 52, ""),
        ("M", 51, "mild"),
        ("F", 54, ""),
        ("F", 53, "mild"),
        ("M", 41, "mild"),
        ("M", 40, "moderate"),
        ("F", 30, "moderate"),
        ("F", 29, "severe"),
    ],
)
def test_lvef_grade_boundaries(sex: str, lvef: float, grade: str) -> None:
    assert grade_below(lvef, _limits("lvef", sex)) == grade


@pytest.mark.parametrize(
    ("sex", "lvedd", "grade"),
    [
        ("M", 5.8, ""),
        ("M", 5.9, "mild"),
        ("M", 6.3, "mild"),
        ("M", 6.4, "moderate"),
        ("M", 6.9, "severe"),
        ("F", 5.2, ""),
        ("F", 5.3, "mild"),
        ("F", 6.1, "moderate"),
        ("F", 6.2, "severe"),
    ],
)
def test_lvedd_grade_boundaries(sex: str, lvedd: float, grade: str) -> None:
    assert grade_above(lvedd, _limits("lvedd", sex)) == grade


@pytest.mark.parametrize(
    ("sex", "wall", "grade"),
    [
        ("M", 1.0, ""),
        ("M", 1.1, "mild"),
        ("M", 1.7, "severe"),
        ("F", 0.9, ""),
        ("F", 1.0, "mild"),
        ("F", 1.6, "severe"),
    ],
)
def test_wall_thickness_boundaries(sex: str, wall: float, grade: str) -> None:
    assert grade_above(wall, _limits("wall_thickness", sex)) == grade


@pytest.mark.parametrize(
    ("lavi", "grade"), [(34, ""), (35, "mild"), (41, "mild"), (42, "moderate"), (49, "severe")]
)
def test_lavi_boundaries(lavi: float, grade: str) -> None:
    assert grade_above(lavi, _limits("lavi", "M")) == grade


@pytest.mark.parametrize(("tapse", "grade"), [(1.7, ""), (1.6, "mild"), (1.0, "moderate"), (0.9, "severe")])
def test_tapse_boundaries(tapse: float, grade: str) -> None:
    assert grade_below(tapse, _limits("tapse", "F")) == grade


NORMAL_DIASTOLE = {
    "mv_peak_e": 0.8,
    "mv_peak_a": 0.6,
    "sept_e_prime": 0.09,
    "lat_e_prime": 0.12,
    "e_e_prime": 7.6,
    "tr_velocity": 2.4,
    "la_vol": 50.0,
    "body_surface_area": 2.0,
}


def test_diastolic_normal_ef_counts_criteria() -> None:
    assert diastolic_grade(NORMAL_DIASTOLE, reduced_ef=False) == "0"
    two_positive = NORMAL_DIASTOLE | {"tr_velocity": 2.9, "la_vol": 70.0}  # 2 of 4: indeterminate
    assert diastolic_grade(two_positive, reduced_ef=False) == "indeterminate"
    tr_at_cut_off = NORMAL_DIASTOLE | {"tr_velocity": 2.8, "la_vol": 70.0}  # 2.8 is not > 2.8
    assert diastolic_grade(tr_at_cut_off, reduced_ef=False) == "0"


def test_diastolic_grading_with_reduced_ef() -> None:
    grade_one = NORMAL_DIASTOLE | {"mv_peak_e": 0.5, "mv_peak_a": 0.7}
    assert diastolic_grade(grade_one, reduced_ef=True) == "I"
    e_above_50 = NORMAL_DIASTOLE | {"mv_peak_e": 0.51, "mv_peak_a": 0.7, "e_e_prime": 15.0, "la_vol": 70.0}
    assert diastolic_grade(e_above_50, reduced_ef=True) == "II"
    restrictive = NORMAL_DIASTOLE | {"mv_peak_e": 1.2, "mv_peak_a": 0.6}
    assert diastolic_grade(restrictive, reduced_ef=True) == "III"
    just_below_two = NORMAL_DIASTOLE | {"mv_peak_e": 1.19, "mv_peak_a": 0.6}
    assert diastolic_grade(just_below_two, reduced_ef=True) == "I"


def test_teichholz_diameter_gives_lvef() -> None:
    for edd, ef in [(5.0, 60.0), (6.5, 25.0), (4.2, 70.0)]:
        esd = teichholz_end_systolic_diameter(edd, ef)
        volume_ed, volume_es = cohort.teichholz_volume(edd), cohort.teichholz_volume(esd)
        assert 100 * (1 - volume_es / volume_ed) == pytest.approx(ef, abs=0.01)


def test_study_labels_agree_with_numbers() -> None:
    for index in range(60):
        patient = cohort.make_patient(3, index)
        study = cohort.make_study(3, patient, 0)
        m, labels = study.measurements, study.labels
        lvsd = labels["lv_systolic_dysfunction"]
        assert (lvsd.state == "present") == (m["lvef"] < _limits("lvef", study.sex)["normal_min"])
        av = labels["aortic_stenosis"]
        assert (av.state == "present") == (m["av_pk_vel"] > 2.5)
        if av.grade == "severe":
            assert m["av_pk_vel"] >= 4.0
            assert m["av_mean_grad"] >= 40
        ph = labels["pulmonary_hypertension"]
        assert (ph.state == "absent") == (m["tr_velocity"] <= 2.8)
        bsa = (study.height_cm * study.weight_kg / 3600) ** 0.5
        assert study.bsa == pytest.approx(bsa, abs=0.006)


def test_patient_ids_unique_and_in_range() -> None:
    ids = [cohort.make_patient(0, index).subject_id for index in range(3000)]
    assert len(set(ids)) == len(ids)
    assert all(10_000_000 <= subject <= 19_999_999 for subject in ids)


def _study_with_lvmi(target_lvmi: float) -> dict[str, float]:
    # LVIDd 5.0 cm, IVSd 1.0 cm, LVPWd 1.0 cm: ASE linear mass 0.8 * 1.04 * (7.0^3 - 5.0^3) + 0.6 g.
    mass_g = 0.8 * 1.04 * (7.0**3 - 5.0**3) + 0.6
    return {
        "lvedd": 5.0,
        "septal_thickness": 1.0,
        "inf_lat_thickness": 1.0,
        "body_surface_area": mass_g / target_lvmi,
    }


@pytest.mark.parametrize(
    ("sex", "lvmi", "grade"),
    [
        ("M", 114.9, ""),
        ("M", 115.1, "mild"),
        ("M", 131.9, "mild"),
        ("M", 132.1, "moderate"),
        ("M", 148.9, "moderate"),
        ("M", 149.1, "severe"),
        ("F", 94.9, ""),
        ("F", 95.1, "mild"),
        ("F", 108.9, "mild"),
        ("F", 109.1, "moderate"),
        ("F", 121.9, "moderate"),
        ("F", 122.1, "severe"),
    ],
)
def test_lvh_graded_by_lv_mass_index(sex: str, lvmi: float, grade: str) -> None:
    assert _lvmi_grade(_study_with_lvmi(lvmi), sex) == grade
