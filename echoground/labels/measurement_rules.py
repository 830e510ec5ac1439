"""Measurement rules that are more than one cut-off: diastolic function, PH probability, AS, regurgitation."""

from __future__ import annotations

from typing import Any

from echoground.labels.engine import SourceResult, Value, compare, evaluate_cutoffs


def _check(values: dict[str, Value], name: str, op: str, threshold: float) -> bool | None:
    value = values.get(name)
    if value is None:
        return None
    return compare(op, value.low, value.high, threshold)


def _inputs(values: dict[str, Value], names: list[str]) -> list[dict[str, Any]]:
    return [values[name].as_input() for name in names if name in values]


def diastolic(
    rule: dict[str, Any], values: dict[str, Value], lv_systolic: SourceResult | None
) -> SourceResult | None:
    """Apply the 2016 algorithm: the four criteria for normal LVEF, then grading."""
    names = [
        "e_e_prime",
        "e_prime_septal",
        "e_prime_lateral",
        "tr_velocity",
        "lavi",
        "mv_e",
        "mv_e_a",
        "lvef",
    ]
    inputs = _inputs(values, names)
    e_prime = [
        _check(values, "e_prime_septal", "<", rule["septal_e_prime_below"]),
        _check(values, "e_prime_lateral", "<", rule["lateral_e_prime_below"]),
    ]
    measured_e_prime = [c for c in e_prime if c is not None]
    criteria = [
        _check(values, "e_e_prime", ">", rule["e_e_prime_above"]),
        (
            True
            if True in measured_e_prime
            else (False if measured_e_prime and all(c is False for c in measured_e_prime) else None)
        ),
        _check(values, "tr_velocity", ">", rule["tr_velocity_above"]),
        _check(values, "lavi", ">", rule["lavi_above"]),
    ]
    reduced_ef = lv_systolic is not None and lv_systolic.state == "present"
    if not reduced_ef:
        if lv_systolic is None or lv_systolic.state != "absent":
            return (
                None
                if not any(c is not None for c in criteria)
                else SourceResult(
                    "uncertain",
                    None,
                    rule["id"],
                    inputs,
                    note="LVEF unknown, so the algorithm cannot be chosen",
                )
            )
        measured = [c for c in criteria if c is not None]
        if not measured:
            return None
        positive = sum(1 for c in measured if c)
        if 2 * positive < len(measured):
            return SourceResult("absent", None, rule["id"], inputs)
        if 2 * positive == len(measured):
            return SourceResult(
                "uncertain", None, rule["id"], inputs, note="indeterminate: half the criteria"
            )
    grade = _grade(rule, values)
    if grade == "indeterminate":
        return SourceResult("uncertain", None, rule["id"], inputs, note="indeterminate grade")
    if grade is None and reduced_ef:
        return None
    return SourceResult("present", grade, rule["id"], inputs)


def _grade(rule: dict[str, Any], values: dict[str, Value]) -> str | None:
    e_a = values.get("mv_e_a")
    mv_e = values.get("mv_e")
    if e_a is None:
        return None
    if e_a.value >= rule["e_a_grade_iii_at_least"]:
        return "III"
    if (
        e_a.value <= rule["e_a_grade_i_at_most"]
        and mv_e is not None
        and mv_e.value <= rule["e_grade_i_at_most"]
    ):
        return "I"
    checks = [
        _check(values, "e_e_prime", ">", rule["e_e_prime_above"]),
        _check(values, "tr_velocity", ">", rule["tr_velocity_above"]),
        _check(values, "lavi", ">", rule["lavi_above"]),
    ]
    measured = [c for c in checks if c is not None]
    positive = sum(1 for c in measured if c)
    negative = len(measured) - positive
    if positive > negative:
        return "II"
    if negative > positive:
        return "I"
    return "indeterminate"


def pulmonary_hypertension(rule: dict[str, Any], values: dict[str, Value]) -> SourceResult | None:
    """Apply the ESC/ERS echo probability table (high present, intermediate uncertain, low absent)."""
    derived = dict(values)
    ivc, collapse = values.get("ivc_diameter"), values.get("ivc_collapse")
    if ivc is not None and collapse is not None:
        flag = float(ivc.value > rule["ivc_dilated_above"] and collapse.value < rule["ivc_collapse_below"])
        derived["ivc_dilated_poor_collapse"] = Value.exact("ivc_dilated_poor_collapse", flag, "1")
    categories_positive = 0
    sign_inputs: list[str] = []
    for checks in rule["signs"].values():
        hits = [_check(derived, c["input"], c["op"], c["value"]) for c in checks]
        sign_inputs += [c["input"] for c in checks if c["input"] in derived]
        categories_positive += any(hit is True for hit in hits)
    tr = values.get("tr_velocity")
    if tr is None and not sign_inputs:
        return None
    signs = categories_positive >= 2
    if tr is not None and compare(">", tr.low, tr.high, rule["tr_high_above"]) is True:
        probability = "high"
    elif tr is not None and compare(">", tr.low, tr.high, rule["tr_low_at_most"]) is True:
        probability = "high" if signs else "intermediate"
    else:
        probability = "intermediate" if signs else "low"
    inputs = _inputs(derived, ["tr_velocity", *sign_inputs])
    state = rule["probability_to_state"][probability]
    return SourceResult(state, None, rule["id"], inputs, note=f"ESC/ERS probability {probability}")


def aortic_stenosis(rule: dict[str, Any], values: dict[str, Value]) -> SourceResult | None:
    """Grade AS by each criterion; criteria that share no grade are recorded as a disagreement."""
    grades: dict[str, set[str]] = {}
    for name, bands in rule["criteria"].items():
        value = values.get(name)
        if value is None:
            continue
        for band in bands:
            if compare(band["op"], value.value, value.value, band["value"]):
                grades[name] = set(band["grades"])
                break
    if not grades:
        return None
    inputs = [*_inputs(values, list(grades)), {"criterion_grades": {k: sorted(v) for k, v in grades.items()}}]
    common = set.intersection(*grades.values())
    if len(common) == 1:
        grade = common.pop()
        return SourceResult(
            "absent" if grade == "none" else "present", None if grade == "none" else grade, rule["id"], inputs
        )
    if common:
        return None  # Only criteria that cannot tell none from mild were measured.
    primary = next(iter(grades.get(name, set()) for name in rule["criteria"] if name in grades))
    stenosis = all(grade_set != {"none"} for grade_set in grades.values())
    severity = sorted(primary)[-1] if primary and primary != {"none"} else None
    return SourceResult(
        "present" if stenosis and severity else "uncertain",
        severity if stenosis else None,
        rule["id"],
        inputs,
        note="criteria disagree; severity from the first criterion measured",
    )


def regurgitation(rule: dict[str, Any], values: dict[str, Value]) -> SourceResult | None:
    """Apply severe-if-any and mild-if-all quantitative criteria; otherwise moderate when measured."""
    severe = [_check(values, c["input"], c["op"], c["value"]) for c in rule["severe_if_any"]]
    names = [c["input"] for c in rule["severe_if_any"] if c["input"] in values]
    if not names:
        return None
    inputs = _inputs(values, names)
    if any(check is True for check in severe):
        return SourceResult("present", "severe", rule["id"], inputs)
    if "mild_if_all" not in rule:
        return None
    mild = [
        _check(values, c["input"], c["op"], c["value"]) for c in rule["mild_if_all"] if c["input"] in values
    ]
    return SourceResult("present", "mild" if all(m is True for m in mild) else "moderate", rule["id"], inputs)


def measurement_results(values: dict[str, Value], sex: str | None) -> dict[str, SourceResult | None]:
    """Apply every measurement rule of rules.yaml; a label whose inputs are all missing maps to None."""
    from echoground.labels.engine import load_rules

    rules = load_rules()["rules"]
    results: dict[str, SourceResult | None] = {}
    for label, label_rules in rules.items():
        outcome = None
        for rule in label_rules:
            if "cutoffs" in rule:
                candidate = evaluate_cutoffs(rule, values, sex)
            elif label == "diastolic_dysfunction":
                candidate = diastolic(rule, values, results.get("lv_systolic_dysfunction"))
            elif label == "pulmonary_hypertension":
                candidate = pulmonary_hypertension(rule, values)
            elif label == "aortic_stenosis":
                candidate = aortic_stenosis(rule, values)
            else:
                candidate = regurgitation(rule, values)
            if candidate is None:
                continue
            if outcome is None or (outcome.state != "present" and candidate.state == "present"):
                outcome = candidate
        results[label] = outcome
    return results
