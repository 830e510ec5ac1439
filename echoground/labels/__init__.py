"""Guideline labels per study from measurements, cardiologist fields and report text.

Entry points: :func:`label_study` (one study) and :func:`label_studies` (a batch, one row per study and
label). Label ids and display names live in label_ids.yaml, rules with their sources in rules.yaml.
"""

from echoground.labels.engine import LabelResult, label_ids, load_rules
from echoground.labels.study import StudyInput, StudyLabels, label_studies, label_study

__all__ = [
    "LabelResult",
    "StudyInput",
    "StudyLabels",
    "label_ids",
    "label_studies",
    "label_study",
    "load_rules",
]
