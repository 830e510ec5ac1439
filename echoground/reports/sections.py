"""Split a BIDMC echo report into its sections by the headings listed in sections.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

PREAMBLE = "preamble"


@dataclass(frozen=True)
class Section:
    """A section: ``start`` is the heading's first character, ``body_start`` the first after its colon."""

    name: str
    start: int
    body_start: int
    end: int
    findings: bool
    chamber: str | None = None


@dataclass(frozen=True)
class SectionTable:
    version: str
    pattern: re.Pattern[str]
    by_group: dict[str, dict]


@cache
def load_sections() -> SectionTable:
    """Read sections.yaml once per process and compile one heading pattern from it."""
    text = resources.files(__package__).joinpath("sections.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    alternatives = []
    by_group = {}
    for index, entry in enumerate(data["sections"]):
        group = f"s{index}"
        alternatives.append(f"(?P<{group}>{entry['heading']})")
        by_group[group] = entry
    heading = rf"(?im)^[ \t]*(?:{'|'.join(alternatives)})[ \t]*:"
    return SectionTable(str(data["version"]), re.compile(heading), by_group)


def split_sections(text: str) -> list[Section]:
    """Return the sections of ``text`` in order; they cover the whole text without overlap."""
    table = load_sections()
    sections: list[Section] = []
    matches = list(table.pattern.finditer(text))
    first_start = matches[0].start() if matches else len(text)
    if first_start > 0 and text[:first_start].strip():
        sections.append(Section(PREAMBLE, 0, 0, first_start, True))
    for index, match in enumerate(matches):
        entry = table.by_group[match.lastgroup]  # type: ignore[index]
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        heading_start = match.start(match.lastgroup)
        sections.append(
            Section(
                entry["name"], heading_start, match.end(), end, bool(entry["findings"]), entry.get("chamber")
            )
        )
    return sections


def section_at(sections: list[Section], offset: int) -> Section | None:
    """Return the section that contains character ``offset``, or None."""
    for section in sections:
        if section.start <= offset < section.end:
            return section
    return None
