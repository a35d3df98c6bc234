"""The whole pipeline on larger cohorts (about 20,000 patients), run as a user runs it.

``python -m mbcrt run --config <study> --out <tmp>`` on two cohorts:

- GBSG2 replicated 30 times (20,580 patients) with a small, fixed jitter (no random numbers, so the
  data are the same on every machine and numpy version): its Kaplan-Meier, log-rank and Cox numbers
  must equal R's on the same CSV;
- the HER2 RT synthetic export at 20,000 patients (``python -m mbcrt.synth her2_rt --n 20000``) with
  the bundled HER2 RT study file: dates, criteria, 15 matching variables, four subgroups, km_by.

Both runs must succeed with counts that agree between tables, and their figures must stay small
enough to open and embed (SVG and PNG < 1.5 MB each): no figure may grow with the number of patients.
No timing is asserted (timings are in benchmarks/).

The reference numbers came from R 4.2.2, survival 3.5.3, on the CSV this file writes
(``scale.csv``), with:

    library(survival)
    d <- read.csv("scale.csv")
    d$menostat <- factor(d$menostat, levels = c("Pre", "Post"))
    d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
    d$horTh <- factor(d$horTh, levels = c("no", "yes"))
    f <- survfit(Surv(time, cens) ~ horTh, data = d, conf.type = "log-log")
    summary(f)$table[, c("records", "events", "median", "0.95LCL", "0.95UCL")]
    summary(f, times = c(365, 1095, 1825))[c("surv", "lower", "upper", "n.risk")]
    survdiff(Surv(time, cens) ~ horTh, data = d)$chisq
    summary(coxph(Surv(time, cens) ~ horTh + age + menostat + tsize + tgrade + pnodes + progrec + estrec,
                  data = d))$conf.int
"""

import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from mbcrt import paths

pytestmark = pytest.mark.integration

REPLICATES = 30
MAX_FIGURE_BYTES = 1.5 * 2**20
# sha256 of scale.csv: if the generator below changes, the R numbers no longer apply.
ARMS = {"no": "No hormone therapy", "yes": "Hormone therapy"}
# Tables are written with 10 significant digits.
RTOL = 1e-8

# summary(f)$table: records, events, median, 0.95LCL, 0.95UCL (log-log band)
R_KM = {
    "no": (13200, 6150, 1553, 1475, 1602),
    "yes": (7380, 2820, 2023, 2008, 2042),
}
# summary(f, times = c(365, 1095, 1825)): surv, lower, upper, n.risk
R_LANDMARKS = {
    "no": [(0.897348790442268, 0.891955115550553, 0.902488149468162, 11389),
           (0.608014100651863, 0.599111323899728, 0.616787162051000, 5982),
           (0.441958503644528, 0.431376114189526, 0.452484280919321, 1889)],
    "yes": [(0.946018657756050, 0.940518223410674, 0.951023781103485, 6657),
            (0.707062516131926, 0.695988181011271, 0.717819302539485, 4064),
            (0.582655236952880, 0.569599987511763, 0.595466143579760, 1777)],
}
# survdiff(...)$chisq
R_LOGRANK_CHISQ = 258.874844427591
# summary(coxph(...))$conf.int: exp(coef), lower .95, upper .95 (Efron ties, R's default)
R_COX = {
    "horTh": (0.705352953056524, 0.673505452903488, 0.738706399837944),
    "age": (0.991138933463964, 0.987924891519511, 0.994363431735319),
    "menostatPost": (1.286954098915220, 1.206129211801815, 1.373195207037926),
    "tsize": (1.007134052631263, 1.005729430693521, 1.008540636292237),
    "tgradeII": (1.896481131323649, 1.734707030449697, 2.073341848700672),
    "tgradeIII": (2.195808682024473, 1.994719503597472, 2.417169812276038),
    "pnodes": (1.050058922570195, 1.047254501916949, 1.052870853122119),
    "progrec": (0.997792776330599, 0.997587898264408, 0.997997696473304),
    "estrec": (1.000184992591932, 1.000023771549601, 1.000346239625869),
}
DATA_SHA256 = "65f55e07c36d4220bb3f7e6d00052b51e768e39dda977fa34987b39771dddf2e"


def scaled_gbsg2(replicates: int = REPLICATES) -> pd.DataFrame:
    """GBSG2 repeated ``replicates`` times with a fixed, patient-specific integer jitter.

    Row i is GBSG2 row ``i mod 686``; its jitter is a fixed function of i, so copies of one patient
    differ and times are not all tied, while values stay plausible and integers as in the source.
    """
    source = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")
    n = len(source) * replicates
    i = np.arange(n)
    out = source.iloc[i % len(source)].reset_index(drop=True)
    out["id"] = i + 1
    out["age"] = np.clip(out["age"] + (i * 7 % 5 - 2), 21, 80)
    out["tsize"] = np.clip(out["tsize"] + (i * 11 % 7 - 3), 3, 120)
    out["pnodes"] = np.maximum(out["pnodes"] + (i * 13 % 3 - 1), 1)
    out["progrec"] = np.maximum(out["progrec"] + (i * 17 % 11 - 5), 0)
    out["estrec"] = np.maximum(out["estrec"] + (i * 19 % 11 - 5), 0)
    out["time"] = np.maximum(out["time"] + (i * 23 % 61 - 30), 1)
    return out


def _study_file(folder) -> None:
    """The bundled GBSG2 study pointed at scale.csv, without the paper-sized published numbers."""
    config = yaml.safe_load((paths.STUDIES_DIR / "gbsg2" / "study.yaml").read_text(encoding="utf-8"))
    config.update(name="gbsg2_x30", data="scale.csv", synthetic=True,
                  title="GBSG2 replicated 30 times with jitter (scale test)")
    config.pop("published", None)
    config["steps"] = [s for s in config["steps"] if s != "reproduction"]
    (folder / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _run_pipeline(folder):
    out = folder / "out"
    proc = subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(folder / "study.yaml"),
                           "--out", str(out)], capture_output=True, text=True, timeout=1800)
    return out, proc


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    scaled_gbsg2().to_csv(folder / "scale.csv", index=False, lineterminator="\n")
    _study_file(folder)
    out, proc = _run_pipeline(folder)
    return folder, out, proc


HER2_N = 20_000


@pytest.fixture(scope="module")
def her2_run(tmp_path_factory):
    """The HER2 RT study at 20,000 patients: (output root, process)."""
    bundled = paths.STUDIES_DIR / "her2_rt" / "study.yaml"
    if not bundled.exists():
        pytest.skip("the HER2 RT study is not in this checkout")
    folder = tmp_path_factory.mktemp("her2_scale")
    made = subprocess.run([sys.executable, "-m", "mbcrt.synth", "her2_rt", "--n", str(HER2_N), "--out",
                           str(folder / "her2.csv")], capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stderr[-2000:]
    config = yaml.safe_load(bundled.read_text(encoding="utf-8"))
    config.update(name="her2_x", data="her2.csv")
    for table in (config.get("linked") or {}).values():  # the course table written beside the export
        table["data"] = "her2_courses.csv"
    config.pop("published", None)  # the paper's numbers are for its 488 patients
    config["steps"] = [s for s in config["steps"] if s != "reproduction"]
    (folder / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return _run_pipeline(folder)


def _table(out, name: str, study: str = "gbsg2_x30") -> pd.DataFrame:
    return pd.read_csv(out / "tables" / study / f"{name}.csv")


def test_the_data_are_the_ones_r_was_given(run):
    folder, _, _ = run
    assert hashlib.sha256((folder / "scale.csv").read_bytes()).hexdigest() == DATA_SHA256


def test_the_pipeline_runs_every_step(run):
    _, out, proc = run
    assert proc.returncode == 0, proc.stderr[-3000:]
    for notebook in ("01_cohort", "02_baseline", "03_matching", "04_survival", "05_cox", "06_subgroups"):
        assert f"[gbsg2_x30] {notebook}.ipynb" in proc.stdout
    assert (out / "reports" / "index.html").exists()


def test_kaplan_meier_and_landmarks_equal_r(run):
    _, out, _ = run
    km = _table(out, "km_summary").query("cohort == 'all'").set_index("group")
    marks = _table(out, "landmarks").query("cohort == 'all'")
    for arm, label in ARMS.items():
        assert tuple(km.loc[label, ["n", "events", "median", "median_lower", "median_upper"]]) == R_KM[arm]
        got = marks[marks["group"] == label].sort_values("time")
        expected = np.array(R_LANDMARKS[arm])
        np.testing.assert_allclose(got[["surv", "lower", "upper"]].to_numpy(), expected[:, :3], rtol=RTOL)
        assert got["n_risk"].tolist() == expected[:, 3].astype(int).tolist()


def test_logrank_equals_r(run):
    _, out, _ = run
    chisq = _table(out, "logrank").query("cohort == 'all'")["chisq"].item()
    assert chisq == pytest.approx(R_LOGRANK_CHISQ, rel=RTOL)


def test_multivariable_cox_equals_r(run):
    _, out, _ = run
    cox = _table(out, "cox_multivariable").query("cohort == 'all'").set_index("term")
    assert list(cox.index) == list(R_COX)
    np.testing.assert_allclose(cox[["hr", "lower", "upper"]].to_numpy(), np.array(list(R_COX.values())), rtol=RTOL)
    assert (cox["n"] == len(scaled_gbsg2())).all()


def test_her2_rt_runs_at_scale_with_consistent_counts(her2_run):
    out, proc = her2_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    for notebook in ("01_cohort", "02_baseline", "03_matching", "04_survival", "05_cox", "06_subgroups"):
        assert f"[her2_x] {notebook}.ipynb" in proc.stdout
    cohort_n = int(_table(out, "attrition", "her2_x")["remaining"].iloc[-1])
    km = _table(out, "km_summary", "her2_x").query("group == 'All'").set_index("cohort")["n"]
    pairs = _table(out, "matching_summary", "her2_x").set_index("quantity")["value"]
    cox = _table(out, "cox_multivariable", "her2_x").groupby("cohort")["n"].unique()
    assert cohort_n > 0.8 * HER2_N
    assert km["all"] == cohort_n
    assert km["matched"] == 2 * int(pairs["n_pairs"])
    assert list(cox["all"]) == [cohort_n]
    assert list(cox["matched"]) == [km["matched"]]


@pytest.mark.parametrize("which", ["gbsg2", "her2_rt"])
def test_figures_do_not_grow_with_the_cohort(request, which):
    out, study = {"gbsg2": (request.getfixturevalue("run")[1], "gbsg2_x30"),
                  "her2_rt": (request.getfixturevalue("her2_run")[0], "her2_x")}[which]
    figures = sorted((out / "figures" / study).iterdir())
    assert {f.stem.split("_")[0] for f in figures} >= {"km", "subgroup", "forest", "ps", "love", "flow"}
    too_big = {f.name: f"{f.stat().st_size / 2**20:.2f} MB" for f in figures
               if f.suffix in (".svg", ".png") and f.stat().st_size >= MAX_FIGURE_BYTES}
    assert not too_big, f"figures of 1.5 MB or more: {too_big}"
