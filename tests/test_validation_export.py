"""The export as read: files that are not comma-separated UTF-8 text, broken headers, rows that do not
fit the header, missing ids and numbers that are not numbers. Each is one InputError naming the file,
the column and the number of rows, never a value of those rows."""

import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.study.cohort import build_cohort, read_data
from mbcrt.study.config import load_study
from mbcrt.study.validation import export_schema

STUDY = """
name: demo
title: Demo
data: data.csv
id: pid
time: os_months
time_unit: months
event: death
treatment: rt
treated_value: "yes"
covariates: [age, grade]
categorical: [grade]
steps: [cohort]
"""

ROWS = """pid,rt,age,grade,os_months,death
P1,yes,50,II,12.5,1
P2,no,61,I,30.0,0
P3,no,70,II,8.25,1
P4,yes,45,III,40.0,0
"""


def make(tmp_path, rows=ROWS, study=STUDY):
    (tmp_path / "data.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "study.yaml").write_text(study)
    return load_study(tmp_path / "study.yaml")


def error(tmp_path, rows=None, *, data: bytes | None = None, study=STUDY) -> InputError:
    s = make(tmp_path, rows if rows is not None else ROWS, study)
    if data is not None:
        (tmp_path / "data.csv").write_bytes(data)
    with pytest.raises(InputError) as err:
        build_cohort(s)
    return err.value


def test_a_clean_export_passes(tmp_path):
    assert len(build_cohort(make(tmp_path)).cohort) == 4


@pytest.mark.parametrize("data, words", [
    (b"PK\x03\x04\x14\x00\x06\x00binary workbook", "Excel workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old workbook", "old Excel"),
    (b"%PDF-1.7\n", "PDF"),
    ("pid,rt\nP1,yes\n".encode("utf-16"), "UTF-16"),
    (b"<!DOCTYPE html><html><body>Session expired</body></html>\n", "HTML"),
    (b"pid,rt\x00,age\n", "NUL"),
])
def test_files_that_are_not_csv_text_are_named_as_what_they_are(tmp_path, data, words):
    err = error(tmp_path, data=data)
    assert words in str(err) and err.file.endswith("data.csv")


def test_semicolon_separated_export_is_explained(tmp_path):
    err = error(tmp_path, ROWS.replace(",", ";").replace("12.5", "12,5"))
    assert "semicolons" in str(err)


def test_a_column_named_twice_is_an_error(tmp_path):
    err = error(tmp_path, ROWS.replace("pid,rt,age,grade", "pid,rt,age,age"))
    assert err.column == "age" and "more than once" in str(err)


def test_rows_longer_than_the_header_are_counted(tmp_path):
    # An unquoted comma inside a value shifts every later column of that row.
    rows = ROWS.replace("P2,no,61,I,", "P2,no,61,I,extra,").replace("P3,no,70,II,", "P3,no,70,II,x,")
    err = error(tmp_path, rows)
    assert err.n_rows == 2 and "more values than the header" in str(err)


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    s = make(tmp_path)
    (tmp_path / "data.csv").write_bytes(b"\xef\xbb\xbf" + ROWS.encode())
    assert list(build_cohort(s).cohort.columns[:2]) == ["pid", "rt"]


def test_trailing_separators_do_not_shift_the_columns(tmp_path):
    rows = "\n".join(line + "," for line in ROWS.strip().splitlines()[1:])
    df = read_data(_write(tmp_path, ROWS.splitlines()[0] + "\n" + rows + "\n"))
    assert df["pid"].tolist() == ["P1", "P2", "P3", "P4"]


def _write(tmp_path, text):
    p = tmp_path / "raw.csv"
    p.write_text(text)
    return p


def test_blank_trailing_rows_are_missing_ids(tmp_path):
    err = error(tmp_path, ROWS + ",,,,,\n,,,,,\n")
    assert err.column == "pid" and err.n_rows == 2 and "id missing" in str(err)


def test_text_in_a_numeric_covariate_is_counted_not_shown(tmp_path):
    rows = ROWS.replace("P1,yes,50,", "P1,yes,unknown,").replace("P3,no,70,", "P3,no,>70,")
    err = error(tmp_path, rows)
    assert (err.column, err.n_rows) == ("age", 2) and "must be a number" in str(err)
    assert "unknown" not in str(err) and ">70" not in str(err)


def test_infinite_numbers_are_not_numbers(tmp_path):
    err = error(tmp_path, ROWS.replace("12.5", "inf"))
    assert (err.column, err.n_rows) == ("os_months", 1)


def test_every_broken_rule_is_listed_the_first_one_named(tmp_path):
    rows = ROWS.replace("P1,yes,50,", "P1,yes,fifty,").replace("P2,", ",").replace("30.0", "thirty")
    err = error(tmp_path, rows)
    assert (err.column, err.n_rows) == ("pid", 1)             # ids first, in the schema's order
    assert "column 'age': must be a number" in str(err) and "column 'os_months'" in str(err)


def test_the_schema_checks_only_raw_columns(tmp_path):
    """A derived time is checked after it is derived, not in the export."""
    study = STUDY.replace("steps:", "derive:\n  - {name: os_months, expr: 'age / 2'}\nsteps:")
    rules = {r.column for r in export_schema(make(tmp_path, study=study)).rules.values()}
    assert rules == {"pid", "age"}


def test_numeric_categorical_covariates_are_not_required_to_be_numbers(tmp_path):
    df = pd.read_csv(pd.io.common.StringIO(ROWS))
    df["grade"] = ["2", "x", "1", "3"]
    df.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "study.yaml").write_text(STUDY)
    assert len(build_cohort(load_study(tmp_path / "study.yaml")).cohort) == 4
