"""Batch stages of the build: DICOM, view model, views and the study stage (measurements, reports, labels).

Each ``run_*`` function takes and returns paths, computes its cache key with the matching ``*_key``
function and writes one part (see :mod:`echoground.build.parts`). Tasks of a flow pass these paths
between them, never DataFrames, so Prefect can hash their parameters.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import pandas as pd

from echoground.build.config import BuildConfig
from echoground.build.fingerprint import cache_key, code_version, file_fingerprint, files_fingerprint
from echoground.build.parts import build_part, stored_key
from echoground.build.study_stage import process_studies
from echoground.dicom import DicomConfig

logger = logging.getLogger(__name__)

PARTS_DIR = "parts"


class ViewModelMissing(ValueError):
    """Neither a view model nor view labels were given, so clips cannot get a view."""


def part_dir(config: BuildConfig, stage: str, name: str) -> Path:
    """Return the folder of one part: ``parts/<stage>/<name>`` under the run folder."""
    return config.out / PARTS_DIR / stage / name


def dicom_config(config: BuildConfig) -> DicomConfig:
    return DicomConfig(
        n_frames=config.n_frames,
        size=config.frame_size,
        workers=config.dicom_workers,
        resize_backend=config.resize_backend,
    )


@lru_cache(maxsize=4096)
def _dicom_inputs_fingerprint(records_csv: str, echo_root: str, mode: str, records_fingerprint: str) -> str:
    # Memoised because Prefect's cache key function and the task body both ask for it; the records
    # file's own fingerprint is part of the arguments, so a changed batch is hashed again.
    records = pd.read_csv(records_csv, usecols=["dicom_filepath"], dtype="string")
    paths = [Path(echo_root) / str(path) for path in records["dicom_filepath"]]
    return files_fingerprint([Path(records_csv), *paths], mode)  # type: ignore[arg-type]


def dicom_key(config: BuildConfig, batch_dir: Path) -> str:
    """Return the DICOM batch key: the batch's records and DICOM files, the DICOM code and settings."""
    records_csv = Path(batch_dir) / "records.csv"
    inputs = _dicom_inputs_fingerprint(
        str(records_csv), str(config.echo_root), config.fingerprint_mode, file_fingerprint(records_csv)
    )
    settings = asdict(dicom_config(config)) | {"workers": None}
    return cache_key("dicom", inputs, code_version("dicom", "ledger.py"), settings)


def run_dicom_batch(config: BuildConfig, batch_dir: Path, build_id: str) -> Path:
    """Run the DICOM stage on one batch; write clips.parquet and ledger.parquet, frames under frames/."""
    from echoground.dicom.stage import process_batch, write_outputs

    batch_dir = Path(batch_dir)

    def produce(folder: Path) -> None:
        records = pd.read_csv(batch_dir / "records.csv", dtype={"dicom_filepath": "string"})
        clips, ledger = process_batch(records, config.echo_root, config.out, dicom_config(config))
        write_outputs(clips, ledger, folder)
        logger.info("DICOM batch %s: %d of %d files accepted", batch_dir.name, len(clips), len(records))

    key = dicom_key(config, batch_dir)
    return build_part(config.out, part_dir(config, "dicom", batch_dir.name), key, produce, build_id)


def view_model_key(config: BuildConfig) -> str:
    """Return the key of the view model: the given checkpoint, or the labels, their DICOMs and settings."""
    if config.view_model is not None:
        files = sorted(path for path in config.view_model.rglob("*") if path.is_file())
        return cache_key("view_model", files_fingerprint(files, config.fingerprint_mode), "given", {})
    if config.view_labels is None:
        raise ViewModelMissing(
            "no view classifier: pass --view-model DIR (a trained checkpoint folder) or --view-labels CSV "
            "(dicom_filepath and view columns, e.g. ECHOVIEW labels) to train one"
        )
    labels = pd.read_csv(config.view_labels, dtype="string")
    column = "dicom_filepath" if "dicom_filepath" in labels.columns else "dicom_path"
    paths = [config.view_labels]
    if column in labels.columns:
        paths += [config.echo_root / str(path) for path in labels[column].dropna()]
    settings = {"epochs": config.view_epochs}
    inputs = files_fingerprint(paths, config.fingerprint_mode)
    return cache_key("view_model", inputs, code_version("views", "dicom"), settings)


def prepare_view_model(config: BuildConfig, build_id: str) -> Path:
    """Return the view model folder: ``--view-model`` as given, or one trained from ``--view-labels``.

    Raises:
        ViewModelMissing: neither was given.
    """
    key = view_model_key(config)
    if config.view_model is not None:
        return config.view_model

    def produce(folder: Path) -> None:
        from echoground.views import TrainConfig, train_view_model

        assert config.view_labels is not None
        metrics = train_view_model(
            config.view_labels, folder, config.echo_root, TrainConfig(epochs=config.view_epochs), resume=False
        )
        logger.info(
            "view model trained from %s: test accuracy %.3f", config.view_labels, metrics["test"]["accuracy"]
        )

    return build_part(config.out, config.out / "view_model", key, produce, build_id)


def views_key(config: BuildConfig, dicom_part: Path, model_dir: Path) -> str:
    """Return the view batch key: the DICOM part's key, the model and the view code."""
    inputs = f"{stored_key(Path(dicom_part))}|{view_model_key(config)}|{model_dir}"
    return cache_key("views", inputs, code_version("views"), {"threshold": config.view_threshold})


def run_views_batch(config: BuildConfig, dicom_part: Path, model_dir: Path, build_id: str) -> Path:
    """Classify the B-mode clips of one DICOM part; write views.parquet and ledger.parquet."""
    dicom_part = Path(dicom_part)

    def produce(folder: Path) -> None:
        from echoground.ledger import Ledger
        from echoground.views import predict_clips

        clips = pd.read_parquet(dicom_part / "clips.parquet")
        ledger = Ledger()
        if clips.empty:
            views = pd.DataFrame(
                columns=["clip_id", "view", "view_coarse", "view_confidence", "view_probabilities"]
            )
        else:
            model = _load_model(str(model_dir))
            views = predict_clips(
                clips, config.out / "frames", model, threshold=config.view_threshold, ledger=ledger
            )
        views.to_parquet(folder / "views.parquet", index=False)
        ledger.write(folder / "ledger.parquet")

    key = views_key(config, dicom_part, model_dir)
    return build_part(config.out, part_dir(config, "views", dicom_part.name), key, produce, build_id)


@lru_cache(maxsize=2)
def _load_model(model_dir: str):
    from echoground.views import load_classifier

    return load_classifier(Path(model_dir))


def study_key(config: BuildConfig, batch_dir: Path) -> str:
    """Return the study batch key: its studies, measurements and notes, and the rule and NLP code."""
    batch_dir = Path(batch_dir)
    files = [batch_dir / name for name in ("studies.parquet", "measurements.parquet", "notes.parquet")]
    code = code_version("measurements", "reports", "labels", "build.study_stage", "ledger.py")
    return cache_key("studies", files_fingerprint(files), code, {})


def run_study_batch(config: BuildConfig, batch_dir: Path, build_id: str) -> Path:
    """Run measurements, report linking and parsing, and labels on one batch of studies."""
    batch_dir = Path(batch_dir)
    key = study_key(config, batch_dir)
    return build_part(
        config.out,
        part_dir(config, "studies", batch_dir.name),
        key,
        lambda folder: process_studies(batch_dir, folder),
        build_id,
    )
