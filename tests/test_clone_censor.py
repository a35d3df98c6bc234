"""Clone-censor-weight: clone rows by hand, and the weighted analysis against an independent R version.

The R version (tests/data/sensitivity_reference.R, "clone-censor-weight") builds the clones with
ifelse(), splits them with survSplit(cut = c(22.5, 45, 67.5, 90)), fits the pooled logistic
censoring model per arm with glm(cens ~ 0 + interval dummies + age + gII + gIII + er, binomial),
cumulates the weights, and fits
    coxph(Surv(tstart, time, status) ~ arm, data = sp, weights = w, cluster = row)
    survfit(Surv(tstart, time, status) ~ 1, data = sp[sp$arm == a, ], weights = w)
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.stats.clone_censor import (CLONE_COLUMNS, ccw_estimate, clone_censor, default_breaks, ipcw,
                                      split_clones)
from mbcrt.stats.design import design_matrix

DATA = Path(__file__).parent / "data" / "sensitivity_cohort.csv"

# time, event, treatment start (NaN = never), grace 3
TIME = [10, 8, 2, 6, 1, 4, 5, 3]
EVENT = [1, 0, 1, 1, 0, 1, 1, 1]
TREAT = [2, np.nan, np.nan, 5, np.nan, 3, 5, 0]
# (time, event, censored) per patient, by hand from the rules in the module docstring
ARM1 = [(10, 1, 0),  # treated within grace: followed to the end
        (3, 0, 1),   # untreated, followed beyond grace: censored at grace
        (2, 1, 0),   # died in grace before treatment: event in both arms
        (3, 0, 1),   # treated after grace: censored at grace
        (1, 0, 0),   # lost to follow-up in grace: censored in both arms (natural censoring)
        (4, 1, 0),   # treated exactly at the end of grace: within grace
        (3, 0, 1),   # treated on the day of death, after grace
        (3, 1, 0)]   # treated at 0
ARM0_GRACE = [(2, 0, 1), (8, 0, 0), (2, 1, 0), (6, 1, 0), (1, 0, 0), (3, 0, 1), (5, 1, 0), (0, 0, 1)]
ARM0_NEVER = [(2, 0, 1), (8, 0, 0), (2, 1, 0), (5, 0, 1), (1, 0, 0), (3, 0, 1), (5, 0, 1), (0, 0, 1)]


def triples(frame, arm):
    part = frame[frame["arm"] == arm]
    return [(float(t), int(e), int(c)) for t, e, c in zip(part["time"], part["event"], part["censored"])]


@pytest.mark.parametrize("control, arm0", [("grace", ARM0_GRACE), ("never", ARM0_NEVER)])
def test_clones_by_hand(control, arm0):
    clones = clone_censor(TIME, EVENT, TREAT, 3, control=control)
    assert list(clones.columns) == CLONE_COLUMNS
    assert triples(clones, 1) == ARM1
    assert triples(clones, 0) == arm0
    assert clones["row"].tolist() == list(range(8)) * 2


def test_split_rows_by_hand():
    clones = clone_censor(TIME, EVENT, TREAT, 3)
    split = split_clones(clones, [1.5, 3, np.inf])
    p0 = split[(split["row"] == 0) & (split["arm"] == 1)]
    assert p0[["interval", "tstart", "tstop", "event", "censored"]].values.tolist() == [
        [0, 0, 1.5, 0, 0], [1, 1.5, 3, 0, 0], [2, 3, 10, 1, 0]]
    p1 = split[(split["row"] == 1) & (split["arm"] == 1)]  # censored at grace, on its last row
    assert p1[["interval", "tstop", "censored"]].values.tolist() == [[0, 1.5, 0], [1, 3, 1]]
    assert not ((split["row"] == 7) & (split["arm"] == 0)).any()  # no follow-up: no rows
    # person-time preserved for every clone with follow-up
    assert (split["tstop"] - split["tstart"]).sum() == pytest.approx(clones["time"].sum())


def test_default_breaks():
    clones = clone_censor(TIME, EVENT, TREAT, 3)
    np.testing.assert_allclose(default_breaks(clones, 3), [0.75, 1.5, 2.25, 3, np.inf])
    never = clone_censor(TIME, EVENT, TREAT, 3, control="never")
    assert default_breaks(never, 3, control="never")[-2] == 5  # the last later treatment


@pytest.fixture(scope="module")
def cohort():
    d = pd.read_csv(DATA)
    X = design_matrix(d, ["age", "grade", "er"], ["grade"], {"grade": ["I", "II", "III"]})
    return d, X


def test_weighted_analysis_matches_r(cohort):
    d, X = cohort
    res = ccw_estimate(d["time"], d["event"], d["rt_time"], X, 90, bootstrap=0)
    np.testing.assert_allclose(res.breaks, [22.5, 45, 67.5, 90, np.inf])
    clones = clone_censor(d["time"], d["event"], d["rt_time"], 90)
    # R: tapply(cl$cens, cl$arm, sum) 165 (arm 0) 211 (arm 1); tapply(cl$status, cl$arm, sum) 114, 95
    assert clones.groupby("arm")["censored"].sum().tolist() == [165, 211]
    assert clones.groupby("arm")["event"].sum().tolist() == [114, 95]
    # R: nrow(sp) 3186, sum(sp$w) 3828.94415885, max(sp$w) 2.58683093914
    assert len(res.rows) == 3186
    assert res.rows["weight"].sum() == pytest.approx(3828.94415885, rel=1e-9)
    assert res.max_weight == pytest.approx(2.58683093914, rel=1e-9)
    # R coxph(..., weights = w, cluster = row): coef -0.0145203775565, robust se 0.136517637327
    assert res.cox.params["arm"] == pytest.approx(-0.0145203775565, rel=1e-7)
    assert res.cox.robust_se["arm"] == pytest.approx(0.136517637327, rel=1e-7)
    assert res.hr == pytest.approx(0.985584534723, rel=1e-9)
    assert np.isnan(res.lower)
    # R summary(survfit(...), times = c(90, 365, 730))$surv, arm 1 then arm 0
    r_surv = {1: [0.93, 0.753898536276, 0.580603974353], 0: [0.923385808054, 0.738825676978, 0.538932693533]}
    for arm, ref in r_surv.items():
        tab = res.km[arm]
        idx = np.searchsorted(tab["time"].to_numpy(), [90, 365, 730], side="right") - 1
        np.testing.assert_allclose(tab["surv"].to_numpy()[idx], ref, rtol=1e-9)


def test_breslow_matches_r(cohort):
    d, X = cohort
    res = ccw_estimate(d["time"], d["event"], d["rt_time"], X, 90, bootstrap=0, ties="breslow")
    # R: coxph(..., ties = "breslow"): coef -0.0145485863116, robust se 0.13644225167
    assert res.cox.params["arm"] == pytest.approx(-0.0145485863116, rel=1e-7)
    assert res.cox.robust_se["arm"] == pytest.approx(0.13644225167, rel=1e-7)


def test_bootstrap_is_seeded_and_sane(cohort):
    d, X = cohort
    a = ccw_estimate(d["time"], d["event"], d["rt_time"], X, 90, bootstrap=40, seed=7)
    b = ccw_estimate(d["time"], d["event"], d["rt_time"], X, 90, bootstrap=40, seed=7)
    np.testing.assert_array_equal(a.boot_log_hr, b.boot_log_hr)
    assert a.n_boot_failed == 0
    assert a.lower < a.hr < a.upper
    # the bootstrap SD of the log HR is near the robust SE (same order; weights estimated)
    assert 0.5 < np.std(a.boot_log_hr) / a.cox.robust_se["arm"] < 2


def test_ipcw_weights_are_one_before_any_censoring(cohort):
    d, X = cohort
    clones = clone_censor(d["time"], d["event"], d["rt_time"], 90)
    rows = ipcw(clones, X, [22.5, 45, 67.5, 90, np.inf])
    first = rows[rows["interval"] == 0]
    assert (first["weight"] == 1).all()
    arm1 = rows[rows["arm"] == 1]  # arm 1 is censored only at the end of grace
    assert (arm1.loc[arm1["interval"] < 4, "weight"] == 1).all()
    assert (arm1.loc[arm1["interval"] == 4, "weight"] > 1).all()
