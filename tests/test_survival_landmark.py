"""Landmark survival (``KMResult.survival_at``) and numbers at risk, against R's survival 3.5.3.

Golden numbers come from R 4.2.2, survival 3.5.3, on ``data/public/gbsg2.csv`` (TH.data::GBSG2 with
a row id). The matched cohort is the 246 pairs MatchIt 4.5.5 made without a caliper
(``tests/data/gbsg2_pairs_nocaliper.csv``).
"""


import numpy as np
import pytest
from conftest import gbsg2, gbsg2_matched  # noqa: F401

from mbcrt.stats.survival import at_risk_table, kaplan_meier, km_by_group

LANDMARKS = [365, 1095, 1825]
RTOL = 1e-6


# R: f <- survfit(Surv(time, cens) ~ horTh, data = d, conf.type = ct)
#    s <- summary(f, times = c(365, 1095, 1825)); s$surv, s$lower, s$upper  (make_reference.R)
GOLDEN = {
    # (cohort, group): surv, {conf_type: (lower, upper)}
    ("all", "no"): ([0.8966193372, 0.6058014007, 0.4368057718], {
        "log": ([0.8681508973, 0.5591850859, 0.3822345990], [0.9260213155, 0.6563038721, 0.4991680051]),
        "log-log": ([0.8635815010, 0.5554228820, 0.3779196939], [0.9220176904, 0.6523330509, 0.4941041203])}),
    ("all", "yes"): ([0.9495842122, 0.7077333717, 0.5812100669], {
        "log": ([0.9221869077, 0.6504713272, 0.5143691912], [0.9777954648, 0.7700362867, 0.6567367323]),
        "log-log": ([0.9129236518, 0.6432349105, 0.5067894037], [0.9710527700, 0.7627502513, 0.6483994477])}),
    ("matched", "no"): ([0.9169794540, 0.6033533021, 0.3931122774], {
        "log": ([0.8827881244, 0.5426288574, 0.3232588342], [0.9524950504, 0.6708732908, 0.4780604464]),
        "log-log": ([0.8742718277, 0.5361790631, 0.3162223722], [0.9456281928, 0.6639354300, 0.4689983433])}),
    ("matched", "yes"): ([0.9495842122, 0.7077333717, 0.5812100669], {
        "log": ([0.9221869077, 0.6504713272, 0.5143691912], [0.9777954648, 0.7700362867, 0.6567367323]),
        "log-log": ([0.9129236518, 0.6432349105, 0.5067894037], [0.9710527700, 0.7627502513, 0.6483994477])}),
}

# R (run for this test): m <- the matched rows;
#   f <- survfit(Surv(time, cens) ~ horTh, data = m, conf.type = "plain")
#   s <- summary(f, times = c(365, 1095, 1825)); cbind(s$surv, s$std.err, s$lower, s$upper, s$n.risk)
PLAIN_MATCHED = {
    "no": dict(surv=[0.916979454004, 0.603353302147, 0.393112277367],
               std_err=[0.0177784268908, 0.0326547426491, 0.0392401290528],
               lower=[0.882134377596, 0.539351182630, 0.316203037675],
               upper=[0.951824530411, 0.667355421664, 0.470021517059], n_risk=[220, 118, 37]),
    "yes": dict(surv=[0.949584212164, 0.707733371678, 0.581210066890],
                std_err=[0.0141840907978, 0.0304656686621, 0.0362287268957],
                lower=[0.921783905046, 0.648021758335, 0.510203066968],
                upper=[0.977384519281, 0.767444985021, 0.652217066811], n_risk=[223, 136, 60]),
}


@pytest.mark.parametrize("cohort,group", list(GOLDEN))
@pytest.mark.parametrize("conf_type", ["log", "log-log"])
def test_landmark_survival_matches_r(cohort, group, conf_type):
    d = gbsg2() if cohort == "all" else gbsg2_matched()
    fit = km_by_group(d["time"], d["cens"], d["horTh"], conf_type=conf_type)[group]
    got = fit.survival_at(LANDMARKS)
    surv, bands = GOLDEN[(cohort, group)]
    lower, upper = bands[conf_type]
    np.testing.assert_allclose(got["surv"], surv, rtol=RTOL)
    np.testing.assert_allclose(got["lower"], lower, rtol=RTOL)
    np.testing.assert_allclose(got["upper"], upper, rtol=RTOL)


@pytest.mark.parametrize("group", ["no", "yes"])
def test_landmark_plain_interval_std_err_and_at_risk_match_r(group):
    d = gbsg2_matched()
    got = km_by_group(d["time"], d["cens"], d["horTh"], conf_type="plain")[group].survival_at(LANDMARKS)
    want = PLAIN_MATCHED[group]
    for col in ("surv", "std_err", "lower", "upper"):
        np.testing.assert_allclose(got[col], want[col], rtol=RTOL, err_msg=col)
    assert got["n_risk"].tolist() == want["n_risk"]


def test_landmark_before_first_time_between_times_and_after_last():
    # R: f <- survfit(Surv(c(1, 2, 2, 3, 4, 5), c(0, 1, 0, 1, 1, 0)) ~ 1, conf.type = "log")
    #    s <- summary(f, times = c(0, 2.5, 5, 6)); cbind(s$time, s$surv, s$lower, s$upper, s$n.risk)
    #    0.0  1.000000000000  1.0000000000000  1  6
    #    2.5  0.800000000000  0.5161257603422  1  3
    #    5.0  0.266666666667  0.0507427651267  1  1
    #    (time 6, after the last follow-up, is left out by R; here it is NaN with 0 at risk)
    fit = kaplan_meier([1, 2, 2, 3, 4, 5], [0, 1, 0, 1, 1, 0], conf_type="log")
    got = fit.survival_at([0, 2.5, 5, 6])
    np.testing.assert_allclose(got["surv"].iloc[:3], [1.0, 0.8, 0.266666666667], rtol=RTOL)
    np.testing.assert_allclose(got["lower"].iloc[:3], [1.0, 0.5161257603422, 0.0507427651267], rtol=RTOL)
    np.testing.assert_allclose(got["upper"].iloc[:3], [1.0, 1.0, 1.0], rtol=RTOL)
    assert got["n_risk"].tolist() == [6, 3, 1, 0]
    assert got[["surv", "std_err", "lower", "upper"]].iloc[3].isna().all()


def test_landmark_after_curve_reached_zero_stays_zero():
    fit = kaplan_meier([1, 2], [1, 1])
    got = fit.survival_at([3])
    assert got["surv"].iloc[0] == 0.0 and got["n_risk"].iloc[0] == 0


def test_at_risk_table_counts_time_at_or_after_each_landmark():
    d = gbsg2()
    table = at_risk_table(d["time"], d["horTh"], [0, 365, 1095, 1825, 3000], order=["yes", "no"])
    assert table.index.tolist() == ["yes", "no"]
    assert table.loc["no"].tolist() == [440, 379, 197, 63, 0]   # R summary(f, times)$n.risk
    assert table.loc["yes"].tolist() == [246, 223, 136, 60, 0]
    # Same count as a direct comparison, tied times included.
    assert table.loc["no", 1095.0] == int(((d["horTh"] == "no") & (d["time"] >= 1095)).sum())


def test_at_risk_table_rejects_a_listed_group_without_patients():
    with pytest.raises(ValueError, match="no patients"):
        at_risk_table([1, 2, 3], ["a", "a", "b"], [0], order=["a", "b", "c"])
