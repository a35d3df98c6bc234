"""Dates as exports write them: ISO text, declared formats tried in order, Excel serial day numbers,
date types of SPSS/Stata/SAS/Parquet; a date that fits no declared format or reads two ways is refused
(file, column, rule, row count; never a value), never guessed or swapped."""

import datetime as dt

import pandas as pd
import pyreadstat
import pytest

from mbcrt.errors import InputError
from mbcrt.study.cohort import build_cohort, parse_dates
from mbcrt.study.config import load_study

STUDY = """
name: demo
title: Demo
data: {data}
id: pid
time: os_days
time_unit: days
event: death
dates: [start, last_seen]
derive:
  - {{name: os_days, interval: {{start: start, end: last_seen, unit: days}}}}
steps: [cohort]
"""


def study(tmp_path, data="data.csv", extra="", text=STUDY):
    (tmp_path / "study.yaml").write_text(text.format(data=data) + extra)
    return load_study(tmp_path / "study.yaml")


def frame(values, column="d"):
    return pd.DataFrame({column: pd.Series(values, dtype=object)})


def test_iso_dates_by_default():
    got = parse_dates(frame(["2020-01-02", None, "2021-12-31"]), ["d"], "x.csv")["d"]
    assert got.tolist()[0] == pd.Timestamp("2020-01-02") and pd.isna(got[1])


def test_a_declared_format():
    got = parse_dates(frame(["03/04/2020", "31/12/2021"]), ["d"], "x.csv", "%d/%m/%Y")["d"]
    assert got.tolist() == [pd.Timestamp("2020-04-03"), pd.Timestamp("2021-12-31")]


def test_declared_formats_are_tried_in_order():
    got = parse_dates(frame(["03.04.2020", "2021-12-31", "15/01/2019"]), ["d"], "x.csv",
                      ["%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y"])["d"]
    assert got.tolist() == [pd.Timestamp("2020-04-03"), pd.Timestamp("2021-12-31"), pd.Timestamp("2019-01-15")]


def test_a_value_two_declared_formats_read_differently_is_refused():
    with pytest.raises(InputError) as err:
        parse_dates(frame(["03/04/2020", "25/12/2020", "04/05/2019"]), ["d"], "x.csv", ["%d/%m/%Y", "%m/%d/%Y"])
    e = err.value
    assert e.column == "d" and e.n_rows == 2 and "two different dates" in str(e)
    assert "03/04/2020" not in str(e) and "04/05/2019" not in str(e)


def test_day_first_text_without_a_declared_format_is_refused_and_counted():
    with pytest.raises(InputError) as err:
        parse_dates(frame(["2020-01-02", "03/04/2020", "25/12/2020", "04/05/2019"]), ["d"], "x.csv")
    e = err.value
    assert e.n_rows == 3 and "YYYY-MM-DD" in str(e) and "date_format" in str(e)
    assert "2 of them read both day first and month first" in str(e)  # 25/12 can only be day first
    assert "03/04/2020" not in str(e)


def test_a_value_fitting_no_declared_format_is_refused():
    with pytest.raises(InputError) as err:
        parse_dates(frame(["03/04/2020", "2020-04-05", "unknown"]), ["d"], "x.csv", "%d/%m/%Y")
    assert err.value.n_rows == 2 and "date_format declares (%d/%m/%Y)" in str(err.value)


def test_blank_cells_with_spaces_are_missing_and_spaces_around_a_date_are_read():
    got = parse_dates(frame(["2020-01-02", "  ", " 2021-02-03 "]), ["d"], "x.csv")["d"]
    assert pd.isna(got[1]) and got[2] == pd.Timestamp("2021-02-03")


def test_excel_serial_day_numbers():
    """Excel's serial 43831 is 2020-01-01 and 1 is 1900-01-01 (1900 date system, origin 1899-12-30 for
    serials after February 1900); a column of date cells mixed with numbers and text reads whole."""
    got = parse_dates(frame([43831, 44196.75, None]), ["d"], "x.xlsx", excel_serial=True)["d"]
    assert got.tolist()[:2] == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-12-31")]  # time of day dropped
    mixed = frame([dt.datetime(2020, 1, 2), 43832, "2020-01-04", None])
    got = parse_dates(mixed, ["d"], "x.xlsx", excel_serial=True)["d"]
    assert got.tolist()[:3] == [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-04")]
    numbers = pd.DataFrame({"d": [43831.0, 43832.0]})
    assert parse_dates(numbers, ["d"], "x.xlsx", excel_serial=True)["d"][0] == pd.Timestamp("2020-01-01")


def test_numbers_in_a_date_column_of_a_text_file_are_refused():
    with pytest.raises(InputError, match="numbers in a date column") as err:
        parse_dates(pd.DataFrame({"d": [43831.0, None, 43832.0]}), ["d"], "x.csv")
    assert err.value.n_rows == 2
    with pytest.raises(InputError, match="numbers in a date column"):
        parse_dates(frame(["2020-01-02", 43832]), ["d"], "x.csv")


def test_an_all_blank_date_column_is_missing_not_an_error():
    got = parse_dates(pd.DataFrame({"d": [float("nan")] * 2}), ["d"], "x.csv")["d"]
    assert got.isna().all() and str(got.dtype) == "datetime64[ns]"


def test_typed_dates_keep_their_day(tmp_path):
    """A SPSS DATETIME with a time of day: the date is kept, the time dropped (intervals in whole days)."""
    df = pd.DataFrame({"pid": ["A", "B"], "start": pd.to_datetime(["2020-01-01 23:30", "2020-03-01 08:00"]),
                       "last_seen": [dt.date(2020, 1, 31), dt.date(2020, 3, 11)], "death": [1.0, 0.0]})
    pyreadstat.write_sav(df, str(tmp_path / "d.sav"))
    cohort = build_cohort(study(tmp_path, "d.sav")).cohort
    assert cohort["os_days"].tolist() == [30.0, 10.0]


def test_day_first_export_with_date_format_equals_iso(tmp_path):
    iso = "pid,start,last_seen,death\nA,2020-01-02,2020-03-04,1\nB,2020-04-03,2021-01-12,0\n"
    (tmp_path / "iso.csv").write_text(iso)
    day_first = "pid,start,last_seen,death\nA,02/01/2020,04/03/2020,1\nB,03/04/2020,12/01/2021,0\n"
    (tmp_path / "dmy.csv").write_text(day_first)
    a = build_cohort(study(tmp_path, "iso.csv")).cohort
    b = build_cohort(study(tmp_path, "dmy.csv", 'date_format: "%d/%m/%Y"\n')).cohort
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["os_days"].tolist() == [62.0, 284.0]


def test_an_interval_over_undeclared_date_columns_reads_them_as_dates(tmp_path):
    """The issue's crash: an interval whose columns the study forgot under ``dates`` (a pandas TypeError,
    exit 1, before); now the interval's columns are dates, with every date rule."""
    rows = ("pid,start,last_seen,death\nA,2020-01-02,2020-03-04,1\nB,2020-04-03,2020-06-01,0\n"
            "C,2020-04-03,2020-05-03,0\n")
    (tmp_path / "data.csv").write_text(rows)
    undeclared = STUDY.replace("dates: [start, last_seen]\n", "")
    s = study(tmp_path, text=undeclared)
    assert s.dates == ["start", "last_seen"]
    declared = build_cohort(study(tmp_path)).cohort
    pd.testing.assert_frame_equal(build_cohort(study(tmp_path, text=undeclared)).cohort, declared, check_exact=True)
    (tmp_path / "data.csv").write_text(rows.replace("2020-05-03", "2020-02-03"))  # ends before it starts
    with pytest.raises(InputError, match="date before 'start'") as err:
        build_cohort(study(tmp_path, text=undeclared))
    assert err.value.column == "last_seen" and err.value.n_rows == 1


@pytest.mark.parametrize("value", ['"%d/%m/%Y"', '["%d/%m/%Y", "%Y-%m-%d"]'])
def test_date_format_accepts_one_or_a_list(tmp_path, value):
    (tmp_path / "data.csv").write_text("pid,start,last_seen,death\nA,02/01/2020,04/03/2020,1\n")
    assert study(tmp_path, extra=f"date_format: {value}\n").config["date_format"]


@pytest.mark.parametrize("extra, key", [
    ("date_format: dd/mm/yyyy\n", "date_format"),
    ("date_format: []\n", "date_format"),
    ("encoding: klingon\n", "encoding"),
    ("delimiter: ';;'\n", "delimiter"),
    ("header_row: 0\n", "header_row"),
    ("sheet: 0\n", "sheet"),
])
def test_bad_reading_keys_name_the_key(tmp_path, extra, key):
    with pytest.raises(InputError) as err:
        study(tmp_path, extra=extra)
    assert err.value.column == key
