"""Kaplan-Meier table (counts, estimate, Greenwood SE, pointwise band) against R's survival 3.5.3.

Golden numbers from R 4.2.2, survival 3.5.3 (R calls quoted beside them). ``std_err`` is the SE of
S(t), i.e. R's ``fit$std.err * fit$surv`` (``summary(fit)$std.err``).
"""

import numpy as np
import pandas as pd
import pytest
from conftest import gbsg2, gbsg2_matched  # noqa: F401

from mbcrt.stats.survival import KM_TABLE_COLUMNS, kaplan_meier, km_by_group

RTOL = 1e-6


# R: f <- survfit(Surv(time, cens) ~ 1, data = d, conf.type = "log-log")   # d: data/public/gbsg2.csv
#    i <- c(1, 2, 100, 300, 450, length(f$time))     # length(f$time) = 574
#    cbind(f$time[i], f$n.risk[i], f$n.event[i], f$n.censor[i], f$surv[i], f$std.err[i] * f$surv[i],
#          f$lower[i], f$upper[i])
GBSG2_ROWS = pd.DataFrame(
    [[8, 686, 0, 1, 1.000000000000, 0.0, 1.0, 1.0],  # R: lower/upper NA at S = 1; here (1, 1)
     [15, 685, 0, 1, 1.000000000000, 0.0, 1.0, 1.0],
     [455, 573, 1, 0, 0.875897311458, 0.0128304007991, 0.848263291897, 0.898801003678],
     [1105, 330, 2, 0, 0.638725713395, 0.0194275442287, 0.599271672129, 0.675393639667],
     [1753, 144, 1, 0, 0.510718177861, 0.0222574379675, 0.466255971654, 0.553370806988],
     [2659, 1, 0, 1, 0.342758489929, 0.0488382340843, 0.249125254796, 0.438273958289]],
    columns=KM_TABLE_COLUMNS)

# R: tt <- c(1, 2, 2, 2, 3, 3, 4, 5, 5, 6); ee <- c(1, 1, 1, 0, 0, 1, 1, 0, 1, 0)
#    f <- survfit(Surv(tt, ee) ~ 1, conf.type = ct)
#    cbind(f$time, f$n.risk, f$n.event, f$n.censor, f$surv, f$std.err * f$surv, f$lower, f$upper)
TIES_TIME = [1, 2, 2, 2, 3, 3, 4, 5, 5, 6]
TIES_EVENT = [1, 1, 1, 0, 0, 1, 1, 0, 1, 0]
TIES_COUNTS = [[1, 10, 1, 0], [2, 9, 2, 1], [3, 6, 1, 1], [4, 4, 1, 0], [5, 3, 1, 1], [6, 1, 0, 1]]
TIES_SURV = [0.900000000000, 0.700000000000, 0.583333333333, 0.437500000000, 0.291666666667,
             0.291666666667]
TIES_STD_ERR = [0.0948683298051, 0.1449137674619, 0.1610152971799, 0.1747393892821,
                0.1665798384937, 0.1665798384937]
TIES_BAND = {
    "log-log": ([0.4730092713621, 0.3287165932797, 0.2297865189240, 0.1187152179148, 0.0470550142951,
                 0.0470550142951],
                [0.985281393367, 0.891949041225, 0.820739497172, 0.725648792124, 0.608526483247,
                 0.608526483247]),
    "log": ([0.7320116427440, 0.4665332261395, 0.3395962190842, 0.1999882523443, 0.0952224423088,
             0.0952224423088],
            [1.0, 1.0, 1.0, 0.957087467670, 0.893375998156, 0.893375998156]),
    "plain": ([0.7140614903086, 0.4159742349107, 0.2677491499007, 0.0950170903266, 0.0, 0.0],
              [1.0, 0.984025765089, 0.898917516766, 0.779982909673, 0.618157150665, 0.618157150665]),
}


def test_table_rows_match_r_on_gbsg2():
    d = gbsg2()
    table = kaplan_meier(d["time"], d["cens"], conf_type="log-log").table
    assert list(table.columns) == KM_TABLE_COLUMNS
    assert len(table) == 574
    rows = table.iloc[[0, 1, 99, 299, 449, 573]].reset_index(drop=True)
    assert rows[["time", "n_risk", "n_event", "n_censor"]].to_numpy().tolist() == \
        GBSG2_ROWS[["time", "n_risk", "n_event", "n_censor"]].to_numpy().tolist()
    for col in ("surv", "std_err", "lower", "upper"):
        np.testing.assert_allclose(rows[col], GBSG2_ROWS[col], rtol=RTOL, atol=0, err_msg=col)


@pytest.mark.parametrize("conf_type", ["log-log", "log", "plain"])
def test_ties_of_events_and_censorings_match_r(conf_type):
    """At a tied time the censored patients count as at risk, as in R."""
    table = kaplan_meier(TIES_TIME, TIES_EVENT, conf_type=conf_type).table
    assert table[["time", "n_risk", "n_event", "n_censor"]].to_numpy().tolist() == TIES_COUNTS
    np.testing.assert_allclose(table["surv"], TIES_SURV, rtol=RTOL)
    np.testing.assert_allclose(table["std_err"], TIES_STD_ERR, rtol=RTOL)
    lower, upper = TIES_BAND[conf_type]
    np.testing.assert_allclose(table["lower"], lower, rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(table["upper"], upper, rtol=RTOL)


def test_all_censored_curve_stays_at_one_and_median_not_reached():
    # R: f <- survfit(Surv(c(2, 3, 5), c(0, 0, 0)) ~ 1): surv 1, std.err 0, lower = upper = 1,
    #    median NA, 0.95LCL NA, 0.95UCL NA
    fit = kaplan_meier([2, 3, 5], [0, 0, 0])
    assert fit.n == 3 and fit.events == 0
    assert fit.table["surv"].tolist() == [1.0, 1.0, 1.0]
    assert fit.table["std_err"].tolist() == [0.0, 0.0, 0.0]
    assert fit.table[["lower", "upper"]].to_numpy().tolist() == [[1.0, 1.0]] * 3
    assert np.isnan([fit.median, fit.median_lower, fit.median_upper]).all()


def test_single_patient_with_event():
    # R: f <- survfit(Surv(4, 1) ~ 1): surv 0, std.err Inf, lower NA, upper NA; median 4, CI NA, NA
    fit = kaplan_meier([4], [1])
    row = fit.table.iloc[0]
    assert row["n_risk"] == 1 and row["n_event"] == 1 and row["surv"] == 0.0
    assert np.isnan([row["std_err"], row["lower"], row["upper"]]).all()
    assert fit.median == 4.0
    assert np.isnan(fit.median_lower) and np.isnan(fit.median_upper)


def test_single_patient_censored():
    # R: f <- survfit(Surv(4, 0) ~ 1): surv 1, std.err 0, lower 1, upper 1; median NA
    fit = kaplan_meier([4], [0])
    assert fit.table[["surv", "std_err", "lower", "upper"]].iloc[0].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert np.isnan(fit.median)


def test_estimate_and_log_log_band_agree_with_lifelines():
    """lifelines' KaplanMeierFitter: same product-limit estimate; its default band is the
    log-log one ("exponential Greenwood")."""
    from lifelines import KaplanMeierFitter

    d = gbsg2()
    no = d[d["horTh"] == "no"]
    ours = km_by_group(d["time"], d["cens"], d["horTh"], conf_type="log-log")["no"].table
    kmf = KaplanMeierFitter().fit(no["time"], no["cens"])
    theirs = kmf.survival_function_.loc[ours["time"], "KM_estimate"].to_numpy()
    np.testing.assert_allclose(ours["surv"], theirs, rtol=1e-12)
    band = kmf.confidence_interval_.loc[ours["time"]].to_numpy()
    inside = ((ours["surv"] > 0) & (ours["surv"] < 1)).to_numpy()
    assert inside.sum() > 100
    np.testing.assert_allclose(ours["lower"].to_numpy()[inside], band[inside, 0], rtol=1e-9)
    np.testing.assert_allclose(ours["upper"].to_numpy()[inside], band[inside, 1], rtol=1e-9)


def test_uncensored_large_sample_is_the_empirical_survival_function():
    """Without censoring S(t) is the share with time > t; checks the vectorised path at scale."""
    rng = np.random.default_rng(20240101)
    time = rng.integers(1, 5000, size=300_000)
    table = kaplan_meier(time, np.ones_like(time)).table
    sorted_time = np.sort(time)
    share_alive = 1 - np.searchsorted(sorted_time, table["time"], side="right") / time.size
    np.testing.assert_allclose(table["surv"], share_alive, rtol=1e-9, atol=1e-12)
    assert table["n_risk"].iloc[0] == time.size


def test_groups_in_requested_order_and_integer_groups_as_strings():
    fits = km_by_group([1, 2, 3, 4], [1, 0, 1, 1], [1, 0, 1, 0], order=[1, 0])
    assert list(fits) == ["1", "0"]
    assert fits["1"].n == 2 and fits["1"].events == 2
    assert list(km_by_group([1, 2, 3], [1, 1, 1], ["b", "a", "b"])) == ["a", "b"]
    levels = pd.Categorical(["low", "high", "low"], categories=["low", "mid", "high"])
    assert list(km_by_group([1, 2, 3], [1, 1, 1], pd.Series(levels))) == ["low", "high"]
    assert list(km_by_group([1, 2, 3], [1, 1, 1], levels)) == ["low", "high"]


def test_zero_length_group_raises_a_clear_error():
    with pytest.raises(ValueError, match=r"\['c'\] have no patients"):
        km_by_group([1, 2, 3], [1, 0, 1], ["a", "b", "a"], order=["a", "b", "c"])


@pytest.mark.parametrize("time,event,message", [
    ([], [], "no patients"),
    ([1, np.nan], [1, 0], "finite"),
    ([1, -2], [1, 0], "negative"),
    ([1, 2], [1, 2], "1 \\(event\\) or 0"),
    ([1, 2], [1], "differ in length"),
])
def test_invalid_input_raises(time, event, message):
    with pytest.raises(ValueError, match=message):
        kaplan_meier(time, event)


def test_unknown_options_raise():
    with pytest.raises(ValueError, match="conf_type"):
        kaplan_meier([1], [1], conf_type="logit")
    with pytest.raises(ValueError, match="median_ci"):
        kaplan_meier([1], [1], median_ci="bootstrap")


def test_rerun_is_bitwise_identical():
    d = gbsg2()
    a = kaplan_meier(d["time"], d["cens"]).table
    b = kaplan_meier(d["time"].sample(frac=1, random_state=1), d["cens"].sample(frac=1, random_state=1)).table
    pd.testing.assert_frame_equal(a, b, check_exact=True)
