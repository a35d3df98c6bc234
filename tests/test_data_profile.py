"""The data-quality profile of the cohort step: per column its role, type, missing count, distinct values
and out-of-range count, and never a value (of an identifier, a date or anything else)."""

import numpy as np
import pandas as pd
import yaml

from mbcrt.steps.cohort import PROFILE_COLUMNS, data_profile, missingness
from mbcrt.study.cohort import build_cohort
from mbcrt.study.config import load_study

STUDY = {
    "name": "profile", "title": "Profile", "data": "export.csv", "id": "patient_id", "time": "os_days",
    "time_unit": "days", "event": "death", "treatment": "rt", "treated_value": "yes",
    "arm_labels": {"treated": "RT", "control": "No RT"},
    "dates": ["start_date", "death_date", "last_contact"],
    "derive": [{"name": "os_days", "interval": {"start": "start_date", "end": ["death_date", "last_contact"]}},
               {"name": "death", "present": "death_date"}],
    "covariates": ["age", "grade"], "categorical": ["grade"], "levels": {"grade": ["I", "II", "III"]},
    "labels": {"age": "Age (years)", "grade": "Grade"},
    "missing": {"strategy": "complete_case"}, "steps": ["cohort", "baseline", "cox"],
}


def _export(folder, n=120):
    rng = np.random.default_rng(4)
    start = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    end = start + pd.to_timedelta(rng.integers(30, 2000, n), unit="D")
    died = rng.random(n) < 0.5
    df = pd.DataFrame({
        "patient_id": [f"ZQ{i:06d}X" for i in range(n)],
        "rt": np.where(rng.random(n) < 0.4, "yes", "no"),
        "age": rng.integers(30, 80, n).astype(float),
        "grade": rng.choice(["I", "II", "III"], n),
        "start_date": start.strftime("%Y-%m-%d"),
        "death_date": np.where(died, end.strftime("%Y-%m-%d"), ""),
        "last_contact": end.strftime("%Y-%m-%d"),
        "comment": "free text",
    })
    df.loc[[3, 7, 11], "age"] = np.nan
    df.loc[[5, 9], "grade"] = "IV"  # not a declared level
    df.to_csv(folder / "export.csv", index=False)
    (folder / "study.yaml").write_text(yaml.safe_dump(STUDY), encoding="utf-8")
    return df


def test_profile_counts_without_values(tmp_path):
    df = _export(tmp_path)
    study = load_study(tmp_path / "study.yaml")
    from mbcrt.study.cohort import read_data

    export = read_data(study.data_path)
    prof = data_profile(study, export).set_index("column")
    assert list(prof.reset_index().columns) == PROFILE_COLUMNS
    assert list(prof.index) == list(df.columns)
    assert prof.loc["patient_id", "role"] == "identifier" and prof.loc["patient_id", "distinct"] == len(df)
    assert prof.loc["age", "missing"] == 3 and prof.loc["age", "type"] == "number"
    assert prof.loc["grade", "out_of_range"] == 2
    assert prof.loc["start_date", "type"] == "date" and prof.loc["start_date", "out_of_range"] == 0
    assert prof.loc["death_date", "missing"] == (df["death_date"] == "").sum()
    text = prof.reset_index().to_csv()
    for value in [*df["patient_id"], *df["start_date"], *df["last_contact"], "free text"]:
        assert value not in text


def test_profile_flags_placeholder_dates_and_small_counts_are_blanked(tmp_path):
    _export(tmp_path)
    study = load_study(tmp_path / "study.yaml", ["min_cell_count=5"])
    export = pd.read_csv(study.data_path, keep_default_na=False, na_values=[""])
    export.loc[0, "start_date"] = "1900-01-01"
    export.loc[1, "start_date"] = "12/03/2016"
    prof = data_profile(study, export).set_index("column")
    assert np.isnan(prof.loc["start_date", "out_of_range"])  # 2 < 5: blanked
    assert np.isnan(prof.loc["age", "missing"])
    study0 = load_study(tmp_path / "study.yaml")
    assert data_profile(study0, export).set_index("column").loc["start_date", "out_of_range"] == 2


def test_missingness_by_arm_before_complete_cases_are_dropped(tmp_path):
    df = _export(tmp_path)
    df.loc[[5, 9], "grade"] = None
    df.to_csv(tmp_path / "export.csv", index=False)
    study = load_study(tmp_path / "study.yaml")
    res = build_cohort(study)
    table = missingness(study, res.with_missing)
    all_rows = table[table.group == "All"].set_index("variable")
    assert all_rows.loc["age", "missing"] == 3 and all_rows.loc["grade", "missing"] == 2
    by_arm = table[(table.variable == "age") & (table.group != "All")]
    assert by_arm["missing"].sum() == 3 and list(by_arm["group"]) == ["No RT", "RT"]
    assert len(res.cohort) == len(df) - 5


def test_dates_in_the_declared_format_are_in_range(tmp_path):
    """Dates written as DD/MM/YYYY under ``date_format`` are read as the cohort build reads them: none is
    out of range; text in another format is."""
    df = _export(tmp_path)
    for col in ("start_date", "death_date", "last_contact"):
        df[col] = pd.to_datetime(df[col]).dt.strftime("%d/%m/%Y").fillna("")
    df.loc[4, "start_date"] = "2016-03-12"  # ISO: not the declared format
    df.to_csv(tmp_path / "export.csv", index=False)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({**STUDY, "date_format": "%d/%m/%Y"}), encoding="utf-8")
    study = load_study(tmp_path / "study.yaml")
    export = pd.read_csv(study.data_path, keep_default_na=False, na_values=[""])
    prof = data_profile(study, export).set_index("column")
    assert prof.loc["last_contact", "out_of_range"] == 0 and prof.loc["death_date", "out_of_range"] == 0
    assert prof.loc["start_date", "out_of_range"] == 1
    assert prof.loc["start_date", "rule"].startswith("not a DD/MM/YYYY date")
