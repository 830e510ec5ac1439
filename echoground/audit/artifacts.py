"""Publish the audit summary as Prefect artifacts when the audit runs inside a flow run."""

from __future__ import annotations

import logging

from echoground.audit.checks import CHECKS
from echoground.audit.report import AuditResult

logger = logging.getLogger(__name__)


def publish_artifacts(result: AuditResult, key_prefix: str = "caption-audit") -> bool:
    """Create a markdown artifact and one table artifact per summary table, inside a flow run only.

    Prefect is imported here, so the library imports without it. Outside a flow run, or without
    Prefect installed, nothing is created.

    Returns:
        Whether artifacts were created.
    """
    try:
        from prefect.artifacts import create_markdown_artifact, create_table_artifact
        from prefect.context import FlowRunContext
    except ImportError:
        return False
    if FlowRunContext.get() is None:
        return False

    counts = [f"| {check.name} | {check.kind} | {len(result.issues[check.name])} |" for check in CHECKS]
    markdown = "\n".join(
        [
            "## Caption audit",
            "",
            f"Report: `{result.report_path}`; issues: `{result.issues_path}`.",
            "",
            "| check | kind | failing items |",
            "|---|---|---|",
            *counts,
            "",
            result.summary.to_markdown(),
        ]
    )
    create_markdown_artifact(markdown=markdown, key=key_prefix, description="Caption audit summary")
    for index, table in enumerate(result.summary.tables):
        create_table_artifact(
            table=table.to_records(), key=f"{key_prefix}-table-{index}", description=table.title
        )
    logger.info("published %d audit artifacts", 1 + len(result.summary.tables))
    return True
