"""A cohort no one here has seen: treatment has no effect on survival, but the treated had to live until
their treatment started (immortal time), and younger patients were treated more often (confounding by
indication). Written as a hospital export (CSV with dates) plus a study file in a temporary folder and
run end to end through the command line, as a new user would.

What must come out: the ever/never hazard ratio is biased (below 1, its CI excluding 1), and the
analyses that respect when treatment started (time-varying, every landmark, clone-censor-weight) cover 1.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

DAYS_PER_MONTH = 30.4375
SEED = 20261205
N = 2000

STUDY = """
name: unseen_null
title: "A treatment without effect, with immortal time (simulated)"
synthetic: true
synthetic_note: "Simulated by tests/test_sensitivity_unseen.py: treatment has no effect on survival."
data: cohort.csv
id: pid
time: os_months
time_unit: months
event: died
endpoint: {name: os, label: Overall survival}
treatment: treated
treated_value: "yes"
treatment_start: treatment_date
arm_labels: {treated: Treated, control: Untreated}
dates: [origin_date, treatment_date, death_date, last_contact]
derive:
  - {name: os_months, interval: {start: origin_date, end: [death_date, last_contact], unit: months}}
  - {name: died, present: death_date}
covariates: [age, grade, bone]
categorical: [grade, bone]
levels: {grade: [I, II, III], bone: ["No", "Yes"]}
labels: {age: Age (years), grade: Grade, bone: Bone metastasis}
landmarks: [6, 12, 24]
sensitivity: {bootstrap: 100}
seed: 7
steps: [cohort, matching, sensitivity]
"""


def simulate(n: int = N, seed: int = SEED) -> pd.DataFrame:
    """A hospital export where treatment does nothing and immortal time is built in.

    Survival is exponential (median 24 months at age 60, grade I, no bone metastasis) with log hazard
    ratios 0.03 per year of age, 0.3 and 0.6 for grades II and III, 0.4 for bone metastasis; follow-up
    ends administratively 24 to 72 months after the origin. Each patient is *meant* to be treated with
    probability logistic(0.4 - 0.03 (age - 60)) at a time uniform on 0.5-12 months; only a patient still
    alive and followed then is treated. Treatment changes nothing afterwards.
    """
    rng = np.random.default_rng(seed)
    age = np.round(rng.normal(60, 10, n)).clip(25, 90)
    grade = rng.choice(np.array(["I", "II", "III"], dtype=object), n, p=[0.25, 0.45, 0.30])
    bone = rng.choice(np.array(["No", "Yes"], dtype=object), n, p=[0.6, 0.4])
    log_hr = 0.03 * (age - 60) + np.select([grade == "II", grade == "III"], [0.3, 0.6], 0.0) + 0.4 * (bone == "Yes")
    rate = np.log(2) / (24 * DAYS_PER_MONTH) * np.exp(log_hr)
    death = rng.exponential(1 / rate)
    admin = rng.uniform(24, 72, n) * DAYS_PER_MONTH
    end_days = np.floor(np.minimum(death, admin)).astype(np.int64) + 1
    dead = death <= admin
    meant = rng.random(n) < 1 / (1 + np.exp(-(0.4 - 0.03 * (age - 60))))
    planned = np.floor(rng.uniform(0.5, 12, n) * DAYS_PER_MONTH).astype(np.int64)
    treated = meant & (planned < end_days)  # dead or gone before the planned day: never treated
    origin = np.datetime64("2012-01-01") + rng.integers(0, 6 * 365, n).astype("timedelta64[D]")

    def iso(days, keep):
        text = np.datetime_as_string(origin + days.astype("timedelta64[D]"), unit="D").astype(object)
        return np.where(keep, text, "")

    return pd.DataFrame({
        "pid": [f"U{i:05d}" for i in range(1, n + 1)], "age": age.astype(int), "grade": grade, "bone": bone,
        "treated": np.where(treated, "yes", "no"), "origin_date": iso(np.zeros(n, np.int64), np.ones(n, bool)),
        "treatment_date": iso(planned, treated), "death_date": iso(end_days, dead),
        "last_contact": iso(end_days, ~dead),
    })


def write_study(folder: Path, data: pd.DataFrame, study: str = STUDY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data.to_csv(folder / "cohort.csv", index=False, lineterminator="\n")
    (folder / "study.yaml").write_text(study, encoding="utf-8")
    return folder / "study.yaml"


def run_cli(study_file: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(study_file), "--out", str(out)],
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unseen")
    out = folder / "out"
    proc = run_cli(write_study(folder / "study", simulate()), out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "tables" / "unseen_null"


def test_the_simulated_cohort_has_immortal_time():
    d = simulate()
    treated = d["treated"] == "yes"
    wait = (pd.to_datetime(d["treatment_date"][treated]) - pd.to_datetime(d["origin_date"][treated])).dt.days
    assert 0.3 < treated.mean() < 0.6 and wait.min() >= 15 and wait.max() <= 366


def test_the_ever_never_estimate_is_biased(unseen):
    est = pd.read_csv(unseen / "sensitivity.csv").set_index("analysis")
    naive = est.loc["naive"]
    assert naive["hr"] < 1 and naive["upper"] < 1


@pytest.mark.parametrize("analysis", ["time_varying", "landmark", "clone_censor_weight"])
def test_the_analyses_that_respect_treatment_timing_cover_1(unseen, analysis):
    est = pd.read_csv(unseen / "sensitivity.csv")
    rows = est[est["analysis"] == analysis]
    assert len(rows) >= 1
    assert ((rows["lower"] <= 1) & (rows["upper"] >= 1)).all(), rows.to_string()


def test_every_analysis_has_its_row_and_the_other_tables_exist(unseen):
    est = pd.read_csv(unseen / "sensitivity.csv")
    assert list(est.columns) == ["analysis", "landmark", "hr", "lower", "upper", "p", "n", "events", "note"]
    assert est["analysis"].drop_duplicates().tolist() == [
        "naive", "exclude_immortal", "time_varying", "landmark", "clone_censor_weight", "iptw_ate", "iptw_att",
        "overlap", "matched"]
    assert est.loc[est["analysis"] == "landmark", "landmark"].tolist() == [3, 6]
    assert est["hr"].notna().all()
    for name in ("rmst", "evalue"):
        assert len(pd.read_csv(unseen / f"{name}.csv"))
