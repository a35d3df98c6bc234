"""Cox regression on GBSG2 against R's coxph (R 4.2.2, survival 3.5.3), Efron and Breslow ties.

Data: data/public/gbsg2.csv (TH.data's GBSG2 in R's row order). In R, for the values computed here:
    d <- read.csv("gbsg2.csv")
    d$horTh <- factor(d$horTh, levels = c("no", "yes"))
    d$menostat <- factor(d$menostat, levels = c("Pre", "Post"))
    d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
Values marked "reference" come from the project's GBSG2 reference script (data(GBSG2, package =
"TH.data"), same factor levels), printed with format(digits = 10).
"""

import numpy as np
import pandas as pd
import pytest

from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.cox import fit_cox
from mbcrt.stats.design import design_matrix

RTOL = 1e-8
COVARIATES = ["horTh", "age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
LEVELS = {"horTh": ["no", "yes"], "menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]}


@pytest.fixture(scope="module")
def gbsg2():
    return pd.read_csv(PUBLIC_DIR / "gbsg2.csv")


def design(d, covariates):
    return design_matrix(d, covariates, [c for c in covariates if c in LEVELS], LEVELS)


# reference: cx <- coxph(Surv(time, cens) ~ horTh, data = d)
#   exp(coef(cx)); exp(confint(cx)); summary(cx)$coefficients[, "Pr(>|z|)"]
UNI_HORTH = {"hr": 0.694884327, "ci": (0.5438440546, 0.8878725874), "p": 0.003602266332}

# reference: cxm <- coxph(Surv(time, cens) ~ horTh + age + menostat + tsize + tgrade + pnodes
#                                          + progrec + estrec, data = d); sm <- summary(cxm)
#   sm$conf.int[v, "exp(coef)"]; sm$conf.int[v, c("lower .95", "upper .95")]; sm$coefficients[v, "Pr(>|z|)"]
MULTI = {
    "horThyes": (0.7073155235, 0.5492177642, 0.9109232847, 0.007301417126),
    "age": (0.990585359, 0.9726917315, 1.0088081574, 0.3091261165),
    "menostatPost": (1.294914722, 0.9037862493, 1.8553105199, 0.1589536224),
    "tsize": (1.007826552, 1.000075754, 1.015637421, 0.04779406579),
    "tgradeII": (1.889121119, 1.159146311, 3.078799086, 0.01069253848),
    "tgradeIII": (2.180718136, 1.288453708, 3.690882769, 0.003684812206),
    "pnodes": (1.049998358, 1.034783859, 1.065436557, 5.701358093e-11),
    "progrec": (0.9977852206, 0.996664245, 0.9989074569, 0.000110655272),
    "estrec": (1.00019733, 0.9993148406, 1.0010805991, 0.661306516),
}

# reference: u <- coxph(Surv(time, cens) ~ v, data = d); exp(coef(u)); summary(u)$coefficients[1, "Pr(>|z|)"]
UNI = {
    "age": (0.9955254061, 0.4461579777),
    "tsize": (1.014949322, 2.322159759e-05),
    "pnodes": (1.060354057, 3.488720587e-18),
    "progrec": (0.9972318566, 1.486393123e-06),
    "estrec": (0.9990540122, 0.04104557178),
}

# e <- coxph(Surv(time, cens) ~ horTh + age + menostat + tsize + tgrade + pnodes + progrec + estrec,
#            data = d); sprintf("%.15g", c(coef(e), sqrt(diag(e$var)), e$loglik)); e$iter
EFRON_COEF = [-0.346278427623329, -0.00945923891334651, 0.258444840866073, 0.00779608385204577,
              0.636111704552395, 0.779654242855902, 0.0487886003547995, -0.00221723568064759,
              0.000197310710854604]
EFRON_SE = [0.129074735223088, 0.00930059479708476, 0.183476451697793, 0.00393901773537449,
            0.249202492015612, 0.268480147338822, 0.0074470895195927, 0.000573528557034388,
            0.000450367926761978]
EFRON_LOGLIK = (-1788.10473712307, -1735.73210425795)
EFRON_ITER = 6

# b <- coxph(<same formula>, data = d, ties = "breslow")
#   sprintf("%.15g", c(coef(b), sqrt(diag(b$var)), summary(b)$coefficients[, 5], b$loglik)); b$iter
BRESLOW_COEF = [-0.346241620916084, -0.00945340713383559, 0.258156545219738, 0.00779832903424983,
                0.635978662702143, 0.779350191192079, 0.048781804325756, -0.00221749416913315,
                0.000197817753529626]
BRESLOW_SE = [0.129073277056418, 0.00930024392769506, 0.183479982493894, 0.00393905793561781,
              0.249201372411389, 0.268480352702151, 0.00744800153389193, 0.000573484357821797,
              0.000450367343825846]
BRESLOW_P = [0.00730698269653532, 0.309406230922522, 0.159427049629524, 0.0477322240965589,
             0.0107085845042888, 0.00369818890128045, 5.76720314687237e-11, 0.000110316260379784,
             0.660490215980355]
BRESLOW_LOGLIK = (-1788.17311304365, -1735.81841840703)


def test_univariate_treatment_hazard_ratio(gbsg2):
    fit = fit_cox(design(gbsg2, ["horTh"]), gbsg2["time"], gbsg2["cens"])
    row = fit.summary.loc["horThyes"]
    assert row["hr"] == pytest.approx(UNI_HORTH["hr"], rel=RTOL)
    assert (row["lower"], row["upper"]) == pytest.approx(UNI_HORTH["ci"], rel=RTOL)
    assert row["p"] == pytest.approx(UNI_HORTH["p"], rel=RTOL)


def test_multivariable_every_term_hr_ci_p(gbsg2):
    fit = fit_cox(design(gbsg2, COVARIATES), gbsg2["time"], gbsg2["cens"])
    assert list(fit.summary.index) == list(MULTI)
    for term, (hr, lower, upper, p) in MULTI.items():
        row = fit.summary.loc[term]
        assert row["hr"] == pytest.approx(hr, rel=RTOL), term
        assert row["lower"] == pytest.approx(lower, rel=RTOL), term
        assert row["upper"] == pytest.approx(upper, rel=RTOL), term
        assert row["p"] == pytest.approx(p, rel=RTOL), term


def test_multivariable_efron_coefficients_se_loglik(gbsg2):
    fit = fit_cox(design(gbsg2, COVARIATES), gbsg2["time"], gbsg2["cens"])
    np.testing.assert_allclose(fit.params, EFRON_COEF, rtol=RTOL)
    np.testing.assert_allclose(fit.se, EFRON_SE, rtol=RTOL)
    assert (fit.loglik_null, fit.loglik) == pytest.approx(EFRON_LOGLIK, rel=1e-12)
    assert fit.iterations == EFRON_ITER
    assert (fit.n, fit.events, fit.ties) == (686, 299, "efron")
    assert fit.robust_se is None and "robust_se" not in fit.summary.columns


def test_multivariable_breslow(gbsg2):
    fit = fit_cox(design(gbsg2, COVARIATES), gbsg2["time"], gbsg2["cens"], ties="breslow")
    np.testing.assert_allclose(fit.params, BRESLOW_COEF, rtol=RTOL)
    np.testing.assert_allclose(fit.se, BRESLOW_SE, rtol=RTOL)
    np.testing.assert_allclose(fit.summary["p"], BRESLOW_P, rtol=RTOL)
    assert (fit.loglik_null, fit.loglik) == pytest.approx(BRESLOW_LOGLIK, rel=1e-12)


@pytest.mark.parametrize("variable", list(UNI))
def test_univariate_numeric_covariates(gbsg2, variable):
    fit = fit_cox(gbsg2[[variable]], gbsg2["time"], gbsg2["cens"])
    hr, p = UNI[variable]
    assert fit.summary.loc[variable, "hr"] == pytest.approx(hr, rel=RTOL)
    assert fit.summary.loc[variable, "p"] == pytest.approx(p, rel=RTOL)


def test_summary_is_consistent(gbsg2):
    fit = fit_cox(design(gbsg2, COVARIATES), gbsg2["time"], gbsg2["cens"], alpha=0.1)
    s = fit.summary
    assert s.index.name == "term"
    assert list(s.columns) == ["coef", "hr", "se", "z", "p", "lower", "upper"]
    np.testing.assert_allclose(s["z"], s["coef"] / s["se"], rtol=1e-14)
    np.testing.assert_allclose(np.log(s["upper"]) - s["coef"], 1.6448536269514722 * s["se"], rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.var)), fit.se, rtol=1e-14)
