"""Column-checked readers of the MIMIC tables the pipeline consumes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

logger = logging.getLogger(__name__)

_COLUMNS_FILE = Path(__file__).with_name("columns.yaml")

# Identifier columns are read as nullable integers. Everything else stays text until a stage parses it,
# because results such as ">2.8" or "55-60" must reach the measurement parser unchanged.
_INTEGER_COLUMNS = {
    "subject_id",
    "study_id",
    "measurement_id",
    "hadm_id",
    "note_seq",
    "anchor_age",
    "anchor_year",
}


class SourceError(ValueError):
    """A MIMIC input file is missing, unreadable, or lacks a column the pipeline needs."""


@dataclass(frozen=True)
class MimicRoots:
    """The three release folders a build reads: MIMIC-IV-ECHO, MIMIC-IV-Note (note/) and MIMIC-IV hosp/."""

    echo: Path
    note: Path
    hosp: Path

    @classmethod
    def from_cohort(cls, cohort_dir: Path) -> MimicRoots:
        """Return the roots of a cohort written by ``echoground synth --out cohort_dir``."""
        cohort_dir = Path(cohort_dir)
        return cls(
            cohort_dir / "mimic-iv-echo", cohort_dir / "mimic-iv-note", cohort_dir / "mimic-iv" / "hosp"
        )

    def root(self, name: str) -> Path:
        return {"echo": self.echo, "note": self.note, "hosp": self.hosp}[name]


@cache
def table_specs() -> dict[str, dict]:
    with _COLUMNS_FILE.open() as handle:
        return yaml.safe_load(handle)


def table_path(roots: MimicRoots, table: str) -> Path:
    """Return where ``table`` (a key of columns.yaml) lies under the roots."""
    spec = _spec(table)
    return roots.root(spec["root"]) / spec["path"]


def read_table(roots: MimicRoots, table: str, usecols: list[str] | None = None) -> pd.DataFrame:
    """Read one MIMIC table with its required columns checked.

    Args:
        roots: the release folders.
        table: a key of columns.yaml, e.g. ``"echo_record_list"``.
        usecols: columns to keep; defaults to the required and present optional columns.

    Raises:
        SourceError: the file is missing or unreadable, or a required column is absent.
    """
    spec = _spec(table)
    path = table_path(roots, table)
    present = check_table(roots, table)
    wanted = usecols or [*spec["required"], *[c for c in spec.get("optional", []) if c in present]]
    dtypes = {column: ("Int64" if column in _INTEGER_COLUMNS else "string") for column in wanted}
    try:
        frame = pd.read_csv(path, usecols=wanted, dtype=dtypes, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise SourceError(f"{path}: cannot parse the columns {wanted}: {error}") from error
    logger.info("read %s: %d rows from %s", table, len(frame), path)
    return frame


def check_table(roots: MimicRoots, table: str) -> set[str]:
    """Check that ``table`` exists and has its required columns, reading only its header.

    Returns:
        The column names present in the file.

    Raises:
        SourceError: the file is missing or unreadable, or a required column is absent.
    """
    spec = _spec(table)
    path = table_path(roots, table)
    if not path.is_file():
        raise SourceError(
            f"{path}: file not found (expected the {table} table under the {spec['root']} root)"
        )
    try:
        header = pd.read_csv(path, nrows=0)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise SourceError(f"{path}: cannot read as CSV: {error}") from error
    present = set(header.columns)
    missing = [column for column in spec["required"] if column not in present]
    if missing:
        raise SourceError(
            f"{path}: missing required column(s) {missing}; found {sorted(present)}. "
            "Check that the root points at the right release."
        )
    return present


def _spec(table: str) -> dict:
    specs = table_specs()
    if table not in specs:
        raise KeyError(f"unknown MIMIC table {table!r}; known tables: {sorted(specs)}")
    return specs[table]
