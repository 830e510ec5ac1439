"""AVI reading and writing: exact round trip for uncompressed frames, close for Motion-JPEG, clear errors."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from echovlm.downstream.avi import AviError, read_avi_frames, read_avi_info, write_avi


def _frames(count: int = 4, height: int = 24, width: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_raw_round_trip_is_exact(tmp_path):
    frames = _frames()
    path = write_avi(tmp_path / "raw.avi", frames, codec="raw")
    assert np.array_equal(read_avi_frames(path), frames)


def test_raw_odd_width_row_padding(tmp_path):
    # 3 * 7 = 21 bytes per row is padded to 24 in the file.
    frames = _frames(height=5, width=7)
    path = write_avi(tmp_path / "odd.avi", frames, codec="raw")
    assert np.array_equal(read_avi_frames(path), frames)


def test_mjpeg_round_trip_is_close(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (3, 32, 1))
    path = write_avi(tmp_path / "mjpg.avi", smooth)
    decoded = read_avi_frames(path)
    assert decoded.shape == (3, 32, 32, 3)
    assert np.abs(decoded[..., 0].astype(int) - smooth).mean() < 3


def test_info_reports_size_rate_and_count(tmp_path):
    path = write_avi(tmp_path / "info.avi", _frames(count=5, height=20, width=36), fps=25.0)
    info = read_avi_info(path)
    assert (info.height, info.width) == (20, 36)
    assert info.frame_count == 5
    assert info.fps == pytest.approx(25.0)
    assert info.codec == "MJPG"


def test_selected_frames_in_requested_order(tmp_path):
    frames = _frames(count=5)
    path = write_avi(tmp_path / "order.avi", frames, codec="raw")
    decoded = read_avi_frames(path, [4, 0, 2])
    assert np.array_equal(decoded, frames[[4, 0, 2]])


def test_frame_out_of_range_names_count(tmp_path):
    path = write_avi(tmp_path / "short.avi", _frames(count=3), codec="raw")
    with pytest.raises(AviError, match=r"frame 3 requested but the video has 3 frames"):
        read_avi_frames(path, [3])


def test_not_an_avi(tmp_path):
    path = tmp_path / "video.avi"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40)
    with pytest.raises(AviError, match=r"not an AVI file"):
        read_avi_info(path)


def test_truncated_file_is_reported(tmp_path):
    path = write_avi(tmp_path / "cut.avi", _frames(), codec="raw")
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(AviError, match=r"truncated"):
        read_avi_frames(path)


def test_unknown_codec_without_opencv(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    path = write_avi(tmp_path / "xvid.avi", _frames())
    data = path.read_bytes().replace(b"MJPG", b"XVID")
    path.write_bytes(data)
    with pytest.raises(AviError, match=r"'XVID' codec.*opencv-python-headless"):
        read_avi_frames(path, [0])


def test_eight_bit_palette_frames(tmp_path):
    # Build an 8-bit palettised AVI by hand: a grey palette, so indices read back as grey levels.
    path = write_avi(tmp_path / "grey.avi", _frames(count=1, height=4, width=8), codec="raw")
    data = bytearray(path.read_bytes())
    strf = data.find(b"strf")
    struct.pack_into("<H", data, strf + 8 + 14, 8)  # biBitCount
    path.write_bytes(bytes(data))
    decoded = read_avi_frames(path, [0])
    assert decoded.shape == (1, 4, 8, 3)
    assert np.array_equal(decoded[..., 0], decoded[..., 2])
