"""Cross-check of the Cox fitter against lifelines' CoxPHFitter (Efron ties) on simulated data with
many tied times, with and without strata. lifelines is run to a tight convergence so that the
comparison tests our fit, not its stopping rule."""

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from mbcrt.stats.cox import fit_cox

TIGHT = {"precision": 1e-12, "r_precision": 1e-14, "max_steps": 100}


@pytest.fixture(scope="module")
def tied_data():
    rng = np.random.default_rng(20240101)
    n = 400
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n).astype(float),
                       "c": rng.integers(0, 5, n).astype(float)})
    linear = df.to_numpy() @ np.array([0.5, -0.7, 0.2])
    failure = np.ceil(rng.exponential(np.exp(-linear)) * 10)  # integer times: heavy ties
    censor = np.ceil(rng.exponential(1.5, n) * 10)
    df["T"], df["E"] = np.minimum(failure, censor), (failure <= censor).astype(int)
    df["s"] = np.arange(n) % 3
    assert df.loc[df["E"] == 1, "T"].duplicated().sum() > 100  # the point: tied event times
    return df


def lifelines_fit(df, strata=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        columns = ["a", "b", "c", "T", "E"] + ([strata] if strata else [])
        return CoxPHFitter().fit(df[columns], "T", "E", strata=[strata] if strata else None,
                                 fit_options=TIGHT)


@pytest.mark.parametrize("strata", [None, "s"])
def test_efron_agrees_with_lifelines(tied_data, strata):
    ref = lifelines_fit(tied_data, strata)
    fit = fit_cox(tied_data[["a", "b", "c"]], tied_data["T"], tied_data["E"],
                  strata=tied_data[strata] if strata else None)
    np.testing.assert_allclose(fit.params, ref.params_[["a", "b", "c"]], rtol=1e-8)
    np.testing.assert_allclose(fit.se, ref.standard_errors_[["a", "b", "c"]], rtol=1e-8)
    np.testing.assert_allclose(fit.summary["p"], ref.summary.loc[["a", "b", "c"], "p"], rtol=1e-6)
    assert fit.loglik == pytest.approx(ref.log_likelihood_, rel=1e-12)


def test_breslow_differs_from_efron_with_ties(tied_data):
    """A check that the ties option is live: with this many ties the two must differ."""
    efron = fit_cox(tied_data[["a", "b", "c"]], tied_data["T"], tied_data["E"])
    breslow = fit_cox(tied_data[["a", "b", "c"]], tied_data["T"], tied_data["E"], ties="breslow")
    assert np.abs(efron.params - breslow.params).max() > 1e-3
