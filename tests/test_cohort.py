"""Cohort build: derived variables, criteria and attrition, standard columns, and input errors."""

import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.study.cohort import apply_criteria, build_cohort, derive, parse_dates
from mbcrt.study.config import load_study

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
dates: [start, death_date, last_contact]
derive:
  - {name: os_months, interval: {start: start, end: [death_date, last_contact], unit: months}}
  - {name: death, present: death_date}
criteria:
  - {reason: "Age < 18 or > 80 years", keep: "age >= 18 and age <= 80"}
  - {reason: "Male", keep: "sex == 'F'"}
steps: [cohort]
"""

ROWS = """pid,rt,age,sex,start,death_date,last_contact
P1,yes,50,F,2020-01-01,2020-07-01,2020-07-01
P2,no,17,F,2020-01-01,,2021-01-01
P3,no,60,M,2020-01-01,,2021-01-01
P4,no,70,F,2020-01-01,,2022-01-01
P5,yes,85,F,2020-01-01,,2022-01-01
"""


def make(tmp_path, study=STUDY, rows=ROWS):
    (tmp_path / "data.csv").write_text(rows)
    (tmp_path / "study.yaml").write_text(study)
    return load_study(tmp_path / "study.yaml")


def test_build_derives_time_and_event_and_counts_attrition(tmp_path):
    res = build_cohort(make(tmp_path))
    # 2020-01-01 -> 2020-07-01 is 182 days = 182 / 30.4375 months (hand computation).
    assert res.cohort.loc[res.cohort.pid == "P1", "_time"].item() == pytest.approx(182 / 30.4375)
    assert res.cohort.loc[res.cohort.pid == "P4", "_time"].item() == pytest.approx(731 / 30.4375)
    assert res.cohort["_event"].tolist() == [1, 0]
    assert res.cohort["_treat"].tolist() == [1, 0]
    assert res.attrition["excluded"].tolist() == [0, 2, 1, 0]
    assert res.attrition["remaining"].tolist() == [5, 3, 2, 2]
    assert res.arms["n"].tolist() == [1, 1]


def test_interval_end_is_the_earliest_date():
    df = pd.DataFrame({"a": pd.to_datetime(["2020-01-01"]), "b": pd.to_datetime(["2020-03-01"]),
                       "c": pd.to_datetime(["2020-02-01"])})
    out = derive(df, [{"name": "t", "interval": {"start": "a", "end": ["b", "c"], "unit": "days"}}], "f")
    assert out["t"].item() == 31


def test_unparseable_dates_are_counted_not_shown(tmp_path):
    df = pd.DataFrame({"d": ["2020-01-01", "01/02/2020", "2020-13-01", None]})
    with pytest.raises(InputError) as err:
        parse_dates(df, ["d"], "x.csv")
    assert err.value.n_rows == 2 and err.value.column == "d"
    assert "01/02/2020" not in str(err.value)


def test_criteria_with_missing_values_exclude_the_row():
    df = pd.DataFrame({"age": [50, None, 90]})
    kept, att = apply_criteria(df, [{"reason": "age", "keep": "age <= 80"}], "f")
    assert len(kept) == 1 and att["excluded"].tolist() == [0, 2, 0]


def test_misspelt_column_is_named_with_suggestion(tmp_path):
    rows = ROWS.replace("pid,rt,", "pid,rtt,")
    with pytest.raises(InputError, match="column 'rt'.*Did you mean 'rtt'"):
        build_cohort(make(tmp_path, rows=rows))


def test_one_arm_only_is_an_error(tmp_path):
    rows = ROWS.replace(",yes,", ",no,")
    with pytest.raises(InputError, match="one arm only"):
        build_cohort(make(tmp_path, rows=rows))


def test_duplicate_ids_are_counted(tmp_path):
    rows = ROWS.replace("P4,", "P1,")
    with pytest.raises(InputError) as err:
        build_cohort(make(tmp_path, rows=rows))
    assert err.value.n_rows == 1 and "duplicate" in str(err.value)


def test_first_row_per_id_keeps_the_earliest(tmp_path):
    rows = ROWS + "P4,no,70,F,2019-01-01,,2022-01-01\n"
    study = STUDY.replace("steps:", "first_row_per_id: start\nsteps:")
    res = build_cohort(make(tmp_path, study=study, rows=rows))
    assert res.cohort.loc[res.cohort.pid == "P4", "_time"].item() == pytest.approx(1096 / 30.4375)
    assert "Later records of the same patient" in res.attrition["criterion"].tolist()


def test_empty_and_non_utf8_files(tmp_path):
    study = make(tmp_path)
    (tmp_path / "data.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        build_cohort(study)
    (tmp_path / "data.csv").write_bytes("pid,rt\nP\xe9,yes\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        build_cohort(study)
