"""Pick gallery items from a run and lay out each one's frames, linked caption and report sentences."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from echoground.audit.run_folder import RunFolder
from echoground.audit.summary import NO_VIEW

logger = logging.getLogger(__name__)

MAX_FRAMES = 8
THUMBNAIL_SIDE = 112


@dataclass
class Segment:
    """A piece of text; ``kind`` is ``plain``, ``number``, ``finding``, ``sentence`` or ``mention``.

    ``details`` contains the provenance shown on hover and click, ``parts`` the nested segments of a
    highlighted report sentence.
    """

    text: str
    kind: str = "plain"
    details: dict[str, Any] = field(default_factory=dict)
    parts: list[Segment] = field(default_factory=list)


@dataclass
class GalleryItem:
    """One sampled clip as the gallery shows it."""

    clip_id: str
    study_id: int
    subject_id: int
    split: str
    view: str
    template: str
    level: str
    frames: list[str]
    caption: list[Segment]
    report: list[Segment]
    negatives: list[dict[str, str]]
    labels: list[str]
    flags: list[str]
    issues: list[str]


def pick_items(run: RunFolder, n: int, flagged: Mapping[str, set[str]], seed: int = 0) -> list[str]:
    """Return up to ``n`` clip ids: flagged clips first (at most half of ``n``), then a view-stratified draw.

    The draw takes one clip per view in turn (views in sorted order, clips shuffled by ``seed``), so
    rare views are shown even when one view dominates the run.
    """
    rng = random.Random(seed)
    clip_ids = sorted(run.captions["clip_id"].astype(str))
    chosen = [clip_id for clip_id in clip_ids if clip_id in flagged][: max(n // 2, 0)]
    views = _views(run)
    by_view: dict[str, list[str]] = defaultdict(list)
    for clip_id in clip_ids:
        if clip_id not in chosen:
            by_view[views.get(clip_id, NO_VIEW)].append(clip_id)
    for group in by_view.values():
        rng.shuffle(group)
    queues = [by_view[view] for view in sorted(by_view)]
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop())
    return chosen


def _views(run: RunFolder) -> dict[str, str]:
    clips = run.clips.reindex(columns=["clip_id", "view"])
    return {
        str(row.clip_id): (str(row.view) if isinstance(row.view, str) and row.view else NO_VIEW)
        for row in clips.itertuples(index=False)
    }


def build_items(
    run: RunFolder, clip_ids: list[str], flags: Mapping[str, set[str]], messages: Mapping[str, list[str]]
) -> list[GalleryItem]:
    """Lay out each chosen clip; the reports of their studies are parsed once each."""
    captions = run.captions.set_index(run.captions["clip_id"].astype(str))
    clips = run.clips.set_index(run.clips["clip_id"].astype(str))
    views = _views(run)
    report_cache = _study_reports(run, {int(captions.loc[clip_id, "study_id"]) for clip_id in clip_ids})
    items = []
    for clip_id in clip_ids:
        caption = captions.loc[clip_id]
        study_id = int(caption["study_id"])
        provenance = json.loads(caption["provenance"])
        split = clips.loc[clip_id, "split"] if clip_id in clips.index and "split" in clips.columns else None
        items.append(
            GalleryItem(
                clip_id=clip_id,
                study_id=study_id,
                subject_id=int(caption["subject_id"]),
                split=str(split) if isinstance(split, str) else "none",
                view=views.get(clip_id, NO_VIEW),
                template=str(caption["template"]),
                level=str(caption["level"]),
                frames=frame_thumbnails(run.frames(clip_id)),
                caption=caption_segments(str(caption["caption"]), provenance),
                report=report_cache.get(study_id, []),
                negatives=json.loads(caption["negatives"]),
                labels=sorted({str(finding["label_id"]) for finding in provenance.get("findings", [])}),
                flags=sorted(flags.get(clip_id, set())),
                issues=list(messages.get(clip_id, [])),
            )
        )
    return items


def caption_segments(text: str, provenance: Mapping[str, Any]) -> list[Segment]:
    """Split a caption into plain text and the spans of its numbers and findings, with their provenance."""
    spans: list[tuple[int, int, Segment]] = []
    for number in provenance.get("numbers", []):
        start, end = (int(position) for position in number["span"])
        details = {
            "measurement": number.get("measurement"),
            "measurement id": number.get("measurement_id"),
            "value": number.get("value"),
            "unit": number.get("unit"),
            "raw value": number.get("raw_value"),
            "raw unit": number.get("raw_unit"),
        }
        spans.append((start, end, Segment(text[start:end], "number", details)))
    for finding in provenance.get("findings", []):
        start, end = (int(position) for position in finding["span"])
        details = {
            "label": finding.get("label_id"),
            "state": finding.get("state"),
            "severity": finding.get("severity"),
            "source": finding.get("source"),
            "rule": finding.get("rule_id"),
        }
        spans.append((start, end, Segment(text[start:end], "finding", details)))
    return _split(text, spans)


def _split(text: str, spans: list[tuple[int, int, Segment]], base: int = 0) -> list[Segment]:
    """Cut ``text`` at spans (offsets relative to ``base``); a span overlapping an earlier one is dropped."""
    segments: list[Segment] = []
    position = base
    for start, end, segment in sorted(spans, key=lambda item: (item[0], -item[1])):
        if start < position:
            continue
        if start > position:
            segments.append(Segment(text[position - base : start - base]))
        segments.append(segment)
        position = end
    if position - base < len(text):
        segments.append(Segment(text[position - base :]))
    return segments


def _study_reports(run: RunFolder, study_ids: set[int]) -> dict[int, list[Segment]]:
    """Parse the linked report of each study in one batch and lay out each as segments."""
    texts = {study_id: run.report_text(study_id) for study_id in sorted(study_ids)}
    texts = {study_id: text for study_id, text in texts.items() if text}
    if not texts:
        return {}
    from echoground.reports.parsed import parse_reports

    parsed = parse_reports(list(texts.values()))
    return {
        study_id: report_segments(text, report.findings)
        for (study_id, text), report in zip(texts.items(), parsed, strict=True)
    }


def report_segments(text: str, mentions: list[Any]) -> list[Segment]:
    """Return a report's text with each sentence that mentions a finding highlighted.

    Args:
        text: the report text.
        mentions: finding mentions of the report (``label, state, severity, start, end``), as the
            reports stage's :class:`echoground.reports.nlp.Finding` records carry them.
    """
    sentences: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for mention in mentions:
        sentences[_sentence_bounds(text, mention.start, mention.end)].append(mention)

    spans = []
    for (start, end), inside in sorted(sentences.items()):
        parts = [
            (
                mention.start,
                mention.end,
                Segment(
                    text[mention.start : mention.end],
                    "mention",
                    {"label": mention.label, "state": mention.state, "severity": mention.severity},
                ),
            )
            for mention in inside
        ]
        labels = sorted({mention.label for mention in inside})
        spans.append(
            (
                start,
                end,
                Segment(
                    text[start:end],
                    "sentence",
                    {"labels": " ".join(labels)},
                    _split(text[start:end], parts, start),
                ),
            )
        )
    return _split(text, _without_overlaps(spans))


def _without_overlaps(spans: list[tuple[int, int, Segment]]) -> list[tuple[int, int, Segment]]:
    kept: list[tuple[int, int, Segment]] = []
    for span in sorted(spans, key=lambda item: item[0]):
        if kept and span[0] < kept[-1][1]:
            continue
        kept.append(span)
    return kept


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Return the sentence around ``[start, end)``, bounded by full stops and blank lines."""
    previous = [text.rfind(separator, 0, start) for separator in (". ", ".\n", "\n\n")]
    before = max([position + 2 for position in previous if position != -1], default=0)
    stops = [
        position
        for position in (text.find(". ", end), text.find(".\n", end), text.find("\n\n", end))
        if position != -1
    ]
    after = min(stops) + 1 if stops else len(text)
    while before < start and text[before].isspace():
        before += 1
    return before, max(after, end)


def frame_thumbnails(frames: np.ndarray | None) -> list[str]:
    """Encode up to :data:`MAX_FRAMES` evenly spaced frames as JPEG data URIs, at most 112 pixels a side."""
    if frames is None or frames.ndim != 4 or frames.shape[0] == 0:
        return []
    from PIL import Image

    indices = np.unique(
        np.linspace(0, frames.shape[0] - 1, min(MAX_FRAMES, frames.shape[0])).round().astype(int)
    )
    uris = []
    for index in indices:
        image = Image.fromarray(np.ascontiguousarray(frames[index]).astype(np.uint8), "RGB")
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
        uris.append("data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    return uris


def items_table(run: RunFolder) -> pd.DataFrame:
    """Return the captions joined with each clip's split and view, one row per captioned clip."""
    views = _views(run)
    frame = run.captions.copy()
    frame["view"] = frame["clip_id"].astype(str).map(views).fillna(NO_VIEW)
    splits = run.clips.set_index(run.clips["clip_id"].astype(str)).get("split")
    frame["split"] = frame["clip_id"].astype(str).map(splits).fillna("none") if splits is not None else "none"
    return frame
