"""Zero-shot prompts per canonical label, read from ``prompts.yaml`` beside this module."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PROMPTS_PATH = Path(__file__).with_name("prompts.yaml")


@dataclass(frozen=True)
class LabelPrompts:
    """The label id, its name in report language, and its present and absent prompt texts."""

    label_id: str
    name: str
    present: tuple[str, ...]
    absent: tuple[str, ...]


@lru_cache(maxsize=4)
def load_prompts(path: Path = PROMPTS_PATH) -> dict[str, LabelPrompts]:
    """Read the prompt file and return ``{label_id: LabelPrompts}`` in file order."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    present_templates = data["present_templates"]
    absent_templates = data["absent_templates"]
    prompts = {}
    for label_id, entry in data["labels"].items():
        name = entry["name"]
        present = entry.get("present") or [template.format(name=name) for template in present_templates]
        absent = entry.get("absent") or [template.format(name=name) for template in absent_templates]
        prompts[label_id] = LabelPrompts(label_id, name, tuple(present), tuple(absent))
    return prompts


CANONICAL_LABELS: tuple[str, ...] = tuple(load_prompts())
