"""Parse reports in batches and combine the mentions of each finding into one report-level state."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from echoground.measurements.text import TextMeasurement, extract_measurements
from echoground.reports.nlp import Finding, docs_for, findings_from_report
from echoground.reports.sections import Section
from echoground.reports.severity import severity_rank

# Precedence when one report mentions a finding several times (CheXpert/NegBio style): present (with the
# highest severity stated in any present mention) > uncertain > absent. All finding sections count
# alike, so a conclusion does not override the findings paragraph: the conclusions summarise and often
# omit what the findings state, and a finding stated anywhere in this study is a finding of it.
STATE_PRECEDENCE = {"present": 2, "uncertain": 1, "absent": 0}


@dataclass(frozen=True)
class ReportLabel:
    """The report-level state and severity of one label, with the mentions it was combined from."""

    state: str
    severity: str | None
    mentions: int


@dataclass
class ParsedReport:
    """Sections, finding mentions, stated measurements and the combined label states of one report."""

    sections: list[Section]
    findings: list[Finding]
    measurements: list[TextMeasurement]
    labels: dict[str, ReportLabel] = field(default_factory=dict)

    def to_json(self) -> dict:
        """Return the JSON shape printed by ``echoground report parse``."""
        return {
            "sections": [{"name": s.name, "start": s.start, "end": s.end} for s in self.sections],
            "findings": [asdict(finding) for finding in self.findings],
            "measurements": [
                {
                    key: getattr(m, key)
                    for key in ("name", "value", "unit", "qualifier", "low", "high", "text")
                }
                for m in self.measurements
            ],
        }


def combine_findings(findings: list[Finding]) -> dict[str, ReportLabel]:
    """Combine mentions per label by :data:`STATE_PRECEDENCE`; severity is the highest of present mentions."""
    combined: dict[str, ReportLabel] = {}
    for finding in findings:
        current = combined.get(finding.label)
        count = 1 if current is None else current.mentions + 1
        if current is None or STATE_PRECEDENCE[finding.state] > STATE_PRECEDENCE[current.state]:
            combined[finding.label] = ReportLabel(finding.state, finding.severity, count)
            continue
        severity = current.severity
        if finding.state == current.state == "present" and severity_rank(finding.severity) > severity_rank(
            severity
        ):
            severity = finding.severity
        combined[finding.label] = ReportLabel(current.state, severity, count)
    return combined


def parse_reports(texts: list[str], batch_size: int = 64) -> list[ParsedReport]:
    """Parse report texts in batches (``nlp.pipe``); an empty text gives an empty report."""
    results = []
    for report in docs_for(list(texts), batch_size=batch_size):
        findings = findings_from_report(report)
        measurements = extract_measurements(report.text)
        results.append(ParsedReport(report.sections, findings, measurements, combine_findings(findings)))
    return results


def parse_report(text: str) -> ParsedReport:
    """Parse one report text."""
    return parse_reports([text])[0]
