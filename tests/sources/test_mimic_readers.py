"""MIMIC table readers: column checks, dtypes and error messages that name the file and column."""

from __future__ import annotations

import gzip

import pytest

from echoground.sources import MimicRoots, SourceError, check_table, read_table


@pytest.fixture
def roots(tmp_path) -> MimicRoots:
    roots = MimicRoots.from_cohort(tmp_path)
    roots.echo.mkdir(parents=True)
    roots.note.mkdir(parents=True)
    roots.hosp.mkdir(parents=True)
    (roots.echo / "echo-record-list.csv").write_text(
        "subject_id,study_id,acquisition_datetime,dicom_filepath\n"
        "10000032,90000001,2180-05-06 22:23:00,files/p10/p10000032/s90000001/90000001_0001.dcm\n"
    )
    with gzip.open(roots.echo / "structured-measurement.csv.gz", "wt") as handle:
        handle.write(
            "subject_id,measurement_id,measurement_datetime,test_type,measurement,"
            "measurement_description,result,unit\n"
            "10000032,70000001,2180-05-06 22:00:00,tte,tr_velocity,TR peak velocity,>2.8,m/s\n"
            "10000032,70000001,2180-05-06 22:00:00,tte,lvef,LVEF,,%\n"
        )
    return roots


def test_reads_ids_as_integers(roots) -> None:
    frame = read_table(roots, "echo_record_list")
    assert frame["subject_id"].iloc[0] == 10000032
    assert str(frame["subject_id"].dtype) == "Int64"


def test_keeps_text_results_unparsed(roots) -> None:
    frame = read_table(roots, "structured_measurement")
    assert frame["result"].iloc[0] == ">2.8"
    assert frame["result"].isna().iloc[1]
    assert "measurement_description" in frame.columns


def test_missing_file_names_path(roots) -> None:
    with pytest.raises(SourceError, match=r"echo-study-list\.csv: file not found"):
        read_table(roots, "echo_study_list")


def test_missing_column_names_column(roots) -> None:
    (roots.echo / "echo-record-list.csv").write_text("subject_id,study_id,dicom_path\n1,2,x.dcm\n")
    with pytest.raises(
        SourceError, match=r"missing required column\(s\) \['acquisition_datetime', 'dicom_filepath'\]"
    ):
        read_table(roots, "echo_record_list")


def test_malformed_id_names_file(roots) -> None:
    (roots.echo / "echo-record-list.csv").write_text(
        "subject_id,study_id,acquisition_datetime,dicom_filepath\nabc,90000001,2180-01-01,x.dcm\n"
    )
    with pytest.raises(SourceError, match=r"echo-record-list\.csv: cannot parse"):
        read_table(roots, "echo_record_list")


def test_unknown_table_lists_known() -> None:
    with pytest.raises(KeyError, match="known tables"):
        read_table(MimicRoots.from_cohort("/nonexistent"), "echo_reports")


def test_check_table_reads_header_only(roots) -> None:
    columns = check_table(roots, "echo_record_list")
    assert "dicom_filepath" in columns
