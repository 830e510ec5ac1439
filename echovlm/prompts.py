"""Zero-shot prompts per canonical label, written from the EchoGround caption templates.

The prompts use the caption writer's own sentences (``echoground/captions/templates.yaml``), so the
text encoder gets at evaluation the wording it was trained on, and a change of caption wording
changes the prompts with it:

- present: the ``finding_present`` sentence at each severity word of the finding ("Moderate mitral
  regurgitation."), or the ``finding_present_unspecified`` sentences for a finding without severity
  words, plus "<measurement>, <grade words>." for every measurement the label grades ("LV end-diastolic
  diameter, moderately dilated."). Trace severity is left out, because the label engine reads a trace
  finding as absent.
- absent: the ``finding_absent`` sentences ("No mitral regurgitation.", "No evidence of mitral
  regurgitation.") plus "<measurement>, <normal words>.".

Captions state measurements with a number; the prompts leave the number out, since they stand for
every value of a grade. ``prompts.yaml`` lists the labels, in order, and may add prompts to a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PROMPTS_PATH = Path(__file__).with_name("prompts.yaml")
# Severity words that the label engine does not count as present (a trace finding is absent).
NOT_PRESENT_SEVERITIES = ("trace",)


@dataclass(frozen=True)
class LabelPrompts:
    """The label id, its name in report language, and its present and absent prompt texts."""

    label_id: str
    name: str
    present: tuple[str, ...]
    absent: tuple[str, ...]


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@lru_cache(maxsize=4)
def load_prompts(path: Path = PROMPTS_PATH) -> dict[str, LabelPrompts]:
    """Return ``{label_id: LabelPrompts}`` in the order of the prompt file.

    Raises:
        ValueError: the prompt file names a label that the caption templates do not define.
    """
    from echoground.captions.templates import load_templates

    templates = load_templates()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    prompts = {}
    for label_id, extra in data["labels"].items():
        finding = templates.findings.get(label_id)
        if finding is None:
            raise ValueError(
                f"{path}: label {label_id!r} has no finding in the caption templates; "
                f"known labels are {sorted(templates.findings)}"
            )
        severities = [
            words
            for severity, words in finding.severity_words.items()
            if severity not in NOT_PRESENT_SEVERITIES
        ]
        if severities:
            present = [
                _sentence(pattern.format(severity=words, name=finding.name))
                for words in severities
                for pattern in templates.sentences["finding_present"]
            ]
        else:
            present = [
                _sentence(pattern.format(name=finding.name))
                for pattern in templates.sentences["finding_present_unspecified"]
            ]
        absent = [
            _sentence(pattern.format(name=finding.name)) for pattern in templates.sentences["finding_absent"]
        ]
        for measurement in templates.measurements.values():
            if measurement.grade_label != label_id:
                continue
            for grade, words in measurement.grade_words.items():
                target = absent if grade == "absent" else present
                target.append(_sentence(f"{measurement.name}, {words}"))
        extra = extra or {}
        present += extra.get("present", [])
        absent += extra.get("absent", [])
        prompts[label_id] = LabelPrompts(label_id, finding.name, tuple(present), tuple(absent))
    return prompts


CANONICAL_LABELS: tuple[str, ...] = tuple(load_prompts())
