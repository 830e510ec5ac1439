"""Write the self-contained HTML audit report of a run folder, with its issues as JSON beside it."""

from __future__ import annotations

import datetime
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import jinja2

from echoground import __version__
from echoground.audit.checks import CHECKS, Issue, flagged_clips, run_checks
from echoground.audit.gallery import build_items, pick_items
from echoground.audit.run_folder import RunFolder, load_run_folder
from echoground.audit.summary import NO_VIEW, Summary, summarise

logger = logging.getLogger(__name__)

TEMPLATE_NAME = "report.html.j2"
MAX_ISSUE_ROWS = 500


@dataclass
class AuditResult:
    """Paths written by :func:`write_report`, the issues of every check and the summary tables."""

    report_path: Path
    issues_path: Path
    issues: dict[str, list[Issue]]
    summary: Summary

    @property
    def caption_issue_count(self) -> int:
        kinds = {check.name: check.kind for check in CHECKS}
        return sum(len(found) for name, found in self.issues.items() if kinds[name] == "caption")


def write_report(
    run_dir: Path, out: Path | None = None, gallery_size: int = 24, seed: int = 0
) -> AuditResult:
    """Check a run's captions and write ``report.html`` and ``issues.json``.

    Args:
        run_dir: the run folder written by ``echoground build``.
        out: folder for the report; defaults to ``run_dir/audit``.
        gallery_size: number of captions shown in the gallery (failing ones first).
        seed: seed of the gallery draw.

    Returns:
        The paths written, the issues of every check and the summary tables.
    """
    run = load_run_folder(Path(run_dir))
    out = Path(out) if out is not None else run.path / "audit"
    out.mkdir(parents=True, exist_ok=True)

    issues = run_checks(run.captions, run.measurements, run.labels)
    flags = flagged_clips(issues)
    messages: dict[str, list[str]] = defaultdict(list)
    for name, found in issues.items():
        for issue in found:
            if issue.clip_id is not None:
                messages[issue.clip_id].append(
                    f"{name}: {issue.item}: expected {issue.expected}, found {issue.found} ({issue.message})"
                )
    summary = summarise(run)
    items = build_items(run, pick_items(run, gallery_size, flags, seed), flags, messages)
    html = _render(run, summary, issues, items)

    report_path = out / "report.html"
    _write_atomic(report_path, html)
    issues_path = out / "issues.json"
    payload = {name: [issue.to_dict() for issue in found] for name, found in issues.items()}
    _write_atomic(issues_path, json.dumps(payload, indent=1, sort_keys=True) + "\n")
    result = AuditResult(report_path, issues_path, issues, summary)
    logger.info(
        "audit of %s: %d captions, %d caption issues, %d label conflicts; report %s",
        run.path,
        len(run.captions),
        result.caption_issue_count,
        len(issues["label_sources"]),
        report_path,
    )
    return result


def _render(run: RunFolder, summary: Summary, issues: dict[str, list[Issue]], items: list) -> str:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("echoground.audit", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    views = sorted({item.view for item in items}, key=lambda view: (view == NO_VIEW, view))
    labels = sorted({label for item in items for label in item.labels})
    kinds = {check.name: check.kind for check in CHECKS}
    return environment.get_template(TEMPLATE_NAME).render(
        run_name=run.path.name,
        run_path=str(run.path),
        written=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        caption_count=len(run.captions),
        caption_issue_count=sum(len(found) for name, found in issues.items() if kinds[name] == "caption"),
        label_conflict_count=len(issues["label_sources"]),
        summary=summary,
        checks=CHECKS,
        issues=issues,
        max_issue_rows=MAX_ISSUE_ROWS,
        items=items,
        views=views,
        labels=labels,
    )


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
