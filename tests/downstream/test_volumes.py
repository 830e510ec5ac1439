"""NIfTI-1 and MetaImage reading: pixel order, spacing and errors on damaged files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from echovlm.downstream.volumes import VolumeError, read_volume, write_metaimage, write_nifti


def _image() -> np.ndarray:
    return np.arange(6 * 9, dtype=np.uint8).reshape(6, 9)


@pytest.mark.parametrize("name", ["image.nii.gz", "image.nii"])
def test_nifti_round_trip(tmp_path, name):
    path = write_nifti(tmp_path / name, _image(), (0.31, 0.154))
    volume = read_volume(path)
    assert np.array_equal(volume.array, _image())
    assert volume.spacing_mm == pytest.approx((0.31, 0.154))


def test_nifti_stores_x_fastest(tmp_path):
    # NIfTI orders voxels with x (columns) varying fastest: the first row comes first in the file.
    path = write_nifti(tmp_path / "order.nii", _image(), (1.0, 1.0))
    stored = np.frombuffer(path.read_bytes()[352:], np.uint8)
    assert np.array_equal(stored[:9], _image()[0])


def test_nifti_sequence_keeps_frames_first(tmp_path):
    frames = np.stack([_image(), _image() + 100])
    volume = read_volume(write_nifti(tmp_path / "seq.nii.gz", frames, (0.3, 0.3)))
    assert volume.array.shape == (2, 6, 9)
    assert np.array_equal(volume.array[1], _image() + 100)


def test_metaimage_round_trip(tmp_path):
    path = write_metaimage(tmp_path / "image.mhd", _image().astype(np.int16), (0.2, 0.4))
    volume = read_volume(path)
    assert np.array_equal(volume.array, _image())
    assert volume.spacing_mm == pytest.approx((0.2, 0.4))


def test_metaimage_missing_raw(tmp_path):
    path = write_metaimage(tmp_path / "image.mhd", _image(), (0.2, 0.2))
    (tmp_path / "image.raw").unlink()
    with pytest.raises(FileNotFoundError, match=r"image.raw not found"):
        read_volume(path)


def test_truncated_nifti(tmp_path):
    path = write_nifti(tmp_path / "cut.nii.gz", _image(), (0.3, 0.3))
    payload = gzip.decompress(path.read_bytes())[:-10]
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(VolumeError, match=r"truncated"):
        read_volume(path)


def test_nifti_bad_magic(tmp_path):
    path = write_nifti(tmp_path / "pair.nii", _image(), (0.3, 0.3))
    data = bytearray(path.read_bytes())
    data[344:348] = b"ni1\x00"
    path.write_bytes(bytes(data))
    with pytest.raises(VolumeError, match=r"not 'n\+1'"):
        read_volume(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG")
    with pytest.raises(VolumeError, match=r"unknown image format"):
        read_volume(path)
