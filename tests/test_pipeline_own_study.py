"""A study the package has never seen, written from the README: a YAML file plus a CSV with dates and
string ids. It runs from the command line; reports carry no id or date; a broken input stops the run
with exit code 3, a clear message, and the previous results untouched."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths

pytestmark = pytest.mark.integration

STUDY = """
name: my_hospital
title: "A new user's own study (GBSG2 exported like a hospital would)"
data: export.csv
id: patient_id
time: rfs_days
time_unit: days
event: relapse
endpoint: {name: rfs, label: Recurrence-free survival}
treatment: hormone_therapy
treated_value: "Y"
arm_labels: {treated: Hormone therapy, control: None}
dates: [surgery_date, relapse_date, last_contact]
derive:
  - {name: rfs_days, interval: {start: surgery_date, end: [relapse_date, last_contact], unit: days}}
  - {name: relapse, present: relapse_date}
criteria:
  - {reason: "Age over 75 years", keep: "age <= 75"}
covariates: [age, menopause, size_mm, grade, nodes]
categorical: [menopause, grade]
levels: {menopause: [Pre, Post], grade: [I, II, III]}
subgroups: [menopause]
landmarks: [365, 1095]
min_cell_count: 0
steps: [cohort, baseline, matching, survival, cox, subgroups]
"""


def _export(folder):
    """GBSG2 re-exported with string ids and calendar dates (start dates spread over 1984-1989)."""
    g = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")
    start = pd.Series(pd.Timestamp("1984-07-01") + pd.to_timedelta((np.arange(len(g)) * 37) % 1800, unit="D"))
    end = start + pd.to_timedelta(g["time"], unit="D")
    df = pd.DataFrame({
        "patient_id": [f"PT{i:05d}" for i in g["id"]],
        "hormone_therapy": np.where(g["horTh"] == "yes", "Y", "N"),
        "age": g["age"], "menopause": g["menostat"], "size_mm": g["tsize"], "grade": g["tgrade"],
        "nodes": g["pnodes"], "surgery_date": start.dt.strftime("%Y-%m-%d"),
        "relapse_date": np.where(g["cens"] == 1, end.dt.strftime("%Y-%m-%d"), ""),
        "last_contact": end.dt.strftime("%Y-%m-%d"),
    })
    df.to_csv(folder / "export.csv", index=False)
    (folder / "study.yaml").write_text(STUDY)
    return df


def _run(folder, out):
    return subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(folder / "study.yaml"),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    df = _export(folder)
    out = folder / "out"
    proc = _run(folder, out)
    return folder, out, df, proc


def test_own_study_runs_from_a_study_file_and_a_csv(first_run):
    folder, out, df, proc = first_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    att = pd.read_csv(out / "tables" / "my_hospital" / "attrition.csv")
    assert att["remaining"].iloc[-1] == int((df["age"] <= 75).sum())
    km = pd.read_csv(out / "tables" / "my_hospital" / "km_summary.csv")
    assert set(km["cohort"]) == {"all", "matched"}
    assert (out / "reports" / "index.html").exists()
    assert "[my_hospital] 06_subgroups.ipynb" in proc.stdout


def test_reports_show_no_patient_id_or_date(first_run):
    folder, out, df, proc = first_run
    pages = list((out / "reports").rglob("*.html"))
    assert pages
    needles = set(df["patient_id"]) | set(df["surgery_date"]) | set(df["last_contact"]) | \
        set(df["relapse_date"]) - {""}
    for page in pages:
        text = page.read_text()
        hits = [n for n in needles if n in text]
        assert hits == [], f"{page.name} shows {len(hits)} patient identifiers or dates"


def test_broken_input_stops_with_a_clear_message_and_keeps_the_last_results(first_run):
    folder, out, df, proc = first_run
    tables = out / "tables" / "my_hospital"
    before = {p.relative_to(tables): p.read_bytes() for p in tables.rglob("*") if p.is_file()}
    broken = df.rename(columns={"size_mm": "tumour_size"})
    broken.to_csv(folder / "export.csv", index=False)
    try:
        proc = _run(folder, out)
    finally:
        df.to_csv(folder / "export.csv", index=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "export.csv" in proc.stderr and "size_mm" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert {p.relative_to(tables): p.read_bytes() for p in tables.rglob("*") if p.is_file()} == before
    assert (out / "reports" / "my_hospital" / "failed" / "01_cohort.html").exists()
