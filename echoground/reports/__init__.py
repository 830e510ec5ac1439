"""Echo report text: link studies to discharge-summary echo sections, split sections, find findings.

Entry points: :func:`link_notes` (studies + discharge notes -> links and a ledger) and
:func:`parse_reports` (batched; sections, finding mentions, stated measurements, combined labels).
Rules are data: sections.yaml, targets.yaml and context_rules.yaml beside this module.
"""

from echoground.reports.link import find_echo_section, link_notes
from echoground.reports.nlp import Finding, rule_versions
from echoground.reports.parsed import ParsedReport, ReportLabel, combine_findings, parse_report, parse_reports
from echoground.reports.sections import Section, split_sections

__all__ = [
    "Finding",
    "ParsedReport",
    "ReportLabel",
    "Section",
    "combine_findings",
    "find_echo_section",
    "link_notes",
    "parse_report",
    "parse_reports",
    "rule_versions",
    "split_sections",
]
