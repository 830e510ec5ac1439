"""The measurement catalogue: name map, canonical units and plausibility limits, read from names.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class MeasurementSpec:
    """One canonical measurement: its kind, canonical unit, raw unit assumed when empty and limits."""

    name: str
    kind: str
    unit: str
    default_unit: str
    minimum: float
    maximum: float


@dataclass(frozen=True)
class Catalog:
    """The parsed contents of names.yaml."""

    version: str
    specs: dict[str, MeasurementSpec]
    aliases: dict[str, str]
    unit_factors: dict[str, dict[str, float]]

    def canonical_name(self, raw_name: str) -> str | None:
        """Return the canonical name of a MIMIC measurement name, or None when the name is not mapped."""
        return self.aliases.get(normalise_key(raw_name))

    def to_canonical_unit(self, name: str, value: float, raw_unit: str | None) -> tuple[float, bool]:
        """Convert ``value`` from ``raw_unit`` into the canonical unit of ``name``.

        Returns:
            The converted value and whether the raw unit was empty, so the catalogue default was assumed.

        Raises:
            ValueError: when the unit is not one of those listed for the measurement's kind in names.yaml.
        """
        spec = self.specs[name]
        unit_key = normalise_unit(raw_unit)
        assumed = unit_key == ""
        if assumed:
            unit_key = normalise_unit(spec.default_unit)
        factors = self.unit_factors[spec.kind]
        if unit_key not in factors:
            known = ", ".join(sorted(key for key in factors if key))
            raise ValueError(
                f"unit {raw_unit!r} is not known for {name} (kind {spec.kind}); expected one of: {known}"
            )
        # Rounded so that 68 mm becomes 6.8 cm exactly, not 6.800000000000001, which would cross a cut-off.
        return round(value * factors[unit_key], 9), assumed


def normalise_key(raw_name: str) -> str:
    return str(raw_name).strip().lower().replace(" ", "_").replace("-", "_")


def normalise_unit(raw_unit: str | None) -> str:
    if raw_unit is None:
        return ""
    text = str(raw_unit).strip().lower()
    if text in ("nan", "none"):
        return ""
    return " ".join(text.split()).replace(" /", "/").replace("/ ", "/")


@cache
def load_catalog() -> Catalog:
    """Read names.yaml once per process and check that no MIMIC name maps to two canonical names."""
    text = resources.files(__package__).joinpath("names.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    units = data["canonical_units"]
    factors = {
        kind: {normalise_unit(unit): float(f) for unit, f in table.items()}
        for kind, table in data["unit_factors"].items()
    }
    specs: dict[str, MeasurementSpec] = {}
    aliases: dict[str, str] = {}
    for name, entry in data["measurements"].items():
        kind = entry["kind"]
        if kind not in units or kind not in factors:
            raise ValueError(f"names.yaml: measurement {name} has unknown kind {kind!r}")
        specs[name] = MeasurementSpec(
            name, kind, units[kind], str(entry["default_unit"]), entry["min"], entry["max"]
        )
        for alias in [name, *entry["names"]]:
            key = normalise_key(alias)
            if aliases.get(key, name) != name:
                raise ValueError(f"names.yaml: name {alias!r} maps to both {aliases[key]} and {name}")
            aliases[key] = name
    return Catalog(str(data["version"]), specs, aliases, factors)
