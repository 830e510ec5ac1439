"""The medspaCy pipeline that finds echo findings with their state (present, absent, uncertain) and severity.

Target rules (targets.yaml) mark finding phrases; ConText rules (context_rules.yaml) mark negation, hedges,
trace grades, severity and the words that give a generic phrase ("cavity size") its state. The text is
tokenised with whitespace replaced one-for-one by spaces, so hard-wrapped sentences match and every span
is an offset into the original text. Sentence boundaries come from the report layout (section headings,
blank lines, full stops), not from a statistical model.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy
import spacy
import yaml
from medspacy.context import ConText, ConTextRule
from medspacy.target_matcher import TargetMatcher, TargetRule
from spacy.attrs import IDX, LENGTH, SENT_START, SPACY
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from echoground.reports.fast_regex import TEXT_KEY, share_text_across_patterns
from echoground.reports.sections import Section, split_sections
from echoground.reports.severity import grade_severity, severity_rank

# spaCy refuses texts longer than nlp.max_length (1,000,000 characters by default). The blank pipeline
# has no parser, so memory grows only linearly; reports over this limit are rejected with a clear error.
MAX_REPORT_CHARS = 5_000_000
_STATE_CATEGORIES = {
    "NORMAL": "absent",
    "DILATED": "present",
    "DEPRESSED": "present",
    "THICKENED": "present",
    "ELEVATED": "present",
}
_SENTENCE_END_CHARS = frozenset(".!?;")
_WHITESPACE = re.compile(r"\s")
# The span group (Doc.spans key) that contains the finding phrases found by the target rules.
TARGET_GROUP = "echoground_targets"
# Doc.user_data key of the token indices that start the Doc's sentences, in order.
_SENTENCE_STARTS_KEY = "echoground.reports.sentence_starts"
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Finding:
    """One finding mention: a canonical label id, its state and severity, and its span in the report."""

    label: str
    state: str
    severity: str | None
    text: str
    start: int
    end: int
    section: str


@dataclass(frozen=True)
class _TargetConfig:
    version: str
    generic: dict[str, dict[str, str]]
    default_present: frozenset[str]
    chambers: dict[str, re.Pattern[str]]


@cache
def _load_yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


@cache
def _target_config() -> _TargetConfig:
    data = _load_yaml("targets.yaml")
    chambers = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in data["chambers"].items()}
    return _TargetConfig(
        str(data["version"]), data["generic"], frozenset(data.get("default_present", [])), chambers
    )


def _target_rules() -> list[TargetRule]:
    rules = []
    for entry in _load_yaml("targets.yaml")["rules"]:
        attributes = {}
        if "state" in entry:
            attributes["fixed_state"] = entry["state"]
        if "severity" in entry:
            attributes["fixed_severity"] = str(entry["severity"])
        # A rule without a pattern is a phrase rule, matched on exact token text (ORTH, set in
        # build_pipeline) by spaCy's PhraseMatcher, which costs far less per Doc than the token Matcher.
        for word in entry.get("words", []):
            rules.append(TargetRule(str(word), entry["category"], attributes=attributes or None))
        if "words" in entry:
            continue
        pattern = entry.get("tokens", entry.get("pattern"))
        literal = entry.get("pattern") or str(entry.get("tokens"))
        rules.append(TargetRule(literal, entry["category"], pattern=pattern, attributes=attributes or None))
    return rules


def _context_rules() -> list[ConTextRule]:
    rules = []
    for entry in _load_yaml("context_rules.yaml")["rules"]:
        options = {key: entry[key] for key in ("max_scope", "max_targets") if key in entry}
        if "allowed_types" in entry:
            options["allowed_types"] = set(entry["allowed_types"])
        rules.append(
            ConTextRule(
                entry["literal"],
                entry["category"],
                pattern=entry.get("pattern"),
                direction=entry["direction"],
                **options,
            )
        )
    return rules


def rule_versions() -> dict[str, str]:
    """Return the versions of the rule files, to be stored with every run's outputs."""
    return {
        name: str(_load_yaml(name)["version"])
        for name in ("targets.yaml", "context_rules.yaml", "sections.yaml")
    }


@cache
def build_pipeline() -> Language:
    """Build the blank-English medspaCy pipeline once per process (no downloaded model is needed)."""
    for name in ("fixed_state", "fixed_severity"):
        if not Span.has_extension(name):
            Span.set_extension(name, default=None)
    nlp = spacy.blank("en")
    nlp.max_length = MAX_REPORT_CHARS
    # Targets go to a span group, not doc.ents: medspaCy 1.3.1 sets doc.ents once per target, and each
    # assignment checks every entity again. Its matcher already drops overlapping matches (the longest
    # wins) and returns them in text order, so the group contains the same spans doc.ents would.
    config = {"result_type": "group", "span_group_name": TARGET_GROUP, "phrase_matcher_attr": "ORTH"}
    matcher: TargetMatcher = nlp.add_pipe("medspacy_target_matcher", config=config)
    matcher.add(_target_rules())
    context: ConText = nlp.add_pipe(
        "medspacy_context",
        config={"rules": None, "input_span_type": "group", "span_group_name": TARGET_GROUP},
    )
    context.add(_context_rules())
    share_text_across_patterns(matcher)
    share_text_across_patterns(context)
    return nlp


# medspaCy 1.3.1 compares every ConText modifier with every target of a Doc (ConTextGraph.apply_modifiers),
# so the cost of a Doc grows with the square of its length. Reports are therefore processed in chunks of
# at least CHUNK_CHARS characters, cut at section starts or blank lines. Sentences never cross those cuts,
# so chunking does not change any result. 150 measured fastest on ~1,400-character reports
# (benchmarks/bench_reports.py); smaller chunks cost more per-Doc overhead than they save in pairs.
# NOTE: text without headings or blank lines stays one chunk, so it is still quadratic: a 64 kB block of
# dense findings lines took about 30 s of CPU.
CHUNK_CHARS = 150


@dataclass
class _Piece:
    """One distinct chunk text (whitespace normalised) with its Doc and sentence start characters."""

    doc: Doc
    text: str
    sentence_start_chars: list[int]


@dataclass(frozen=True)
class _Chunk:
    """A piece of a report and the report offset of its first character."""

    piece: _Piece
    offset: int


def _make_piece(nlp: Language, normalised: str, inner_boundaries: tuple[int, ...]) -> _Piece:
    doc = nlp.make_doc(normalised)
    doc.user_data[TEXT_KEY] = normalised
    if len(doc) == 0:
        return _Piece(doc, normalised, [])
    # Sentence starts are set from token arrays: assigning Token.is_sent_start token by token costs a scan
    # of the whole Doc per token in spaCy 3.8.
    columns = doc.to_array([IDX, LENGTH, SPACY]).astype(numpy.int64)
    token_starts, lengths, followed_by_space = columns[:, 0], columns[:, 1], columns[:, 2]
    boundary_tokens = set(numpy.searchsorted(token_starts, inner_boundaries, side="left").tolist())
    for index in numpy.flatnonzero((lengths == 1) & (followed_by_space == 1)).tolist():
        if normalised[token_starts[index]] in _SENTENCE_END_CHARS:
            boundary_tokens.add(index + 1)
    boundary_tokens.add(0)
    sentence_starts = sorted(index for index in boundary_tokens if index < len(doc))
    sent_start = numpy.full(len(doc), -1, dtype=numpy.int64)
    sent_start[sentence_starts] = 1
    doc.from_array([SENT_START], sent_start.astype(numpy.uint64))
    # ConText looks up each modifier's sentence with Token.sent, which walks the sentence annotation.
    # The hook finds the same span by bisecting the stored sentence starts.
    doc.user_data[_SENTENCE_STARTS_KEY] = sentence_starts
    doc.user_token_hooks["sent"] = _sentence_of_token
    return _Piece(doc, normalised, [int(token_starts[index]) for index in sentence_starts])


def _sentence_of_token(token: Token) -> Span:
    doc = token.doc
    starts = doc.user_data[_SENTENCE_STARTS_KEY]
    index = bisect.bisect_right(starts, token.i) - 1
    end = starts[index + 1] if index + 1 < len(starts) else len(doc)
    return doc[starts[index] : end]


def _boundaries(text: str, sections: list[Section]) -> list[int]:
    starts = {0}
    for section in sections:
        starts.update((section.start, section.body_start))
    starts.update(match.end() for match in _BLANK_LINE.finditer(text))
    return sorted(starts)


def _finding_ranges(text: str, sections: list[Section]) -> list[tuple[int, int]]:
    """Return the character ranges that can hold findings: all sections with ``findings: true``.

    Text outside every section is whitespace (before the first heading, or before an indented heading),
    so only sections marked ``findings: false`` are left out, and they never reach the pipeline.
    """
    if not sections:
        return [(0, len(text))] if text.strip() else []
    ranges: list[tuple[int, int]] = []
    for section in sections:
        if not section.findings:
            continue
        if ranges and not text[ranges[-1][1] : section.start].strip():
            ranges[-1] = (ranges[-1][0], section.end)
        else:
            ranges.append((section.start, section.end))
    return ranges


def _chunks(boundaries: list[int], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    chunks = []
    for range_start, range_end in ranges:
        cuts = [range_start]
        first = bisect.bisect_right(boundaries, range_start)
        last = bisect.bisect_left(boundaries, range_end)
        for boundary in boundaries[first:last]:
            if boundary - cuts[-1] >= CHUNK_CHARS:
                cuts.append(boundary)
        cuts.append(range_end)
        chunks.extend((start, end) for start, end in itertools.pairwise(cuts) if end > start)
    return chunks


@dataclass
class PreparedReport:
    """A report's sections and its processed chunks."""

    text: str
    sections: list[Section]
    chunks: list[_Chunk]


def docs_for(texts: list[str], batch_size: int = 64) -> list[PreparedReport]:
    """Run the pipeline over the finding sections of ``texts`` in batches with ``nlp.pipe``.

    Raises:
        ValueError: when a text is longer than :data:`MAX_REPORT_CHARS`.
    """
    nlp = build_pipeline()
    prepared: list[PreparedReport] = []
    # Echo reports repeat template sentences, so a chunk text (with its sentence boundaries) that occurs
    # again in this call reuses the first occurrence's Doc. A Doc depends only on that key, so sharing it
    # gives the same findings.
    pieces: dict[tuple[str, tuple[int, ...]], _Piece] = {}
    for text in texts:
        if len(text) > MAX_REPORT_CHARS:
            raise ValueError(
                f"report of {len(text)} characters exceeds the limit of {MAX_REPORT_CHARS}; "
                "split it before parsing"
            )
        sections = split_sections(text)
        boundaries = _boundaries(text, sections)
        report = PreparedReport(text, sections, [])
        for start, end in _chunks(boundaries, _finding_ranges(text, sections)):
            inner = boundaries[bisect.bisect_left(boundaries, start) : bisect.bisect_left(boundaries, end)]
            key = (_WHITESPACE.sub(" ", text[start:end]), tuple(boundary - start for boundary in inner))
            piece = pieces.get(key)
            if piece is None:
                piece = pieces[key] = _make_piece(nlp, *key)
            report.chunks.append(_Chunk(piece, start))
        prepared.append(report)
    distinct = list(pieces.values())
    processed = nlp.pipe([piece.doc for piece in distinct], batch_size=batch_size)
    for piece, doc in zip(distinct, processed, strict=True):
        piece.doc = doc
    return prepared


def findings_from_report(report: PreparedReport) -> list[Finding]:
    """Turn the target spans of a processed report into findings, dropping those in non-finding sections."""
    findings: list[Finding] = []
    section_starts = [section.start for section in report.sections]
    for chunk in report.chunks:
        findings.extend(_findings_from_chunk(chunk, report.text, report.sections, section_starts))
    return findings


def _findings_from_chunk(
    chunk: _Chunk, text: str, sections: list[Section], section_starts: list[int]
) -> list[Finding]:
    config = _target_config()
    findings: list[Finding] = []
    offset = chunk.offset
    doc = chunk.piece.doc
    for span in doc.spans.get(TARGET_GROUP, ()):
        category = span.label_
        if category == "IGNORE":
            continue
        start, end = span.start_char + offset, span.end_char + offset
        section = _section_of(sections, section_starts, start)
        if section is not None and not section.findings:
            continue
        labels = _resolve_labels(category, span, chunk, section, config)
        if not labels:
            continue
        state = _state(span, category, config)
        if state is None:
            continue
        severity = _severity(span) if state == "present" else None
        section_name = section.name if section else "preamble"
        for label in labels:
            findings.append(Finding(label, state, severity, text[start:end], start, end, section_name))
    return findings


def _section_of(sections: list[Section], starts: list[int], offset: int) -> Section | None:
    index = bisect.bisect_right(starts, offset) - 1
    if index >= 0 and sections[index].start <= offset < sections[index].end:
        return sections[index]
    return None


def _resolve_labels(
    category: str, span: Span, chunk: _Chunk, section: Section | None, config: _TargetConfig
) -> list[str]:
    if category not in config.generic:
        return [category]
    mapping = config.generic[category]
    if "ANY" in mapping:
        return [mapping["ANY"]]
    chamber = _chamber_before(span, chunk, config)
    if chamber is None and section is not None:
        chamber = section.chamber
    labels = [mapping[chamber]] if chamber in mapping else []
    if category == "GEN_REGIONAL" and "global" in span.text.lower() and chamber == "LV":
        labels.append("lv_systolic_dysfunction")
    return labels


def _chamber_before(span: Span, chunk: _Chunk, config: _TargetConfig) -> str | None:
    # The chamber named last before (or inside) the phrase in its sentence: "LV wall thickness, cavity
    # size" makes "cavity size" the LV's.
    sentence_starts = chunk.piece.sentence_start_chars
    sentence_index = bisect.bisect_right(sentence_starts, span.start_char) - 1
    window = chunk.piece.text[sentence_starts[sentence_index] : span.end_char]
    best, best_position = None, -1
    for name, pattern in config.chambers.items():
        for match in pattern.finditer(window):
            if match.start() > best_position:
                best, best_position = name, match.start()
    return best


def _state(span: Span, category: str, config: _TargetConfig) -> str | None:
    categories = {modifier.category for modifier in span._.modifiers}
    if "TRACE" in categories:
        return "absent"
    if "POSSIBLE_EXISTENCE" in categories:
        return "uncertain"
    if "NEGATED_EXISTENCE" in categories:
        return "absent"
    if span._.fixed_state:
        return span._.fixed_state
    if category in config.generic and category not in config.default_present:
        return _nearest_generic_state(span)
    return "present"


def _nearest_generic_state(span: Span) -> str | None:
    best_state, best_distance = None, None
    for modifier in span._.modifiers:
        if modifier.category not in _STATE_CATEGORIES:
            continue
        start, end = modifier.modifier_span
        distance = span.start - end if end <= span.start else start - span.end
        if best_distance is None or distance < best_distance:
            best_state, best_distance = _STATE_CATEGORIES[modifier.category], distance
    return best_state


def _severity(span: Span) -> str | None:
    if span._.fixed_severity:
        return span._.fixed_severity
    best = None
    for modifier in span._.modifiers:
        if modifier.category != "SEVERITY":
            continue
        start, end = modifier.modifier_span
        grade = grade_severity(span.doc[start:end].text)
        if severity_rank(grade) > severity_rank(best):
            best = grade
    return best
