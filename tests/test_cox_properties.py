"""Properties any Cox fit must have: invariances, special cases that coincide, reproducibility."""

import numpy as np
import pandas as pd
import pytest

from mbcrt.stats.cox import fit_cox


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    n = 500
    X = pd.DataFrame({"arm": rng.integers(0, 2, n).astype(float), "age": rng.normal(60, 10, n),
                      "nodes": rng.poisson(3, n).astype(float)})
    linear = X.to_numpy() @ np.array([-0.4, 0.02, 0.1])
    failure = rng.exponential(np.exp(-linear) * 10)
    censor = rng.exponential(15, n)
    time, event = np.minimum(failure, censor), (failure <= censor).astype(int)
    return X, time, event


def test_row_order_does_not_matter(data):
    X, time, event = data
    perm = np.random.default_rng(1).permutation(len(X))
    a = fit_cox(X, time, event)
    b = fit_cox(X.iloc[perm], time[perm], event[perm])
    np.testing.assert_allclose(a.params, b.params, rtol=1e-11)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-11)


def test_covariate_units(data):
    """Age in decades: coefficient and SE times 10, other terms and likelihood unchanged."""
    X, time, event = data
    a = fit_cox(X, time, event)
    b = fit_cox(X.assign(age=(X["age"] - 50) / 10), time, event)
    assert b.params["age"] == pytest.approx(10 * a.params["age"], rel=1e-10)
    assert b.se["age"] == pytest.approx(10 * a.se["age"], rel=1e-10)
    assert b.params["arm"] == pytest.approx(a.params["arm"], rel=1e-10)
    assert b.loglik == pytest.approx(a.loglik, rel=1e-13)


def test_one_stratum_is_no_strata(data):
    X, time, event = data
    a = fit_cox(X, time, event)
    b = fit_cox(X, time, event, strata=np.full(len(X), "all"))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-14)


def test_strata_are_separate_risk_sets(data):
    """Strata whose times never interleave give the same fit as strata whose times do not matter:
    shifting one stratum's times by a constant changes nothing."""
    X, time, event = data
    stratum = (np.arange(len(X)) % 2).astype(int)
    a = fit_cox(X, time, event, strata=stratum)
    b = fit_cox(X, time + 1000 * stratum, event, strata=stratum)
    c = fit_cox(X, time + 1000 * stratum, event)  # without strata the shift matters
    np.testing.assert_allclose(a.params, b.params, rtol=1e-11)
    assert not np.allclose(a.params, c.params, rtol=1e-3)


def test_efron_equals_breslow_without_tied_events(data):
    X, time, event = data
    assert not pd.Series(time[event == 1]).duplicated().any()
    a = fit_cox(X, time, event, ties="efron")
    b = fit_cox(X, time, event, ties="breslow")
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-12)


def test_censored_at_an_event_time_are_at_risk(data):
    """R's convention: a patient censored at an event time is in that event's risk set. Moving the
    censoring just before the event time must change the fit, just after must not."""
    X, time, event = data
    t = time.copy()
    death_times = np.sort(t[event == 1])
    censored = np.flatnonzero(event == 0)[:40]
    t[censored] = death_times[:40]
    at = fit_cox(X, t, event)
    after = fit_cox(X, t + np.where(event == 0, 1e-9, 0), event)
    before = fit_cox(X, t - np.where(event == 0, 1e-9, 0), event)
    np.testing.assert_allclose(at.params, after.params, rtol=1e-12)
    assert not np.allclose(at.params, before.params, rtol=1e-9)


def test_reruns_are_byte_identical(data):
    X, time, event = data
    runs = [fit_cox(X, time, event, cluster=np.arange(len(X)) // 3).summary.to_csv() for _ in range(2)]
    assert runs[0] == runs[1]
