"""Write one clip's caption from its study's measurements and labels, with provenance and negatives.

The rules live in ``templates.yaml``: which view states what, how a fact is phrased, and what happens
to clips without a usable view. This module only applies them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from echoground.captions.records import Caption, ClipInput, HardNegative, LabelInput, MeasurementInput
from echoground.captions.templates import (
    CaptionTemplates,
    FindingFormat,
    MeasurementFormat,
    ViewTemplate,
    load_templates,
)
from echoground.logs import RateLimitedLogger

logger = logging.getLogger(__name__)
_warnings = RateLimitedLogger(logger)

B_MODE_KINDS = ("b_mode_2d", "m_mode")
DOPPLER_KINDS = ("color_doppler", "spectral_doppler")
UNCERTAIN_VIEWS = ("", "uncertain", "unknown")
STATED_STATES = ("present", "absent")

# Ledger reason codes returned beside each caption.
CAPTIONED_VIEW = "captioned_view"
CAPTIONED_STUDY_LEVEL = "captioned_study_level"
NO_VIEW_TEMPLATE = "no_view_template"
NO_CAPTION_FACTS = "no_caption_facts"


@dataclass(frozen=True)
class _Fact:
    """One sentence of a caption: a measurement (graded or not) or a finding."""

    kind: str  # "measurement" or "finding"
    variant: int
    measurement: MeasurementInput | None = None
    measurement_format: MeasurementFormat | None = None
    label: LabelInput | None = None
    finding_format: FindingFormat | None = None
    # The grade key of a graded measurement ("absent" or a severity), or the state of a finding.
    grade: str | None = None
    severity: str | None = None


def select_template(clip: ClipInput, templates: CaptionTemplates) -> ViewTemplate | None:
    """Return the view template for a clip, or None when the clip has no usable view.

    B-mode and M-mode clips use the template of their fine view; colour and spectral Doppler clips use
    the template of their coarse view. A missing or "uncertain" view, the clip kind "other" and a view
    without a template give None.
    """
    view = (clip.view or "").strip()
    if view.lower() in UNCERTAIN_VIEWS:
        return None
    if clip.clip_kind in B_MODE_KINDS:
        return templates.views.get(view)
    if clip.clip_kind in DOPPLER_KINDS:
        return templates.doppler.get(clip.view_coarse or "")
    return None


def caption_clip(
    clip: ClipInput,
    measurements: Iterable[MeasurementInput],
    labels: Iterable[LabelInput],
    seed: int = 0,
    templates: CaptionTemplates | None = None,
) -> tuple[Caption | None, str]:
    """Write the caption of one clip.

    Args:
        clip: the clip, with the view classifier's output.
        measurements: canonical measurements of the clip's study.
        labels: labels of the clip's study.
        seed: paraphrase seed; the same seed and clip id always pick the same sentence patterns.
        templates: caption templates; defaults to the packaged ``templates.yaml``.

    Returns:
        ``(caption, reason)``: the caption, or None with the ledger reason code (``no_view_template``,
        ``no_caption_facts``); with a caption the reason is ``captioned_view`` or ``captioned_study_level``.
    """
    templates = templates or load_templates()
    template = select_template(clip, templates)
    level = "clip"
    if template is None:
        if templates.uncertain_view_policy == "none":
            return None, NO_VIEW_TEMPLATE
        template, level = templates.study_level, "study"

    rng = random.Random(_variant_seed(seed, clip.clip_id))
    facts = _collect_facts(clip, template, templates, _by_name(measurements), _by_label(labels), rng)
    if not facts:
        return None, NO_CAPTION_FACTS

    text, provenance = _render(template, facts, templates)
    provenance |= {
        "template": template.key,
        "template_version": templates.version,
        "level": level,
        "seed": seed,
    }
    negatives = _hard_negatives(template, facts, templates, text, rng)
    caption = Caption(
        clip_id=clip.clip_id,
        subject_id=int(clip.subject_id),
        study_id=int(clip.study_id),
        text=text,
        level=level,
        template=template.key,
        template_version=templates.version,
        provenance=provenance,
        negatives=negatives,
    )
    return caption, CAPTIONED_VIEW if level == "clip" else CAPTIONED_STUDY_LEVEL


def _variant_seed(seed: int, clip_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()[:8], "big")


def _by_name(measurements: Iterable[MeasurementInput]) -> dict[str, MeasurementInput]:
    # With repeated names the first one wins; the measurements stage emits one row per name and study.
    result: dict[str, MeasurementInput] = {}
    for measurement in measurements:
        result.setdefault(measurement.name, measurement)
    return result


def _by_label(labels: Iterable[LabelInput]) -> dict[str, LabelInput]:
    result: dict[str, LabelInput] = {}
    for label in labels:
        result.setdefault(label.label_id, label)
    return result


def _stated(label: LabelInput | None) -> bool:
    return label is not None and label.state in STATED_STATES and not label.conflict


def _collect_facts(
    clip: ClipInput,
    template: ViewTemplate,
    templates: CaptionTemplates,
    measurements: Mapping[str, MeasurementInput],
    labels: Mapping[str, LabelInput],
    rng: random.Random,
) -> list[_Fact]:
    facts: list[_Fact] = []
    graded_labels: set[str] = set()

    for key in template.measurements:
        measurement = measurements.get(key)
        if measurement is None:
            continue
        fmt = templates.measurements[key]
        if measurement.unit != fmt.unit or not math.isfinite(measurement.value):
            _warnings.warning(
                "caption_measurement_skipped",
                "clip %s study %s: measurement %s (%s) has value %r %r; the caption expects a finite value "
                "in %r, so it is left out",
                clip.clip_id,
                clip.study_id,
                key,
                measurement.measurement_id,
                measurement.value,
                measurement.unit,
                fmt.unit,
            )
            continue
        label = labels.get(fmt.grade_label) if fmt.grade_label else None
        grade = None
        if _stated(label):
            grade_key = "absent" if label.state == "absent" else (label.severity or "")
            if grade_key in fmt.grade_words:
                grade = grade_key
                graded_labels.add(label.label_id)
        facts.append(
            _Fact(
                "measurement",
                rng.randrange(1 << 16),
                measurement=measurement,
                measurement_format=fmt,
                label=label if grade else None,
                grade=grade,
            )
        )

    for label_id in template.findings:
        label = labels.get(label_id)
        if not _stated(label) or label_id in graded_labels:
            continue
        facts.append(
            _Fact(
                "finding",
                rng.randrange(1 << 16),
                label=label,
                finding_format=templates.findings[label_id],
                grade=label.state,
                severity=label.severity,
            )
        )
    return facts


def _fill(pattern: str, fields: Mapping[str, str]) -> tuple[str, dict[str, tuple[int, int]]]:
    """Fill a ``str.format`` pattern and return the text with the span of each field."""
    parts: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    offset = 0
    for literal, name, _, _ in string.Formatter().parse(pattern):
        parts.append(literal)
        offset += len(literal)
        if name:
            value = fields[name]
            spans[name] = (offset, offset + len(value))
            parts.append(value)
            offset += len(value)
    return "".join(parts), spans


def _pick(templates: CaptionTemplates, kind: str, variant: int) -> str:
    patterns = templates.sentences[kind]
    return patterns[variant % len(patterns)]


def _sentence(fact: _Fact, templates: CaptionTemplates) -> tuple[str, dict[str, tuple[int, int]]]:
    if fact.kind == "measurement":
        fmt, measurement = fact.measurement_format, fact.measurement
        fields = {
            "name": fmt.name,
            "value": f"{measurement.value:.{fmt.decimals}f}",
            "unit": templates.units[fmt.unit],
        }
        if fact.grade is not None:
            fields["grade"] = fmt.grade_words[fact.grade]
            return _fill(_pick(templates, "measurement_graded", fact.variant), fields)
        return _fill(_pick(templates, "measurement", fact.variant), fields)

    fmt = fact.finding_format
    if fact.grade == "absent":
        return _fill(_pick(templates, "finding_absent", fact.variant), {"name": fmt.name})
    severity_words = fmt.severity_words.get(fact.severity or "")
    if severity_words:
        return _fill(
            _pick(templates, "finding_present", fact.variant), {"name": fmt.name, "severity": severity_words}
        )
    return _fill(_pick(templates, "finding_present_unspecified", fact.variant), {"name": fmt.name})


def _render(
    template: ViewTemplate, facts: list[_Fact], templates: CaptionTemplates
) -> tuple[str, dict[str, list[dict]]]:
    text = template.phrase[0].upper() + template.phrase[1:] + "."
    numbers: list[dict] = []
    findings: list[dict] = []
    for fact in facts:
        sentence, spans = _sentence(fact, templates)
        start = len(text) + 1
        text += " " + sentence[0].upper() + sentence[1:] + "."
        if fact.kind == "measurement":
            value_start, value_end = spans["value"]
            measurement = fact.measurement
            numbers.append(
                {
                    "text": sentence[value_start:value_end],
                    "span": [start + value_start, start + value_end],
                    "measurement": measurement.name,
                    "measurement_id": measurement.measurement_id,
                    "value": measurement.value,
                    "unit": measurement.unit,
                    "raw_value": measurement.raw_value,
                    "raw_unit": measurement.raw_unit,
                }
            )
        if fact.label is not None:
            span = spans.get("grade", (0, len(sentence)))
            findings.append(
                {
                    "label_id": fact.label.label_id,
                    "state": fact.label.state,
                    "severity": fact.label.severity,
                    "source": fact.label.source,
                    "rule_id": fact.label.rule_id,
                    "span": [start + span[0], start + span[1]],
                }
            )
    return text, {"numbers": numbers, "findings": findings}


def _farthest(options: list[str], current: str, rng: random.Random) -> str | None:
    """Return the option farthest from ``current`` in list order, ties broken by ``rng``."""
    others = [option for option in options if option != current]
    if not others:
        return None
    if current not in options:
        return rng.choice(others)
    position = options.index(current)
    distance = max(abs(options.index(option) - position) for option in others)
    return rng.choice([option for option in others if abs(options.index(option) - position) == distance])


def _hard_negatives(
    template: ViewTemplate,
    facts: list[_Fact],
    templates: CaptionTemplates,
    caption_text: str,
    rng: random.Random,
) -> list[HardNegative]:
    """Return one counterfactual caption per flippable fact: polarity flips, then grade flips."""
    negatives: list[HardNegative] = []
    seen = {caption_text}

    def add(index: int, flipped: _Fact, label_id: str, flip: str) -> None:
        changed = [*facts[:index], flipped, *facts[index + 1 :]]
        text, _ = _render(template, changed, templates)
        if text not in seen:
            seen.add(text)
            state = "absent" if flipped.grade == "absent" else "present"
            negatives.append(HardNegative(text=text, label=label_id, flip=flip, state=state))

    for index, fact in enumerate(facts):
        if fact.kind == "measurement":
            if fact.grade is None:
                continue
            fmt = fact.measurement_format
            new_grade = _farthest(list(fmt.grade_words), fact.grade, rng)
            if new_grade is not None:
                add(index, replace(fact, grade=new_grade), fmt.grade_label, "grade")
            continue

        fmt = fact.finding_format
        if fact.grade == "absent":
            add(
                index,
                replace(fact, grade="present", severity=fmt.absent_flip_severity),
                fmt.label_id,
                "polarity",
            )
            continue
        add(index, replace(fact, grade="absent", severity=None), fmt.label_id, "polarity")
        if fact.severity in fmt.grade_flips:
            new_severity = _farthest(list(fmt.grade_flips), fact.severity, rng)
            if new_severity is not None:
                add(index, replace(fact, severity=new_severity), fmt.label_id, "grade")
    return negatives
