"""De-identification by allowlist: only the header attributes in ``deid_allowlist.yaml`` leave the stage."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydicom.dataset import Dataset

ALLOWLIST_PATH = Path(__file__).resolve().parent / "deid_allowlist.yaml"


@lru_cache(maxsize=1)
def allowlist() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the allowed attribute keywords and the allowed region item fields."""
    with ALLOWLIST_PATH.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    keywords = tuple(entry["keyword"] for entry in data["attributes"])
    return keywords, tuple(data["region_fields"])


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [_json_value(item) for item in value]
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        # DS and IS subclass float and int; plain types keep JSON output free of pydicom classes.
        if isinstance(value, float):
            return float(value)
        if isinstance(value, int):
            return int(value)
        return str(value)
    return str(value)


def allowed_header(dataset: Dataset) -> dict[str, Any]:
    """Return the allowlisted attributes of ``dataset`` as JSON-ready values; everything else is dropped."""
    keywords, region_fields = allowlist()
    result: dict[str, Any] = {}
    for keyword in keywords:
        if keyword not in dataset:
            continue
        if keyword == "SequenceOfUltrasoundRegions":
            result[keyword] = [
                {field: _json_value(item.get(field)) for field in region_fields if field in item}
                for item in dataset.SequenceOfUltrasoundRegions
            ]
            continue
        result[keyword] = _json_value(dataset.get(keyword))
    return result
