"""propensity_score: logistic regression equal to R's glm(family = binomial), and its input errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.design import design_matrix
from mbcrt.stats.matching import propensity_score

DATA = Path(__file__).parent / "data"
COVARIATES = ["age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
CATEGORICAL = ["menostat", "tgrade"]
LEVELS = {"menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]}


def test_gbsg2_propensity_equals_r_glm():
    # R 4.2.2 (make_reference.R), written to tests/data/gbsg2_ps.csv with 15 significant digits:
    #   d$treat <- as.integer(d$horTh == "yes")
    #   d$tgrade <- factor(as.character(d$tgrade), levels = c("I", "II", "III"))
    #   ps <- glm(treat ~ age + menostat + tsize + tgrade + pnodes + progrec + estrec,
    #             data = d, family = binomial)$fitted.values
    gbsg2 = pd.read_csv(PUBLIC_DIR / "gbsg2.csv")
    reference = pd.read_csv(DATA / "gbsg2_ps.csv")
    assert (reference["id"].to_numpy() == gbsg2["id"].to_numpy()).all()
    X = design_matrix(gbsg2, COVARIATES, CATEGORICAL, LEVELS)
    ps = propensity_score(X, gbsg2["horTh"] == "yes")
    np.testing.assert_allclose(ps, reference["ps"].to_numpy(), rtol=1e-10, atol=0)


def test_single_binary_covariate_gives_group_proportions():
    # Hand computation: with one binary covariate the MLE fits each group's observed proportion.
    x = np.array([0] * 10 + [1] * 8, dtype=float)
    treat = np.array([1] * 3 + [0] * 7 + [1] * 6 + [0] * 2)
    ps = propensity_score(pd.DataFrame({"x": x}), treat)
    expected = np.where(x == 0, 3 / 10, 6 / 8)
    np.testing.assert_allclose(ps, expected, rtol=1e-13)


def test_intercept_only_model_gives_overall_proportion():
    treat = np.array([1, 0, 0, 1, 0, 0, 0])
    ps = propensity_score(pd.DataFrame(index=range(7)), treat)
    np.testing.assert_allclose(ps, np.full(7, 2 / 7), rtol=1e-14)


def test_constant_covariate_is_named():
    X = pd.DataFrame({"age": [50.0, 60, 55, 70, 65, 40], "site": [1.0] * 6})
    with pytest.raises(InputError, match="constant") as err:
        propensity_score(X, [1, 0, 1, 0, 1, 0])
    assert err.value.column == "site"


@pytest.mark.parametrize("values", [
    [1.0, 2, 3, 4, 5, 6],          # complete separation: every treated below every control
    [0.0, 0, 0, 0, 1, 1],          # quasi-complete: the level 1 holds controls only
])
def test_covariate_that_separates_the_arms_is_named(values):
    X = pd.DataFrame({"age": [50.0, 60, 55, 70, 65, 40], "nodes": values})
    treat = [1, 1, 1, 0, 0, 0] if values[0] == 1.0 else [1, 0, 1, 0, 0, 0]
    with pytest.raises(InputError, match="separates") as err:
        propensity_score(X, treat)
    assert err.value.column == "nodes"


def test_joint_separation_is_reported():
    # Neither covariate separates alone, but x1 + x2 > 0 exactly for the treated.
    rng = np.random.default_rng(7)
    x1 = rng.normal(size=200)
    x2 = rng.normal(size=200)
    treat = (x1 + x2 > 0).astype(int)
    with pytest.raises(InputError, match="jointly separate") as err:
        propensity_score(pd.DataFrame({"x1": x1, "x2": x2}), treat)
    assert err.value.column in ("x1", "x2")


def test_collinear_covariate_is_named():
    rng = np.random.default_rng(3)
    a = rng.normal(size=50)
    b = rng.normal(size=50)
    X = pd.DataFrame({"a": a, "b": b, "a_plus_b": a + 2 * b})
    with pytest.raises(InputError, match="linear combination") as err:
        propensity_score(X, rng.integers(0, 2, 50))
    assert err.value.column == "a_plus_b"


@pytest.mark.parametrize("treat, message", [
    ([1, 1, 1, 1], "both arms"),
    ([1, 0, 2, 0], "0/1"),
    ([1, 0, np.nan, 0], "0/1"),
    ([1, 0, 1], "3 values for 4 rows"),
])
def test_bad_treatment_indicator(treat, message):
    with pytest.raises(InputError, match=message):
        propensity_score(pd.DataFrame({"x": [1.0, 2, 3, 5]}), treat)


def test_missing_covariate_values_are_counted():
    X = pd.DataFrame({"x": [1.0, np.nan, 3, 4, np.nan, 6]})
    with pytest.raises(InputError, match="missing") as err:
        propensity_score(X, [1, 0, 1, 0, 1, 0])
    assert err.value.n_rows == 2


def test_near_separation_warns_and_clamps_like_r():
    # R 4.2.2:
    #   x <- -40:5; t <- as.integer(x > 0); t[x == -1] <- 1L; t[x == 1] <- 0L
    #   f <- glm(t ~ x, family = binomial, control = glm.control(epsilon = 1e-15, maxit = 100))
    #   # Warning: glm.fit: fitted probabilities numerically 0 or 1 occurred
    #   sprintf("%.15g", f$fitted.values[c(1, 9, 20, 46)])
    #   sum(f$fitted.values < 10 * .Machine$double.eps)   # 8
    # (R's default epsilon = 1e-8 stops 5e-9 short of the maximum here, hence the tight epsilon.)
    x = np.arange(-40, 6, dtype=float)
    treat = (x > 0).astype(int)
    treat[x == -1], treat[x == 1] = 1, 0
    with pytest.warns(StatisticalWarning, match="8 fitted propensity scores are numerically 0 or 1"):
        ps = propensity_score(pd.DataFrame({"x": x}), treat)
    expected = [2.22044604925031e-16, 1.98762046472909e-13, 3.94246044833449e-09, 0.982659378822925]
    np.testing.assert_allclose(ps[[0, 8, 19, 45]], expected, rtol=1e-9)
    assert (ps[:8] == np.finfo(float).eps / (1 + np.finfo(float).eps)).all()  # R's floor, not 0
