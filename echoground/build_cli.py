"""``echoground build``: rebuild the dataset from the MIMIC roots into validated WebDataset shards."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import click
import yaml

from echoground.dicom.config import RESIZE_BACKENDS

logger = logging.getLogger(__name__)

DEMO_COHORT = Path("demo/cohort")
DEMO_RUN = Path("demo/run")
# The same file as echoground.build.selection.PROFILES_FILE.
PROFILES_FILE = Path(__file__).with_name("build") / "profiles.yaml"


def prefect_environment(out: Path) -> dict[str, str]:
    """Return the Prefect settings the build needs, for each one the user has not set already.

    The ephemeral server runs on loopback inside the build; its telemetry is switched off because
    it tries the network. Task results persist under the run folder, so cross-run caching follows
    the run folder.
    """
    cache = Path(out).resolve() / "cache"
    defaults = {
        "PREFECT_HOME": str(cache / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # A fresh PREFECT_HOME migrates its database on first start, which took over 20 s on a busy
        # 2-core machine; Prefect 3.9's default startup timeout is 20 s.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_LOCAL_STORAGE_PATH": str(cache / "prefect-results"),
        "PREFECT_LOGGING_EXTRA_LOGGERS": "echoground,echovlm",
    }
    return {name: value for name, value in defaults.items() if name not in os.environ}


def profile_names(path: Path = PROFILES_FILE) -> list[str]:
    """Read the profile names of profiles.yaml, without importing echoground.build (which imports torch)."""
    return list(yaml.safe_load(path.read_text(encoding="utf-8")))


def _demo_cohort(cohort: Path) -> None:
    if (cohort / "mimic-iv-echo" / "echo-record-list.csv").is_file():
        return
    from echoground.synth.generate import SynthConfig, generate_cohort

    logger.info("demo cohort not found in %s; synthesising it", cohort)
    generate_cohort(SynthConfig(out=cohort))


def _parse_split_ratios(context: click.Context, parameter: click.Parameter, value: str) -> dict[str, float]:
    """Turn "0.8,0.1,0.1" into {"train": 0.8, "val": 0.1, "test": 0.1}, or raise a usage error."""
    from echoground.splits import SPLIT_NAMES, check_ratios

    parts = [part.strip() for part in str(value).split(",")]
    try:
        numbers = [float(part) for part in parts]
        if len(numbers) != len(SPLIT_NAMES):
            raise ValueError(f"expected {len(SPLIT_NAMES)} numbers (train, val, test), got {len(numbers)}")
        return check_ratios(dict(zip(SPLIT_NAMES, numbers, strict=True)))
    except ValueError as error:
        raise click.BadParameter(f"{value!r}: {error}; e.g. 0.8,0.1,0.1") from error


@click.command(name="build")
@click.option(
    "--echo-root",
    type=click.Path(path_type=Path),
    help="MIMIC-IV-ECHO release folder "
    "(holds echo-record-list.csv and files/). Default: the demo cohort, synthesised if absent.",
)
@click.option(
    "--note-root",
    type=click.Path(path_type=Path),
    help="MIMIC-IV-Note note/ folder (contains discharge.csv.gz). Default: the demo cohort's.",
)
@click.option(
    "--hosp-root",
    type=click.Path(path_type=Path),
    help="MIMIC-IV hosp/ folder (contains patients.csv.gz). Default: the demo cohort's.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEMO_RUN,
    show_default=True,
    help="Run folder; a rerun into the same folder reuses every unchanged batch.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Mean number of studies per batch (one task per batch).",
)
@click.option(
    "--dicom-workers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Worker processes of the DICOM stage inside one batch (count).",
)
@click.option(
    "--frames",
    "n_frames",
    type=click.IntRange(1),
    default=16,
    show_default=True,
    help="Maximum frames kept per clip (count).",
)
@click.option(
    "--size",
    "frame_size",
    type=click.IntRange(8),
    default=224,
    show_default=True,
    help="Side of the square output frames (pixels).",
)
@click.option(
    "--resize-backend",
    type=click.Choice(RESIZE_BACKENDS),
    default="torch",
    show_default=True,
    help="Library that resizes the kept frames. 'torch' is about eight times faster; 'pillow' never "
    "imports torch and saves about 280 MB of memory per DICOM worker process.",
)
@click.option(
    "--profile",
    type=click.Choice(profile_names()),
    default="default",
    show_default=True,
    help="Selection profile of echoground/build/profiles.yaml, which decides the clips that become samples.",
)
@click.option(
    "--view-model",
    type=click.Path(exists=True, path_type=Path),
    help="Folder of a trained view classifier (see 'echoground views train').",
)
@click.option(
    "--view-labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of dicom_filepath and view (for example ECHOVIEW labels) to train the view "
    "classifier from, when no --view-model is given. Default for the demo cohort: its "
    "ground_truth/dicoms.csv.",
)
@click.option(
    "--view-epochs",
    type=click.IntRange(1),
    default=24,
    show_default=True,
    help="Training epochs of the view classifier (count).",
)
@click.option(
    "--view-threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Calibrated probability (0-1) below which a clip's view is 'uncertain'.",
)
@click.option("--caption-seed", type=int, default=0, show_default=True, help="Seed of caption paraphrases.")
@click.option(
    "--split-ratios",
    callback=_parse_split_ratios,
    default="0.8,0.1,0.1",
    show_default=True,
    help="Shares of patients in the train, val and test splits, comma-separated; they must sum to 1. "
    "A patient's split depends only on its subject_id and the salt.",
)
@click.option(
    "--split-salt",
    default="echoground-v1",
    show_default=True,
    help="Salt of the subject-id hash that assigns patients to splits; another salt draws other splits.",
)
@click.option(
    "--shard-max-samples",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Maximum samples per shard (count).",
)
@click.option(
    "--fingerprint",
    "fingerprint_mode",
    type=click.Choice(["content", "stat"]),
    default="content",
    show_default=True,
    help="How input files are fingerprinted for the cache: 'content' hashes "
    "every byte, 'stat' hashes path, size and modification time (much faster on the full archive).",
)
@click.option(
    "--engine",
    type=click.Choice(["prefect", "local"]),
    default="prefect",
    show_default=True,
    help="'prefect' runs the Prefect flow (flows/build.py); 'local' runs the stages one after "
    "another in this process, without Prefect.",
)
@click.option(
    "--task-runner",
    type=click.Choice(["threads", "dask"]),
    default="threads",
    show_default=True,
    help="Prefect task runner: a bounded thread pool, or a Dask cluster (prefect-dask).",
)
@click.option(
    "--max-workers",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Tasks run at once by the thread pool, or workers of a local Dask cluster (count).",
)
@click.option(
    "--dask-address",
    help="Scheduler address of a running Dask cluster, e.g. tcp://127.0.0.1:8786; "
    "without it '--task-runner dask' starts a local cluster.",
)
def build(
    echo_root: Path | None,
    note_root: Path | None,
    hosp_root: Path | None,
    out: Path,
    engine: str,
    task_runner: str,
    max_workers: int,
    dask_address: str | None,
    **settings,
) -> None:
    """Rebuild the dataset from the three MIMIC roots into validated WebDataset shards.

    Without roots, the build runs on the demo cohort in demo/cohort (synthesised first if absent).
    Outputs: OUT/ledger.parquet, the tables, frames/, shards/{train,val,test}/, validation/ and
    summary.json.
    """
    from echoground.build import BuildConfig, ViewModelMissing

    if echo_root is None and note_root is None and hosp_root is None:
        _demo_cohort(DEMO_COHORT)
        echo_root, note_root, hosp_root = (
            DEMO_COHORT / "mimic-iv-echo",
            DEMO_COHORT / "mimic-iv-note",
            DEMO_COHORT / "mimic-iv" / "hosp",
        )
        if settings["view_model"] is None and settings["view_labels"] is None:
            settings["view_labels"] = DEMO_COHORT / "ground_truth" / "dicoms.csv"
    elif None in (echo_root, note_root, hosp_root):
        raise click.UsageError(
            "pass all three of --echo-root, --note-root and --hosp-root, or none for the demo"
        )
    if settings["view_model"] is None and settings["view_labels"] is None:
        raise click.UsageError(
            "no view classifier: pass --view-model DIR (a trained checkpoint) or --view-labels CSV "
            "(dicom_filepath and view columns) to train one"
        )
    # Absolute paths: tasks may run in other processes (Dask) and GX file stores reject relative ones.
    echo_root, note_root, hosp_root, out = (Path(p).resolve() for p in (echo_root, note_root, hosp_root, out))
    for name in ("view_model", "view_labels"):
        if settings[name] is not None:
            settings[name] = Path(settings[name]).resolve()
    _check_roots(echo_root, note_root, hosp_root)
    try:
        config = BuildConfig(echo_root, note_root, hosp_root, out, **settings)
    except ValueError as error:
        raise click.UsageError(str(error)) from error

    try:
        if engine == "local":
            from echoground.build import run_build

            summary = run_build(config)
        else:
            summary = _run_flow(config, task_runner, max_workers, dask_address)
    except ViewModelMissing as error:
        raise click.UsageError(str(error)) from error
    counts = json.loads(Path(summary).read_text(encoding="utf-8"))
    samples = counts["samples"]
    click.echo(
        f"build finished: {samples['total']} samples from {samples['patients']} patients "
        f"{samples['per_split']}; {counts['work']['computed_parts']} parts computed; summary: {summary}"
    )


def _run_flow(config, task_runner: str, max_workers: int, dask_address: str | None) -> str:
    environment = prefect_environment(config.out)
    for name in ("PREFECT_HOME", "PREFECT_LOCAL_STORAGE_PATH"):
        if name in environment:
            Path(environment[name]).mkdir(parents=True, exist_ok=True)
    os.environ.update(environment)
    from flows.build import build_flow
    from flows.build import task_runner as make_runner

    flow = build_flow.with_options(task_runner=make_runner(task_runner, max_workers, dask_address))
    values = config.to_dict()
    roots = [values.pop(name) for name in ("echo_root", "note_root", "hosp_root", "out")]
    return flow(*roots, settings=values)


def _check_roots(echo_root: Path, note_root: Path, hosp_root: Path) -> None:
    """Stop before any work when a MIMIC table is missing or lacks a column (reads headers only)."""
    from echoground.sources import MimicRoots, SourceError, check_table, table_specs

    roots = MimicRoots(echo_root, note_root, hosp_root)
    for table in table_specs():
        try:
            check_table(roots, table)
        except SourceError as error:
            raise click.UsageError(str(error)) from error
