"""Prefect task that audits a finished run and publishes the summary as flow-run artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from echoground.audit import publish_artifacts, write_report


@task(name="audit-captions")
def audit_run(run_dir: Path, gallery_size: int = 24) -> str:
    """Write RUN_DIR/audit/report.html and issues.json; add the markdown and table artifacts."""
    result = write_report(Path(run_dir), gallery_size=gallery_size)
    publish_artifacts(result)
    return str(result.report_path)
