"""Bad record lists and damaged files given to `echoground dicom run`, `extract` and the header pass."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from dicom_factory import cine_frames, write_jpeg, write_native_rgb

from echoground.dicom import DicomConfig, DicomRejected, process_batch
from echoground.dicom.cli import dicom
from echoground.dicom.errors import RecordListError
from echoground.dicom.header import read_header

CONFIG = DicomConfig(n_frames=4, size=64)
STUDY = "files/p10/p10000032/s90000001"


@pytest.fixture()
def echo_root(tmp_path: Path) -> Path:
    """Return an echo root with two valid files, beside a valid file outside it."""
    root = tmp_path / "echo"
    study = root / STUDY
    study.mkdir(parents=True)
    write_native_rgb(study / "90000001_0001.dcm", cine_frames(4))
    write_native_rgb(study / "90000001_0002.dcm", cine_frames(4, seed=1))
    write_native_rgb(tmp_path / "outside.dcm", cine_frames(4))
    return root


def _ledger_by_item(records: pd.DataFrame, root: Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    clips, ledger = process_batch(records, root, out, CONFIG)
    return clips, ledger.to_frame().set_index("item_id")


def _run(root: Path, out: Path, records: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        dicom,
        ["run", "--echo-root", str(root), "--out", str(out), "--records", str(records), "--size", "64"],
    )
    return result.exit_code, result.output


# Record list paths


@pytest.mark.parametrize(
    "listed",
    ["../outside.dcm", f"{STUDY}/../../../../../outside.dcm", "..", "/etc/hostname"],
)
def test_path_outside_root_rejected(echo_root: Path, tmp_path: Path, listed: str) -> None:
    records = pd.DataFrame({"dicom_filepath": [listed, f"{STUDY}/90000001_0001.dcm"]})
    clips, ledger = _ledger_by_item(records, echo_root, tmp_path / "run")
    assert len(ledger) == 2
    assert ledger.loc[listed, "status"] == "rejected"
    assert ledger.loc[listed, "reason"] == "path_outside_root"
    assert repr(listed) in ledger.loc[listed, "message"]
    assert str(echo_root) in ledger.loc[listed, "message"]
    assert "row 1" in ledger.loc[listed, "message"]
    assert list(clips["dicom_filepath"]) == [f"{STUDY}/90000001_0001.dcm"]


def test_absolute_path_never_opened(echo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    import echoground.dicom.stage as stage

    real_process_file = stage.process_file

    def recording_process_file(path, config=None, header=None):  # type: ignore[no-untyped-def]
        opened.append(str(path))
        return real_process_file(path, config, header)

    monkeypatch.setattr(stage, "process_file", recording_process_file)
    absolute = str(echo_root / STUDY / "90000001_0002.dcm")
    records = pd.DataFrame({"dicom_filepath": [absolute, f"{STUDY}/90000001_0001.dcm"]})
    clips, ledger = _ledger_by_item(records, echo_root, tmp_path / "run")
    assert ledger.loc[absolute, "reason"] == "path_outside_root"
    assert "is absolute" in ledger.loc[absolute, "message"]
    assert opened == [str(echo_root / STUDY / "90000001_0001.dcm")]
    assert not any(Path(path).is_absolute() for path in clips["dicom_filepath"])


def test_dot_dot_inside_root_accepted(echo_root: Path, tmp_path: Path) -> None:
    listed = f"{STUDY}/../s90000001/90000001_0001.dcm"
    clips, ledger = _ledger_by_item(pd.DataFrame({"dicom_filepath": [listed]}), echo_root, tmp_path / "run")
    assert list(ledger["status"]) == ["accepted"]
    assert list(clips["dicom_filepath"]) == [f"{STUDY}/90000001_0001.dcm"]


def test_duplicate_record_kept_once(echo_root: Path, tmp_path: Path) -> None:
    first = f"{STUDY}/90000001_0001.dcm"
    records = pd.DataFrame(
        {
            "subject_id": [10000032, 10000032, 10000032],
            "study_id": [90000001, 90000001, 90000001],
            "dicom_filepath": [first, f"{STUDY}/90000001_0002.dcm", f"{STUDY}/./90000001_0001.dcm"],
        }
    )
    clips, ledger = process_batch(records, echo_root, tmp_path / "run", CONFIG)
    frame = ledger.to_frame()
    assert len(frame) == 3
    assert clips["clip_id"].is_unique
    assert len(clips) == 2
    repeats = frame[frame["reason"] == "duplicate_record"]
    assert list(repeats["status"]) == ["skipped"]
    assert "row 1" in repeats["message"].iloc[0]
    assert "row 3" in repeats["message"].iloc[0]


def test_clip_id_collision_rejected(tmp_path: Path) -> None:
    root = tmp_path / "echo"
    (root / "a").mkdir(parents=True)
    write_native_rgb(root / "a" / "x y.dcm", cine_frames(4))
    write_native_rgb(root / "a" / "x_y.dcm", cine_frames(4, seed=1))
    records = pd.DataFrame({"dicom_filepath": ["a/x y.dcm", "a/x_y.dcm"]})
    clips, ledger = _ledger_by_item(records, root, tmp_path / "run")
    assert list(clips["dicom_filepath"]) == ["a/x y.dcm"]
    assert ledger.loc["a/x_y.dcm", "reason"] == "duplicate_clip_id"
    assert "a/x y.dcm" in ledger.loc["a/x_y.dcm", "message"]


# Record list values


@pytest.mark.parametrize(
    ("column", "value"),
    [("subject_id", "abc"), ("study_id", "-5"), ("subject_id", "1.5"), ("study_id", "inf")],
)
def test_bad_id_names_row_column_value(echo_root: Path, tmp_path: Path, column: str, value: str) -> None:
    records = pd.DataFrame(
        {
            "subject_id": ["10000032", "10000032"],
            "study_id": ["90000001", "90000001"],
            "dicom_filepath": [f"{STUDY}/90000001_0001.dcm", f"{STUDY}/90000001_0002.dcm"],
        }
    )
    records.loc[1, column] = value
    with pytest.raises(RecordListError) as caught:
        process_batch(records, echo_root, tmp_path / "run", CONFIG)
    message = str(caught.value)
    assert "row 2 (CSV line 3)" in message
    assert repr(column) in message
    assert repr(value) in message


@pytest.mark.parametrize("value", ["10000032", "10000032.0", "0", ""])
def test_good_id_values_accepted(echo_root: Path, tmp_path: Path, value: str) -> None:
    csv = tmp_path / "records.csv"
    csv.write_text(f"subject_id,study_id,dicom_filepath\n{value},90000001,{STUDY}/90000001_0001.dcm\n")
    clips, _ = process_batch(pd.read_csv(csv), echo_root, tmp_path / "run", CONFIG)
    expected = 10000032 if value in ("", "10000032", "10000032.0") else 0
    assert list(clips["subject_id"]) == [expected]


@pytest.mark.parametrize("dtype", [None, "string"])
def test_empty_path_cell_names_row(echo_root: Path, tmp_path: Path, dtype: str | None) -> None:
    csv = tmp_path / "records.csv"
    csv.write_text(f"subject_id,study_id,dicom_filepath\n1,2,{STUDY}/90000001_0001.dcm\n1,2,\n")
    records = pd.read_csv(csv, dtype={"dicom_filepath": dtype} if dtype else None)
    with pytest.raises(RecordListError, match=r"row 2 \(CSV line 3\): column 'dicom_filepath' is empty"):
        process_batch(records, echo_root, tmp_path / "run", CONFIG)


def test_cli_bad_id_one_line(echo_root: Path, tmp_path: Path) -> None:
    csv = tmp_path / "records.csv"
    csv.write_text(f"subject_id,study_id,dicom_filepath\nabc,90000001,{STUDY}/90000001_0001.dcm\n")
    code, output = _run(echo_root, tmp_path / "run", csv)
    assert code == 1
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1
    assert str(csv) in lines[0]
    assert "'subject_id'" in lines[0]
    assert "'abc'" in lines[0]
    assert "CSV line 2" in lines[0]


def test_cli_empty_csv_names_file(echo_root: Path, tmp_path: Path) -> None:
    csv = tmp_path / "records.csv"
    csv.write_text("")
    code, output = _run(echo_root, tmp_path / "run", csv)
    assert code == 1
    assert "EmptyDataError" not in output
    assert f"record list {csv} is empty" in output
    assert "subject_id,study_id,dicom_filepath" in output


def test_cli_missing_column_names_file(echo_root: Path, tmp_path: Path) -> None:
    csv = tmp_path / "records.csv"
    csv.write_text("subject_id,path\n1,a.dcm\n")
    code, output = _run(echo_root, tmp_path / "run", csv)
    assert code == 1
    assert str(csv) in output
    assert "'dicom_filepath'" in output


def test_cli_binary_file_names_file(echo_root: Path, tmp_path: Path) -> None:
    csv = tmp_path / "records.csv"
    csv.write_bytes(b"\xff\xfe\x00\x81" * 64)
    code, output = _run(echo_root, tmp_path / "run", csv)
    assert code == 1
    assert "Traceback" not in output
    assert f"record list {csv} cannot be read as CSV" in output


# Exit status


def test_cli_no_clip_exits_one(echo_root: Path, tmp_path: Path) -> None:
    csv = tmp_path / "records.csv"
    csv.write_text("subject_id,study_id,dicom_filepath\n1,2,files/missing.dcm\n")
    out = tmp_path / "run"
    code, output = _run(echo_root, out, csv)
    assert code == 1
    assert "0 clips from 1 files" in output
    assert output.strip().splitlines()[-1].startswith("Error: no clip was accepted from the 1 rows")
    assert (out / "ledger.parquet").exists()
    assert (out / "clips.parquet").exists()
    assert list(pd.read_parquet(out / "ledger.parquet")["reason"]) == ["file_not_found"]


def test_cli_one_clip_exits_zero(echo_root: Path, tmp_path: Path) -> None:
    csv = tmp_path / "records.csv"
    csv.write_text(
        f"subject_id,study_id,dicom_filepath\n1,2,files/missing.dcm\n1,2,{STUDY}/90000001_0001.dcm\n"
    )
    code, output = _run(echo_root, tmp_path / "run", csv)
    assert code == 0, output
    assert "1 clips from 2 files" in output


def test_cli_header_only_exits_zero(echo_root: Path, tmp_path: Path) -> None:
    csv = tmp_path / "records.csv"
    csv.write_text("subject_id,study_id,dicom_filepath\n")
    code, output = _run(echo_root, tmp_path / "run", csv)
    assert code == 0, output
    assert "0 clips from 0 files" in output


# Damaged files in the header pass


@pytest.mark.parametrize("size", [150, 400, 700, 900])
def test_header_cut_is_truncated(tmp_path: Path, size: int) -> None:
    path = write_native_rgb(tmp_path / "clip.dcm", cine_frames(4))
    path.write_bytes(path.read_bytes()[:size])
    with pytest.raises(DicomRejected) as caught:
        read_header(path)
    assert caught.value.reason == "truncated_file", caught.value.message
    assert caught.value.status.value == "rejected"
    assert f"byte {size}" in caught.value.message


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_header_every_cut_rejected(tmp_path: Path) -> None:
    source = write_jpeg(tmp_path / "clip.dcm", cine_frames(2))
    data = source.read_bytes()
    header_end = data.index(b"\xe0\x7f\x10\x00")
    cut = tmp_path / "cut.dcm"
    for size in range(132, header_end + 12):
        cut.write_bytes(data[:size])
        with pytest.raises(DicomRejected) as caught:
            read_header(cut)
        assert caught.value.status.value == "rejected", (size, caught.value.message)
        assert caught.value.reason in ("truncated_file", "no_pixel_data"), (size, caught.value.message)


def test_header_complete_file_accepted(tmp_path: Path) -> None:
    path = write_native_rgb(tmp_path / "clip.dcm", cine_frames(4))
    assert read_header(path).n_frames == 4


def test_empty_file_message(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(DicomRejected) as caught:
        read_header(path)
    assert caught.value.reason == "not_dicom"
    assert "empty (0 bytes)" in caught.value.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"subject_id,study_id\n1,2\n", "only 24 bytes"), (b"x" * 400, "no 'DICM' prefix")],
)
def test_not_dicom_message(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "notes.dcm"
    path.write_bytes(content)
    with pytest.raises(DicomRejected) as caught:
        read_header(path)
    assert caught.value.reason == "not_dicom"
    assert expected in caught.value.message
    assert "force" not in caught.value.message


def test_directory_path_rejected(tmp_path: Path) -> None:
    with pytest.raises(DicomRejected) as caught:
        read_header(tmp_path)
    assert caught.value.reason == "not_dicom"
    assert "is a directory" in caught.value.message


# extract into a used folder


def test_extract_removes_earlier_frames(tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "clip.dcm", cine_frames(16))
    out = tmp_path / "out"
    runner = CliRunner()
    first = runner.invoke(dicom, ["extract", str(path), "--out", str(out), "--frames", "16", "--size", "64"])
    assert first.exit_code == 0, first.output
    (out / "notes.txt").write_text("keep me")
    (out / "frame_final.png").write_bytes(b"")
    second = runner.invoke(dicom, ["extract", str(path), "--out", str(out), "--frames", "4", "--size", "64"])
    assert second.exit_code == 0, second.output
    assert "deleted 17 files" in second.output
    frames = sorted(p.name for p in out.glob("frame_*.png"))
    assert frames == ["frame_000.png", "frame_001.png", "frame_002.png", "frame_003.png", "frame_final.png"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_extract_rejected_leaves_no_frames(tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "clip.dcm", cine_frames(4))
    out = tmp_path / "out"
    runner = CliRunner()
    first = runner.invoke(dicom, ["extract", str(path), "--out", str(out), "--size", "64"])
    assert first.exit_code == 0, first.output
    path.write_bytes(path.read_bytes()[:400])
    second = runner.invoke(dicom, ["extract", str(path), "--out", str(out), "--size", "64"])
    assert second.exit_code == 1
    assert "truncated_file" in second.output
    assert not list(out.glob("frame_*.png"))
    assert not (out / "mask.png").exists()
