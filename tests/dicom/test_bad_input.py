"""Bad and unusual DICOM files: each gets its expected ledger status and reason, and none stops a batch."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dicom_factory import (
    COLUMNS,
    PHI_STRINGS,
    ROWS,
    base_dataset,
    cine_frames,
    write_jpeg,
    write_native_rgb,
    write_palette,
)
from pydicom import uid
from pydicom.encaps import encapsulate

from echoground.dicom import DicomConfig, DicomRejected, process_batch, process_file
from echoground.dicom.stage import write_outputs


def _not_dicom(path: Path) -> None:
    path.write_text("subject_id,study_id\n1,2\n")


def _empty_file(path: Path) -> None:
    path.write_bytes(b"")


def _truncated_jpeg(path: Path) -> None:
    write_jpeg(path, cine_frames(8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])


def _truncated_native(path: Path) -> None:
    write_native_rgb(path, cine_frames(4))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5000])


def _no_pixel_data(path: Path) -> None:
    ds = base_dataset(4)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.save_as(path, enforce_file_format=True)


def _wrong_modality(path: Path) -> None:
    ds = base_dataset(4)
    ds.Modality = "CT"
    write_native_rgb(path, cine_frames(4), ds=ds)


def _frames_missing(path: Path) -> None:
    ds = base_dataset(6)
    del ds.NumberOfFrames
    write_native_rgb(path, cine_frames(6), ds=ds)


def _frames_zero(path: Path) -> None:
    ds = base_dataset(6)
    ds.NumberOfFrames = 0
    write_native_rgb(path, cine_frames(6), ds=ds)


def _frames_exceed_native(path: Path) -> None:
    ds = base_dataset(40)
    write_native_rgb(path, cine_frames(6), ds=ds)


def _frames_exceed_jpeg(path: Path) -> None:
    ds = base_dataset(40, uid.JPEGBaseline8Bit)
    write_jpeg(path, cine_frames(6), ds=ds)


def _made_up_syntax(path: Path) -> None:
    ds = base_dataset(2, "1.2.3.4.5.6.7.8.9")
    write_native_rgb(path, cine_frames(2), ds=ds)


def _mpeg2(path: Path) -> None:
    ds = base_dataset(2, uid.MPEG2MPML)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(64)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


def _regions_outside(path: Path) -> None:
    ds = base_dataset(8)
    ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxX1 = COLUMNS * 3
    write_native_rgb(path, cine_frames(8), ds=ds)


def _no_timing(path: Path) -> None:
    ds = base_dataset(8)
    del ds.FrameTime
    write_native_rgb(path, cine_frames(8), ds=ds)


def _only_frame_time_vector(path: Path) -> None:
    ds = base_dataset(8)
    del ds.FrameTime
    ds.FrameTimeVector = [0, 20, 20, 20, 40, 40, 40, 40]
    write_native_rgb(path, cine_frames(8), ds=ds)


def _frame_time_vector_wrong_length(path: Path) -> None:
    ds = base_dataset(8)
    ds.FrameTimeVector = [0, 20, 20]
    write_native_rgb(path, cine_frames(8), ds=ds)


def _zero_rows(path: Path) -> None:
    ds = base_dataset(1)
    write_native_rgb(path, cine_frames(1), ds=ds)
    ds.Rows = 0
    ds.save_as(path, enforce_file_format=True)


def _missing_rows(path: Path) -> None:
    ds = base_dataset(1)
    write_native_rgb(path, cine_frames(1), ds=ds)
    del ds.Rows
    ds.save_as(path, enforce_file_format=True)


def _gigantic_header(path: Path) -> None:
    ds = base_dataset(500)
    write_native_rgb(path, cine_frames(1), ds=ds)
    ds.Rows = 60000
    ds.Columns = 60000
    ds.save_as(path, enforce_file_format=True)


def _larger_than_data(path: Path) -> None:
    ds = base_dataset(100)
    write_native_rgb(path, cine_frames(1), ds=ds)
    ds.Rows = 2000
    ds.Columns = 2000
    ds.save_as(path, enforce_file_format=True)


def _palette_16(path: Path) -> None:
    write_palette(path, cine_frames(4), bits=16)


def _unsupported_photometric(path: Path) -> None:
    ds = base_dataset(2)
    write_native_rgb(path, cine_frames(2), ds=ds)
    ds.PhotometricInterpretation = "HSV"
    ds.save_as(path, enforce_file_format=True)


def _thirty_two_bit(path: Path) -> None:
    ds = base_dataset(1)
    write_native_rgb(path, cine_frames(1), ds=ds)
    ds.BitsAllocated = 32
    ds.save_as(path, enforce_file_format=True)


def _corrupt_jpeg(path: Path) -> None:
    write_jpeg(path, cine_frames(4))
    data = bytearray(path.read_bytes())
    start = data.find(b"\xff\xd8\xff")
    data[start + 200 : start + 900] = bytes(700)
    data[start + 2 : start + 4] = b"\x00\x00"
    path.write_bytes(bytes(data))


def _jpeg_wrong_size(path: Path) -> None:
    ds = base_dataset(4, uid.JPEGBaseline8Bit)
    write_jpeg(path, cine_frames(4), ds=ds)
    ds.Rows = ROWS - 20
    ds.save_as(path, enforce_file_format=True)


def _blank(path: Path) -> None:
    ds = base_dataset(4)
    del ds.SequenceOfUltrasoundRegions
    write_native_rgb(path, cine_frames(4, blank=True), ds=ds)


# name -> (builder, expected status, expected reason)
CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "not_dicom": (_not_dicom, "rejected", "not_dicom"),
    "empty_file": (_empty_file, "rejected", "not_dicom"),
    "truncated_jpeg": (_truncated_jpeg, "rejected", "truncated_file"),
    "truncated_native": (_truncated_native, "rejected", "truncated_file"),
    "no_pixel_data": (_no_pixel_data, "rejected", "no_pixel_data"),
    "wrong_modality": (_wrong_modality, "skipped", "wrong_modality"),
    "frames_missing": (_frames_missing, "accepted", "frame_count_missing"),
    "frames_zero": (_frames_zero, "accepted", "frame_count_zero"),
    "frames_exceed_native": (_frames_exceed_native, "accepted", "frame_count_exceeds_data"),
    "frames_exceed_jpeg": (_frames_exceed_jpeg, "accepted", "frame_count_exceeds_data"),
    "made_up_syntax": (_made_up_syntax, "rejected", "unsupported_transfer_syntax"),
    "mpeg2_no_decoder": (_mpeg2, "rejected", "unsupported_transfer_syntax"),
    "regions_outside": (_regions_outside, "accepted", "regions_outside_image"),
    "no_timing": (_no_timing, "accepted", "no_frame_timing"),
    "only_frame_time_vector": (_only_frame_time_vector, "accepted", "clip_written"),
    "frame_time_vector_wrong_length": (
        _frame_time_vector_wrong_length,
        "accepted",
        "invalid_frame_time_vector",
    ),
    "zero_rows": (_zero_rows, "rejected", "zero_sized_image"),
    "missing_rows": (_missing_rows, "rejected", "missing_image_tag"),
    "gigantic_header": (_gigantic_header, "rejected", "image_too_large"),
    "larger_than_data": (_larger_than_data, "rejected", "image_larger_than_data"),
    "palette_16": (_palette_16, "accepted", "clip_written"),
    "unsupported_photometric": (_unsupported_photometric, "rejected", "unsupported_photometric"),
    "thirty_two_bit": (_thirty_two_bit, "rejected", "unsupported_pixel_format"),
    "corrupt_jpeg": (_corrupt_jpeg, "rejected", "decode_failed"),
    "jpeg_wrong_size": (_jpeg_wrong_size, "rejected", "frame_size_mismatch"),
    "blank_image": (_blank, "rejected", "no_sector_found"),
}


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad_echo")
    for name, (build, _, _) in CASES.items():
        build(root / f"{name}.dcm")
    return root


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_case_reason(bad_root: Path, name: str) -> None:
    _, status, reason = CASES[name]
    path = bad_root / f"{name}.dcm"
    if status == "accepted":
        result = process_file(path, DicomConfig(n_frames=4, size=64))
        assert (result.header_problems[:1] or ["clip_written"])[0] == reason
        assert result.frames is not None and result.frames.shape[1:] == (64, 64, 3)
    else:
        with pytest.raises(DicomRejected) as caught:
            process_file(path, DicomConfig(n_frames=4, size=64))
        assert caught.value.reason == reason, caught.value.message
        assert caught.value.status.value == status


def test_batch_ledger_every_file(bad_root: Path, tmp_path: Path) -> None:
    records = pd.DataFrame({"dicom_filepath": [f"{name}.dcm" for name in sorted(CASES)] + ["missing.dcm"]})
    clips, ledger = process_batch(records, bad_root, tmp_path, DicomConfig(n_frames=4, size=64, workers=2))
    frame = ledger.to_frame().set_index("item_id")
    assert len(frame) == len(records)
    for name, (_, status, reason) in CASES.items():
        assert frame.loc[f"{name}.dcm", "status"] == status, name
        assert frame.loc[f"{name}.dcm", "reason"] == reason, name
    assert frame.loc["missing.dcm", "reason"] == "file_not_found"
    accepted = {name for name, (_, status, _) in CASES.items() if status == "accepted"}
    assert set(clips["dicom_filepath"]) == {f"{name}.dcm" for name in accepted}


def test_gigantic_header_no_allocation(bad_root: Path) -> None:
    tracemalloc.start()
    for name in ("gigantic_header", "larger_than_data"):
        with pytest.raises(DicomRejected):
            process_file(bad_root / f"{name}.dcm")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


def test_frame_time_vector_times(bad_root: Path) -> None:
    result = process_file(bad_root / "only_frame_time_vector.dcm", DicomConfig(n_frames=8, size=64))
    assert result.timing_source == "frame_time_vector"
    assert result.frame_indices == list(range(8))
    assert result.frame_times_ms == [0.0, 20.0, 40.0, 60.0, 100.0, 140.0, 180.0, 220.0]


def test_no_timing_times_unknown(bad_root: Path) -> None:
    result = process_file(bad_root / "no_timing.dcm", DicomConfig(n_frames=4, size=64))
    assert result.frame_times_ms is None
    assert result.frame_rate_hz is None
    assert result.frame_indices == [0, 2, 5, 7]


def test_regions_outside_uses_data_mask(bad_root: Path) -> None:
    result = process_file(bad_root / "regions_outside.dcm", DicomConfig(n_frames=4, size=64))
    assert result.mask_source == "data"
    assert result.clip_kind_source == "pixels"
    assert result.cm_per_pixel_x is None


def test_no_phi_in_outputs(tmp_path: Path) -> None:
    root = tmp_path / "echo"
    study = root / "files" / "p10" / "p10000032" / "s90000001"
    study.mkdir(parents=True)
    write_jpeg(study / "90000001_0001.dcm", cine_frames(12))
    write_palette(study / "90000001_0002.dcm", cine_frames(4), bits=8)
    records = pd.DataFrame(
        {
            "subject_id": [10000032, 10000032],
            "study_id": [90000001, 90000001],
            "dicom_filepath": [
                "files/p10/p10000032/s90000001/90000001_0001.dcm",
                "files/p10/p10000032/s90000001/90000001_0002.dcm",
            ],
        }
    )
    out = tmp_path / "run"
    clips, ledger = process_batch(records, root, out, DicomConfig(n_frames=6, size=96))
    clips_path, ledger_path = write_outputs(clips, ledger, out)
    assert list(clips["clip_id"]) == ["p10_p10000032_s90000001_0001", "p10_p10000032_s90000001_0002"]

    texts = [clips_path.read_bytes(), ledger_path.read_bytes()]
    for phi in PHI_STRINGS:
        for text in texts:
            assert phi.encode() not in text, phi

    from PIL import Image

    for row in clips.itertuples():
        frames = np.load(row.frames_path)
        mask = np.asarray(Image.open(row.mask_path)) > 0
        assert frames.shape == (len(row.frame_indices), 96, 96, 3)
        assert not frames[:, ~mask].any(), row.clip_id
        yellow = (frames[..., 0] > 180) & (frames[..., 1] > 180) & (frames[..., 2] < 90)
        assert not yellow.any(), row.clip_id
        green = (frames[..., 1] > 150) & (frames[..., 0] < 90) & (frames[..., 2] < 90)
        assert not green.any(), row.clip_id


def test_extract_json_no_phi(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from echoground.dicom.cli import dicom

    path = write_jpeg(tmp_path / "clip.dcm", cine_frames(10))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        dicom, ["extract", str(path), "--out", str(out), "--frames", "5", "--size", "80"]
    )
    assert result.exit_code == 0, result.output
    text = (out / "clip.json").read_text()
    for phi in PHI_STRINGS:
        assert phi not in text, phi
    facts = json.loads(text)
    assert len(facts["frame_indices"]) == 5
    assert sorted(p.name for p in out.glob("frame_*.png")) == [f"frame_{i:03d}.png" for i in range(5)]
    assert facts["header"]["Modality"] == "US"
    assert "PatientName" not in facts["header"]
