"""Quantities derived from measured ones: BSA, LAVI, LV mass, LVMI, RWT, average E/e', TR velocity, RVSP.

Formulas follow the ASE/EACVI chamber quantification guideline (Lang et al., JASE 2015) and the
ASE/EACVI diastolic function guideline (Nagueh et al., JASE 2016). Inputs are in canonical units
(names.yaml): lengths cm, E and e' cm/s, TR velocity m/s, volumes mL, BSA m2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

# RAP (mmHg) estimated from IVC size and inspiratory collapse, and the default when the IVC is not
# measured (ASE/EACVI 2015 right-heart estimate: 3, 8 or 15 mmHg).
RAP_NORMAL_MMHG = 3.0
RAP_INTERMEDIATE_MMHG = 8.0
RAP_HIGH_MMHG = 15.0
IVC_DILATED_CM = 2.1
IVC_COLLAPSE_PERCENT = 50.0


@dataclass(frozen=True)
class Derived:
    """A derived value with its unit, the inputs used and whether an assumed default entered it."""

    value: float
    unit: str
    inputs: dict[str, float] = field(default_factory=dict)
    assumed: tuple[str, ...] = ()


def mosteller_bsa(height_cm: float, weight_kg: float) -> float:
    """Return body surface area in m2 by Mosteller: sqrt(height_cm x weight_kg / 3600)."""
    return math.sqrt(height_cm * weight_kg / 3600.0)


def lv_mass_linear(lvidd_cm: float, ivsd_cm: float, lvpwd_cm: float) -> float:
    """Return LV mass in g by the ASE linear (cube) formula.

    LV mass = 0.8 x 1.04 x [(LVIDd + IVSd + LVPWd)^3 - LVIDd^3] + 0.6, lengths in cm.
    """
    return 0.8 * 1.04 * ((lvidd_cm + ivsd_cm + lvpwd_cm) ** 3 - lvidd_cm**3) + 0.6


def right_atrial_pressure(ivc_cm: float | None, collapse_percent: float | None) -> tuple[float, bool]:
    """Return (RAP in mmHg, assumed) from IVC diameter and inspiratory collapse.

    IVC <= 2.1 cm with > 50 % collapse gives 3 mmHg, IVC > 2.1 cm with < 50 % collapse gives 15 mmHg,
    anything in between gives 8 mmHg. Without an IVC diameter the default 8 mmHg is returned and marked
    assumed.
    """
    if ivc_cm is None:
        return RAP_INTERMEDIATE_MMHG, True
    if collapse_percent is None:
        return (RAP_INTERMEDIATE_MMHG if ivc_cm <= IVC_DILATED_CM else RAP_HIGH_MMHG), False
    if ivc_cm <= IVC_DILATED_CM and collapse_percent > IVC_COLLAPSE_PERCENT:
        return RAP_NORMAL_MMHG, False
    if ivc_cm > IVC_DILATED_CM and collapse_percent < IVC_COLLAPSE_PERCENT:
        return RAP_HIGH_MMHG, False
    return RAP_INTERMEDIATE_MMHG, False


def derive(values: Mapping[str, float]) -> dict[str, Derived]:
    """Compute every derived quantity whose inputs are present in ``values`` (canonical names and units).

    A measured BSA is kept; BSA is derived from ``height`` (cm) and ``weight`` (kg) only when absent.
    """

    def get(name: str) -> float | None:
        value = values.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)

    derived: dict[str, Derived] = {}
    bsa = get("bsa")
    height, weight = get("height"), get("weight")
    if bsa is None and height is not None and weight is not None and height > 0 and weight > 0:
        bsa = mosteller_bsa(height, weight)
        derived["bsa"] = Derived(bsa, "m2", {"height": height, "weight": weight})

    la_volume = get("la_volume")
    if la_volume is not None and bsa:
        derived["lavi"] = Derived(la_volume / bsa, "mL/m2", {"la_volume": la_volume, "bsa": bsa})

    lvidd, ivsd, lvpwd = get("lvidd"), get("ivsd"), get("lvpwd")
    if lvidd is not None and ivsd is not None and lvpwd is not None:
        mass = lv_mass_linear(lvidd, ivsd, lvpwd)
        derived["lv_mass"] = Derived(mass, "g", {"lvidd": lvidd, "ivsd": ivsd, "lvpwd": lvpwd})
        if bsa:
            derived["lvmi"] = Derived(mass / bsa, "g/m2", {"lv_mass": mass, "bsa": bsa})
    if lvidd and lvpwd is not None:
        derived["rwt"] = Derived(2 * lvpwd / lvidd, "1", {"lvpwd": lvpwd, "lvidd": lvidd})

    mv_e = get("mv_e")
    septal, lateral = get("e_prime_septal"), get("e_prime_lateral")
    e_primes = [e for e in (septal, lateral) if e]
    if mv_e is not None and e_primes and get("e_e_prime") is None:
        inputs = {"mv_e": mv_e} | {
            n: v for n, v in (("e_prime_septal", septal), ("e_prime_lateral", lateral)) if v
        }
        derived["e_e_prime"] = Derived(mv_e / (sum(e_primes) / len(e_primes)), "1", inputs)

    tr_velocity = get("tr_velocity")
    tr_gradient = get("tr_gradient")
    if tr_velocity is None and tr_gradient is not None:
        # Simplified Bernoulli: gradient = 4 v^2, so v = sqrt(gradient / 4).
        tr_velocity = math.sqrt(tr_gradient / 4.0)
        derived["tr_velocity"] = Derived(tr_velocity, "m/s", {"tr_gradient": tr_gradient})
    if tr_velocity is not None and get("rvsp") is None:
        rap, assumed = right_atrial_pressure(get("ivc_diameter"), get("ivc_collapse"))
        inputs = {"tr_velocity": tr_velocity, "rap": rap}
        derived["rvsp"] = Derived(4 * tr_velocity**2 + rap, "mmHg", inputs, ("rap",) if assumed else ())
    return derived
