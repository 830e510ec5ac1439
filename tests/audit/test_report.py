"""The HTML report: self-contained, lists planted errors, and its gallery filters work in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from echoground.audit.cli import audit
from echoground.audit.report import write_report

A4C_CLIP = "p10_p10000001_s90000001_0001"
STUDY_LEVEL_CLIP = "p10_p10000001_s90000001_0003"
CHROMIUM = shutil.which("chromium")
# Flags that keep Chromium off the network and out of any existing profile.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def plant_number_error(run_dir: Path) -> None:
    """Change LVEF 35 to 36 in the text of one caption, leaving its provenance as it was."""
    captions = pd.read_parquet(run_dir / "captions.parquet")
    index = captions.index[captions["clip_id"] == A4C_CLIP][0]
    captions.at[index, "caption"] = captions.at[index, "caption"].replace("35%", "36%")
    captions.to_parquet(run_dir / "captions.parquet", index=False)


@pytest.fixture(scope="module")
def planted_report(new_run) -> Path:
    run_dir = new_run("planted")
    plant_number_error(run_dir)
    return write_report(run_dir).report_path


class ItemParser(HTMLParser):
    """Collect the gallery items (id, data attributes, hidden) and the filter count of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, dict[str, str | None]] = {}
        self.count_text = ""
        self._in_count = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        if tag == "div" and "item" in classes:
            self.items[values["id"].removeprefix("item-")] = values
        self._in_count = values.get("id") == "filter-count"

    def handle_data(self, data):
        if self._in_count:
            self.count_text += data

    def handle_endtag(self, tag):
        self._in_count = False


def parse_items(html: str) -> ItemParser:
    parser = ItemParser()
    parser.feed(html)
    return parser


def test_report_has_no_external_assets(planted_report):
    html = planted_report.read_text(encoding="utf-8")
    external = re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#)([^"']*)""", html)
    assert external == []
    assert "<script src" not in html
    assert "<link" not in html


def test_report_gallery_has_every_caption(planted_report):
    items = parse_items(planted_report.read_text(encoding="utf-8")).items
    assert len(items) == 5
    assert items[A4C_CLIP]["data-flags"] == "number_value"
    assert items[STUDY_LEVEL_CLIP]["data-flags"] == "clean"
    assert "mitral_regurgitation" in items[STUDY_LEVEL_CLIP]["data-labels"].split()


def test_report_links_numbers_to_provenance(planted_report):
    html = planted_report.read_text(encoding="utf-8")
    assert 'data-measurement-id="1001"' in html
    assert 'data-raw-value="2.1"' in html
    assert 'data-rule="lvef_lang2015_t4"' in html


def test_report_highlights_report_sentences(planted_report):
    html = planted_report.read_text(encoding="utf-8")
    sentences = re.findall(r'<span class="sentence" data-labels="([^"]*)">', html)
    assert any("pericardial_effusion" in labels.split() for labels in sentences)


def test_report_lists_planted_error(planted_report):
    issues = json.loads((planted_report.parent / "issues.json").read_text(encoding="utf-8"))
    assert [(issue["clip_id"], issue["expected"], issue["found"]) for issue in issues["number_value"]] == [
        (A4C_CLIP, "35", "36")
    ]
    assert all(issues[name] == [] for name in issues if name not in ("number_value", "label_sources"))
    html = planted_report.read_text(encoding="utf-8")
    assert 'id="check-number_value"' in html


def test_cli_default_command_writes_report(run_copy):
    result = CliRunner().invoke(audit, [str(run_copy), "--gallery", "2"])
    assert result.exit_code == 0, result.output
    assert "0 caption issues, 1 label source conflicts" in result.output
    items = parse_items((run_copy / "audit" / "report.html").read_text(encoding="utf-8")).items
    assert len(items) == 2


def test_cli_fail_on_issues_exits_one(run_copy):
    plant_number_error(run_copy)
    result = CliRunner().invoke(audit, [str(run_copy), "--gallery", "0", "--fail-on-issues"])
    assert result.exit_code == 1
    assert "1 caption issues" in result.output


def test_cli_missing_table_named(tmp_path):
    (tmp_path / "run").mkdir()
    result = CliRunner().invoke(audit, [str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "has no ledger.parquet" in result.output


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
@pytest.mark.parametrize(
    ("fragment", "visible", "count"),
    [
        ("#flag=flagged", {A4C_CLIP}, "1 of 5 shown"),
        ("#label=mitral_regurgitation", {STUDY_LEVEL_CLIP}, "1 of 5 shown"),
        (
            "#view=A4C&flag=clean",
            {"p10_p10000001_s90000001_0002", "p10_p10000002_s90000003_0001"},
            "2 of 5 shown",
        ),
        ("", None, "5 of 5 shown"),
    ],
)
def test_filters_applied_from_url_hash(planted_report, tmp_path, fragment, visible, count):
    result = run_chromium(["--dump-dom", planted_report.as_uri() + fragment], tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    parsed = parse_items(result.stdout)
    assert len(parsed.items) == 5
    shown = {clip_id for clip_id, attrs in parsed.items.items() if "hidden" not in attrs}
    assert shown == (visible if visible is not None else set(parsed.items))
    assert parsed.count_text == count


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
def test_report_screenshot(planted_report, tmp_path):
    screenshot = tmp_path / "report.png"
    result = run_chromium(
        [f"--screenshot={screenshot}", "--window-size=1280,2400", planted_report.as_uri() + "#view=A4C"],
        tmp_path / "profile",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000


def test_artifacts_skipped_outside_flow(run_copy):
    from echoground.audit import publish_artifacts

    result = write_report(run_copy, gallery_size=0)
    assert publish_artifacts(result) is False
