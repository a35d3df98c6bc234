"""Rubin's rules (mbcrt.stats.pooling) against R's mice::pool on the same completed data sets.

The five completed data sets are GBSG2 with 25% of tumour size and 20% of grade made missing
(seeded) and filled by a seeded hot deck (:func:`completed_sets`; not by mbcrt's imputation, so this
test is about pooling alone). R 4.2.2, mice 3.15.0, survival 3.5.3, on the same five CSVs
(tests/data/pooling_reference.R writes the numbers again):

    sets <- lapply(1:5, function(i) { d <- read.csv(sprintf("cs%d.csv", i))
        d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
        d$horTh <- factor(d$horTh, levels = c("no", "yes")); d })
    fit <- as.mira(lapply(sets, function(d)
        coxph(Surv(time, cens) ~ horTh + age + tsize + tgrade + pnodes, data = d)))
    p <- pool(fit)                       # dfcom = events - coefficients = 299 - 6 = 293
    p$pooled[, c("term", "m", "estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi")]
    summary(p, conf.int = TRUE)          # std.error, statistic, df, p.value, 2.5 %, 97.5 %
    pool(fit, dfcom = Inf)$pooled[, c("term", "df", "fmi")]
"""

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths
from mbcrt.stats.cox import fit_cox
from mbcrt.stats.design import design_matrix
from mbcrt.stats.pooling import barnard_rubin, pool_survival, rubin

TERMS = ["horThyes", "age", "tsize", "tgradeII", "tgradeIII", "pnodes"]
# p$pooled and summary(p, conf.int = TRUE), dfcom 293
R_POOLED = pd.DataFrame({
    "estimate": [-0.352828711646706927, 0.000423831716135732, 0.010773746189972679, 0.569265943265451213,
                 0.877122563011096146, 0.053206391055213360],
    "ubar": [1.66139063607875e-02, 3.61317338571203e-05, 1.30164495971167e-05, 5.34930590382953e-02,
             6.04625422908465e-02, 4.95927465463396e-05],
    "b": [1.87126590286970e-04, 1.06812964250890e-06, 5.36854483017199e-06, 6.77483627036110e-03,
          6.06773333185497e-03, 2.47119667280117e-06],
    "t": [1.68384582691319e-02, 3.74134894281309e-05, 1.94587033933231e-05, 6.16228625627286e-02,
          6.77438222890725e-02, 5.25581825537010e-05],
    "df": [283.5198534651401, 259.6386496471139, 30.7321455017565, 120.3414729578181, 148.4093569637580,
           225.3513136240925],
    "riv": [0.0135159006839208, 0.0354745104699172, 0.4949317206769984, 0.1519786617290525, 0.1204262957253831,
            0.0597957607488122],
    "lambda": [0.0133356572647753, 0.0342591827333521, 0.3310731278434993, 0.1319283653231401,
               0.1074825681839402, 0.0564219663480846],
    "fmi": [0.0202228892021270, 0.0416133236304686, 0.3707342203833539, 0.1460042736751302, 0.1192720302054941,
            0.0646862326549141],
    "se": [0.12976308515572477, 0.00611665671982096, 0.00441120203496996, 0.24823952659221818, 0.26027643437136688,
           0.00724970223896823],
    "statistic": [-2.7190222182471064, 0.0692914014223342, 2.4423606319917863, 2.2932123303658307,
                  3.3699653413862380, 7.3391139803261272],
    "p": [6.95132958678116e-03, 9.44811005518967e-01, 2.05445549137652e-02, 2.35713941192365e-02,
          9.58256189568629e-04, 3.86535397105623e-12],
    "lower": [-0.60825001149505198, -0.01162073893817015, 0.00177386108836019, 0.07778316069273405,
              0.36279614038970909, 0.03892051366121799],
    "upper": [-0.0974074117983619, 0.0124684023704416, 0.0197736312915852, 1.0607487258381685, 1.3914489856324832,
              0.0674922684492087],
}, index=TERMS)
# pool(fit, dfcom = Inf)$pooled[, c("df", "fmi")]
R_DF_INF = [22492.1587814691629, 3408.0502873948762, 36.4932151515798, 229.8177819235351, 346.2453275960997,
            1256.5030762043516]
R_FMI_INF = [0.0134233796367150, 0.0348254252310575, 0.3649486616327377, 0.1393854558211671, 0.1125936884268902,
             0.0579203001774794]


def completed_sets(m: int = 5, seed: int = 11) -> list[pd.DataFrame]:
    """GBSG2 with tumour size and grade made missing, each gap filled by a random observed value."""
    df = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")[["time", "cens", "horTh", "age", "tsize", "tgrade", "pnodes"]]
    rng = np.random.default_rng(seed)
    miss_size = rng.random(len(df)) < 0.25
    miss_grade = rng.random(len(df)) < 0.20
    sets = []
    for _ in range(m):
        d = df.copy()
        for col, miss in (("tsize", miss_size), ("tgrade", miss_grade)):
            donors = df.loc[~miss, col].to_numpy()
            d.loc[miss, col] = donors[rng.integers(0, donors.size, int(miss.sum()))]
        sets.append(d)
    return sets


@pytest.fixture(scope="module")
def fits():
    est, var, events = [], [], []
    for d in completed_sets():
        X = design_matrix(d, ["horTh", "age", "tsize", "tgrade", "pnodes"], ["horTh", "tgrade"],
                          {"horTh": ["no", "yes"], "tgrade": ["I", "II", "III"]})
        fit = fit_cox(X, d["time"], d["cens"], ties="efron")
        est.append(fit.params.to_numpy())
        var.append(fit.se.to_numpy() ** 2)
        events.append(fit.events)
    return np.array(est), np.array(var), events


def test_rubin_matches_mice_pool(fits):
    est, var, events = fits
    dfcom = events[0] - est.shape[1]  # mice: nevent - length(coef) for a coxph fit
    assert dfcom == 293
    got = rubin(est, var, df_complete=dfcom, terms=TERMS)
    assert (got["m"] == 5).all()
    for col in R_POOLED.columns:
        np.testing.assert_allclose(got[col].to_numpy(), R_POOLED[col].to_numpy(), rtol=1e-6, err_msg=col)


def test_rubin_infinite_complete_df_matches_mice(fits):
    est, var, _ = fits
    got = rubin(est, var)
    np.testing.assert_allclose(got["df"], R_DF_INF, rtol=1e-6)
    np.testing.assert_allclose(got["fmi"], R_FMI_INF, rtol=1e-6)


def test_rubin_hand_computation():
    q = np.array([1.0, 2.0, 4.0])
    u = np.array([0.5, 0.5, 0.8])
    got = rubin(q, u).iloc[0]
    b = np.var(q, ddof=1)  # 7/3
    t = 0.6 + (4 / 3) * b
    assert got["estimate"] == pytest.approx(7 / 3)
    assert got["t"] == pytest.approx(t)
    lam = (4 / 3) * b / t
    assert got["df"] == pytest.approx(2 / lam**2)
    riv = (4 / 3) * b / 0.6
    assert got["fmi"] == pytest.approx((riv + 2 / (2 / lam**2 + 3)) / (riv + 1))


def test_no_between_variance_floors_lambda_as_mice():
    df = barnard_rubin(20, np.array([0.0]), np.array([1.0]))
    assert df[0] == pytest.approx(19 / 1e-8)


def test_pooled_survival_on_cloglog_scale():
    s = np.array([[0.60, 0.30], [0.62, 0.33], [0.58, 0.31]])
    se = np.array([[0.03, 0.02], [0.031, 0.021], [0.029, 0.02]])
    got = pool_survival(s, se)
    g = np.log(-np.log(s))
    v = (se / (s * np.log(s))) ** 2
    ref = rubin(g, v)
    np.testing.assert_allclose(got["surv"], np.exp(-np.exp(ref["estimate"])))
    np.testing.assert_allclose(got["lower"], np.exp(-np.exp(ref["upper"])))
    np.testing.assert_allclose(got["upper"], np.exp(-np.exp(ref["lower"])))
    assert ((got["lower"] < got["surv"]) & (got["surv"] < got["upper"])).all()
    # identical imputations: the pooled band is each one's log-log band
    one = pool_survival(np.tile(s[:1], (4, 1)), np.tile(se[:1], (4, 1)))
    z = 1.959963984540054
    sd = se[0] / (s[0] * -np.log(s[0]))
    np.testing.assert_allclose(one["lower"], s[0] ** np.exp(z * sd), rtol=1e-6)
    np.testing.assert_allclose(one["fmi"], 0, atol=1e-6)
