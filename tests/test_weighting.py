"""Propensity weights, effective sample size and weighted SMDs, by hand on a small example."""

import warnings

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.stats.matching import standardized_difference
from mbcrt.stats.weighting import (check_weights, effective_sample_size, propensity_weights,
                                   weighted_balance_table, weighted_smd)

PS = np.array([0.2, 0.5, 0.8, 0.4, 0.1, 0.6])
T = np.array([1, 1, 1, 0, 0, 0])  # P(treated) = 0.5


def test_ate_weights_by_hand():
    # unstabilised: 1/e for treated, 1/(1-e) for controls
    w = propensity_weights(PS, T, "ate", stabilize=False)
    np.testing.assert_allclose(w, [5, 2, 1.25, 1 / 0.6, 1 / 0.9, 2.5])
    # stabilised: times P(T = t) = 0.5
    np.testing.assert_allclose(propensity_weights(PS, T, "ate"), 0.5 * w)


def test_att_and_overlap_weights_by_hand():
    np.testing.assert_allclose(propensity_weights(PS, T, "att", stabilize=False),
                               [1, 1, 1, 0.4 / 0.6, 0.1 / 0.9, 0.6 / 0.4])
    # stabilised ATT: controls times the marginal odds of control (0.5 / 0.5 = 1 here)
    np.testing.assert_allclose(propensity_weights(PS, T, "att"), [1, 1, 1, 0.4 / 0.6, 0.1 / 0.9, 1.5])
    np.testing.assert_allclose(propensity_weights(PS, T, "overlap"), [0.8, 0.5, 0.2, 0.4, 0.1, 0.6])


def test_stabilised_att_with_unequal_arms():
    ps, t = np.array([0.3, 0.6, 0.2, 0.5]), np.array([1, 0, 0, 0])  # P = 0.25: odds of control 3
    np.testing.assert_allclose(propensity_weights(ps, t, "att"), [1, 3 * 0.6 / 0.4, 3 * 0.2 / 0.8, 3 * 1.0])


def test_kish_ess_by_hand():
    assert effective_sample_size([1, 1, 1, 1]) == 4
    assert effective_sample_size([5, 2, 1.25]) == pytest.approx(8.25 ** 2 / (25 + 4 + 1.5625))
    with pytest.raises(ValueError):
        effective_sample_size([0, 0])


def test_weighted_smd_by_hand():
    x = np.array([1.0, 2, 3, 2, 4, 6])
    w = np.array([1.0, 2, 1, 1, 1, 2])
    m1, m0 = (1 + 4 + 3) / 4, (2 + 4 + 12) / 4
    sd = np.sqrt((np.var([1, 2, 3], ddof=1) + np.var([2, 4, 6], ddof=1)) / 2)  # unweighted, pooled
    assert weighted_smd(x, T, w) == pytest.approx((m1 - m0) / sd)
    assert weighted_smd(x, T, w, sd="treated") == pytest.approx((m1 - m0) / np.std([1, 2, 3], ddof=1))
    assert weighted_smd(x, T) == pytest.approx(standardized_difference(x, T))


def test_weighted_smd_categorical_by_hand():
    x = pd.Series(["a", "b", "a", "b", "b", "a"])
    w = np.array([1.0, 3, 1, 1, 2, 1])
    smd = weighted_smd(x, T, w, categorical=True, levels=["a", "b"])
    p1, p0 = 2 / 5, 1 / 4  # weighted share of "a"
    q1, q0 = 2 / 3, 1 / 3  # unweighted, for the denominator
    assert smd["a"] == pytest.approx((p1 - p0) / np.sqrt((q1 * (1 - q1) + q0 * (1 - q0)) / 2))
    assert smd["b"] == pytest.approx(-smd["a"])


def test_balance_table_columns():
    df = pd.DataFrame({"t": T, "age": [1.0, 2, 3, 2, 4, 6], "g": ["a", "b", "a", "b", "b", "a"]})
    tab = weighted_balance_table(df, treatment="t", covariates=["age", "g"], categorical=["g"],
                                 weights=np.ones(6), labels={"age": "Age"})
    assert list(tab.columns) == ["variable", "label", "level", "smd_before", "smd_after"]
    assert tab["label"].tolist() == ["Age", "g", "g"]
    np.testing.assert_allclose(tab["smd_before"], tab["smd_after"])


def test_extreme_weights_warn():
    rng = np.random.default_rng(1)
    ps = rng.uniform(0.2, 0.8, 400)
    t = (rng.uniform(size=400) < ps).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        propensity_weights(ps, t, "ate")  # well-behaved: no warning
    ps[np.flatnonzero(t == 1)[0]] = 0.001
    with pytest.warns(StatisticalWarning, match="extreme weights"):
        propensity_weights(ps, t, "ate")
    with pytest.warns(StatisticalWarning, match="carries"):
        problems = check_weights(np.where(np.arange(400) == 0, 1000.0, 1.0), np.arange(400) % 2)
    assert len(problems) == 1


def test_bad_inputs():
    with pytest.raises(InputError):
        propensity_weights([0.0, 0.5], [1, 0])
    with pytest.raises(InputError):
        propensity_weights([0.3, 0.5], [1, 1])
    with pytest.raises(ValueError):
        propensity_weights(PS, T, "atc")
