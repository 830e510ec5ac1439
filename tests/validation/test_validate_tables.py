"""Table validation with GX: errors raise with examples, warnings pass, Data Docs land, no network."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from echoground.validation import ContractViolation, validate_tables


def clips(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "clip_id": pd.Series(
                ["p10_p10000032_s90000001_0001", "p10_p10000032_s90000001_0002"], dtype="string"
            ),
            "subject_id": [10000032, 10000032],
            "study_id": [90000001, 90000001],
            "clip_kind": pd.Series(["b_mode_2d", "color_doppler"], dtype="string"),
            "view": pd.Series(["A4C", "uncertain"], dtype="string"),
            "view_coarse": pd.Series(["A4C", "uncertain"], dtype="string"),
            "view_confidence": [0.9, 0.3],
            "cm_per_pixel_x": [0.06, 0.07],
            "cm_per_pixel_y": [0.06, 0.07],
            "split": pd.Series(["train", "train"], dtype="string"),
        }
    )
    for column, values in overrides.items():
        frame[column] = pd.Series(values, dtype=frame[column].dtype)
    return frame


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail the test on any attempt to open an internet connection."""
    attempts = []

    def blocked_connect(self, address):
        attempts.append(address)
        raise OSError(f"network blocked in tests: connect to {address}")

    def blocked_create_connection(address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network blocked in tests: connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", blocked_connect)
    monkeypatch.setattr(socket, "create_connection", blocked_create_connection)
    yield attempts
    assert attempts == [], f"validation tried to connect to {attempts}"


def test_valid_table_passes_and_writes_docs(tmp_path, no_network):
    report = validate_tables({"clips": clips()}, tmp_path)
    assert report.errors == []
    assert report.warnings == []
    assert (tmp_path / "validation/data_docs/index.html").exists()
    assert (tmp_path / "validation/results.json").exists()
    assert no_network == []


def test_error_rule_raises_with_example_rows(tmp_path):
    bad = clips(clip_kind=["b_mode_2d", "hologram"])
    with pytest.raises(ContractViolation) as raised:
        validate_tables({"clips": bad}, tmp_path)
    failures = raised.value.report.errors
    assert [failure.rule for failure in failures] == ["clip_kind_known"]
    assert failures[0].examples[0]["clip_kind"] == "hologram"
    assert "hologram" in str(raised.value)


def test_dotted_clip_id_is_error(tmp_path):
    bad = clips(clip_id=["p10_p10000032_s90000001_0001", "1.2.840.1"])
    with pytest.raises(ContractViolation, match="pattern"):
        validate_tables({"clips": bad}, tmp_path)


def test_warning_rule_reported_run_goes_on(tmp_path):
    report = validate_tables({"clips": clips(cm_per_pixel_x=[0.06, 0.9])}, tmp_path)
    assert report.errors == []
    assert [failure.rule for failure in report.warnings] == ["cm_per_pixel_x_typical"]


def test_missing_column_is_error(tmp_path):
    with pytest.raises(ContractViolation, match="split"):
        validate_tables({"clips": clips().drop(columns="split")}, tmp_path)


def test_errors_returned_when_not_raising(tmp_path):
    report = validate_tables({"clips": clips(split=["train", "holdout"])}, tmp_path, raise_on_error=False)
    assert [failure.rule for failure in report.errors] == ["split_known"]


def test_unknown_table_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="no expectation suite"):
        validate_tables({"frames": clips()}, tmp_path)


def test_caption_table_from_caption_stage_validates(tmp_path):
    from echoground.captions import LabelInput, MeasurementInput, build_captions

    clip_table = clips()
    measurements = pd.DataFrame(
        [{"study_id": 90000001, **MeasurementInput("lvef", 35.0, "%", "m-1", "35", "%").__dict__}]
    )
    labels = pd.DataFrame(
        [
            {
                "study_id": 90000001,
                **LabelInput("lv_systolic_dysfunction", "present", "moderate", "m", "r").__dict__,
            }
        ]
    )
    captions, _ = build_captions(clip_table, measurements, labels)
    report = validate_tables({"captions": captions}, tmp_path)
    assert report.errors == []
