"""Cox models stratified by matched pair: every stratum is one pair, R's ``+ strata(subclass)``
(R 4.2.2, survival 3.5.3), and the closed form that holds for pairs, at 200,000 pairs.

Matched sets: tests/data/gbsg2_pairs_<setting>.csv (MatchIt 4.5.5 pairs; rows with no control are
unmatched treated patients and are left out, as match.data does).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.cox import fit_cox

DATA = Path(__file__).parent / "data"

# reference: c2 <- coxph(Surv(time, cens) ~ horTh + strata(subclass), data = md)
#   exp(coef(c2)); summary(c2)$coefficients[1, "Pr(>|z|)"]
PAIR_STRATA = {
    "nocaliper": (0.6744186047, 0.02043213904),
    "caliper02_prob": (0.6913580247, 0.03368536391),
    "caliper02_logit": (0.6913580247, 0.03368536391),
    "caliper005_logit": (0.6666666667, 0.02100203688),
}
# sprintf("%.15g", c(coef(c2), sqrt(c2$var), c2$loglik)) with md built from the pairs file:
#   md <- rbind(cbind(d[match(pr$treated_id, d$id), ], pair = seq_len(nrow(pr))),
#               cbind(d[match(pr$control_id, d$id), ], pair = seq_len(nrow(pr))))
NOCALIPER_DETAIL = {"coef": -0.393904285706517, "se": 0.16990964153657,
                    "loglik": (-99.8131940006323, -97.0735530494502)}


@pytest.fixture(scope="module")
def gbsg2():
    return pd.read_csv(PUBLIC_DIR / "gbsg2.csv")


def matched(d, setting):
    pairs = pd.read_csv(DATA / f"gbsg2_pairs_{setting}.csv").dropna()
    by_id = d.set_index("id")
    pair = np.arange(len(pairs))
    return pd.concat([by_id.loc[pairs["treated_id"].astype(int)].assign(pair=pair),
                      by_id.loc[pairs["control_id"].astype(int)].assign(pair=pair)])


def pair_fit(md):
    X = pd.DataFrame({"horThyes": (md["horTh"] == "yes").astype(float)})
    return fit_cox(X, md["time"], md["cens"], strata=md["pair"])


@pytest.mark.parametrize("setting", list(PAIR_STRATA))
def test_stratified_by_pair_matches_r(gbsg2, setting):
    fit = pair_fit(matched(gbsg2, setting))
    hr, p = PAIR_STRATA[setting]
    assert fit.summary.loc["horThyes", "hr"] == pytest.approx(hr, rel=1e-8)
    assert fit.summary.loc["horThyes", "p"] == pytest.approx(p, rel=1e-8)


def test_stratified_by_pair_coefficient_se_loglik(gbsg2):
    md = matched(gbsg2, "nocaliper")
    fit = pair_fit(md)
    assert fit.params["horThyes"] == pytest.approx(NOCALIPER_DETAIL["coef"], rel=1e-9)
    assert fit.se["horThyes"] == pytest.approx(NOCALIPER_DETAIL["se"], rel=1e-9)
    assert (fit.loglik_null, fit.loglik) == pytest.approx(NOCALIPER_DETAIL["loglik"], rel=1e-12)
    assert fit.n_strata == len(md) // 2


def test_order_of_rows_does_not_matter(gbsg2):
    md = matched(gbsg2, "nocaliper")
    shuffled = md.sample(frac=1.0, random_state=7)
    a, b = pair_fit(md), pair_fit(shuffled)
    assert a.params["horThyes"] == pytest.approx(b.params["horThyes"], rel=1e-12)
    assert a.se["horThyes"] == pytest.approx(b.se["horThyes"], rel=1e-12)


def test_200000_pairs_equal_the_closed_form():
    """With one treated and one control per stratum and no tied times, the conditional likelihood
    is binomial over the informative pairs (the first time in the pair is an event): the hazard
    ratio is (treated first) / (control first) and var(log HR) = 1/a + 1/b."""
    n_pairs = 200_000
    rng = np.random.default_rng(20240101)
    treated = np.tile([1.0, 0.0], n_pairs)
    failure = rng.exponential(np.exp(-np.log(0.7) * treated))
    censor = rng.exponential(1.5, 2 * n_pairs)
    time, event = np.minimum(failure, censor), (failure <= censor).astype(int)
    pair = np.repeat(np.arange(n_pairs), 2)

    fit = fit_cox(pd.DataFrame({"treat": treated}), time, event, strata=pair)

    t, e = time.reshape(-1, 2), event.reshape(-1, 2)  # column 0 treated, column 1 control
    treated_first = int(((t[:, 0] < t[:, 1]) & (e[:, 0] == 1)).sum())
    control_first = int(((t[:, 1] < t[:, 0]) & (e[:, 1] == 1)).sum())
    assert fit.summary.loc["treat", "hr"] == pytest.approx(treated_first / control_first, rel=1e-9)
    assert fit.se["treat"] == pytest.approx(np.sqrt(1 / treated_first + 1 / control_first), rel=1e-9)
    assert fit.n_strata == n_pairs
