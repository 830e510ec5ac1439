"""Write the whole synthetic cohort: MIMIC-IV-ECHO, MIMIC-IV-Note and MIMIC-IV hosp roots plus ground truth.

:func:`generate_cohort` is the public entry point. It streams: each study's DICOMs, table rows and
notes are written before the next study is drawn, so memory does not grow with the number of patients.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import generate_uid

from echoground.synth import clips as clip_builders
from echoground.synth import phantoms, real_files, reports, tables
from echoground.synth.cohort import (
    LABELS,
    PRESENT,
    STUDY_ID_BASE,
    SUBJECT_ID_BASE,
    Patient,
    Study,
    _scatter,
    load_identities,
    make_patient,
    make_study,
    study_rng,
)
from echoground.synth.dicom_writer import FrameTiming, write_dicom

logger = logging.getLogger(__name__)

DEFAULT_FRAME_SIZE = (300, 400)
FULL_FRAME_SIZE = (708, 1016)  # rows x columns of GE Vivid exports

GROUND_TRUTH_DICOM_COLUMNS = [
    "dicom_filepath",
    "subject_id",
    "study_id",
    "view",
    "clip_kind",
    "transfer_syntax",
    "photometric",
    "n_frames",
    "source",
    "encoding",
    "timing_style",
    "frame_time_ms",
    "burned_in_annotation_header",
    "cm_per_pixel",
    "ed_frame",
    "es_frame",
    "lv_axis",
    "lv_center_x_px",
    "lv_center_y_px",
    "lv_diameter_px",
    "lv_es_diameter_px",
    "wall_thickness_px",
    "la_axis",
    "la_center_x_px",
    "la_center_y_px",
    "la_diameter_px",
    "ecg_row_px",
]
GROUND_TRUTH_STUDY_COLUMNS = [
    "subject_id",
    "study_id",
    "sex",
    "age",
    "height_cm",
    "weight_kg",
    "test_type",
    "note_link",
    "note_id",
    "cardiologist_disagrees",
    "report_not_mentioned",
] + [column for label in LABELS for column in (label, f"{label}_grade")]
TRANSFER_SYNTAX = {
    "jpeg_baseline": "1.2.840.10008.1.2.4.50",
    "rle": "1.2.840.10008.1.2.5",
    "rgb_planar0": "1.2.840.10008.1.2.1",
    "rgb_planar1": "1.2.840.10008.1.2.1",
    "jpeg_lossless": "1.2.840.10008.1.2.4.70",
    "mono": "1.2.840.10008.1.2.1",
}
PHOTOMETRIC = {
    "jpeg_baseline": "YBR_FULL_422",
    "rle": "RGB",
    "rgb_planar0": "RGB",
    "rgb_planar1": "RGB",
    "jpeg_lossless": "MONOCHROME2",
    "mono": "MONOCHROME2",
}
# Non-JPEG cines are large (300 x 400 x 3 bytes per uncompressed frame); their length is capped.
MAX_FRAMES = {"rle": 16, "rgb_planar0": 8, "rgb_planar1": 8}


@dataclass(frozen=True)
class SynthConfig:
    """Options of one synthetic cohort; see ``echoground synth --help`` for their meaning."""

    out: Path
    patients: int = 24
    seed: int = 0
    frames: tuple[int, int] = (30, 40)
    files_per_study: tuple[int, int] = (15, 24)
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE
    include_real: bool = True
    jpeg_quality: int = 75


@dataclass
class CohortSummary:
    """Counts of what :func:`generate_cohort` wrote."""

    patients: int = 0
    studies: int = 0
    dicoms: int = 0
    discharge_notes: int = 0
    measurement_rows: int = 0
    bytes_written: int = 0


class _Writers:
    """All table writers of one cohort, opened together and closed together."""

    def __init__(self, out: Path) -> None:
        echo, note, hosp, truth = (
            out / "mimic-iv-echo",
            out / "mimic-iv-note",
            out / "mimic-iv" / "hosp",
            out / "ground_truth",
        )
        self.records = tables.CsvWriter(echo / "echo-record-list.csv", tables.RECORD_LIST_COLUMNS)
        self.studies = tables.CsvWriter(echo / "echo-study-list.csv", tables.STUDY_LIST_COLUMNS)
        self.measurements = tables.CsvWriter(
            echo / "structured-measurement.csv.gz", tables.MEASUREMENT_COLUMNS
        )
        self.discharge = tables.CsvWriter(note / "discharge.csv.gz", tables.DISCHARGE_COLUMNS)
        self.patients = tables.CsvWriter(hosp / "patients.csv.gz", tables.PATIENT_COLUMNS)
        self.truth_studies = tables.CsvWriter(truth / "studies.csv", GROUND_TRUTH_STUDY_COLUMNS)
        self.truth_measurements = tables.CsvWriter(
            truth / "measurements.csv", ["study_id", "measurement", "value", "unit"]
        )
        self.truth_dicoms = tables.CsvWriter(truth / "dicoms.csv", GROUND_TRUTH_DICOM_COLUMNS)
        self.truth_notes = tables.CsvWriter(
            truth / "notes.csv", ["study_id", "note_id", "note_link", "echo_section"]
        )

    def close(self) -> None:
        for writer in vars(self).values():
            writer.close()


def check_output_dir(out: Path) -> None:
    """Raise ValueError when ``out`` exists and is not an empty folder, or OSError when it is not writable."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a folder; choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"output folder {out} is not empty; choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".write-test"
    probe.write_bytes(b"")
    probe.unlink()


def generate_cohort(config: SynthConfig, progress: Callable[[int, int], None] | None = None) -> CohortSummary:
    """Write the synthetic cohort of ``config`` under ``config.out`` and return the counts.

    Args:
        config: Size, seed, frame counts and paths.
        progress: Called with (patients done, patients in all) after each patient.

    Raises:
        ValueError: when the output folder is not empty or an option is out of range.
    """
    _validate(config)
    check_output_dir(config.out)
    writers = _Writers(config.out)
    summary = CohortSummary()
    try:
        for index in range(config.patients):
            patient = make_patient(config.seed, index)
            _write_patient(config, patient, writers, summary)
            summary.patients += 1
            if progress is not None:
                progress(index + 1, config.patients)
        if config.include_real:
            _write_real_patient(config, writers, summary)
    finally:
        writers.close()
    _write_ground_truth_readme(config.out / "ground_truth")
    summary.measurement_rows = writers.measurements.rows
    summary.discharge_notes = writers.discharge.rows
    summary.bytes_written = sum(path.stat().st_size for path in config.out.rglob("*") if path.is_file())
    logger.info(
        "wrote %d patients, %d studies, %d DICOM files (%.1f MB) to %s",
        summary.patients,
        summary.studies,
        summary.dicoms,
        summary.bytes_written / 1e6,
        config.out,
    )
    return summary


def _validate(config: SynthConfig) -> None:
    if config.patients < 0:
        raise ValueError(f"patients must be 0 or more, got {config.patients}")
    low, high = config.frames
    if not 2 <= low <= high:
        raise ValueError(f"frame range must satisfy 2 <= MIN <= MAX, got {low}-{high}")
    low, high = config.files_per_study
    if not 1 <= low <= high:
        raise ValueError(f"files per study must satisfy 1 <= MIN <= MAX, got {low}-{high}")


def _patient_row(patient: Patient) -> dict[str, Any]:
    return {
        "subject_id": patient.subject_id,
        "gender": patient.sex,
        "anchor_age": patient.anchor_age,
        "anchor_year": patient.anchor_year,
        "anchor_year_group": patient.anchor_year_group,
        "dod": patient.dod,
    }


def _write_patient(config: SynthConfig, patient: Patient, writers: _Writers, summary: CohortSummary) -> None:
    writers.patients.write(_patient_row(patient))
    note_seq = 0
    for study_index in range(patient.n_studies):
        study = make_study(config.seed, patient, study_index)
        rng = study_rng(config.seed, 3, study.study_id)
        for row in tables.measurement_rows(study, rng):
            writers.measurements.write(row)
        for name, value in study.measurements.items():
            unit = tables.MEASUREMENT_UNITS[name][0]
            writers.truth_measurements.write(
                {"study_id": study.study_id, "measurement": name, "value": value, "unit": unit}
            )
        note_id, note_seq = _write_notes(patient, study, rng, note_seq, writers)
        not_mentioned = study.extras.get("report_not_mentioned", [])
        has_echo_note = rng.random() < 0.8
        writers.studies.write(
            {
                "subject_id": study.subject_id,
                "study_id": study.study_id,
                "study_datetime": tables.format_datetime(study.study_datetime),
                "note_id": f"{study.subject_id}-EC-{study_index + 1}" if has_echo_note else "",
                "note_seq": study_index + 1 if has_echo_note else "",
                "note_charttime": tables.format_datetime(study.study_datetime) if has_echo_note else "",
                "measurement_id": study.measurement_id,
                "measurement_datetime": tables.format_datetime(study.measurement_datetime),
            }
        )
        row: dict[str, Any] = {
            "subject_id": study.subject_id,
            "study_id": study.study_id,
            "sex": study.sex,
            "age": study.age,
            "height_cm": study.height_cm,
            "weight_kg": study.weight_kg,
            "test_type": study.test_type,
            "note_link": study.note_link,
            "note_id": note_id,
            "cardiologist_disagrees": ";".join(study.cardiologist_disagrees),
            "report_not_mentioned": ";".join(not_mentioned),
        }
        for label in LABELS:
            row[label] = study.labels[label].state
            row[f"{label}_grade"] = study.labels[label].grade
        writers.truth_studies.write(row)
        _write_study_dicoms(config, patient, study, rng, writers, summary)
        summary.studies += 1


def _write_notes(
    patient: Patient, study: Study, rng: np.random.Generator, note_seq: int, writers: _Writers
) -> tuple[str, int]:
    """Write the discharge summary linked to ``study`` (if any) and return its note id and the next seq."""
    if study.note_link == "none":
        return "", note_seq
    if study.note_link == "outside":
        offset_days = float(rng.uniform(10, 40)) * (1 if rng.random() < 0.5 else -1)
    else:
        offset_days = float(rng.uniform(-6.5, 6.5))
    charttime = (study.study_datetime + dt.timedelta(days=offset_days)).replace(hour=0, minute=0, second=0)
    echo_text = None
    if study.note_link != "no_echo_section":
        echo_text, not_mentioned = reports.build_echo_report(study, rng, has_prior=study.study_index > 0)
        study.extras["report_not_mentioned"] = not_mentioned
    text = reports.build_discharge_summary(patient, study, echo_text, charttime, rng)
    note_seq += 1
    note_id = f"{patient.subject_id}-DS-{note_seq + 10}"
    storetime = charttime + dt.timedelta(hours=int(rng.integers(10, 30)), minutes=int(rng.integers(0, 60)))
    writers.discharge.write(
        {
            "note_id": note_id,
            "subject_id": patient.subject_id,
            "hadm_id": 20_000_000 + int(rng.integers(0, 9_999_999)),
            "note_type": "DS",
            "note_seq": note_seq + 10,
            "charttime": tables.format_datetime(charttime),
            "storetime": tables.format_datetime(storetime),
            "text": text,
        }
    )
    writers.truth_notes.write(
        {
            "study_id": study.study_id,
            "note_id": note_id,
            "note_link": study.note_link,
            "echo_section": int(echo_text is not None),
        }
    )
    return note_id, note_seq


def _heart(study: Study) -> phantoms.Heart:
    m = study.measurements
    grade = {"": 0, "mild": 1, "moderate": 2, "severe": 3}

    def level(label: str) -> int:
        truth = study.labels[label]
        return grade[truth.grade] if truth.state == PRESENT else 0

    # Wall motion has no grade, so the named wall is drawn only when the abnormality is present.
    rwma_present = study.labels["regional_wall_motion_abnormality"].state == PRESENT

    return phantoms.Heart(
        lvid_d=m["lvedd"],
        lvid_s=study.lvesd_drawn,
        ivs=m["septal_thickness"],
        lvpw=m["inf_lat_thickness"],
        la_d=study.la_diameter_cm,
        rv_d=m["rv_diam"],
        ra_scale=1.0 + 0.15 * level("ra_enlargement"),
        effusion_cm=[0.0, 0.5, 1.2, 2.0][level("pericardial_effusion")],
        mr_grade=level("mitral_regurgitation"),
        ar_grade=level("aortic_regurgitation"),
        tr_grade=level("tricuspid_regurgitation"),
        as_grade=level("aortic_stenosis"),
        ms_grade=level("mitral_stenosis"),
        ph_grade=level("pulmonary_hypertension"),
        rwma_wall=study.rwma_walls if rwma_present else "",
        tapse_cm=m["tapse"],
    )


B_MODE_PLAN = [
    "PLAX",
    "PLAX",
    "PSAX_AV",
    "PSAX_MV",
    "PSAX_PM",
    "PSAX_APEX",
    "A4C",
    "A4C",
    "A5C",
    "A2C",
    "A3C",
    "SUBCOSTAL_4C",
    "SUBCOSTAL_IVC",
    "SUPRASTERNAL",
]
COLOUR_PLAN = ["PLAX", "A4C", "A4C", "A5C", "PSAX_AV", "A3C"]
SPECTRAL_PLAN = list(clip_builders.SPECTRAL_KINDS)


def plan_clips(rng: np.random.Generator, n_files: int) -> list[tuple[str, str]]:
    """Return (clip kind, view or spectral kind) for ``n_files`` files in protocol order."""
    plan = (
        [("b_mode_2d", view) for view in B_MODE_PLAN]
        + [("color_doppler", view) for view in COLOUR_PLAN]
        + [("spectral_doppler", kind) for kind in SPECTRAL_PLAN]
        + [("m_mode", "PLAX"), ("other", "unknown")]
    )
    keep = {0, 6}  # the first PLAX and the first A4C are always acquired
    while len(plan) > n_files:
        drop = int(rng.integers(len(plan)))
        if drop not in keep:
            plan.pop(drop)
            keep = {i - (1 if i > drop else 0) for i in keep}
    while len(plan) < n_files:
        plan.insert(
            int(rng.integers(len(plan))), ("b_mode_2d", B_MODE_PLAN[int(rng.integers(len(B_MODE_PLAN)))])
        )
    return plan


def _encoding(rng: np.random.Generator, kind: str) -> str:
    draw = rng.random()
    if kind == "spectral_doppler":
        return "jpeg_baseline" if draw < 0.5 else "jpeg_lossless" if draw < 0.85 else "mono"
    if kind in ("m_mode", "other"):
        return "jpeg_baseline"
    if draw < 0.90:
        return "jpeg_baseline"
    if draw < 0.95:
        return "rle"
    return "rgb_planar0" if draw < 0.975 else "rgb_planar1"


def _overlay_text(
    patient: Patient,
    study: Study,
    rng: np.random.Generator,
    institution: str,
    view: str,
    frame_rate: float,
    depth: float,
) -> phantoms.OverlayText:
    when = study.study_datetime
    return phantoms.OverlayText(
        top_left=[
            patient.fake_name.replace("^", ", "),
            f"ID {patient.fake_mrn}",
            f"{when:%m/%d/%Y %H:%M:%S}",
        ],
        top_right=[institution, "Adult Echo", f"{frame_rate:.0f} Hz  {depth:.0f} cm"],
        bottom_right=[f"HR {study.heart_rate} bpm"],
    )


def _study_uids(config: SynthConfig, study: Study) -> tuple[str, str]:
    study_uid = generate_uid(entropy_srcs=["echoground-synth", str(config.seed), str(study.study_id)])
    series_uid = generate_uid(entropy_srcs=["echoground-synth-series", str(config.seed), str(study.study_id)])
    return study_uid, series_uid


def _write_study_dicoms(
    config: SynthConfig,
    patient: Patient,
    study: Study,
    rng: np.random.Generator,
    writers: _Writers,
    summary: CohortSummary,
) -> None:
    identities = load_identities()
    rows, cols = config.frame_size
    heart = _heart(study)
    n_files = int(rng.integers(config.files_per_study[0], config.files_per_study[1] + 1))
    study_uid, series_uid = _study_uids(config, study)
    institution = identities["institutions"][int(rng.integers(len(identities["institutions"])))]
    operator = identities["last_names"][int(rng.integers(len(identities["last_names"])))]
    relative_dir = (
        Path("files") / f"p{str(study.subject_id)[:2]}" / f"p{study.subject_id}" / f"s{study.study_id}"
    )
    study_dir = config.out / "mimic-iv-echo" / relative_dir
    for number, (kind, target) in enumerate(plan_clips(rng, n_files), start=1):
        clip_rng = study_rng(config.seed, 4, study.study_id, number)
        encoding = _encoding(clip_rng, kind)
        frame_rate = float(clip_rng.uniform(30, 60))
        n_frames = int(clip_rng.integers(config.frames[0], config.frames[1] + 1))
        n_frames = min(n_frames, MAX_FRAMES.get(encoding, n_frames))
        view = target if kind not in ("spectral_doppler",) else clip_builders.SPECTRAL_KINDS[target][0]
        depth = phantoms.VIEW_DEPTH_CM.get(view, 16.0)
        text = _overlay_text(patient, study, clip_rng, institution, view, frame_rate, depth)
        if kind == "b_mode_2d":
            clip = clip_builders.build_b_mode(
                view, heart, rows, cols, n_frames, 1000.0 / frame_rate, study.heart_rate, text, clip_rng
            )
        elif kind == "color_doppler":
            frame_rate = float(clip_rng.uniform(15, 30))
            n_frames = max(config.frames[0] // 2, min(n_frames, 40))
            n_frames = min(n_frames, MAX_FRAMES.get(encoding, n_frames))
            clip = clip_builders.build_colour_doppler(
                view, heart, rows, cols, n_frames, 1000.0 / frame_rate, study.heart_rate, text, clip_rng
            )
        elif kind == "spectral_doppler":
            measurements = dict(study.measurements, lvot_peak=1.0)
            clip = clip_builders.build_spectral(
                target, heart, measurements, rows, cols, study.heart_rate, text, clip_rng
            )
        elif kind == "m_mode":
            clip = clip_builders.build_m_mode(heart, rows, cols, study.heart_rate, text, clip_rng)
        else:
            summary_lines = [f"{name}: {value}" for name, value in list(study.measurements.items())[:12]]
            clip = clip_builders.build_other(
                rows, cols, [patient.fake_name, f"ID {patient.fake_mrn}", *summary_lines]
            )
        timing_style = str(clip_rng.choice(["frame_time"] * 8 + ["frame_time_vector", "cine_rate"]))
        n = clip.frames.shape[0]
        timing = FrameTiming(1000.0 / frame_rate, study.heart_rate, timing_style) if n > 1 else None
        acquired = study.study_datetime + dt.timedelta(seconds=25 * number)
        burned_in = "YES" if clip_rng.random() > 0.1 else "NO"
        extra = {
            "SOPInstanceUID": generate_uid(
                entropy_srcs=["echoground-synth-sop", str(config.seed), str(study.study_id), str(number)]
            ),
            "StudyInstanceUID": study_uid,
            "SeriesInstanceUID": series_uid,
            "PatientName": patient.fake_name,
            "PatientID": patient.fake_mrn,
            "PatientBirthDate": patient.fake_birth_date,
            "PatientSex": patient.sex,
            "StudyDate": f"{study.study_datetime:%Y%m%d}",
            "StudyTime": f"{study.study_datetime:%H%M%S}",
            "ContentDate": f"{acquired:%Y%m%d}",
            "ContentTime": f"{acquired:%H%M%S}",
            "AcquisitionDateTime": f"{acquired:%Y%m%d%H%M%S}",
            "AccessionNumber": f"E{int(clip_rng.integers(10**7, 10**8))}",
            "InstitutionName": institution,
            "OperatorsName": f"{operator}^RDCS",
            "ReferringPhysicianName": f"{identities['last_names'][study.study_id % 24]}^MD",
            "StationName": identities["stations"][study.study_id % len(identities["stations"])],
            "Manufacturer": "EchoGround synthetic",
            "ManufacturerModelName": "Phantom 1",
            "SeriesNumber": 1,
            "InstanceNumber": number,
            "BurnedInAnnotation": burned_in,
            "ImageType": ["ORIGINAL", "PRIMARY", "CARDIOLOGY"],
        }
        file_name = f"{study.study_id}_{number:04d}.dcm"
        path = write_dicom(
            study_dir / file_name,
            clip.frames,
            encoding=encoding,
            regions=clip.regions,
            timing=timing,
            extra_tags=extra,
            jpeg_quality=config.jpeg_quality,
        )
        relative = str(relative_dir / file_name)
        writers.records.write(
            {
                "subject_id": study.subject_id,
                "study_id": study.study_id,
                "acquisition_datetime": tables.format_datetime(acquired),
                "dicom_filepath": relative,
            }
        )
        truth: dict[str, Any] = {
            "dicom_filepath": relative,
            "subject_id": study.subject_id,
            "study_id": study.study_id,
            "view": clip.view,
            "clip_kind": clip.kind,
            "transfer_syntax": TRANSFER_SYNTAX[encoding],
            "photometric": PHOTOMETRIC[encoding],
            "n_frames": n,
            "source": "synthetic",
            "encoding": encoding,
            "timing_style": timing_style if n > 1 else "",
            "frame_time_ms": round(1000.0 / frame_rate, 3) if n > 1 else "",
            "burned_in_annotation_header": burned_in,
        }
        for key, value in clip.geometry.items():
            truth[key] = round(value, 4) if isinstance(value, float) else value
        writers.truth_dicoms.write(truth)
        summary.dicoms += 1
        logger.debug(
            "wrote %s (subject_id=%s study_id=%s, %s %s, %d frames)",
            path,
            study.subject_id,
            study.study_id,
            clip.kind,
            clip.view,
            n,
        )


def _write_real_patient(config: SynthConfig, writers: _Writers, summary: CohortSummary) -> None:
    """Add one extra patient whose only study contains the real public echo DICOMs."""
    subject_id = SUBJECT_ID_BASE + _scatter(config.patients, config.seed)
    study_id = STUDY_ID_BASE + _scatter(config.patients * 4, config.seed + 1)
    when = dt.datetime(2150, 6, 1, 9, 0)
    relative_dir = Path("files") / f"p{str(subject_id)[:2]}" / f"p{subject_id}" / f"s{study_id}"
    copied = real_files.copy_real_files(config.out / "mimic-iv-echo" / relative_dir, study_id)
    if not copied:
        return
    writers.patients.write(
        {
            "subject_id": subject_id,
            "gender": "F",
            "anchor_age": 60,
            "anchor_year": 2150,
            "anchor_year_group": "2017 - 2019",
            "dod": "",
        }
    )
    writers.studies.write(
        {
            "subject_id": subject_id,
            "study_id": study_id,
            "study_datetime": tables.format_datetime(when),
            "note_id": "",
            "note_seq": "",
            "note_charttime": "",
            "measurement_id": "",
            "measurement_datetime": "",
        }
    )
    import pydicom

    for number, (real_file, path) in enumerate(copied, start=1):
        relative = str(relative_dir / path.name)
        acquired = when + dt.timedelta(seconds=25 * number)
        writers.records.write(
            {
                "subject_id": subject_id,
                "study_id": study_id,
                "acquisition_datetime": tables.format_datetime(acquired),
                "dicom_filepath": relative,
            }
        )
        header = pydicom.dcmread(path, stop_before_pixels=True)
        writers.truth_dicoms.write(
            {
                "dicom_filepath": relative,
                "subject_id": subject_id,
                "study_id": study_id,
                "view": real_file.view,
                "clip_kind": real_file.clip_kind,
                "transfer_syntax": str(header.file_meta.TransferSyntaxUID),
                "photometric": str(header.PhotometricInterpretation),
                "n_frames": int(header.get("NumberOfFrames", 1) or 1),
                "source": "real_public",
                "encoding": "",
                "timing_style": "",
                "frame_time_ms": header.get("FrameTime", ""),
                "burned_in_annotation_header": header.get("BurnedInAnnotation", ""),
            }
        )
        summary.dicoms += 1
    summary.patients += 1
    summary.studies += 1


GROUND_TRUTH_README = """# Ground truth of the synthetic cohort

The pipeline never reads this folder; evaluation and tests do. All files are CSV with a header row.

- `studies.csv`: one row per synthetic study. `sex`, `age` (at the study), `height_cm`, `weight_kg`,
  `test_type` (tte, stress or tee: only tte sets are transthoracic), `note_link` (within: a discharge
  summary with an echo section dated within 7 days; outside: the same but 10-40 days away; none: no
  summary; no_echo_section: a summary within 7 days without an echo section), `note_id` of that summary,
  `cardiologist_disagrees` (labels, separated by ';', whose cardiologist categorical grade in the
  measurement table is one step away from what the numbers say), `report_not_mentioned` (absent labels
  the report leaves out). For each of the 16 canonical labels: `LABEL` (present, absent or uncertain) and
  `LABEL_grade` (mild, moderate, severe; I, II or III for diastolic dysfunction; empty otherwise).
  Labels with a number are the guideline grade of the rounded number (see echoground/synth/cohort.yaml);
  the others are the drawn state. The real-public-file patient has no row (nothing is known of it).
- `measurements.csv`: study_id, measurement (MIMIC name), value (clean number, before any quirk of the
  measurement table), unit (the table's unit: lengths cm, velocities m/s, la_vol mL).
- `dicoms.csv`: one row per DICOM: path relative to the mimic-iv-echo root, ids, `view` (fine view code
  of echoground/views/vocabulary.yaml, or unknown), `clip_kind`, `transfer_syntax`, `photometric` (as
  written in the header), `n_frames`, `source` (synthetic or real_public), `encoding`, `timing_style`
  (frame_time, frame_time_vector or cine_rate), `frame_time_ms`, `burned_in_annotation_header` (the value
  written; burned-in text is always present in synthetic files, so "NO" is a deliberate lie), and for
  2D B-mode `cm_per_pixel`, `ed_frame`/`es_frame` (0-based), the LV line (`lv_axis` vertical or
  horizontal, `lv_center_x_px`/`lv_center_y_px` in pixel coordinates whose pixel centres are at +0.5,
  `lv_diameter_px` at end-diastole, `lv_es_diameter_px` at `es_frame`, `wall_thickness_px` of the septal
  wall at end-diastole) and the LA line (`la_axis`, centre, `la_diameter_px`), plus `ecg_row_px`, the
  baseline row of the green ECG trace.
- `notes.csv`: study_id, note_id of the discharge summary written for it, note_link, echo_section (1 when
  the summary carries the echo report).
"""


def _write_ground_truth_readme(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(GROUND_TRUTH_README)


def read_ground_truth(out: Path, name: str) -> list[dict[str, str]]:
    """Return the rows of ``ground_truth/<name>.csv`` as dictionaries of strings."""
    with (out / "ground_truth" / f"{name}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))
