"""Cluster-robust (sandwich) standard errors against R's ``coxph(..., cluster = id)``
(R 4.2.2, survival 3.5.3): dfbeta residuals summed within cluster, Efron and Breslow ties.

Data: data/public/gbsg2.csv; matched sets from tests/data/gbsg2_pairs_<setting>.csv (MatchIt 4.5.5
pairs; rows with no control are unmatched treated patients and are left out, as match.data does).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.cox import fit_cox
from mbcrt.stats.design import design_matrix

DATA = Path(__file__).parent / "data"
RTOL = 1e-8

# reference: md <- match.data(m); c1 <- coxph(Surv(time, cens) ~ horTh, data = md, cluster = subclass)
#   exp(coef(c1)); sqrt(diag(c1$var)); sqrt(diag(c1$naive.var))
MATCHED_CLUSTER = {
    "nocaliper": (0.6587370996, 0.1316406088, 0.1367537623),
    "caliper02_prob": (0.6667220346, 0.1380368889, 0.1378952221),
    "caliper02_logit": (0.6667220346, 0.1380368889, 0.1378952221),
    "caliper005_logit": (0.6715832839, 0.1384523509, 0.1391070288),
}

# d <- read.csv("gbsg2.csv"); d$horTh <- factor(d$horTh, levels = c("no", "yes"))
# d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
# d$block <- d$time %/% 30 + 1; d$clus <- d$id %% 60
# s <- coxph(Surv(block, cens) ~ horTh + age + pnodes + strata(tgrade), data = d, ties = ti, cluster = clus)
#   sprintf("%.15g", c(coef(s), sqrt(diag(s$naive.var)), sqrt(diag(s$var)), s$loglik))
TIED_STRATIFIED = {
    "efron": {
        "coef": [-0.341365914434773, 0.000103280773148099, 0.05406537637219],
        "se": [0.129078688015395, 0.00599236469436368, 0.00685555442537962],
        "robust_se": [0.129006542383859, 0.00605274968647884, 0.00950232620760442],
        "loglik": [-1548.87629677902, -1523.57868644889],
    },
    "breslow": {
        "coef": [-0.340340074489737, 6.26469331711358e-05, 0.053855375722727],
        "se": [0.129064583704681, 0.00598410943367297, 0.0068801886219703],
        "robust_se": [0.127850765790613, 0.00596245847651656, 0.00940182506995573],
        "loglik": [-1551.21807257754, -1526.20495058787],
    },
}


@pytest.fixture(scope="module")
def gbsg2():
    return pd.read_csv(PUBLIC_DIR / "gbsg2.csv")


def matched(d, setting):
    pairs = pd.read_csv(DATA / f"gbsg2_pairs_{setting}.csv").dropna()
    by_id = d.set_index("id")
    pair = np.arange(len(pairs))
    return pd.concat([by_id.loc[pairs["treated_id"].astype(int)].assign(pair=pair),
                      by_id.loc[pairs["control_id"].astype(int)].assign(pair=pair)])


@pytest.mark.parametrize("setting", list(MATCHED_CLUSTER))
def test_matched_sample_clustered_on_pair(gbsg2, setting):
    md = matched(gbsg2, setting)
    X = pd.DataFrame({"horThyes": (md["horTh"] == "yes").astype(float)})
    fit = fit_cox(X, md["time"], md["cens"], cluster=md["pair"])
    hr, robust_se, naive_se = MATCHED_CLUSTER[setting]
    row = fit.summary.loc["horThyes"]
    assert row["hr"] == pytest.approx(hr, rel=RTOL)
    assert row["robust_se"] == pytest.approx(robust_se, rel=RTOL)
    assert row["se"] == pytest.approx(naive_se, rel=RTOL)
    assert fit.n_clusters == len(md) // 2


@pytest.mark.parametrize("ties", list(TIED_STRATIFIED))
def test_heavy_ties_strata_and_clusters(gbsg2, ties):
    d = gbsg2.assign(block=gbsg2["time"] // 30 + 1, clus=gbsg2["id"] % 60)
    X = design_matrix(d, ["horTh", "age", "pnodes"], ["horTh"], {"horTh": ["no", "yes"]})
    fit = fit_cox(X, d["block"], d["cens"], ties=ties, strata=d["tgrade"], cluster=d["clus"])
    want = TIED_STRATIFIED[ties]
    np.testing.assert_allclose(fit.params, want["coef"], rtol=RTOL)
    np.testing.assert_allclose(fit.se, want["se"], rtol=RTOL)
    np.testing.assert_allclose(fit.robust_se, want["robust_se"], rtol=RTOL)
    assert [fit.loglik_null, fit.loglik] == pytest.approx(want["loglik"], rel=1e-12)
    assert fit.n_strata == 3


def test_inference_uses_robust_se(gbsg2):
    md = matched(gbsg2, "nocaliper")
    X = pd.DataFrame({"horThyes": (md["horTh"] == "yes").astype(float)})
    fit = fit_cox(X, md["time"], md["cens"], cluster=md["pair"])
    s = fit.summary.loc["horThyes"]
    assert list(fit.summary.columns) == ["coef", "hr", "se", "robust_se", "z", "p", "lower", "upper"]
    assert s["z"] == pytest.approx(s["coef"] / s["robust_se"], rel=1e-14)
    assert np.log(s["upper"]) == pytest.approx(s["coef"] + 1.959963984540054 * s["robust_se"], rel=1e-12)
    np.testing.assert_allclose(fit.var, np.diag(fit.robust_se.to_numpy() ** 2), rtol=1e-14)
    np.testing.assert_allclose(fit.naive_var, np.diag(fit.se.to_numpy() ** 2), rtol=1e-14)


def test_one_patient_per_cluster_is_the_plain_sandwich(gbsg2):
    """Clusters of one: the robust variance is the sum of squared dfbetas, unchanged by relabelling."""
    X = design_matrix(gbsg2, ["horTh", "pnodes"], ["horTh"], {"horTh": ["no", "yes"]})
    a = fit_cox(X, gbsg2["time"], gbsg2["cens"], cluster=gbsg2["id"])
    b = fit_cox(X, gbsg2["time"], gbsg2["cens"], cluster=(gbsg2["id"] * 7919) % 100003)
    np.testing.assert_allclose(a.robust_se, b.robust_se, rtol=1e-12)
    assert not np.allclose(a.robust_se, a.se, rtol=1e-3)  # the sandwich is not the model-based SE
