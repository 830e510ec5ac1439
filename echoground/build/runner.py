"""A plain sequential build without Prefect, for debugging, tests and machines without a flow server.

It calls the same stage functions as ``flows/build.py`` in the same order, and reuses the same parts,
so a run started here and finished by the flow (or the other way round) does no work twice.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from echoground.build.config import BuildConfig
from echoground.build.outputs import validate_run, write_split_shards, write_summary
from echoground.build.plan import plan_build, read_batches
from echoground.build.stages import prepare_view_model, run_dicom_batch, run_study_batch, run_views_batch
from echoground.build.tables import merge_tables
from echoground.splits import SPLIT_NAMES

logger = logging.getLogger(__name__)


def new_build_id() -> str:
    """Return a fresh id naming one build in ``cache/computed.jsonl``."""
    return uuid.uuid4().hex[:12]


def run_build(config: BuildConfig, build_id: str | None = None) -> Path:
    """Run every stage of the build in this process, one batch after another; return summary.json.

    Raises:
        ViewModelMissing: neither ``view_model`` nor ``view_labels`` is set.
        echoground.sources.SourceError: a MIMIC table is missing or lacks a column.
        echoground.validation.ContractViolation: a table broke an error-severity contract rule.
    """
    build_id = build_id or new_build_id()
    config.out.mkdir(parents=True, exist_ok=True)
    model_dir = prepare_view_model(config, build_id)
    plan = plan_build(config, build_id)
    batches = read_batches(plan)
    logger.info("build %s: %d batches into %s", build_id, len(batches), config.out)

    dicom_parts, view_parts, study_parts = [], [], []
    for number, batch in enumerate(batches, start=1):
        dicom_part = run_dicom_batch(config, batch.path, build_id)
        dicom_parts.append(dicom_part)
        view_parts.append(run_views_batch(config, dicom_part, model_dir, build_id))
        study_parts.append(run_study_batch(config, batch.path, build_id))
        logger.info(
            "build %s: batch %d/%d (%s, %d files) done",
            build_id,
            number,
            len(batches),
            batch.batch_id,
            batch.files,
        )

    tables = merge_tables(config, dicom_parts, view_parts, study_parts, build_id)
    validate_run(config, tables, build_id)
    shard_dirs = [write_split_shards(config, tables, split, build_id) for split in SPLIT_NAMES]
    summary = write_summary(config, tables, shard_dirs, build_id)
    logger.info("build %s finished: %s", build_id, summary)
    return summary
