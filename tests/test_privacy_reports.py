"""What a shared run shows: no patient id, no patient-level date, no identifying file name in the
clinician pages, and with min_cell_count 5 no count of 1 to 4 patients in the shared tables.

One run of a hospital-like export (GBSG2 with string ids and calendar dates, the data file named as
a hospital would name it) with a subgroup level of 3 treated patients."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths

pytestmark = pytest.mark.integration

DATA_FILE = "stmarys_breast_rt_export_2024.csv"
STUDY = f"""
name: shared_rt
title: "Hormone therapy and recurrence, shared with min_cell_count 5"
data: {DATA_FILE}
id: patient_id
time: rfs_days
time_unit: days
event: relapse
treatment: hormone_therapy
treated_value: "Y"
dates: [surgery_date, relapse_date, last_contact]
derive:
  - {{name: rfs_days, interval: {{start: surgery_date, end: [relapse_date, last_contact], unit: days}}}}
  - {{name: relapse, present: relapse_date}}
covariates: [age, grade]
categorical: [grade]
levels: {{grade: [I, II, III]}}
subgroups: [grade]
landmarks: [365, 1825]
min_cell_count: 5
steps: [cohort, survival, subgroups]
"""
COUNTS = {"km_summary": ["n", "events"], "landmarks": ["n_risk"], "cohort_overview": ["patients", "events"],
          "attrition": ["excluded", "remaining"], "subgroups": ["n", "events", "n_treated", "n_control"]}


def export() -> pd.DataFrame:
    g = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")
    # Grade I kept for 3 treated and 20 control patients only: a subgroup level with a small arm.
    grade_i = g.index[g.tgrade == "I"]
    keep = list(grade_i[g.loc[grade_i, "horTh"] == "yes"][:3]) + list(grade_i[g.loc[grade_i, "horTh"] == "no"][:20])
    g.loc[grade_i.difference(keep), "tgrade"] = "II"
    start = pd.Series(pd.Timestamp("1985-03-01") + pd.to_timedelta((np.arange(len(g)) * 53) % 1700, unit="D"))
    end = start + pd.to_timedelta(g["time"], unit="D")
    return pd.DataFrame({
        "patient_id": [f"SM-{i * 7919 % 100000:05d}" for i in g["id"]],
        "hormone_therapy": np.where(g["horTh"] == "yes", "Y", "N"), "age": g["age"], "grade": g["tgrade"],
        "surgery_date": start.dt.strftime("%Y-%m-%d"),
        "relapse_date": np.where(g["cens"] == 1, end.dt.strftime("%Y-%m-%d"), ""),
        "last_contact": end.dt.strftime("%Y-%m-%d")})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stmarys_hospital")
    df = export()
    df.to_csv(folder / DATA_FILE, index=False)
    (folder / "study.yaml").write_text(STUDY)
    out = folder / "out"
    proc = subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(folder / "study.yaml"),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, out, df


def pages(out):
    found = sorted((out / "reports").rglob("*.html"))
    assert found
    return found


def test_no_patient_id_or_date_in_any_page(run):
    _, out, df = run
    dates = set(df["surgery_date"]) | set(df["relapse_date"]) | set(df["last_contact"])
    needles = set(df["patient_id"]) | (dates - {""})
    for page in pages(out):
        text = page.read_text(encoding="utf-8")
        hits = [n for n in needles if n in text]
        assert hits == [], f"{page.name} shows {len(hits)} patient identifiers or dates"


def test_clinician_pages_name_no_input_file_or_folder(run):
    folder, out, _ = run
    for page in pages(out):
        if page.name.endswith(".analyst.html") or page.name == "index.html":
            continue
        text = page.read_text(encoding="utf-8")
        assert DATA_FILE not in text and "stmarys_breast" not in text, page.name
        assert folder.name not in text and "study.yaml" not in text, page.name


def test_no_count_of_one_to_four_patients_in_the_shared_tables(run):
    _, out, _ = run
    tables = out / "tables" / "shared_rt"
    for name, columns in COUNTS.items():
        table = pd.read_csv(tables / f"{name}.csv")
        values = table[[c for c in columns if c in table.columns]].to_numpy(float)
        small = (values > 0) & (values < 5)
        assert not small.any(), f"{name}.csv shows {int(small.sum())} counts below 5"
        assert "suppressed" in table.columns


def test_the_small_arm_is_in_the_data(run):
    """The check above has something to find: grade I has 3 treated patients."""
    _, _, df = run
    assert ((df["grade"] == "I") & (df["hormone_therapy"] == "Y")).sum() == 3
