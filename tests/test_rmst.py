"""Restricted mean survival time against R's print(survfit(...), rmean = tau) (R 4, survival 3.5.3)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.stats.design import design_matrix
from mbcrt.stats.matching import propensity_score
from mbcrt.stats.survival import rmst, rmst_difference
from mbcrt.stats.weighting import propensity_weights

DATA = Path(__file__).parent / "data" / "sensitivity_cohort.csv"

# d <- data.frame(t1 = c(5,3,6,4,2,8,7,9), e = c(1,0,1,1,0,1,0,1), w = c(1,2,0.5,1.5,1,2,1,0.7))
T1 = np.array([5, 3, 6, 4, 2, 8, 7, 9.0])
E = np.array([1, 0, 1, 1, 0, 1, 0, 1])
W = np.array([1, 2, 0.5, 1.5, 1, 2, 1, 0.7])
# summary(survfit(Surv(t1, e) ~ 1, data = d [, weights = w]), rmean = tau)$table[c("rmean", "se(rmean)")]
SMALL = [  # (tau, weighted, rmean, se)
    (6, True, 5.402985074627, 0.320528783788),
    (6, False, 5.5, 0.311804782231),
    (8, False, 6.5, 0.656167322834),
    (3.5, False, 3.5, 0.0),
]
# summary(survfit(Surv(time, event) ~ ever, data = d [, weights = w]), rmean = 730)$table[, c("rmean", "se(rmean)")]
# (w: stabilised IPTW, tests/data/sensitivity_reference.R)
COHORT = {False: {0: (468.130746823, 22.9235747301), 1: (606.065291186, 13.6325978758)},
          True: {0: (476.384978547, 23.1917233786), 1: (602.048535715, 13.8081124777)}}


@pytest.mark.parametrize("tau, weighted, rmean, se", SMALL)
def test_small_example(tau, weighted, rmean, se):
    est, est_se = rmst(T1, E, tau, weights=W if weighted else None)
    assert est == pytest.approx(rmean, rel=1e-11)
    assert est_se == pytest.approx(se, rel=1e-10, abs=1e-14)


@pytest.fixture(scope="module")
def cohort():
    d = pd.read_csv(DATA)
    d["ever"] = d["rt_time"].notna().astype(int)
    X = design_matrix(d, ["age", "grade", "er"], ["grade"], {"grade": ["I", "II", "III"]})
    d["w"] = propensity_weights(propensity_score(X, d["ever"]), d["ever"], "ate")
    return d


@pytest.mark.parametrize("weighted", [False, True])
def test_cohort_by_group_and_difference(cohort, weighted):
    w = cohort["w"] if weighted else None
    for g in (0, 1):
        sel = cohort["ever"] == g
        est, se = rmst(cohort.loc[sel, "time"], cohort.loc[sel, "event"], 730,
                       weights=None if w is None else w[sel])
        assert (est, se) == pytest.approx(COHORT[weighted][g], rel=1e-10)
    diff = rmst_difference(cohort["time"], cohort["event"], cohort["ever"], 730, weights=w)
    (r1, s1), (r0, s0) = COHORT[weighted][1], COHORT[weighted][0]
    assert diff.difference == pytest.approx(r1 - r0, rel=1e-10)
    assert diff.se == pytest.approx(np.hypot(s1, s0), rel=1e-10)
    z = 1.959963984540054  # qnorm(0.975)
    assert (diff.lower, diff.upper) == pytest.approx((diff.difference - z * diff.se,
                                                      diff.difference + z * diff.se), rel=1e-12)


def test_rmst_of_uncensored_data_is_the_mean_of_min_time_tau():
    t = np.array([1.0, 2, 3, 4, 5])
    est, _ = rmst(t, np.ones(5), 3.5)
    assert est == pytest.approx(np.minimum(t, 3.5).mean(), rel=1e-12)


def test_bad_tau():
    with pytest.raises(ValueError):
        rmst(T1, E, 0)
