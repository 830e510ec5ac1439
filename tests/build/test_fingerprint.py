"""Cache keys: sensitive to content, code and configuration, insensitive to input order."""

from __future__ import annotations

import os

from echoground.build.fingerprint import cache_key, code_version, file_fingerprint, files_fingerprint


def test_content_change_changes_fingerprint(tmp_path) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(b"DICM" * 10)
    before = file_fingerprint(path)
    path.write_bytes(b"DICM" * 9 + b"DICN")
    assert file_fingerprint(path) != before


def test_stat_mode_sees_mtime(tmp_path) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(b"x")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = file_fingerprint(path, "stat")
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    assert file_fingerprint(path, "stat") != before
    assert file_fingerprint(path, "content") == file_fingerprint(path, "content")


def test_order_independent_and_missing_marked(tmp_path) -> None:
    first, second = tmp_path / "1.dcm", tmp_path / "2.dcm"
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    assert files_fingerprint([first, second]) == files_fingerprint([second, first])
    absent = files_fingerprint([first, tmp_path / "3.dcm"])
    (tmp_path / "3.dcm").write_bytes(b"3")
    assert files_fingerprint([first, tmp_path / "3.dcm"]) != absent


def test_code_version_differs_by_package() -> None:
    assert code_version("ledger") != code_version("sources")
    assert code_version("sources") == code_version("sources")


def test_cache_key_covers_config() -> None:
    base = cache_key("dicom", "abc", "v1", {"frames": 16})
    assert base.startswith("dicom-")
    assert cache_key("dicom", "abc", "v1", {"frames": 8}) != base
    assert cache_key("dicom", "abd", "v1", {"frames": 16}) != base
    assert cache_key("dicom", "abc", "v2", {"frames": 16}) != base
