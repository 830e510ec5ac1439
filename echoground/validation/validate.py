"""Validate output tables against their GX suites; error-severity failures stop the run.

great_expectations is imported inside :func:`validate_tables` because importing it takes seconds. The
context is ephemeral, so nothing is written outside the run folder. GX analytics are switched off
through ``GX_ANALYTICS_ENABLED=false`` before the import, and a test checks that validation opens no
socket.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from echoground.validation.contracts_to_gx import EXPECTATIONS_DIR

logger = logging.getLogger(__name__)

EXAMPLE_ROWS = 5


@dataclass
class ExpectationFailure:
    """One failed expectation: the table, expectation type, column, rule, severity and example rows."""

    table: str
    expectation: str
    column: str | None
    rule: str | None
    severity: str
    unexpected_count: int | None
    examples: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        count = "" if self.unexpected_count is None else f", {self.unexpected_count} unexpected rows"
        return (
            f"{self.table}: {self.expectation} failed on {where} (rule {self.rule}{count}); "
            f"examples: {json.dumps(self.examples, default=str)[:500]}"
        )


@dataclass
class ValidationReport:
    """Failures of one validation run, split by severity; ``docs_index`` is the Data Docs page."""

    errors: list[ExpectationFailure] = field(default_factory=list)
    warnings: list[ExpectationFailure] = field(default_factory=list)
    docs_index: Path | None = None


class ContractViolation(ValueError):
    """A table broke an error-severity rule of its data contract."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        lines = "\n".join(failure.describe() for failure in report.errors)
        super().__init__(
            f"{len(report.errors)} error-severity expectation(s) failed; fix the stage that wrote the table "
            f"or the contract in data_contracts/:\n{lines}"
        )


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    run_dir: Path,
    expectations_dir: Path = EXPECTATIONS_DIR,
    raise_on_error: bool = True,
) -> ValidationReport:
    """Validate each table with the suite of the same name and write results and Data Docs.

    Writes ``run_dir/validation/results.json`` (every failure) and the GX Data Docs site under
    ``run_dir/validation/data_docs/`` (``index.html``). Warning-severity failures are logged and the
    run goes on.

    Args:
        tables: table name (``clips``, ``captions``, ...) to DataFrame.
        run_dir: the run folder.
        expectations_dir: folder with ``<table>.json`` suites.
        raise_on_error: raise :class:`ContractViolation` on an error-severity failure.

    Raises:
        FileNotFoundError: if a table has no suite.
        ContractViolation: if ``raise_on_error`` and an error-severity expectation failed.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    # GX file stores need an absolute base directory; a relative run folder raises ValueError in GX 1.24.
    validation_dir = Path(run_dir).resolve() / "validation"
    validation_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(
        "run",
        {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(validation_dir / "data_docs"),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    source = context.data_sources.add_pandas("echoground")

    report = ValidationReport()
    results_json: dict[str, Any] = {}
    for name, frame in sorted(tables.items()):
        suite_path = Path(expectations_dir) / f"{name}.json"
        if not suite_path.exists():
            raise FileNotFoundError(f"no expectation suite for table {name!r}: {suite_path} is missing")
        suite = context.suites.add(gx.ExpectationSuite(**json.loads(suite_path.read_text(encoding="utf-8"))))
        batch_definition = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"validate_{name}", data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"checkpoint_{name}",
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                result_format={"result_format": "COMPLETE"},
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": frame})
        for result in run.run_results.values():
            results_json[name] = {"success": bool(result.success), "statistics": result.statistics}
            for item in result.results:
                if item.success:
                    continue
                failure = _failure(name, frame, item)
                (report.errors if failure.severity == "critical" else report.warnings).append(failure)

    for failure in report.warnings:
        logger.warning("validation warning: %s", failure.describe())
    for failure in report.errors:
        logger.error("validation error: %s", failure.describe())

    results_json["failures"] = [failure.__dict__ for failure in report.errors + report.warnings]
    (validation_dir / "results.json").write_text(
        json.dumps(results_json, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
    index = validation_dir / "data_docs" / "index.html"
    report.docs_index = index if index.exists() else None
    if report.errors and raise_on_error:
        raise ContractViolation(report)
    return report


def _failure(table: str, frame: pd.DataFrame, item: Any) -> ExpectationFailure:
    config = item.expectation_config
    result = item.result or {}
    indexes = list(result.get("unexpected_index_list") or [])[:EXAMPLE_ROWS]
    examples = []
    for index in indexes:
        if isinstance(index, dict):
            examples.append(index)
        elif index in frame.index:
            examples.append({"row": index, **frame.loc[index].to_dict()})
    if not examples and result.get("observed_value") is not None:
        examples.append({"observed_value": result["observed_value"]})
    if item.exception_info and item.exception_info.get("raised_exception"):
        examples.append({"exception": item.exception_info.get("exception_message")})
    severity = getattr(config.severity, "value", config.severity)
    return ExpectationFailure(
        table=table,
        expectation=config.type,
        column=config.kwargs.get("column"),
        rule=(config.meta or {}).get("rule"),
        severity=str(severity),
        unexpected_count=result.get("unexpected_count"),
        examples=examples,
    )
