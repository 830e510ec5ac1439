"""The run ledger: one row per input item (file, study, note) with its fate and the reason.

Every stage records each item it was given as ``accepted``, ``rejected`` (the input is unusable) or
``skipped`` (usable, but excluded by a policy such as a selection profile), with a snake_case reason
code that can be counted and a message that names the item and the offending value. Nothing a stage
reads may leave it without a ledger row, so the totals of a run always add up to its inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd


class Status(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SKIPPED = "skipped"


REASON_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

COLUMNS = ["stage", "item_kind", "item_id", "subject_id", "study_id", "status", "reason", "message"]


@dataclass(frozen=True)
class LedgerEntry:
    """The fate of one input item in one stage."""

    stage: str
    item_kind: str
    item_id: str
    status: Status
    reason: str
    message: str = ""
    subject_id: int | None = None
    study_id: int | None = None

    def __post_init__(self) -> None:
        if not REASON_PATTERN.match(self.reason):
            raise ValueError(f"ledger reason code {self.reason!r} for {self.item_id!r} must be snake_case")
        object.__setattr__(self, "status", Status(self.status))


class Ledger:
    """An append-only list of :class:`LedgerEntry` rows, written as Parquet in a stable order."""

    def __init__(self, entries: Iterable[LedgerEntry] = ()) -> None:
        self.entries: list[LedgerEntry] = list(entries)

    def add(
        self,
        stage: str,
        item_kind: str,
        item_id: str,
        status: Status | str,
        reason: str,
        message: str = "",
        subject_id: int | None = None,
        study_id: int | None = None,
    ) -> LedgerEntry:
        entry = LedgerEntry(stage, item_kind, item_id, Status(status), reason, message, subject_id, study_id)
        self.entries.append(entry)
        return entry

    def extend(self, entries: Iterable[LedgerEntry]) -> None:
        self.entries.extend(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def to_frame(self) -> pd.DataFrame:
        """Return the rows as a DataFrame sorted by stage, item kind and item id."""
        rows = [asdict(entry) | {"status": entry.status.value} for entry in self.entries]
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["subject_id"] = frame["subject_id"].astype("Int64")
        frame["study_id"] = frame["study_id"].astype("Int64")
        for column in ("stage", "item_kind", "item_id", "status", "reason", "message"):
            frame[column] = frame[column].astype("string")
        return frame.sort_values(["stage", "item_kind", "item_id"], kind="stable").reset_index(drop=True)

    def write(self, path: Path) -> Path:
        """Write the ledger as Parquet through a temporary file, so no reader ever sees half of it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".partial")
        self.to_frame().to_parquet(temporary, index=False)
        temporary.replace(path)
        return path

    @classmethod
    def read(cls, path: Path) -> Ledger:
        frame = pd.read_parquet(path)
        missing = [column for column in COLUMNS if column not in frame.columns]
        if missing:
            raise ValueError(f"{path}: not a run ledger, missing columns {missing}")
        entries = []
        for row in frame.itertuples(index=False):
            entries.append(
                LedgerEntry(
                    stage=row.stage,
                    item_kind=row.item_kind,
                    item_id=row.item_id,
                    status=Status(row.status),
                    reason=row.reason,
                    message="" if pd.isna(row.message) else row.message,
                    subject_id=None if pd.isna(row.subject_id) else int(row.subject_id),
                    study_id=None if pd.isna(row.study_id) else int(row.study_id),
                )
            )
        return cls(entries)

    def counts(self) -> dict[str, dict[str, int]]:
        """Return ``{stage: {"status/reason": count}}`` for run summaries."""
        summary: dict[str, dict[str, int]] = {}
        for entry in self.entries:
            key = f"{entry.status.value}/{entry.reason}"
            stage_counts = summary.setdefault(entry.stage, {})
            stage_counts[key] = stage_counts.get(key, 0) + 1
        return {stage: dict(sorted(counts.items())) for stage, counts in sorted(summary.items())}
