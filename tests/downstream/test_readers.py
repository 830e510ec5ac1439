"""Dataset readers on fixture copies in the distributed layouts, with the schema drift of public copies."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from echovlm.downstream.avi import write_avi
from echovlm.downstream.layout import detect_layout, open_dataset
from echovlm.downstream.lvh import LANDMARKS
from echovlm.downstream.samples import rasterise_polygon
from echovlm.downstream.synthetic import write_camus, write_echonet, write_lvh
from echovlm.downstream.volumes import write_nifti


@pytest.fixture
def echonet_root(tmp_path):
    return write_echonet(tmp_path / "dynamic", videos=10, size=(48, 40))


def test_echonet_ed_and_es_per_video(echonet_root):
    dataset = open_dataset(echonet_root, "segment")
    assert dataset.name == "echonet-dynamic"
    assert len(dataset) == 20
    phases = {record.meta["phase"] for record in dataset}
    assert phases == {"ED", "ES"}


def test_echonet_ed_has_larger_cavity(echonet_root):
    records = open_dataset(echonet_root).records
    ed, es = records[0].load(), records[1].load()
    assert records[0].meta["phase"] == "ED"
    assert records[0].meta["frame"] == 0
    assert ed.mask.sum() > es.mask.sum()


def test_echonet_mask_matches_chords(echonet_root):
    tracings = pd.read_csv(echonet_root / "VolumeTracings.csv")
    rows = tracings[(tracings.FileName == "0X0000SYN.avi") & (tracings.Frame == 0)]
    outline = np.concatenate([rows[["X1", "Y1"]].to_numpy()[1:], rows[["X2", "Y2"]].to_numpy()[1:][::-1]])
    sample = open_dataset(echonet_root).records[0].load()
    assert np.array_equal(sample.mask, rasterise_polygon(outline, 48, 40))
    assert sample.image.shape == (48, 40)


def test_echonet_split_case_and_index_column(echonet_root):
    files = pd.read_csv(echonet_root / "FileList.csv")
    files["Split"] = ["train", "Train", "TRAIN", "val", "Val", "VALIDATE", "test", "Test", "TEST", "train"]
    files.insert(0, "Unnamed: 0", range(len(files)))
    files.rename(columns={"Split": "split"}).to_csv(echonet_root / "FileList.csv", index=False)
    dataset = open_dataset(echonet_root)
    assert [len(dataset.split(name)) for name in ("train", "val", "test")] == [8, 6, 6]


def test_echonet_missing_split_column_hashes(echonet_root):
    files = pd.read_csv(echonet_root / "FileList.csv").drop(columns=["Split"])
    files.to_csv(echonet_root / "FileList.csv", index=False)
    first = [record.split for record in open_dataset(echonet_root)]
    second = [record.split for record in open_dataset(echonet_root)]
    assert first == second
    assert set(first) <= {"train", "val", "test"}


def test_echonet_invalid_split_value(echonet_root):
    files = pd.read_csv(echonet_root / "FileList.csv")
    files.loc[0, "Split"] = "holdout"
    files.to_csv(echonet_root / "FileList.csv", index=False)
    with pytest.raises(ValueError, match=r"split value 'holdout' for 0X0000SYN.avi"):
        open_dataset(echonet_root)


def test_echonet_file_name_with_extension(echonet_root):
    files = pd.read_csv(echonet_root / "FileList.csv")
    files["FileName"] = files["FileName"] + ".avi"
    files.to_csv(echonet_root / "FileList.csv", index=False)
    assert len(open_dataset(echonet_root)) == 20


def test_echonet_missing_video_named(echonet_root):
    (echonet_root / "Videos" / "0X0003SYN.avi").unlink()
    with pytest.raises(FileNotFoundError, match=r"0X0003SYN.avi not found.*FileList.csv lists 0X0003SYN.avi"):
        open_dataset(echonet_root)


def test_echonet_frame_size_mismatch(echonet_root):
    files = pd.read_csv(echonet_root / "FileList.csv")
    files.loc[0, "FrameHeight"] = 112
    files.to_csv(echonet_root / "FileList.csv", index=False)
    record = open_dataset(echonet_root).records[0]
    with pytest.raises(ValueError, match=r"frames are 48x40.*FrameHeight 112 and FrameWidth 40"):
        record.load()


def test_echonet_traced_frame_beyond_video(echonet_root):
    write_avi(echonet_root / "Videos" / "0X0000SYN.avi", np.zeros((1, 48, 40), np.uint8))
    record = next(record for record in open_dataset(echonet_root) if record.meta["phase"] == "ES")
    with pytest.raises(ValueError, match=r"frame 2 requested but the video has 1 frames"):
        record.load()


def test_echonet_untraced_video_skipped(echonet_root, caplog):
    tracings = pd.read_csv(echonet_root / "VolumeTracings.csv")
    tracings[tracings.FileName != "0X0001SYN.avi"].to_csv(echonet_root / "VolumeTracings.csv", index=False)
    with caplog.at_level(logging.WARNING):
        dataset = open_dataset(echonet_root)
    assert len(dataset) == 18
    assert "0X0001SYN.avi has no rows" in caplog.text


def test_pediatric_points_and_folds(tmp_path):
    root = write_echonet(tmp_path / "pediatric" / "A4C", videos=4, size=(48, 40), pediatric=True)
    files = pd.read_csv(root / "FileList.csv")
    files["Split"] = [0, 8, 9, 3]
    files.to_csv(root / "FileList.csv", index=False)
    assert detect_layout(tmp_path / "pediatric") == ("echonet", root)
    dataset = open_dataset(tmp_path / "pediatric")
    assert dataset.name == "echonet-pediatric"
    splits = {record.meta["file"]: record.split for record in dataset}
    assert splits == {
        "0X0000SYN.avi": "train",
        "0X0001SYN.avi": "val",
        "0X0002SYN.avi": "test",
        "0X0003SYN.avi": "train",
    }
    assert dataset.records[0].load().mask.sum() > 0


@pytest.mark.parametrize("metaimage", [False, True])
def test_camus_reads_both_formats(tmp_path, metaimage):
    root = write_camus(tmp_path / "camus", patients=2, size=(40, 32), metaimage=metaimage)
    dataset = open_dataset(root, "segment")
    assert dataset.name == "camus"
    assert len(dataset) == 8
    sample = dataset.records[0].load()
    assert sample.image.shape == (40, 32)
    assert set(np.unique(sample.mask)) == {0, 1, 2, 3}
    assert sample.spacing_mm == pytest.approx((0.3, 0.3))
    assert dataset.records[0].meta["ImageQuality"] == "Good"


def test_camus_without_ground_truth_skipped(tmp_path):
    root = write_camus(tmp_path / "camus", patients=1, size=(40, 32))
    (root / "training" / "patient0001" / "patient0001_4CH_ES_gt.nii.gz").unlink()
    assert len(open_dataset(root)) == 3


def test_camus_shape_mismatch_named(tmp_path):
    root = write_camus(tmp_path / "camus", patients=1, size=(40, 32))
    folder = root / "training" / "patient0001"
    write_nifti(folder / "patient0001_2CH_ED_gt.nii.gz", np.zeros((40, 30), np.uint8), (0.3, 0.3))
    record = next(record for record in open_dataset(root) if record.sample_id == "patient0001_2CH_ED")
    with pytest.raises(ValueError, match=r"patient0001_2CH_ED_gt.nii.gz has shape \(40, 30\).*\(40, 32\)"):
        record.load()


def test_camus_invalid_label_value(tmp_path):
    root = write_camus(tmp_path / "camus", patients=1, size=(40, 32))
    mask = np.zeros((40, 32), np.uint8)
    mask[0, 0] = 7
    write_nifti(root / "training" / "patient0001" / "patient0001_2CH_ED_gt.nii.gz", mask, (0.3, 0.3))
    record = next(record for record in open_dataset(root) if record.sample_id == "patient0001_2CH_ED")
    with pytest.raises(ValueError, match=r"label values \[7\]"):
        record.load()


@pytest.fixture
def lvh_root(tmp_path):
    return write_lvh(tmp_path / "lvh", videos=5, size=(48, 64), spacing_mm=0.8)


def test_lvh_landmarks_and_spacing(lvh_root):
    dataset = open_dataset(lvh_root, "landmark")
    assert dataset.labels == LANDMARKS
    assert len(dataset) == 5
    sample = dataset.records[0].load()
    assert sample.points.shape == (6, 2)
    assert sample.spacing_mm == pytest.approx((0.8, 0.8))
    table = pd.read_csv(lvh_root / "MeasurementsList.csv")
    first = table[table.HashedFileName == table.HashedFileName.iloc[0]]
    ivsd_mm = float(first[first.Calc == "IVSd"].CalcValue.iloc[0]) * 10
    assert np.linalg.norm(sample.points[1] - sample.points[0]) * 0.8 == pytest.approx(ivsd_mm)


def test_lvh_caliper_ends_ordered_by_depth(lvh_root):
    table = pd.read_csv(lvh_root / "MeasurementsList.csv")
    swapped = table.copy()
    swapped[["X1", "Y1", "X2", "Y2"]] = table[["X2", "Y2", "X1", "Y1"]].to_numpy()
    swapped.to_csv(lvh_root / "MeasurementsList.csv", index=False)
    sample = open_dataset(lvh_root).records[0].load()
    assert (sample.points[1::2, 1] >= sample.points[0::2, 1]).all()


def test_lvh_incomplete_frame_skipped(lvh_root):
    table = pd.read_csv(lvh_root / "MeasurementsList.csv")
    first = table.HashedFileName.iloc[0]
    table[~((table.HashedFileName == first) & (table.Calc == "LVPWd"))].to_csv(
        lvh_root / "MeasurementsList.csv", index=False
    )
    assert len(open_dataset(lvh_root)) == 4


@pytest.mark.parametrize(("factor", "warned"), [(1.05, False), (1.2, True)])
def test_lvh_spacing_disagreement_warning(lvh_root, caplog, factor, warned):
    table = pd.read_csv(lvh_root / "MeasurementsList.csv")
    row = table.index[(table.Calc == "IVSd")][0]
    table.loc[row, "CalcValue"] *= factor
    table.to_csv(lvh_root / "MeasurementsList.csv", index=False)
    with caplog.at_level(logging.WARNING):
        open_dataset(lvh_root)
    assert ("more than 10% apart" in caplog.text) == warned


def test_lvh_missing_video_named(lvh_root):
    name = pd.read_csv(lvh_root / "MeasurementsList.csv").HashedFileName.iloc[0]
    next(lvh_root.glob(f"Batch*/{name}.avi")).unlink()
    with pytest.raises(FileNotFoundError, match=f"video {name}.avi"):
        open_dataset(lvh_root)


def test_lvh_frame_size_mismatch(lvh_root):
    table = pd.read_csv(lvh_root / "MeasurementsList.csv")
    table["Width"] = 640
    table.to_csv(lvh_root / "MeasurementsList.csv", index=False)
    with pytest.raises(ValueError, match=r"frames are 48x64.*Width 640"):
        open_dataset(lvh_root).records[0].load()


def test_unknown_layout_lists_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("not a dataset")
    with pytest.raises(
        FileNotFoundError, match=r"not a known dataset layout.*FileList.csv.*patientNNNN.*MeasurementsList"
    ):
        open_dataset(tmp_path)


def test_task_mismatch(lvh_root):
    with pytest.raises(ValueError, match=r"landmark dataset; for segment use \['camus', 'echonet'\]"):
        open_dataset(lvh_root, "segment")
