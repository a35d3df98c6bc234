"""Rules on the analysis cohort: follow-up times, event codes, treatment values, declared levels,
complete model covariates, date order, the data cut-off and spreadsheet placeholder dates; and the
study-file keys that set them (data_cutoff, date_order)."""

import pytest

from mbcrt.errors import InputError
from mbcrt.study.cohort import build_cohort
from mbcrt.study.config import load_study
from mbcrt.study.validation import cohort_schema, date_pairs

STUDY = """
name: demo
title: Demo
data: data.csv
id: pid
time: os_days
time_unit: days
event: death
treatment: rt
treated_value: "yes"
dates: [diagnosis, start, death_date, last_contact]
derive:
  - {name: os_days, interval: {start: start, end: [death_date, last_contact], unit: days}}
  - {name: death, present: death_date}
criteria:
  - {reason: "Age over 80", keep: "age <= 80"}
covariates: [age, grade]
categorical: [grade]
levels: {grade: [I, II, III]}
steps: [cohort]
"""

HEADER = "pid,rt,age,grade,diagnosis,start,death_date,last_contact\n"
ROWS = [
    "P1,yes,50,II,2019-11-20,2020-01-01,2020-07-01,2020-07-01",
    "P2,no,61,I,2019-12-01,2020-02-01,,2021-01-01",
    "P3,no,70,II,2020-01-15,2020-03-01,2021-05-01,2021-05-01",
    "P4,yes,45,III,2020-02-01,2020-04-01,,2022-01-01",
    "P5,no,90,I,2020-02-01,2020-04-01,,2022-01-01",
]


def make(tmp_path, rows=ROWS, study=STUDY):
    (tmp_path / "data.csv").write_text(HEADER + "\n".join(rows) + "\n")
    (tmp_path / "study.yaml").write_text(study)
    return load_study(tmp_path / "study.yaml")


def error(tmp_path, rows=ROWS, study=STUDY) -> InputError:
    s = make(tmp_path, rows, study)
    with pytest.raises(InputError) as err:
        build_cohort(s)
    assert err.value.file.endswith("data.csv")
    return err.value


def edit(row: int, old: str, new: str, rows=ROWS) -> list[str]:
    out = list(rows)
    out[row] = out[row].replace(old, new)
    return out


def test_clean_data_passes_and_the_excluded_row_is_not_checked(tmp_path):
    # P5 (age 90) is excluded by the criterion, so a broken value there must not stop the run.
    rows = edit(4, "I,", "IV,")
    assert build_cohort(make(tmp_path, rows)).cohort["pid"].tolist() == ["P1", "P2", "P3", "P4"]


def test_death_before_the_start_of_the_interval_is_counted(tmp_path):
    rows = edit(0, "2020-07-01,2020-07-01", "2019-12-01,2020-07-01")
    err = error(tmp_path, rows)
    assert (err.column, err.n_rows) == ("death_date", 1)
    assert "before 'start'" in str(err) and "os_days" in str(err)
    assert "2019-12-01" not in str(err)


def test_date_order_from_the_study_file(tmp_path):
    study = STUDY.replace("steps:", "date_order: [[diagnosis, start]]\nsteps:")
    rows = edit(1, "2019-12-01,2020-02-01", "2020-03-01,2020-02-01")
    rows = edit(2, "2020-01-15", "2020-04-15", rows)
    err = error(tmp_path, rows, study)
    assert (err.column, err.n_rows) == ("start", 2) and "before 'diagnosis' (date_order" in str(err)


def test_dates_after_the_data_cutoff_are_counted_per_column(tmp_path):
    study = STUDY.replace("steps:", "data_cutoff: 2021-12-31\nsteps:")
    err = error(tmp_path, study=study)
    assert (err.column, err.n_rows) == ("last_contact", 1)       # P4; P5 is excluded
    assert "data cut-off 2021-12-31" in str(err)


def test_cutoff_on_the_last_date_passes(tmp_path):
    study = STUDY.replace("steps:", "data_cutoff: '2022-01-01'\nsteps:")
    assert len(build_cohort(make(tmp_path, study=study)).cohort) == 4


def test_spreadsheet_placeholder_dates_are_rejected(tmp_path):
    rows = edit(1, "2019-12-01", "1900-01-01")
    rows = edit(3, "2020-02-01", "1899-12-30", rows)
    err = error(tmp_path, rows)
    assert (err.column, err.n_rows) == ("diagnosis", 2) and "placeholder" in str(err)


def test_zero_follow_up_is_an_error(tmp_path):
    rows = edit(1, ",,2021-01-01", ",,2020-02-01")
    err = error(tmp_path, rows)
    assert (err.column, err.n_rows) == ("os_days", 1) and "zero follow-up" in str(err)


def test_missing_follow_up_is_counted(tmp_path):
    rows = edit(1, ",,2021-01-01", ",,")
    err = error(tmp_path, rows)
    assert (err.column, err.n_rows) == ("os_days", 1) and "missing" in str(err)


def with_status(tmp_path, codes):
    """The study with a raw event column ``status`` (no derived event), one code per row."""
    study = STUDY.replace("  - {name: death, present: death_date}\n", "").replace("event: death", "event: status")
    rows = [f"{r},{code}" for r, code in zip(ROWS, codes)]
    (tmp_path / "data.csv").write_text(HEADER.strip() + ",status\n" + "\n".join(rows) + "\n")
    (tmp_path / "study.yaml").write_text(study)
    return load_study(tmp_path / "study.yaml")


def test_event_codes_outside_the_declared_values(tmp_path):
    with pytest.raises(InputError) as err:
        build_cohort(with_status(tmp_path, ["1", "0", "2", "", "9"]))
    # P3 has 2 and P4 nothing; P5 (9) is excluded by the criterion.
    assert (err.value.column, err.value.n_rows) == ("status", 2) and "event code" in str(err.value)


def test_event_codes_written_as_decimals_are_accepted(tmp_path):
    study = with_status(tmp_path, ["1.0", "0.0", "1.0", "0.0", "0.0"])
    assert build_cohort(study).cohort["_event"].tolist() == [1, 0, 1, 0]


def test_a_blank_treatment_is_not_silently_control(tmp_path):
    err = error(tmp_path, edit(1, "P2,no,", "P2,,"))
    assert (err.column, err.n_rows) == ("rt", 1) and "treatment missing" in str(err)


def test_a_third_treatment_value_is_counted(tmp_path):
    # "Yes" is neither the treated value "yes" nor the control value "no": it would become control.
    err = error(tmp_path, edit(3, "P4,yes,", "P4,Yes,"))
    assert (err.column, err.n_rows) == ("rt", 1) and "more than two treatment values" in str(err)


def test_values_outside_the_declared_levels(tmp_path):
    err = error(tmp_path, edit(0, ",II,", ",2,"))
    assert (err.column, err.n_rows) == ("grade", 1) and "declared levels" in str(err)


def test_missing_model_covariates_are_counted_when_a_model_is_fitted(tmp_path):
    rows = edit(0, ",II,", ",,")
    assert len(build_cohort(make(tmp_path, rows)).cohort) == 4       # no model step: allowed
    err = error(tmp_path, rows, STUDY.replace("steps: [cohort]", "steps: [cohort, cox]"))
    assert (err.column, err.n_rows) == ("grade", 1) and "missing value in a model covariate" in str(err)


def test_interval_pairs_are_derived_once_and_in_order(tmp_path):
    study = make(tmp_path, study=STUDY.replace("steps:", "date_order: [[start, death_date], [diagnosis, start]]\n"
                                                        "steps:"))
    assert [(a, b) for a, b, _ in date_pairs(study)] == [("start", "death_date"), ("diagnosis", "start"),
                                                          ("start", "last_contact")]


def test_cohort_schema_counts_rows_not_failures(tmp_path):
    """A row breaking a frame-level rule is counted once although pandera reports each of its columns."""
    import pandas as pd

    study = make(tmp_path)
    df = pd.DataFrame({"pid": ["a", "b"], "rt": ["yes", "no"], "age": [1, 2], "grade": ["I", "II"],
                       "diagnosis": pd.to_datetime(["2020-01-01"] * 2), "start": pd.to_datetime(["2020-01-01"] * 2),
                       "death_date": pd.to_datetime(["2019-01-01", None]),
                       "last_contact": pd.to_datetime(["2019-01-01", "2019-06-01"]), "os_days": [5.0, 5.0],
                       "death": [1, 0]})
    with pytest.raises(InputError) as err:
        cohort_schema(study).validate(df, "x.csv")
    assert (err.value.column, err.value.n_rows) == ("death_date", 1)
    assert "column 'last_contact': date before 'start'" in str(err.value) and "(2 rows)" in str(err.value)


@pytest.mark.parametrize("extra, key", [
    ("data_cutoff: 31/12/2021", "data_cutoff"),
    ("date_order: [start, death_date]", "date_order"),
    ("date_order: [[start, deathdate]]", "date_order"),
])
def test_bad_date_keys_name_the_key(tmp_path, extra, key):
    (tmp_path / "study.yaml").write_text(STUDY.replace("steps:", f"{extra}\nsteps:"))
    with pytest.raises(InputError) as err:
        load_study(tmp_path / "study.yaml")
    assert err.value.column == key


def test_an_impossible_date_in_the_study_file_is_an_input_error(tmp_path):
    (tmp_path / "study.yaml").write_text(STUDY.replace("steps:", "data_cutoff: 2021-02-30\nsteps:"))
    with pytest.raises(InputError, match="impossible date") as err:
        load_study(tmp_path / "study.yaml")
    assert err.value.file.endswith("study.yaml")


def test_a_misspelt_date_in_date_order_gets_a_suggestion(tmp_path):
    (tmp_path / "study.yaml").write_text(STUDY.replace("steps:", "date_order: [[start, deathdate]]\nsteps:"))
    with pytest.raises(InputError, match="Did you mean 'death_date'"):
        load_study(tmp_path / "study.yaml")
