"""Likelihood-ratio tests of Cox models against R (R 4.2.2, survival 3.5.3).

Data: data/public/gbsg2.csv, read in R as
    d <- read.csv("gbsg2.csv")
    d$horTh <- factor(d$horTh, levels = c("no", "yes"))
    d$menostat <- factor(d$menostat, levels = c("Pre", "Post"))
    d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
"""

import numpy as np
import pandas as pd
import pytest

from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.cox import fit_cox, likelihood_ratio
from mbcrt.stats.design import design_matrix

COVARIATES = ["horTh", "age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
LEVELS = {"horTh": ["no", "yes"], "menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]}

# e <- coxph(Surv(time, cens) ~ horTh + age + menostat + tsize + tgrade + pnodes + progrec + estrec, data = d)
# sprintf("%.15g", summary(e)$logtest)
LOGTEST = (104.745265730233, 9, 1.7199054828911e-18)
# sprintf("%.15g", coxph(Surv(time, cens) ~ 1, data = d)$loglik)
NULL_LOGLIK = -1788.10473712307
# a <- coxph(Surv(time, cens) ~ horTh + v, data = d); b <- coxph(Surv(time, cens) ~ horTh * v, data = d)
# sprintf("%.15g", c(anova(a, b)[2, "Chisq"], anova(a, b)[2, "Df"], anova(a, b)[2, "Pr(>|Chi|)"]))
INTERACTION = {
    "menostat": (0.018727961638433, 1, 0.891149248072912),
    "tgrade": (0.924776703162024, 2, 0.629777717272997),
}


@pytest.fixture(scope="module")
def gbsg2():
    return pd.read_csv(PUBLIC_DIR / "gbsg2.csv")


def test_lr_test_against_null(gbsg2):
    X = design_matrix(gbsg2, COVARIATES, ["horTh", "menostat", "tgrade"], LEVELS)
    chisq, df, p = fit_cox(X, gbsg2["time"], gbsg2["cens"]).lr_test()
    assert chisq == pytest.approx(LOGTEST[0], rel=1e-9)
    assert df == LOGTEST[1]
    assert p == pytest.approx(LOGTEST[2], rel=1e-7)


def test_null_model_has_no_coefficients(gbsg2):
    fit = fit_cox(pd.DataFrame(index=gbsg2.index), gbsg2["time"], gbsg2["cens"])
    assert fit.loglik == pytest.approx(NULL_LOGLIK, rel=1e-12)
    assert fit.loglik_null == fit.loglik
    assert len(fit.params) == 0 and fit.summary.empty


@pytest.mark.parametrize("variable", list(INTERACTION))
def test_interaction_like_r_anova(gbsg2, variable):
    main = design_matrix(gbsg2, ["horTh", variable], ["horTh", variable], LEVELS)
    full = main.copy()
    for col in main.columns[1:]:
        full[f"horThyes:{col}"] = main["horThyes"] * main[col]
    reduced_fit = fit_cox(main, gbsg2["time"], gbsg2["cens"])
    full_fit = fit_cox(full, gbsg2["time"], gbsg2["cens"])
    chisq, df, p = likelihood_ratio(full_fit, reduced_fit)
    want = INTERACTION[variable]
    assert chisq == pytest.approx(want[0], rel=1e-7)
    assert df == want[1]
    assert p == pytest.approx(want[2], rel=1e-9)


def test_models_on_different_rows_are_refused(gbsg2):
    X = design_matrix(gbsg2, ["horTh", "tgrade"], ["horTh", "tgrade"], LEVELS)
    full = fit_cox(X, gbsg2["time"], gbsg2["cens"])
    half = gbsg2.iloc[: len(gbsg2) // 2]
    reduced = fit_cox(X.iloc[: len(half), :1], half["time"], half["cens"])
    with pytest.raises(ValueError, match="different data"):
        likelihood_ratio(full, reduced)
    same_rows = fit_cox(X[["horThyes"]], gbsg2["time"], gbsg2["cens"])
    with pytest.raises(ValueError, match="more coefficients"):
        likelihood_ratio(same_rows, full)
    assert np.isfinite(likelihood_ratio(full, same_rows)[2])
