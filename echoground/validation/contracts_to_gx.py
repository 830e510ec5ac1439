"""Generate Great Expectations 1.x suites (JSON) from the ODCS v3 data contracts.

Run ``python -m echoground.validation.contracts_to_gx`` to rewrite ``expectations/*.json`` after a
contract changes; a test checks that the committed suites equal the generated ones. This module does
not import great_expectations: it writes the suite JSON format (``name``, ``expectations`` with
``type``, ``kwargs``, ``meta`` and ``severity``) directly.

Mapping from a contract property to expectations (severity "critical" unless a quality rule sets another):
column present; ``required`` -> not null; ``unique`` -> unique; ``physicalType`` -> pandas dtype;
``logicalTypeOptions`` minimum/maximum -> between, pattern -> regex, minLength/maxLength -> value
lengths. Quality rules: ``nullValues`` -> not null, ``invalidValues`` with ``validValues`` -> in set,
``duplicateValues`` -> unique, ``rowCount`` -> row count, and ``type: custom`` with ``engine:
greatExpectations`` -> the expectation in ``implementation``. A rule's ``severity`` "error" becomes
GX "critical" and "warning" stays "warning".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPOSITORY_ROOT / "data_contracts"
EXPECTATIONS_DIR = REPOSITORY_ROOT / "expectations"

SEVERITIES = {"error": "critical", "warning": "warning"}

# ODCS physicalType -> pandas dtype names that GX 1.24 reports for a column. GX 1.24 does not accept
# pandas 3's default "str" dtype, so string columns must use the "string" dtype (StringDtype). GX names a
# pandas extension dtype by its class (Int64Dtype), a NumPy dtype by its name (int64).
PANDAS_TYPES: dict[str, list[str]] = {
    "string": ["StringDtype"],
    "int64": ["int64", "Int64Dtype"],
    "float64": ["float64", "Float64Dtype"],
    "bool": ["bool", "BooleanDtype"],
}


def suite_from_contract(path: Path) -> dict[str, Any]:
    """Return the GX suite (as a JSON-ready dict) for the one table that a contract file describes.

    Raises:
        ValueError: naming the file and rule, if the contract has no single schema object, a quality
            rule has no or an unknown severity, or a rule's metric cannot be translated.
    """
    path = Path(path)
    contract = yaml.safe_load(path.read_text(encoding="utf-8"))
    schema = contract.get("schema") or []
    if len(schema) != 1:
        raise ValueError(f"{path}: expected one schema object (one table), found {len(schema)}")
    table = schema[0]
    source = f"data_contracts/{path.name}"
    expectations: list[dict[str, Any]] = []

    def add(kind: str, kwargs: dict[str, Any], rule: str, severity: str, column: str | None = None) -> None:
        meta = {"contract": source, "rule": rule}
        if column is not None:
            meta["column"] = column
        expectations.append({"type": kind, "kwargs": kwargs, "meta": meta, "severity": severity})

    for prop in table.get("properties") or []:
        column = prop["name"]
        add("expect_column_to_exist", {"column": column}, "column_present", "critical", column)
        if prop.get("required"):
            add("expect_column_values_to_not_be_null", {"column": column}, "required", "critical", column)
        if prop.get("unique"):
            add("expect_column_values_to_be_unique", {"column": column}, "unique", "critical", column)
        physical = prop.get("physicalType")
        if physical in PANDAS_TYPES:
            kwargs = {"column": column, "type_list": PANDAS_TYPES[physical]}
            add("expect_column_values_to_be_in_type_list", kwargs, "physical_type", "critical", column)
        options = prop.get("logicalTypeOptions") or {}
        if "minimum" in options or "maximum" in options:
            kwargs = {
                "column": column,
                "min_value": options.get("minimum"),
                "max_value": options.get("maximum"),
            }
            add("expect_column_values_to_be_between", kwargs, "range", "critical", column)
        if "pattern" in options:
            kwargs = {"column": column, "regex": options["pattern"]}
            add("expect_column_values_to_match_regex", kwargs, "pattern", "critical", column)
        if "minLength" in options or "maxLength" in options:
            kwargs = {
                "column": column,
                "min_value": options.get("minLength"),
                "max_value": options.get("maxLength"),
            }
            add("expect_column_value_lengths_to_be_between", kwargs, "length", "critical", column)
        for rule in prop.get("quality") or []:
            kind, kwargs = _quality_expectation(rule, path, column)
            add(kind, kwargs, rule.get("name", rule.get("metric", "custom")), _severity(rule, path), column)

    for rule in table.get("quality") or []:
        kind, kwargs = _quality_expectation(rule, path, None)
        add(kind, kwargs, rule.get("name", rule.get("metric", "custom")), _severity(rule, path))

    return {
        "name": table["name"],
        "id": None,
        "expectations": expectations,
        "meta": {"generated_from": source, "contract_version": str(contract.get("version"))},
        "notes": f"Generated by echoground.validation.contracts_to_gx from {source}; do not edit by hand.",
    }


def _severity(rule: dict[str, Any], path: Path) -> str:
    severity = rule.get("severity")
    if severity not in SEVERITIES:
        raise ValueError(
            f"{path}: quality rule {rule.get('name')!r} has severity {severity!r}; "
            f"use one of {list(SEVERITIES)}"
        )
    return SEVERITIES[severity]


def _quality_expectation(rule: dict[str, Any], path: Path, column: str | None) -> tuple[str, dict[str, Any]]:
    name = rule.get("name")
    if rule.get("type") == "custom":
        if rule.get("engine") != "greatExpectations" or not isinstance(rule.get("implementation"), dict):
            raise ValueError(
                f"{path}: custom rule {name!r} needs engine greatExpectations and an implementation mapping"
            )
        implementation = rule["implementation"]
        kwargs = dict(implementation.get("kwargs") or {})
        if column is not None:
            kwargs.setdefault("column", column)
        return implementation["type"], kwargs

    metric = rule.get("metric")
    if metric == "rowCount" and column is None:
        if "mustBeGreaterThan" in rule:
            return "expect_table_row_count_to_be_between", {"min_value": int(rule["mustBeGreaterThan"]) + 1}
        if "mustBeGreaterOrEqualTo" in rule:
            return "expect_table_row_count_to_be_between", {"min_value": int(rule["mustBeGreaterOrEqualTo"])}
    if column is not None and rule.get("mustBe") == 0:
        if metric == "nullValues":
            return "expect_column_values_to_not_be_null", {"column": column}
        if metric == "duplicateValues":
            return "expect_column_values_to_be_unique", {"column": column}
        if metric == "invalidValues" and "validValues" in (rule.get("arguments") or {}):
            return "expect_column_values_to_be_in_set", {
                "column": column,
                "value_set": rule["arguments"]["validValues"],
            }
    raise ValueError(
        f"{path}: quality rule {name!r} (metric {metric!r}) cannot be translated to an expectation; use "
        "nullValues, duplicateValues or invalidValues with mustBe 0, rowCount with mustBeGreaterThan, "
        "or type custom"
    )


def suite_json(suite: dict[str, Any]) -> str:
    """Serialise a suite the way the committed files are written."""
    return json.dumps(suite, indent=2, sort_keys=True) + "\n"


def generate_suites(
    contracts_dir: Path = CONTRACTS_DIR, expectations_dir: Path = EXPECTATIONS_DIR
) -> dict[str, Path]:
    """Write ``expectations/<table>.json`` for every ``data_contracts/*.yaml`` and return the paths."""
    written = {}
    Path(expectations_dir).mkdir(parents=True, exist_ok=True)
    for contract in sorted(Path(contracts_dir).glob("*.yaml")):
        suite = suite_from_contract(contract)
        target = Path(expectations_dir) / f"{suite['name']}.json"
        target.write_text(suite_json(suite), encoding="utf-8")
        written[suite["name"]] = target
    return written


if __name__ == "__main__":  # pragma: no cover
    for table, target in generate_suites().items():
        sys.stderr.write(f"{table}: {target}\n")
