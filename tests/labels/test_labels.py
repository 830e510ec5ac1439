"""Label engine: thresholds on both sides per sex in raw units, algorithms, source precedence, bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from echoground.labels import StudyInput, label_ids, label_studies, label_study
from echoground.labels.cli import labels as labels_command


def _label(rows, sex="M", label="lv_systolic_dysfunction", **extra):
    measurements = [{"name": n, "result": r, "unit": u} for n, r, u in rows]
    return label_study(StudyInput(sex=sex, measurements=measurements, **extra)).labels[label]


# (label, sex, MIMIC name, raw unit, value on the normal side, value on the abnormal side, severity)
THRESHOLDS = [
    ("lv_systolic_dysfunction", "M", "lvef", "%", "52", "51.9", "mild"),
    ("lv_systolic_dysfunction", "F", "lvef", "%", "54", "53.9", "mild"),
    ("lv_systolic_dysfunction", "M", "lvef", "%", "41", "40.9", "moderate"),
    ("lv_systolic_dysfunction", "F", "lvef", "%", "30", "29.9", "severe"),
    ("lv_dilation", "M", "lvedd", "cm", "5.8", "5.81", "mild"),
    ("lv_dilation", "F", "lvedd", "cm", "5.2", "5.21", "mild"),
    ("lv_dilation", "M", "lvedd", "mm", "68", "68.1", "severe"),
    ("lv_dilation", "F", "lvedd", "cm", "6.1", "6.11", "severe"),
    ("lv_hypertrophy", "M", "septal_thickness", "cm", "1.0", "1.01", "mild"),
    ("lv_hypertrophy", "F", "septal_thickness", "cm", "0.9", "0.91", "mild"),
    ("lv_hypertrophy", "M", "inf_lat_thickness", "cm", "1.69", "1.7", "severe"),
    ("lv_hypertrophy", "F", "inf_lat_thickness", "cm", "1.59", "1.6", "severe"),
    ("rv_dilation", "M", "rv_diam", "cm", "4.1", "4.11", None),
    ("rv_systolic_dysfunction", "M", "tapse", "cm", "1.7", "1.69", None),
    ("rv_systolic_dysfunction", "F", "tapse", "mm", "17", "16.9", None),
]


@pytest.mark.parametrize(("label", "sex", "name", "unit", "normal", "abnormal", "severity"), THRESHOLDS)
def test_threshold_both_sides(label, sex, name, unit, normal, abnormal, severity) -> None:
    below = _label([(name, normal, unit)], sex, label)
    above = _label([(name, abnormal, unit)], sex, label)
    assert below.state in ("absent", "present")
    assert above.state == "present"
    assert above.severity == severity
    if below.state == "present":
        # The normal-side value of a higher band is still the lower grade.
        assert below.severity != severity


@pytest.mark.parametrize(
    ("volume", "state", "severity"),
    [
        (34 * 2, "absent", None),
        (34.1 * 2, "present", "mild"),
        (48 * 2, "present", "moderate"),
        (48.1 * 2, "present", "severe"),
    ],
)
def test_lavi_cutoffs(volume, state, severity) -> None:
    result = _label(
        [("la_vol", str(volume), "mL"), ("body_surface_area", "2.0", "m2")], "M", "la_enlargement"
    )
    assert result.state == state
    assert result.severity == severity


@pytest.mark.parametrize(("sex", "mass_index_state"), [("M", "absent"), ("F", "present")])
def test_lvmi_sex_specific(sex, mass_index_state) -> None:
    # LVIDd 4.8 cm, walls 1.0 cm: LV mass about 170 g; with BSA 1.7 m2, LVMI about 100 g/m2, which is
    # normal for men (<= 115) and abnormal for women (> 95).
    rows = [
        ("lvedd", "4.8", "cm"),
        ("septal_thickness", "1.0", "cm"),
        ("inf_lat_thickness", "1.0", "cm"),
        ("body_surface_area", "1.7", "m2"),
    ]
    result = _label(rows, sex, "lv_hypertrophy")
    assert result.rule == "lvmi_lang2015"
    assert result.state == mass_index_state


def test_bound_straddling_cutoff_is_uncertain() -> None:
    assert _label([("lvef", ">45", "%")]).state == "uncertain"
    assert _label([("lvef", ">55", "%")]).state == "absent"
    assert _label([("lvef", "<20", "%")]).severity == "severe"


def test_missing_sex_only_affects_sex_specific() -> None:
    result = label_study(
        StudyInput(
            sex=None,
            measurements=[
                {"name": "lvef", "result": "30", "unit": "%"},
                {"name": "tapse", "result": "1.2", "unit": "cm"},
            ],
        )
    )
    assert result.labels["lv_systolic_dysfunction"].state == "not_assessed"
    assert result.labels["rv_systolic_dysfunction"].state == "present"


@pytest.mark.parametrize(
    ("velocity", "state"), [("2.8", "absent"), ("2.9", "uncertain"), ("3.4", "uncertain"), ("3.5", "present")]
)
def test_ph_probability_by_tr_velocity(velocity, state) -> None:
    assert _label([("tr_velocity", velocity, "m/s")], label="pulmonary_hypertension").state == state


def test_ph_other_signs_raise_probability() -> None:
    rows = [("tr_velocity", "3.0", "m/s"), ("ra_area", "20", "cm2"), ("pa_diam", "2.7", "cm")]
    assert _label(rows, label="pulmonary_hypertension").state == "present"


def test_ph_from_tr_gradient() -> None:
    # 4 x 3.5^2 = 49 mmHg, so the TR velocity derived from the gradient is 3.5 m/s.
    assert _label([("tr_mmhg", "49", "mmHg")], label="pulmonary_hypertension").state == "present"


def _diastolic(rows, sex="M"):
    return _label([("lvef", "60", "%"), *rows], sex, "diastolic_dysfunction")


def test_diastolic_normal_lvef_majority_positive() -> None:
    rows = [
        ("e_e_prime", "15", ""),
        ("sept_e_prime", "0.06", "m/s"),
        ("tr_velocity", "2.5", "m/s"),
        ("mv_peak_e_a", "0.7", ""),
        ("mv_peak_e", "0.45", "m/s"),
    ]
    result = _diastolic(rows)
    assert result.state == "present"
    assert result.severity == "I"


def test_diastolic_half_positive_is_uncertain() -> None:
    assert _diastolic([("e_e_prime", "15", ""), ("tr_velocity", "2.5", "m/s")]).state == "uncertain"


@pytest.mark.parametrize(("septal", "state"), [("0.07", "absent"), ("0.069", "present")])
def test_diastolic_septal_e_prime_in_m_per_s(septal, state) -> None:
    rows = [
        ("sept_e_prime", septal, "m/s"),
        ("e_e_prime", "15", ""),
        ("tr_velocity", "2.5", "m/s"),
        ("mv_peak_e_a", "2.1", ""),
    ]
    assert _diastolic(rows).state == state


def test_diastolic_reduced_ef_grade_iii() -> None:
    result = _label([("lvef", "30", "%"), ("mv_peak_e_a", "2.0", "")], "M", "diastolic_dysfunction")
    assert result.severity == "III"


def test_aortic_stenosis_agreement_and_disagreement() -> None:
    agree = _label([("av_pk_vel", "4.1", "m/s"), ("av_mean_grad", "45", "mmHg")], label="aortic_stenosis")
    assert (agree.state, agree.severity) == ("present", "severe")
    disagree = _label([("av_pk_vel", "4.1", "m/s"), ("av_mean_grad", "30", "mmHg")], label="aortic_stenosis")
    assert disagree.state == "present"
    assert any("criterion_grades" in item for item in disagree.inputs)
    assert any("disagree" in item.get("note", "") for item in disagree.inputs)
    assert _label([("av_pk_vel", "2.5", "m/s")], label="aortic_stenosis").state == "absent"
    assert _label([("av_pk_vel", "2.6", "m/s")], label="aortic_stenosis").severity == "mild"


def test_source_precedence_and_conflict() -> None:
    study = StudyInput(
        sex="M",
        measurements=[{"name": "lvef", "result": "60", "unit": "%"}],
        cardiologist={"lv_function": "Severely depressed", "mitral_regurg": "Trace"},
        report_text="Conclusions: Moderate (2+) MR.",
    )
    labels = label_study(study).labels
    assert labels["lv_systolic_dysfunction"].source == "measurements"
    assert labels["lv_systolic_dysfunction"].state == "absent"
    assert labels["lv_systolic_dysfunction"].conflict is True
    assert labels["mitral_regurgitation"].source == "cardiologist"
    assert labels["mitral_regurgitation"].state == "absent"
    assert labels["mitral_regurgitation"].conflict is True


def test_uncertain_source_yields_to_definite() -> None:
    study = StudyInput(
        sex="M",
        cardiologist={"diastolic_grade": "Indeterminate"},
        report_text="Grade I diastolic dysfunction.",
    )
    result = label_study(study).labels["diastolic_dysfunction"]
    assert (result.state, result.severity, result.source) == ("present", "I", "report_text")


def test_every_label_reported() -> None:
    result = label_study(StudyInput())
    assert set(result.labels) == set(label_ids())
    assert all(item.state == "not_assessed" for item in result.labels.values())


def test_label_studies_frame() -> None:
    frame = label_studies([StudyInput(study_id=1, sex="F", report_text="No AS."), StudyInput(study_id=2)])
    assert len(frame) == 2 * len(label_ids())
    row = frame[(frame.study_id == 1) & (frame.label == "aortic_stenosis")].iloc[0]
    assert row.state == "absent"
    assert json.loads(row.inputs) == [{"mentions": 1}]


def test_labels_cli(tmp_path) -> None:
    path = tmp_path / "study.json"
    path.write_text(
        json.dumps(
            {
                "sex": "F",
                "height_cm": 160,
                "weight_kg": 60,
                "measurements": [
                    {"name": "lvef", "result": "25", "unit": "%"},
                    {"name": "unknown_thing", "result": "3", "unit": "zz"},
                ],
            }
        )
    )
    result = CliRunner().invoke(labels_command, [str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["derived"]["bsa"]["unit"] == "m2"
    assert data["labels"]["lv_systolic_dysfunction"]["severity"] == "severe"
    assert set(data["labels"]) == set(label_ids())


def test_labels_cli_invalid_json(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"{not json \xff")
    result = CliRunner().invoke(labels_command, [str(path)])
    assert result.exit_code != 0
    assert "invalid JSON" in result.output
