"""Median survival and its confidence interval: R's rule (Brookmeyer-Crowley, read off the band)
and the symmetric median +/- z SE(median) with Collett's SE, checked by hand.

Golden numbers: R 4.2.2, survival 3.5.3, ``summary(fit)$table[, c("median", "0.95LCL", "0.95UCL")]``
(NA in R is NaN here).
"""

from fractions import Fraction

import numpy as np
import pytest
from conftest import gbsg2, gbsg2_matched  # noqa: F401
from scipy import stats

from mbcrt.stats.survival import collett_median_se, kaplan_meier, km_by_group

NA = np.nan


# R (make_reference.R): for (ct in c("log", "log-log")) {
#     f <- survfit(Surv(time, cens) ~ horTh, data = data, conf.type = ct); t <- summary(f)$table
#     t[g, "records"], t[g, "events"], t[g, "median"], t[g, c("0.95LCL", "0.95UCL")] }
# with data = GBSG2 ("all") or match.data(matchit(..., method = "nearest")) ("matched").
GOLDEN = {
    # (cohort, group): n, events, median, {conf_type: (LCL, UCL)}
    ("all", "no"): (440, 205, 1528, {"log": (1296, 1814), "log-log": (1280, 1814)}),
    ("all", "yes"): (246, 94, 2018, {"log": (1918, NA), "log-log": (1918, NA)}),
    ("matched", "no"): (246, 126, 1449, {"log": (1253, 1806), "log-log": (1225, 1753)}),
    ("matched", "yes"): (246, 94, 2018, {"log": (1918, NA), "log-log": (1918, NA)}),
}


@pytest.mark.parametrize("cohort,group", list(GOLDEN))
@pytest.mark.parametrize("conf_type", ["log", "log-log"])
def test_median_and_brookmeyer_crowley_interval_match_r(cohort, group, conf_type):
    d = gbsg2() if cohort == "all" else gbsg2_matched()
    fit = km_by_group(d["time"], d["cens"], d["horTh"], conf_type=conf_type)[group]
    n, events, median, intervals = GOLDEN[(cohort, group)]
    assert (fit.n, fit.events) == (n, events)
    assert fit.median == pytest.approx(median, rel=1e-12)
    np.testing.assert_allclose([fit.median_lower, fit.median_upper], intervals[conf_type],
                               rtol=1e-12, equal_nan=True)
    assert fit.summary[["n", "events", "median"]].iloc[0].tolist() == [n, events, median]


def test_plain_interval_matches_r():
    # R: f <- survfit(Surv(time, cens) ~ horTh, data = m, conf.type = "plain")  # m: matched rows
    #    summary(f)$table[, c("median", "0.95LCL", "0.95UCL")]: no 1449 1253 1753; yes 2018 1918 NA
    d = gbsg2_matched()
    fits = km_by_group(d["time"], d["cens"], d["horTh"], conf_type="plain")
    np.testing.assert_allclose([fits["no"].median, fits["no"].median_lower, fits["no"].median_upper],
                               [1449, 1253, 1753])
    np.testing.assert_allclose([fits["yes"].median, fits["yes"].median_lower, fits["yes"].median_upper],
                               [2018, 1918, NA], equal_nan=True)


def test_curve_equal_to_half_on_an_interval_gives_the_midpoint():
    # R: summary(survfit(Surv(1:6, rep(1, 6)) ~ 1, conf.type = "log"))$table  -> median 3.5, LCL 2, UCL NA
    #    (S = 0.5 on [3, 4): the midpoint of 3 and 4)
    # R: same with conf.type = "log-log"                                     -> median 3.5, LCL 1, UCL NA
    log_fit = kaplan_meier(np.arange(1, 7), np.ones(6), conf_type="log")
    np.testing.assert_allclose([log_fit.median, log_fit.median_lower, log_fit.median_upper],
                               [3.5, 2.0, NA], equal_nan=True)
    loglog_fit = kaplan_meier(np.arange(1, 7), np.ones(6), conf_type="log-log")
    np.testing.assert_allclose([loglog_fit.median, loglog_fit.median_lower, loglog_fit.median_upper],
                               [3.5, 1.0, NA], equal_nan=True)


def test_ties_median_interval_matches_r():
    # R: tt <- c(1, 2, 2, 2, 3, 3, 4, 5, 5, 6); ee <- c(1, 1, 1, 0, 0, 1, 1, 0, 1, 0)
    #    summary(survfit(Surv(tt, ee) ~ 1, conf.type = ct))$table: log-log 4, 1, NA; log 4, 2, NA
    tt, ee = [1, 2, 2, 2, 3, 3, 4, 5, 5, 6], [1, 1, 1, 0, 0, 1, 1, 0, 1, 0]
    for conf_type, want in (("log-log", [4, 1, NA]), ("log", [4, 2, NA]), ("plain", [4, 2, NA])):
        fit = kaplan_meier(tt, ee, conf_type=conf_type)
        np.testing.assert_allclose([fit.median, fit.median_lower, fit.median_upper], want,
                                   equal_nan=True, err_msg=conf_type)


def test_symmetric_interval_by_hand_with_censoring():
    """Collett: SE(t50) = SE(S(t50)) / f, f = (S(u) - S(l)) / (l - u), u = last event time with
    S >= 0.55, l = first with S <= 0.45."""
    tt, ee = [1, 2, 2, 2, 3, 3, 4, 5, 5, 6], [1, 1, 1, 0, 0, 1, 1, 0, 1, 0]
    # Event times and (n at risk, events): 1 (10, 1), 2 (9, 2), 3 (6, 1), 4 (4, 1), 5 (3, 1).
    s3 = Fraction(9, 10) * Fraction(7, 9) * Fraction(5, 6)      # S(3) = 0.5833 >= 0.55 -> u = 3
    s4 = s3 * Fraction(3, 4)                                    # S(4) = 0.4375 <= 0.45 -> l = 4; median 4
    greenwood = Fraction(1, 10 * 9) + Fraction(2, 9 * 7) + Fraction(1, 6 * 5) + Fraction(1, 4 * 3)
    se_s4 = float(s4) * np.sqrt(float(greenwood))             # R: 0.1747393892821
    density = float((s3 - s4) / (4 - 3))
    se_median = se_s4 / density
    z = stats.norm.ppf(0.975)
    fit = kaplan_meier(tt, ee, median_ci="symmetric")
    assert fit.median == 4.0
    assert se_s4 == pytest.approx(0.1747393892821, rel=1e-9)
    assert collett_median_se(fit.table, fit.median) == pytest.approx(se_median, rel=1e-12)
    assert fit.median_lower == pytest.approx(4 - z * se_median, rel=1e-12)
    assert fit.median_upper == pytest.approx(4 + z * se_median, rel=1e-12)
    assert fit.median_ci == "symmetric"


def test_symmetric_interval_by_hand_without_censoring():
    # 20 patients, the i-th event on day i**2: S = 1 - i/20 from day i**2 on.
    # u = 81 (i = 9, S = 0.55), l = 121 (i = 11, S = 0.45): f = 0.10 / 40 = 0.0025.
    # S = 0.5 exactly on [100, 121): median = (100 + 121) / 2 = 110.5.
    # SE(S(100)) = sqrt(0.5 * 0.5 / 20) (Greenwood without censoring is binomial).
    fit = kaplan_meier(np.arange(1, 21) ** 2, np.ones(20), median_ci="symmetric", alpha=0.10)
    se_median = np.sqrt(0.25 / 20) / 0.0025
    z = stats.norm.ppf(0.95)
    assert fit.median == pytest.approx(110.5)
    assert fit.median_lower == pytest.approx(110.5 - z * se_median, rel=1e-9)
    assert fit.median_upper == pytest.approx(110.5 + z * se_median, rel=1e-9)


def test_symmetric_interval_is_nan_when_the_density_window_is_open():
    # S: 0.75 at 1, 0.5 at 2, then only censorings: median 2 (R's rule: no later drop, so no
    # midpoint), but S never falls to 0.45, so f and the SE cannot be estimated.
    fit = kaplan_meier([1, 2, 3, 4], [1, 1, 0, 0], median_ci="symmetric")
    assert fit.median == 2.0
    assert np.isnan(fit.median_lower) and np.isnan(fit.median_upper)
    censored = kaplan_meier([1, 2, 3], [0, 0, 0], median_ci="symmetric")
    assert np.isnan([censored.median, censored.median_lower, censored.median_upper]).all()
