"""Data contracts: valid ODCS v3, one per output table, and the committed GX suites are up to date."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from echoground.validation.contracts_to_gx import (
    CONTRACTS_DIR,
    EXPECTATIONS_DIR,
    suite_from_contract,
    suite_json,
)

TABLES = {"studies", "clips", "measurements", "labels", "captions", "ledger"}
CONTRACTS = sorted(CONTRACTS_DIR.glob("*.yaml"))


def test_one_contract_per_table():
    assert {path.stem for path in CONTRACTS} == TABLES


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda path: path.stem)
def test_contract_parses_as_odcs(path):
    contract = OpenDataContractStandard.from_file(str(path))
    assert contract.apiVersion.startswith("v3")
    assert contract.schema_[0].name == path.stem


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda path: path.stem)
def test_contract_matches_odcs_json_schema(path):
    schema = json.loads(OpenDataContractStandard.json_schema())
    errors = list(jsonschema.Draft201909Validator(schema).iter_errors(yaml.safe_load(path.read_text())))
    assert errors == [], [error.message for error in errors]


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda path: path.stem)
def test_every_quality_rule_has_severity(path):
    contract = yaml.safe_load(path.read_text())
    table = contract["schema"][0]
    rules = list(table.get("quality") or [])
    for prop in table["properties"]:
        rules += prop.get("quality") or []
    for rule in rules:
        assert rule.get("severity") in ("error", "warning"), rule


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda path: path.stem)
def test_committed_suite_is_generated(path):
    suite = suite_from_contract(path)
    committed = EXPECTATIONS_DIR / f"{suite['name']}.json"
    assert committed.read_text() == suite_json(suite), "run: python -m echoground.validation.contracts_to_gx"


def test_caption_columns_match_contract():
    from echoground.captions import CAPTION_COLUMNS

    contract = yaml.safe_load((CONTRACTS_DIR / "captions.yaml").read_text())
    assert [prop["name"] for prop in contract["schema"][0]["properties"]] == CAPTION_COLUMNS


def test_ledger_columns_match_contract():
    from echoground.ledger import COLUMNS

    contract = yaml.safe_load((CONTRACTS_DIR / "ledger.yaml").read_text())
    assert [prop["name"] for prop in contract["schema"][0]["properties"]] == COLUMNS


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


def test_rule_without_severity_rejected(tmp_path):
    path = _write(
        tmp_path,
        """
apiVersion: v3.0.2
kind: DataContract
schema:
  - name: broken
    properties:
      - name: a
        quality:
          - {name: a_known, metric: invalidValues, arguments: {validValues: [1]}, mustBe: 0}
""",
    )
    with pytest.raises(ValueError, match="severity"):
        suite_from_contract(path)


def test_untranslatable_rule_rejected(tmp_path):
    path = _write(
        tmp_path,
        """
apiVersion: v3.0.2
kind: DataContract
schema:
  - name: broken
    properties:
      - name: a
        quality:
          - {name: odd, metric: missingValues, mustBe: 3, severity: error}
""",
    )
    with pytest.raises(ValueError, match="cannot be translated"):
        suite_from_contract(path)


def test_warning_rule_keeps_warning_severity():
    suite = suite_from_contract(CONTRACTS_DIR / "clips.yaml")
    by_rule = {expectation["meta"]["rule"]: expectation for expectation in suite["expectations"]}
    assert by_rule["cm_per_pixel_x_typical"]["severity"] == "warning"
    assert by_rule["clip_kind_known"]["severity"] == "critical"
