"""Caption stage: view-specific captions with number provenance and hard negatives.

Public entry points: :func:`build_captions` for whole tables and :func:`caption_clip` for one clip.
"""

from echoground.captions.compose import caption_clip, select_template
from echoground.captions.records import Caption, ClipInput, HardNegative, LabelInput, MeasurementInput
from echoground.captions.table import CAPTION_COLUMNS, build_captions, findings_key
from echoground.captions.templates import CaptionTemplates, load_templates

__all__ = [
    "CAPTION_COLUMNS",
    "Caption",
    "CaptionTemplates",
    "ClipInput",
    "HardNegative",
    "LabelInput",
    "MeasurementInput",
    "build_captions",
    "caption_clip",
    "findings_key",
    "load_templates",
    "select_template",
]
