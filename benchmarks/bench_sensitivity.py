"""Time of the sensitivity statistics at registry scale, and the counting-process Cox beside R.

Run from the project root:
    .venv/bin/python benchmarks/bench_sensitivity.py [--n 1000000] [--repeat 3] [--with-r] [--ccw-bootstrap 20]

Data: a seeded cohort of ``n`` patients (4 covariates; about 60% start treatment during follow-up,
after a median of about 2 months; whole-day times, so many ties), split at the start of treatment
by :func:`mbcrt.stats.timevarying.start_stop` (about 1.6 n rows). Python times are the best of
``--repeat`` runs with the shared sort of the Cox module cleared before each (a cold fit). With
``--with-r`` the start-stop rows are written to a CSV and ``bench_sensitivity.R`` fits the same
models with ``coxph`` (best of ``--r-repeat``); agreement is the largest relative difference of any
coefficient and SE. Prints one table row per task.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mbcrt.stats import cox
from mbcrt.stats.clone_censor import ccw_estimate
from mbcrt.stats.survival import rmst, weighted_km
from mbcrt.stats.timevarying import start_stop
from mbcrt.stats.weighting import propensity_weights

HERE = Path(__file__).resolve().parent
COVARIATES = ["x1", "x2", "x3", "x4"]


def make_cohort(n: int, seed: int = 20261205) -> pd.DataFrame:
    """Covariates, time to treatment (NaN if none) and survival with a treatment effect after its start."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 3] = (X[:, 3] > 0).astype(float)
    lin = X @ np.array([0.3, -0.2, 0.1, 0.4])
    ps = 1 / (1 + np.exp(-(0.4 - 0.3 * X[:, 0] + 0.2 * X[:, 3])))
    tt = np.where(rng.random(n) < ps, np.round(rng.exponential(80, n)) + 1, np.nan)
    h = np.exp(lin) / 900
    target = -np.log(rng.random(n))
    before = np.nan_to_num(tt, nan=np.inf)
    with np.errstate(invalid="ignore"):  # inf - inf in the branch not taken for the untreated
        t_event = np.where(target / h <= before, target / h, before + (target - h * before) / (h * 0.7))
    cens = rng.uniform(100, 1500, n)
    time_ = np.maximum(np.ceil(np.minimum(t_event, cens)), 1)
    event = (t_event <= cens).astype(int)
    tt = np.where(tt > time_, np.nan, tt)
    df = pd.DataFrame(X, columns=COVARIATES)
    df["time"], df["event"], df["rt_time"] = time_, event, tt
    return df


def best(function, repeat: int):
    out, best_t = None, np.inf
    for _ in range(repeat):
        cox._RECENT_RISK_SETS.clear()
        start = time.perf_counter()
        out = function()
        best_t = min(best_t, time.perf_counter() - start)
    return best_t, out


def row(n, task, seconds, r_seconds=None, note=""):
    ratio = f"{r_seconds / seconds:.1f}" if r_seconds else ""
    r_text = f"{r_seconds:.3f}" if r_seconds else ""
    print(f"| {n:,} | {task} | {seconds:.3f} | {r_text} | {ratio} | {note} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--r-repeat", type=int, default=2)
    parser.add_argument("--with-r", action="store_true")
    parser.add_argument("--ccw-bootstrap", type=int, default=20)
    args = parser.parse_args()
    n = args.n
    d = make_cohort(n)
    print("| n | task | Python (s) | R (s) | R / Python | agreement / note |\n|---:|---|---:|---:|---:|---|")
    t_split, tv = best(lambda: start_stop(d["time"], d["event"], d["rt_time"]), args.repeat)
    row(n, f"start-stop rows (tmerge), {len(tv):,} rows", t_split)
    tv = tv.join(d[COVARIATES], on="id")
    X = tv[["treated"] + COVARIATES]
    fits = {}
    for ties in ("efron", "breslow"):
        fits[ties] = best(lambda: cox.fit_cox(X, tv["tstop"], tv["event"], entry=tv["tstart"], ties=ties),
                          args.repeat)
    fits["cluster"] = best(lambda: cox.fit_cox(X, tv["tstop"], tv["event"], entry=tv["tstart"], cluster=tv["id"]),
                           args.repeat)
    r_times, agree = {}, {}
    if args.with_r:
        with tempfile.TemporaryDirectory() as tmp:
            rows_csv = Path(tmp) / "rows.csv"
            tv[["id", "tstart", "tstop", "event", "treated"] + COVARIATES].to_csv(rows_csv, index=False,
                                                                                 float_format="%.17g")
            out = subprocess.run(["Rscript", str(HERE / "bench_sensitivity.R"), str(rows_csv), tmp,
                                  str(args.r_repeat)], capture_output=True, text=True, check=True).stdout
            r_times = {k: float(v) for k, v in (line.split("=") for line in out.splitlines() if "=" in line)}
            for key, (_, fit) in fits.items():
                ref = pd.read_csv(Path(tmp) / f"cox_{key}.csv").set_index("term")
                se = fit.robust_se if key == "cluster" else fit.se
                agree[key] = max(np.max(np.abs(fit.params / ref["coef"] - 1)), np.max(np.abs(se / ref["se"] - 1)))
    for key, label in (("efron", "Efron"), ("breslow", "Breslow"), ("cluster", "Efron, robust SE by patient")):
        note = f"max rel diff coef/SE {agree[key]:.1e}" if key in agree else ""
        row(n, f"counting-process Cox, 5 coefficients, {label}", fits[key][0], r_times.get(f"cox_{key}"), note)

    from mbcrt.stats.matching import propensity_score
    ever = d["rt_time"].notna().to_numpy()
    t_w, w = best(lambda: propensity_weights(propensity_score(d[COVARIATES], ever), ever, "ate"), args.repeat)
    row(n, "propensity score + stabilised IPTW weights", t_w)
    t_wc, _ = best(lambda: cox.fit_cox(pd.DataFrame({"ever": ever.astype(float)}), d["time"], d["event"], weights=w),
                   args.repeat)
    row(n, "IPTW-weighted Cox, robust SE", t_wc)
    t_km, _ = best(lambda: weighted_km(d["time"], d["event"], weights=w), args.repeat)
    row(n, "weighted Kaplan-Meier (IJ variance)", t_km)
    t_rm, _ = best(lambda: rmst(d["time"], d["event"], 730, weights=w), args.repeat)
    row(n, "RMST at 730 days, weighted", t_rm)
    if args.ccw_bootstrap:
        t_cc, res = best(lambda: ccw_estimate(d["time"], d["event"], d["rt_time"], d[COVARIATES], 90,
                                              bootstrap=args.ccw_bootstrap, seed=1), 1)
        row(n, f"clone-censor-weight, grace 90, {args.ccw_bootstrap} bootstrap replicates", t_cc,
            note=f"{len(res.rows):,} clone rows; HR {res.hr:.3f}")


if __name__ == "__main__":
    sys.exit(main())
