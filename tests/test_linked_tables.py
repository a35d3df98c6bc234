"""Linked long tables (one row per RT course, per line of therapy) joined to the patient table:
each aggregation checked by hand on a tiny table, the time window, ``where``, patients without rows,
input errors, a scale smoke test against a plain-Python reference, and the HER2 RT course table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths
from mbcrt.errors import InputError
from mbcrt.study.cohort import build_cohort, derive
from mbcrt.study.config import load_study
from mbcrt.study.linked import LinkedTable, _keys
from mbcrt.synth import her2_rt

STUDY = """
name: linked_demo
title: Linked demo
data: patients.csv
id: pid
time: os_days
time_unit: days
event: death
dates: [start, death_date, last_contact]
linked:
  rt: {data: courses.csv, id: pid, dates: [rt_start, rt_end]}
derive:
  - {name: os_days, interval: {start: start, end: [death_date, last_contact]}}
  - {name: death, present: death_date}
  - {name: first_start, from: rt, first: rt_start}
  - {name: last_end, from: rt, last: rt_end}
  - {name: n_courses, from: rt, count: true}
  - {name: n_not_sbrt, from: rt, count: true, where: "modality != 'SBRT'"}
  - {name: brain, from: rt, any: "site == 'Brain'", yes: "Yes", no: "No"}
  - {name: brain_year1, from: rt, any: "site == 'Brain'", within: {start: start, days: [0, 365]}}
  - {name: any_course, from: rt, any: true}
  - {name: first_modality, from: rt, value_of_first: modality, order_by: rt_start}
  - {name: last_modality, from: rt, value_of_last: modality, order_by: rt_start}
  - {name: first_after_start, from: rt, first: rt_start, within: {start: start, days: [0, null]}}
  - {name: dose_first, from: rt, value_of_first: dose}
steps: [cohort]
"""

PATIENTS = """pid,start,death_date,last_contact
P1,2020-01-01,2022-01-01,
P2,2020-01-01,,2021-06-30
P3,2020-01-01,,2021-01-01
P4,2021-01-01,2021-12-01,
"""

# P1: three courses, the earliest listed second; P2: two courses starting the same day (ties go to file
# order); P3: none; P4: one course 400 days before its start (outside a window from the start).
COURSES = """pid,course,rt_start,rt_end,modality,site,dose
P1,1,2020-02-01,2020-02-10,IMRT,Breast,50
P1,0,2019-12-01,2019-12-05,SBRT,Brain,24
P1,2,2021-06-01,2021-06-03,SBRT,Bone,30
P2,1,2020-03-01,2020-03-05,3D-CRT,Bone,20
P2,2,2020-03-01,2020-03-20,IMRT,Brain,45
P4,1,2019-11-28,2019-12-02,3D-CRT,Brain,8
"""


def make(tmp_path, study=STUDY, courses=COURSES, patients=PATIENTS):
    (tmp_path / "patients.csv").write_text(patients)
    (tmp_path / "courses.csv").write_text(courses)
    (tmp_path / "study.yaml").write_text(study)
    return load_study(tmp_path / "study.yaml")


@pytest.fixture()
def cohort(tmp_path):
    return build_cohort(make(tmp_path)).cohort.set_index("pid")


def test_first_and_last_are_the_earliest_and_latest_dates(cohort):
    assert cohort["first_start"].tolist()[:2] == [pd.Timestamp("2019-12-01"), pd.Timestamp("2020-03-01")]
    assert pd.isna(cohort.loc["P3", "first_start"])  # no course: NaT
    assert cohort.loc["P4", "first_start"] == pd.Timestamp("2019-11-28")
    assert cohort["last_end"].tolist()[:2] == [pd.Timestamp("2021-06-03"), pd.Timestamp("2020-03-20")]
    assert pd.api.types.is_datetime64_any_dtype(cohort["first_start"])


def test_count_and_where(cohort):
    assert cohort["n_courses"].tolist() == [3, 2, 0, 1]
    assert cohort["n_not_sbrt"].tolist() == [1, 2, 0, 1]
    assert cohort["n_courses"].dtype == "int64"


def test_any_with_yes_no_values_and_default_codes(cohort):
    assert cohort["brain"].tolist() == ["Yes", "Yes", "No", "Yes"]
    assert cohort["any_course"].tolist() == [1, 1, 0, 1]


def test_within_a_window_from_the_patients_date(cohort):
    # P1's brain course is 31 days before the start; P2's 60 days after; P4's 400 days before.
    assert cohort["brain_year1"].tolist() == [0, 1, 0, 0]
    # Open end: P1's first course on or after 2020-01-01 is 2020-02-01; P4 has none after its start.
    assert cohort.loc["P1", "first_after_start"] == pd.Timestamp("2020-02-01")
    assert pd.isna(cohort.loc["P4", "first_after_start"])


def test_value_of_first_and_last_by_date_with_ties_in_file_order(cohort):
    assert cohort["first_modality"].tolist()[:2] == ["SBRT", "3D-CRT"]
    assert cohort["last_modality"].tolist()[:2] == ["SBRT", "IMRT"]
    assert pd.isna(cohort.loc["P3", "first_modality"]) and pd.isna(cohort.loc["P3", "last_modality"])
    # Without order_by: the table's first date (rt_start).
    assert cohort["dose_first"].tolist()[:2] == [24, 20]


def test_an_id_on_several_patient_rows_gets_the_value_on_each():
    df = pd.DataFrame({"pid": ["A", "B", "A"]})
    table = LinkedTable("t", paths.PROJECT_ROOT / "t.csv", "pid", [],
                        pd.DataFrame({"pid": ["A", "A", "B"], "x": [1, 2, 3]}))
    out = derive(df, [{"name": "n", "from": "t", "count": True}], "f", {"t": table}, "pid")
    assert out["n"].tolist() == [2, 1, 2]


def test_ids_written_as_numbers_in_one_file_and_text_in_the_other_match():
    linked, patients = _keys(pd.Series(["1", "2 "]), pd.Series([1.0, 2.0]))
    assert linked.isin(patients).all()


# ---- input errors -------------------------------------------------------------------------------------

def test_ids_matching_no_patient_stop_the_run_naming_file_column_and_rows(tmp_path):
    study = make(tmp_path, courses=COURSES + "P9,1,2020-01-05,2020-01-06,IMRT,Bone,30\n"
                                               "P8,1,2020-01-05,2020-01-06,IMRT,Bone,30\n")
    with pytest.raises(InputError) as err:
        build_cohort(study)
    e = err.value
    assert e.file.endswith("courses.csv") and e.column == "pid" and e.n_rows == 2
    assert "match no patient" in str(e) and "P9" not in str(e)  # never a value


def test_a_table_with_no_matching_id_says_so(tmp_path):
    study = make(tmp_path, courses=COURSES.replace("P", "Q"))
    with pytest.raises(InputError, match="no id of the table matches"):
        build_cohort(study)


def test_unmatched_drop_leaves_such_rows_out(tmp_path):
    study = make(tmp_path, study=STUDY.replace("dates: [rt_start, rt_end]}", "dates: [rt_start, rt_end], "
                                                                            "unmatched: drop}"),
                 courses=COURSES + "P9,1,2020-01-05,2020-01-06,IMRT,Bone,30\n")
    assert build_cohort(study).cohort["n_courses"].tolist() == [3, 2, 0, 1]


def test_missing_ids_and_unreadable_dates_are_input_errors(tmp_path):
    with pytest.raises(InputError) as err:
        build_cohort(make(tmp_path, courses=COURSES + ",1,2020-01-05,2020-01-06,IMRT,Bone,30\n"))
    assert err.value.column == "pid" and err.value.n_rows == 1
    with pytest.raises(InputError) as err:
        build_cohort(make(tmp_path, courses=COURSES + "P1,5,05/01/2020,2020-01-06,IMRT,Bone,30\n"))
    assert err.value.column == "rt_start" and err.value.n_rows == 1 and "05/01/2020" not in str(err.value)


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(InputError) as err:
        build_cohort(make(tmp_path, courses=COURSES.replace("pid,", "patient,", 1)))
    assert err.value.column == "pid"
    with pytest.raises(InputError, match="not in the linked table") as err:
        build_cohort(make(tmp_path, study=STUDY.replace("value_of_first: modality", "value_of_first: modaliti")))
    assert err.value.column == "modaliti" and "modality" in str(err.value)


@pytest.mark.parametrize("rule, message", [
    ("{name: x, from: rtt, count: true}", "not a table under linked"),
    ("{name: x, from: rt, count: true, first: rt_start}", "exactly one of"),
    ("{name: x, from: rt, count: 5}", "count: true"),
    ("{name: x, from: rt, first: rt_start, yes: 1}", "yes and no go with any"),
    ("{name: x, from: rt, any: true, within: {start: start, days: [10, 0]}}", "within is"),
    ("{name: x, from: rt, any: true, whithin: {start: start, days: [0, 10]}}", "within"),
])
def test_study_file_errors_name_the_key(tmp_path, rule, message):
    with pytest.raises(InputError, match=message):
        make(tmp_path, study=STUDY.replace("  - {name: death, present: death_date}\n",
                                           f"  - {{name: death, present: death_date}}\n  - {rule}\n"))


def test_a_linked_table_needs_its_file(tmp_path):
    with pytest.raises(InputError, match="needs data"):
        make(tmp_path, study=STUDY.replace("{data: courses.csv, id: pid", "{id: pid"))


# ---- scale --------------------------------------------------------------------------------------------

def test_smoke_100k_patients_against_a_plain_python_reference():
    """10^5 patients, ~1.5 courses each: vectorised (no timing asserted); 300 patients checked one by one."""
    rng = np.random.default_rng(7)
    n = 100_000
    patients = pd.DataFrame({"pid": np.arange(n), "start": pd.Timestamp("2015-01-01")
                             + pd.to_timedelta(rng.integers(0, 2000, n), unit="D")})
    per = rng.poisson(1.5, n)
    ids = np.repeat(np.arange(n), per)
    courses = pd.DataFrame({"pid": ids,
                            "rt_start": pd.Timestamp("2014-06-01") + pd.to_timedelta(rng.integers(0, 3000, ids.size),
                                                                                     unit="D"),
                            "modality": rng.choice(["3D-CRT", "IMRT", "SBRT"], ids.size)})
    courses = courses.sample(frac=1, random_state=1)  # the table in no particular order
    table = LinkedTable("rt", paths.PROJECT_ROOT / "rt.csv", "pid", ["rt_start"], courses.reset_index(drop=True))
    rules = [{"name": "n", "from": "rt", "count": True},
             {"name": "first", "from": "rt", "first": "rt_start", "within": {"start": "start", "days": [0, 365]}},
             {"name": "mod", "from": "rt", "value_of_first": "modality", "where": "modality != 'SBRT'"},
             {"name": "imrt", "from": "rt", "any": "modality == 'IMRT'",
              "within": {"start": "start", "days": [-30, 90]}}]
    out = derive(patients, rules, "f", {"rt": table}, "pid").set_index("pid")
    t = table.frame
    for p in rng.choice(n, 300, replace=False):
        own = t[t.pid == p]
        days = (own.rt_start - patients.start[p]).dt.days
        assert out.loc[p, "n"] == len(own)
        year = own[(days >= 0) & (days <= 365)]
        assert (pd.isna(out.loc[p, "first"]) if year.empty else out.loc[p, "first"] == year.rt_start.min())
        kept = own[own.modality != "SBRT"]
        first = kept.sort_values("rt_start", kind="mergesort").modality.iloc[0] if len(kept) else None
        assert (pd.isna(out.loc[p, "mod"]) if first is None else out.loc[p, "mod"] == first)
        near = own[(days >= -30) & (days <= 90)]
        assert out.loc[p, "imrt"] == int((near.modality == "IMRT").any())


# ---- the HER2 RT course table -------------------------------------------------------------------------

HER2 = paths.STUDIES_DIR / "her2_rt" / "study.yaml"
COURSES_FILE = paths.SYNTHETIC_DIR / "her2_rt_courses.csv"


def test_her2_rt_first_course_variables_equal_the_exports_columns():
    cohort = build_cohort(load_study(HER2)).cohort
    export = pd.read_csv(paths.SYNTHETIC_DIR / "her2_rt.csv").set_index("patient_id").loc[cohort["patient_id"]]
    assert (pd.to_datetime(export["date_rt_start"]).to_numpy() == cohort["first_rt_start"].to_numpy())[
        export["rt"].eq("Yes").to_numpy()].all()
    assert cohort["first_rt_start"].isna().to_numpy().tolist() == export["rt"].eq("No").tolist()
    assert export["rt_modality"].fillna("-").tolist() == cohort["first_rt_modality"].fillna("-").tolist()
    assert (cohort["n_rt_courses"] > 0).tolist() == export["rt"].eq("Yes").tolist()


def test_her2_rt_course_table_is_regenerated_byte_for_byte_and_consistent(tmp_path):
    written = her2_rt.write(tmp_path / "her2_rt.csv")
    assert her2_rt.courses_path(written).read_bytes() == COURSES_FILE.read_bytes()
    assert written.read_bytes() == (paths.SYNTHETIC_DIR / "her2_rt.csv").read_bytes()
    courses = pd.read_csv(COURSES_FILE, parse_dates=["rt_start", "rt_end"])
    export = pd.read_csv(paths.SYNTHETIC_DIR / "her2_rt.csv", parse_dates=["date_rt_start", "date_death",
                                                                          "date_last_contact"])
    assert set(courses["patient_id"]) == set(export.loc[export["rt"] == "Yes", "patient_id"])
    assert courses["course"].max() > 1  # several courses for some patients
    first = courses[courses["course"] == 1].set_index("patient_id")
    rt = export[export["rt"] == "Yes"].set_index("patient_id").loc[first.index]
    assert (first["rt_start"] == rt["date_rt_start"]).all()
    assert (first["modality"] == rt["rt_modality"]).all() and (first["site"] == rt["rt_site"]).all()
    end = export.set_index("patient_id")["date_death"].fillna(export.set_index("patient_id")["date_last_contact"])
    c = courses.assign(end=end.loc[courses["patient_id"]].to_numpy())
    assert (c["rt_start"] <= c["rt_end"]).all() and (c["rt_end"] <= c["end"]).all()
    later = c.groupby("patient_id")["rt_start"].apply(lambda s: s.is_monotonic_increasing)
    assert later.all()
