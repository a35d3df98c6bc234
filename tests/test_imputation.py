"""Chained-equations imputation (mbcrt.stats.imputation): reproducible draws, pmm's donors, and on
GBSG2 with missingness injected (MCAR and MAR, fixed seeds) a pooled treatment hazard ratio within one
standard error of the hazard ratio of the full data."""

import numpy as np
import pandas as pd
import pytest

from conftest import gbsg2
from mbcrt.stats.cox import fit_cox
from mbcrt.stats.design import design_matrix
from mbcrt.stats.imputation import (
    impute_categorical,
    impute_pmm,
    mice,
    mice_result,
    nearest_donors,
    nelson_aalen_at,
)
from mbcrt.stats.pooling import rubin

COVS = ["age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
CAT = ["horTh", "menostat", "tgrade"]
LEVELS = {"horTh": ["no", "yes"], "menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]}


def _fit(d):
    X = design_matrix(d, ["horTh", *COVS], CAT, LEVELS)
    return fit_cox(X, d["time"], d["cens"])


def test_nelson_aalen_hand_computation():
    # times 1, 2, 2, 3 with events 1, 1, 0, 1: H(1) = 1/4, H(2) = 1/4 + 1/3, H(3) = + 1/1
    h = nelson_aalen_at([2, 1, 3, 2], [1, 1, 1, 0])
    np.testing.assert_allclose(h, [0.25 + 1 / 3, 0.25, 0.25 + 1 / 3 + 1, 0.25 + 1 / 3])


def test_nearest_donors_are_the_k_nearest():
    rng = np.random.default_rng(0)
    donors = rng.normal(size=500)
    targets = rng.normal(size=300)
    picked = nearest_donors(donors, targets, 5, np.random.default_rng(1))
    dist = np.abs(donors[None, :] - targets[:, None])  # brute force, small n
    kth = np.sort(dist, axis=1)[:, 4]
    assert (np.abs(donors[picked] - targets) <= kth + 1e-12).all()
    again = nearest_donors(donors, targets, 5, np.random.default_rng(1))
    np.testing.assert_array_equal(picked, again)


def test_pmm_and_logistic_draws_reproducible_with_seed():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(400), rng.normal(size=(400, 3))])
    y = X @ [1, 2, -1, 0.5] + rng.normal(size=400)
    codes = (rng.random(400) < 1 / (1 + np.exp(-X[:, 1]))).astype(int)
    a = impute_pmm(X[:300], y[:300], X[300:], np.random.default_rng(9))
    b = impute_pmm(X[:300], y[:300], X[300:], np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    c1, _ = impute_categorical(X[:300], codes[:300], X[300:], 2, np.random.default_rng(9))
    c2, _ = impute_categorical(X[:300], codes[:300], X[300:], 2, np.random.default_rng(9))
    np.testing.assert_array_equal(c1, c2)
    assert set(np.unique(c1)) <= {0, 1}
    # the draws follow the model: treated-like rows get 1 more often
    assert c1[X[300:, 1] > 1].mean() > c1[X[300:, 1] < -1].mean()


def _with_gaps(kind: str, seed: int) -> pd.DataFrame:
    d = gbsg2()
    rng = np.random.default_rng(seed)
    if kind == "MCAR":
        p_size = p_grade = np.full(len(d), 0.2)
    else:  # MAR: more missing among older patients and those with more positive nodes (both observed)
        lin = -1.8 + 0.04 * (d["age"] - 53) + 0.05 * (d["pnodes"] - 5)
        p_size = p_grade = 1 / (1 + np.exp(-lin.to_numpy()))
    d.loc[rng.random(len(d)) < p_size, "tsize"] = np.nan
    d.loc[rng.random(len(d)) < p_grade, "tgrade"] = None
    return d


def _impute(d, m=20, seed=1):
    d = d.assign(_treat=(d["horTh"] == "yes").astype(int), _cumhaz=nelson_aalen_at(d["time"], d["cens"]))
    return mice(d, COVS, ["menostat", "tgrade"], m=m, seed=seed, predictors=["_treat", "cens", "_cumhaz"],
                levels=LEVELS)


def test_mice_deterministic_for_a_seed_and_fills_every_gap():
    d = _with_gaps("MCAR", 5)
    a, b = _impute(d, m=3), _impute(d, m=3)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
        assert not x[COVS].isna().any().any()
    other = _impute(d, m=3, seed=2)
    assert not other[0]["tsize"].equals(a[0]["tsize"])


def test_pmm_imputes_observed_values_only():
    d = _with_gaps("MAR", 6)
    observed = set(d["tsize"].dropna())
    for s in _impute(d, m=3):
        filled = s.loc[d["tsize"].isna(), "tsize"]
        assert set(filled) <= observed
        assert set(s.loc[d["tgrade"].isna(), "tgrade"]) <= {"I", "II", "III"}
        pd.testing.assert_series_equal(s.loc[d["tsize"].notna(), "tsize"], d["tsize"].dropna().astype(float))


@pytest.mark.parametrize("kind,seed", [("MCAR", 11), ("MAR", 12)])
def test_pooled_treatment_hr_within_one_se_of_full_data(kind, seed):
    full = _fit(gbsg2())
    beta, se = full.params["horThyes"], full.se["horThyes"]
    d = _with_gaps(kind, seed)
    assert 0.1 < d["tsize"].isna().mean() < 0.35
    fits = [_fit(s) for s in _impute(d)]
    pooled = rubin([f.params["horThyes"] for f in fits], [f.se["horThyes"] ** 2 for f in fits]).iloc[0]
    assert abs(pooled["estimate"] - beta) < se
    assert 0 <= pooled["fmi"] < 0.5


def test_chain_means_recorded_per_iteration():
    d = _with_gaps("MCAR", 5)
    d = d.assign(_cumhaz=nelson_aalen_at(d["time"], d["cens"]))
    res = mice_result(d, COVS, ["menostat", "tgrade"], m=2, seed=1, iterations=4, predictors=["cens", "_cumhaz"],
                      levels=LEVELS)
    assert set(res.methods.items()) == {("tsize", "pmm"), ("tgrade", "polyreg")}
    assert len(res.chain_means) == 2 * 4 * 2


def test_imputations_keep_the_relations_the_model_must_carry():
    """Values missing at random given x1 are imputed from x1: the imputed rows keep x2's slope on x1 (pmm) and
    z's dependence on x1 (logistic), and their mean recovers the held-back truth where the complete cases are
    biased. A draw that ignored the predictors (a hot deck of observed values) fails every check."""
    rng = np.random.default_rng(21)
    n = 2000
    x1 = rng.normal(size=n)
    x2 = 2.0 * x1 + rng.normal(scale=0.5, size=n)
    z = np.where(rng.random(n) < 1 / (1 + np.exp(-2.0 * x1)), "b", "a")
    miss = rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 1.5 * x1)))  # MAR: more gaps where x1 is high
    d = pd.DataFrame({"x1": x1, "x2": np.where(miss, np.nan, x2), "z": np.where(miss, None, z)})
    sets = mice(d, ["x1", "x2", "z"], ["z"], m=5, seed=3, levels={"z": ["a", "b"]})
    for s in sets:
        slope = np.polyfit(x1[miss], s.loc[miss, "x2"].to_numpy(float), 1)[0]
        assert abs(slope - 2.0) < 0.25, slope
        zb = (s.loc[miss, "z"] == "b").to_numpy()
        assert zb[x1[miss] > 1].mean() - zb[x1[miss] < 0].mean() > 0.4
    imputed_mean = np.mean([s.loc[miss, "x2"].mean() for s in sets])
    assert abs(imputed_mean - x2[miss].mean()) < 0.1          # the truth that was held back
    assert abs(np.nanmean(d["x2"]) - x2.mean()) > 0.3          # complete cases alone are biased here
