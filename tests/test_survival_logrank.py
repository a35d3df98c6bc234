"""Log-rank test for k groups against R's ``survdiff`` (survival 3.5.3, R 4.2.2) and lifelines."""


import numpy as np
import pytest
from conftest import gbsg2, gbsg2_matched  # noqa: F401

from mbcrt.errors import StatisticalWarning
from mbcrt.stats.survival import logrank_test

RTOL = 1e-6


def test_two_groups_match_r_on_gbsg2():
    # R (make_reference.R): lr <- survdiff(Surv(time, cens) ~ horTh, data = d)
    #    lr$chisq = 8.564780854; 1 - pchisq(lr$chisq, 1) = 0.003427282265
    d = gbsg2()
    result = logrank_test(d["time"], d["cens"], d["horTh"])
    assert result.chisq == pytest.approx(8.564780854, rel=RTOL)
    assert result.p == pytest.approx(0.003427282265, rel=RTOL)
    assert result.df == 1
    assert result.summary["group"].tolist() == ["no", "yes"]
    assert result.summary["n"].tolist() == [440, 246]
    assert result.summary["observed"].tolist() == [205, 94]


def test_two_groups_match_r_on_matched_cohort():
    # R (make_reference.R): survdiff(Surv(time, cens) ~ horTh, data = match.data(m))  # no caliper
    #    chisq = 9.448371188; p = 0.002113366948
    d = gbsg2_matched()
    assert len(d) == 492
    result = logrank_test(d["time"], d["cens"], d["horTh"])
    assert result.chisq == pytest.approx(9.448371188, rel=RTOL)
    assert result.p == pytest.approx(0.002113366948, rel=RTOL)


def test_three_groups_match_r():
    # R: lr <- survdiff(Surv(time, cens) ~ tgrade, data = d)   # d <- read.csv("data/public/gbsg2.csv")
    #    lr$chisq = 21.0944345875; pchisq(lr$chisq, 2, lower.tail = FALSE) = 2.62664711388e-05
    #    lr$obs = 18 202 79; lr$exp = 42.1623203506 198.2095773199 58.6281023295
    d = gbsg2()
    result = logrank_test(d["time"], d["cens"], d["tgrade"])
    assert result.chisq == pytest.approx(21.0944345875, rel=RTOL)
    assert result.p == pytest.approx(2.62664711388e-05, rel=RTOL)
    assert result.df == 2
    assert result.summary["group"].tolist() == ["I", "II", "III"]
    assert result.summary["observed"].tolist() == [18, 202, 79]
    np.testing.assert_allclose(result.summary["expected"],
                               [42.1623203506, 198.2095773199, 58.6281023295], rtol=RTOL)
    # O - E sums to zero and each row of the variance matrix sums to zero.
    assert result.summary["expected"].sum() == pytest.approx(299)
    np.testing.assert_allclose(result.variance.sum(axis=1), 0, atol=1e-9)


def test_six_groups_match_r():
    # R: survdiff(Surv(time, cens) ~ tgrade + horTh, data = m)$chisq = 27.4793031113
    #    (m: the matched rows; the groups are the 6 tgrade x horTh combinations)
    d = gbsg2_matched()
    result = logrank_test(d["time"], d["cens"], d["tgrade"] + "/" + d["horTh"])
    assert result.df == 5
    assert result.chisq == pytest.approx(27.4793031113, rel=RTOL)


def test_ties_of_events_and_censorings_match_r():
    # R: tt <- c(1, 2, 2, 2, 3, 3, 4, 5, 5, 6); ee <- c(1, 1, 1, 0, 0, 1, 1, 0, 1, 0)
    #    gg <- c("a", "b", "a", "b", "c", "a", "c", "b", "c", "a")
    #    survdiff(Surv(tt, ee) ~ gg)$chisq = 0.904621480407
    #    survdiff(Surv(tt, ee) ~ gg == "a")$chisq = 0.819784093413
    tt, ee = [1, 2, 2, 2, 3, 3, 4, 5, 5, 6], [1, 1, 1, 0, 0, 1, 1, 0, 1, 0]
    gg = np.array(["a", "b", "a", "b", "c", "a", "c", "b", "c", "a"])
    assert logrank_test(tt, ee, gg).chisq == pytest.approx(0.904621480407, rel=RTOL)
    assert logrank_test(tt, ee, gg == "a").chisq == pytest.approx(0.819784093413, rel=RTOL)


def test_agrees_with_lifelines():
    from lifelines.statistics import logrank_test as lifelines_logrank
    from lifelines.statistics import multivariate_logrank_test

    d = gbsg2()
    yes, no = d[d["horTh"] == "yes"], d[d["horTh"] == "no"]
    two = lifelines_logrank(yes["time"], no["time"], yes["cens"], no["cens"])
    assert logrank_test(d["time"], d["cens"], d["horTh"]).chisq == pytest.approx(two.test_statistic, rel=1e-9)
    three = multivariate_logrank_test(d["time"], d["tgrade"], d["cens"])
    assert logrank_test(d["time"], d["cens"], d["tgrade"]).chisq == pytest.approx(three.test_statistic,
                                                                                    rel=1e-9)


def test_group_order_changes_the_summary_not_the_statistic():
    d = gbsg2()
    default = logrank_test(d["time"], d["cens"], d["tgrade"])
    reordered = logrank_test(d["time"], d["cens"], d["tgrade"], order=["III", "I", "II"])
    assert reordered.summary["group"].tolist() == ["III", "I", "II"]
    assert reordered.chisq == pytest.approx(default.chisq, rel=1e-12)


def test_one_group_or_an_empty_listed_group_raises():
    with pytest.raises(ValueError, match="at least two groups"):
        logrank_test([1, 2, 3], [1, 0, 1], ["a", "a", "a"])
    with pytest.raises(ValueError, match=r"\['b'\] have no patients"):
        logrank_test([1, 2, 3], [1, 0, 1], ["a", "a", "c"], order=["a", "b", "c"])


def test_no_events_warns_and_gives_nan_p():
    # R: survdiff(Surv(c(1, 2, 3, 4), c(0, 0, 0, 0)) ~ c(1, 1, 2, 2)): chisq 0, df -1, pvalue NaN.
    with pytest.warns(StatisticalWarning, match="undefined"):
        result = logrank_test([1, 2, 3, 4], [0, 0, 0, 0], [1, 1, 2, 2])
    assert result.chisq == 0.0 and np.isnan(result.p)
