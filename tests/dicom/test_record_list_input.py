"""Damaged files given to the header pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from dicom_factory import cine_frames, write_jpeg, write_native_rgb

from echoground.dicom import DicomRejected
from echoground.dicom.header import read_header


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
