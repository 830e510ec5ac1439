"""Prefect flow of ``echoground build``: wires the stage functions of ``echoground.build`` as tasks.

One task per batch of studies or per split, never per file. Tasks pass paths, and each task's cache
key comes from ``echoground.build.fingerprint`` over its input files, the stage code and the settings,
so Prefect reuses results across runs (results persist under the run folder, ``cache/prefect``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from echoground.build import BuildConfig, new_build_id, outputs, plan, stages, tables
from echoground.splits import SPLIT_NAMES

IO_RETRIES = 2
IO_RETRY_DELAY_S = 5


def _config(parameters: dict[str, Any]) -> BuildConfig:
    return BuildConfig.from_dict(parameters["settings"])


@task(
    name="plan",
    cache_key_fn=lambda context, p: plan.plan_key(_config(p)),
    persist_result=True,
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_S,
)
def plan_task(settings: dict[str, Any], build_id: str) -> str:
    """Read the MIMIC tables and cut the studies into batches; return the plan folder."""
    return str(plan.plan_build(BuildConfig.from_dict(settings), build_id))


@task(
    name="view-model",
    cache_key_fn=lambda context, p: stages.view_model_key(_config(p)),
    persist_result=True,
)
def view_model_task(settings: dict[str, Any], build_id: str) -> str:
    """Return the view model folder, training one from the view labels when none was given."""
    return str(stages.prepare_view_model(BuildConfig.from_dict(settings), build_id))


@task(
    name="dicom-batch",
    cache_key_fn=lambda context, p: stages.dicom_key(_config(p), Path(p["batch_dir"])),
    persist_result=True,
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_S,
)
def dicom_task(settings: dict[str, Any], batch_dir: str, build_id: str) -> str:
    """Run the DICOM stage on one batch (its own process pool); return the part folder."""
    return str(stages.run_dicom_batch(BuildConfig.from_dict(settings), Path(batch_dir), build_id))


@task(
    name="views-batch",
    cache_key_fn=lambda context, p: stages.views_key(_config(p), Path(p["dicom_part"]), Path(p["model_dir"])),
    persist_result=True,
)
def views_task(settings: dict[str, Any], dicom_part: str, model_dir: str, build_id: str) -> str:
    """Classify the B-mode clips of one batch; return the part folder."""
    config = BuildConfig.from_dict(settings)
    return str(stages.run_views_batch(config, Path(dicom_part), Path(model_dir), build_id))


@task(
    name="studies-batch",
    cache_key_fn=lambda context, p: stages.study_key(_config(p), Path(p["batch_dir"])),
    persist_result=True,
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_S,
)
def studies_task(settings: dict[str, Any], batch_dir: str, build_id: str) -> str:
    """Run measurements, report linking and labels on one batch of studies; return the part folder."""
    return str(stages.run_study_batch(BuildConfig.from_dict(settings), Path(batch_dir), build_id))


@task(name="tables")
def tables_task(
    settings: dict[str, Any],
    dicom_parts: list[str],
    view_parts: list[str],
    study_parts: list[str],
    build_id: str,
) -> str:
    """Merge the parts, select clips by profile, caption them and assign splits; return the tables part."""
    config = BuildConfig.from_dict(settings)
    paths = [[Path(path) for path in group] for group in (dicom_parts, view_parts, study_parts)]
    return str(tables.merge_tables(config, *paths, build_id))


@task(name="validation")
def validation_task(settings: dict[str, Any], tables_part: str, build_id: str) -> str:
    """Validate the tables against their data contracts; an error-severity failure fails the flow."""
    return str(outputs.validate_run(BuildConfig.from_dict(settings), Path(tables_part), build_id))


@task(
    name="shards-split",
    cache_key_fn=lambda context, p: outputs.shards_key(_config(p), Path(p["tables_part"]), p["split"]),
    persist_result=True,
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_S,
)
def shards_task(settings: dict[str, Any], tables_part: str, split: str, validated: str, build_id: str) -> str:
    """Write the WebDataset shards of one split; return its folder."""
    config = BuildConfig.from_dict(settings)
    return str(outputs.write_split_shards(config, Path(tables_part), split, build_id))


@task(name="summary")
def summary_task(settings: dict[str, Any], tables_part: str, shard_dirs: list[str], build_id: str) -> str:
    """Write summary.json and publish it as Prefect artifacts; return its path."""
    config = BuildConfig.from_dict(settings)
    path = outputs.write_summary(config, Path(tables_part), [Path(p) for p in shard_dirs], build_id)
    _publish_summary(path)
    return str(path)


def _publish_summary(path: Path) -> None:
    import json

    summary = json.loads(path.read_text(encoding="utf-8"))
    rows = [
        {"stage": stage, "outcome": outcome, "count": count}
        for stage, counts in summary["ledger"].items()
        for outcome, count in counts.items()
    ]
    create_table_artifact(rows, key="build-ledger", description="Ledger rows per stage, status and reason.")
    samples = summary["samples"]
    lines = [
        f"# Build summary ({summary['profile']} profile)",
        "",
        f"- inputs: {summary['inputs']['studies']} studies, {summary['inputs']['dicom_files']} DICOM files",
        f"- samples: {samples['total']} from {samples['patients']} patients",
        f"- samples per split: {samples['per_split']}",
        f"- parts computed by this run: {summary['work']['computed_parts']}",
    ]
    for name, counts in summary.get("paper_comparison", {}).items():
        lines.append(f"- {name}: {counts['this_run']} in this run, {counts['paper']} in the paper's dataset")
    create_markdown_artifact("\n".join(lines) + "\n", key="build-summary", description=str(path))


@flow(name="echoground-build")
def build_flow(
    echo_root: str,
    note_root: str,
    hosp_root: str,
    out: str,
    settings: dict[str, Any] | None = None,
) -> str:
    """Rebuild the dataset from the three MIMIC roots into the run folder ``out``; return summary.json.

    Args:
        echo_root: MIMIC-IV-ECHO release folder.
        note_root: MIMIC-IV-Note ``note/`` folder.
        hosp_root: MIMIC-IV ``hosp/`` folder.
        out: Run folder.
        settings: Other fields of :class:`echoground.build.BuildConfig` (batch_size, profile,
            view_model or view_labels ...).
    """
    config = BuildConfig(echo_root, note_root, hosp_root, out, **(settings or {}))
    config.out.mkdir(parents=True, exist_ok=True)
    values = config.to_dict()
    build_id = new_build_id()

    model_future = view_model_task.submit(values, build_id)
    plan_dir = Path(plan_task(values, build_id))
    batches = plan.read_batches(plan_dir)
    dicom_futures = [dicom_task.submit(values, str(batch.path), build_id) for batch in batches]
    study_futures = [studies_task.submit(values, str(batch.path), build_id) for batch in batches]
    view_futures = [views_task.submit(values, future, model_future, build_id) for future in dicom_futures]
    tables_part = tables_task(
        values,
        [future.result() for future in dicom_futures],
        [future.result() for future in view_futures],
        [future.result() for future in study_futures],
        build_id,
    )
    validated = validation_task(values, tables_part, build_id)
    shard_futures = [
        shards_task.submit(values, tables_part, split, validated, build_id) for split in SPLIT_NAMES
    ]
    return summary_task(values, tables_part, [future.result() for future in shard_futures], build_id)


def task_runner(kind: str = "threads", max_workers: int = 2, dask_address: str | None = None):
    """Return the task runner: a bounded thread pool, or a Dask cluster through prefect-dask."""
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=max_workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        from distributed.comm import inproc

        # distributed 2026.8 finds the in-process transport's address with a UDP connect() to 8.8.8.8
        # (no packet is sent). Setting it first keeps the build off every non-loopback address.
        inproc.global_manager._ip = "127.0.0.1"
        # Threads in this process, without the dashboard, so a local cluster opens no network port.
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": max_workers, "processes": False, "dashboard_address": None}
        )
    raise ValueError(f"unknown task runner {kind!r}; use 'threads' or 'dask'")
