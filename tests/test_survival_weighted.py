"""Weighted and left-truncated Kaplan-Meier against R's survfit (R 4, survival 3.5.3).

R uses the infinitesimal-jackknife (robust) standard error when a weight is not a whole number
(``survfitKM``: ``robust <- has.rwt``), Greenwood's otherwise; ``variance="auto"`` does the same.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.stats.design import design_matrix
from mbcrt.stats.matching import propensity_score
from mbcrt.stats.survival import kaplan_meier, weighted_km
from mbcrt.stats.timevarying import start_stop
from mbcrt.stats.weighting import propensity_weights

DATA = Path(__file__).parent / "data" / "sensitivity_cohort.csv"
COLS = ["surv", "std_err", "lower", "upper"]

# d <- data.frame(t0 = c(0,0,2,1,0,3,0,2), t1 = c(5,3,6,4,2,8,7,9), e = c(1,0,1,1,0,1,0,1),
#                 w = c(1,2,0.5,1.5,1,2,1,0.7), w2 = c(1,2,1,3,1,2,1,1))
T0 = np.array([0, 0, 2, 1, 0, 3, 0, 2.0])
T1 = np.array([5, 3, 6, 4, 2, 8, 7, 9.0])
E = np.array([1, 0, 1, 1, 0, 1, 0, 1])
W = np.array([1, 2, 0.5, 1.5, 1, 2, 1, 0.7])
W2 = np.array([1, 2, 1, 3, 1, 2, 1, 1.0])

# f <- survfit(Surv(t0, t1, e) ~ 1, data = d, weights = w); f$time; f$n.risk
SMALL_TIME = [2, 3, 4, 5, 6, 7, 8, 9]
SMALL_RISK = [6.5, 6.7, 6.7, 5.2, 4.2, 3.7, 2.7, 0.7]
# s <- summary(survfit(Surv(t0, t1, e) ~ 1, data = d, weights = w, conf.type = "log-log"))
#   s$time 4 5 6 8; s$surv; s$std.err; s$lower; s$upper (robust variance: non-integer weights)
SMALL_IJ = [[0.7761194030, 0.1942099499, 0.172899467263, 0.9640607494],
            [0.6268656716, 0.2150651295, 0.139346937080, 0.8952326195],
            [0.5522388060, 0.2197670613, 0.109858548863, 0.8524530789],
            [0.1431730238, 0.1447885105, 0.004567056108, 0.4960552916]]
# ... weights = w2 (whole numbers: Greenwood): s$n.risk 9 6 5 3 and
SMALL_GREENWOOD = [[0.6666666667, 0.1571348403, 0.281682242222, 0.8783067576],
                   [0.5555555556, 0.1656346650, 0.204241775639, 0.8045250159],
                   [0.4444444444, 0.1656346650, 0.135872477620, 0.7193145897],
                   [0.1481481481, 0.1329670323, 0.008250528301, 0.4676401794]]

TIMES = [100, 365, 730, 1000]
# summary(survfit(Surv(time, event) ~ 1, data = d, weights = w, conf.type = "log-log"), times = TIMES)
#   (w: stabilised IPTW, tests/data/sensitivity_reference.R): n.risk, surv, std.err, lower, upper
COHORT_W = [[369.4725253063, 0.924110823351, 0.0136369799229, 0.892385372963, 0.946761700204],
            [241.7883758812, 0.744807800457, 0.0233347623662, 0.695654435892, 0.787257245103],
            [126.5630546072, 0.565480889503, 0.0285144707411, 0.507634013877, 0.619192003892],
            [63.2280969983, 0.438739132884, 0.0324689101387, 0.374392883866, 0.501147866842]]
# summary(survfit(Surv(tstart, tstop, death) ~ 1, data = tv[tv$treated == 1, ], weights = w,
#                 conf.type = "log-log"), times = TIMES)   (tv from tmerge, entry = start of treatment)
TRUNC_W = [[174.0857941071, 0.956468157904, 0.0199998176210, 0.894247328940, 0.982433201877],
           [162.1780217340, 0.792802234297, 0.0310680092752, 0.723817213585, 0.846380009187],
           [86.1914525797, 0.613442818167, 0.0371897768415, 0.536235310525, 0.681683972922],
           [44.1437753269, 0.468153221092, 0.0428291440820, 0.382425978449, 0.549218512143]]
# ... without weights
TRUNC = [[172, 0.958458726249, 0.0185491975275, 0.901465003909, 0.982795709621],
         [164, 0.803506372778, 0.0294995955007, 0.737880760613, 0.854320008754],
         [88, 0.618597000752, 0.0365218879585, 0.542728048355, 0.685594127195],
         [46, 0.484572051799, 0.0415776078531, 0.401005740336, 0.563036705383]]


def at(table: pd.DataFrame, times) -> pd.DataFrame:
    """summary(fit, times =): estimate at the last time <= t, number at risk at the first time >= t."""
    tt = table["time"].to_numpy()
    last = np.searchsorted(tt, times, side="right") - 1
    nxt = np.searchsorted(tt, times, side="left")
    out = table.iloc[last][COLS].reset_index(drop=True)
    out.insert(0, "n_risk", table["n_risk"].to_numpy()[nxt])
    return out


def test_small_weighted_truncated_ij():
    tab = weighted_km(T1, E, weights=W, entry=T0)
    assert tab["time"].tolist() == SMALL_TIME
    np.testing.assert_allclose(tab["n_risk"], SMALL_RISK, rtol=1e-12)
    events = tab[tab["n_event"] > 0].iloc[:4]
    np.testing.assert_allclose(events[COLS].to_numpy(), SMALL_IJ, rtol=1e-9)


def test_small_whole_weights_use_greenwood():
    tab = weighted_km(T1, E, weights=W2, entry=T0)
    events = tab[tab["n_event"] > 0].iloc[:4]
    np.testing.assert_allclose(events["n_risk"], [9, 6, 5, 3])
    np.testing.assert_allclose(events[COLS].to_numpy(), SMALL_GREENWOOD, rtol=1e-9)


@pytest.fixture(scope="module")
def cohort():
    d = pd.read_csv(DATA)
    d["ever"] = d["rt_time"].notna().astype(int)
    X = design_matrix(d, ["age", "grade", "er"], ["grade"], {"grade": ["I", "II", "III"]})
    d["w"] = propensity_weights(propensity_score(X, d["ever"]), d["ever"], "ate")
    return d


def test_weighted_cohort(cohort):
    tab = weighted_km(cohort["time"], cohort["event"], weights=cohort["w"])
    np.testing.assert_allclose(at(tab, TIMES).to_numpy(), COHORT_W, rtol=1e-9)


@pytest.mark.parametrize("weighted, ref", [(True, TRUNC_W), (False, TRUNC)])
def test_left_truncated_cohort(cohort, weighted, ref):
    tv = start_stop(cohort["time"], cohort["event"], cohort["rt_time"], id=cohort["id"])
    tv = tv[tv["treated"] == 1].merge(cohort[["id", "w"]], on="id")
    tab = weighted_km(tv["tstop"], tv["event"], weights=tv["w"] if weighted else None, entry=tv["tstart"])
    np.testing.assert_allclose(at(tab, TIMES).to_numpy(), ref, rtol=1e-9)


def test_unweighted_equals_kaplan_meier(cohort):
    ours = weighted_km(cohort["time"], cohort["event"])
    km = kaplan_meier(cohort["time"], cohort["event"]).table
    np.testing.assert_allclose(ours[["n_risk", "n_event"] + COLS].to_numpy(dtype=float),
                               km[["n_risk", "n_event"] + COLS].to_numpy(dtype=float), rtol=1e-12)


def test_bad_entry_and_weights():
    with pytest.raises(InputError, match="entry"):
        weighted_km(T1, E, entry=T1)
    with pytest.raises(InputError, match="weights"):
        weighted_km(T1, E, weights=-W)
