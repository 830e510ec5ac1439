"""Readers for the MIMIC-IV-ECHO, MIMIC-IV-Note and MIMIC-IV hosp files, with column checks.

Public entry points: :func:`read_table` and :class:`MimicRoots`. Every reader checks the columns it
relies on (listed in ``columns.yaml``) and raises :class:`SourceError` naming the file and the missing
column, so a release that renamed a column fails at once instead of producing empty labels.
"""

from echoground.sources.readers import (
    MimicRoots,
    SourceError,
    check_table,
    read_table,
    table_path,
    table_specs,
)

__all__ = ["MimicRoots", "SourceError", "check_table", "read_table", "table_path", "table_specs"]
