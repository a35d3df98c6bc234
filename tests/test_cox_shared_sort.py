"""Fits on the same rows share one sort of the data (risk sets). Reusing it must never change a fit:
not when the caller changes its arrays in place afterwards, not with other strata or ties."""

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths
from mbcrt.stats import cox


@pytest.fixture()
def gbsg2():
    cox._RECENT_RISK_SETS.clear()
    return pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")


def _fit(df, time, event, **kw):
    X = pd.DataFrame({"horTh": (df["horTh"] == "yes").astype(float), "age": df["age"].astype(float)})
    return cox.fit_cox(X, time, event, **kw)


def test_a_second_fit_on_the_same_rows_reuses_the_sort_and_gives_the_same_result(gbsg2):
    t, e = gbsg2["time"].to_numpy(float), gbsg2["cens"].to_numpy()
    first = _fit(gbsg2, t, e)
    second = _fit(gbsg2, t.copy(), e.copy())
    assert second._risk_sets is first._risk_sets
    pd.testing.assert_frame_equal(first.summary, second.summary)
    # R 4.2.2, survival 3.5.3: d <- read.csv("gbsg2.csv")
    #   print(coxph(Surv(time, cens) ~ horTh + age, data = d)$coefficients, digits = 12)
    #   horThyes -0.361621687042085, age -0.000512221052451
    np.testing.assert_allclose(second.params.to_numpy(), [-0.361621687042085, -0.000512221052451], rtol=1e-7)


def test_arrays_changed_in_place_after_a_fit_are_sorted_again(gbsg2):
    t, e = gbsg2["time"].to_numpy(float).copy(), gbsg2["cens"].to_numpy().copy()
    before = _fit(gbsg2, t, e)
    t[:] = t[::-1]  # the caller reuses its arrays for other data
    after = _fit(gbsg2, t, e)
    fresh = _fit(gbsg2, t.copy(), e.copy())
    assert after._risk_sets is not before._risk_sets
    pd.testing.assert_frame_equal(after.summary, fresh.summary)
    assert not np.allclose(after.params, before.params)


def test_other_ties_or_strata_are_not_confused(gbsg2):
    t, e = gbsg2["time"].to_numpy(float), gbsg2["cens"].to_numpy()
    efron = _fit(gbsg2, t, e)
    breslow = _fit(gbsg2, t, e, ties="breslow")
    strata = _fit(gbsg2, t, e, strata=gbsg2["menostat"])
    assert len({id(f._risk_sets) for f in (efron, breslow, strata)}) == 3
    cox._RECENT_RISK_SETS.clear()
    for fit, kw in ((efron, {}), (breslow, {"ties": "breslow"}), (strata, {"strata": gbsg2["menostat"]})):
        pd.testing.assert_frame_equal(fit.summary, _fit(gbsg2, t, e, **kw).summary)


def test_only_the_last_sorts_are_kept_and_they_are_read_only(gbsg2):
    t, e = gbsg2["time"].to_numpy(float), gbsg2["cens"].to_numpy()
    for k in range(5):
        _fit(gbsg2, t + k, e)
    assert len(cox._RECENT_RISK_SETS) == cox._RECENT_RISK_SETS_KEPT
    rs = cox._RECENT_RISK_SETS[0][-1]
    with pytest.raises(ValueError):
        rs.order[0] = 1
