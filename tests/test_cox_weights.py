"""Weighted Cox regression (case weights, robust sandwich SE) against R's coxph (R 4, survival 3.5.3).

Data: tests/data/sensitivity_cohort.csv; the weights are stabilised IPTW for ever-treated. In R
(tests/data/sensitivity_reference.R):
    d$ever <- as.integer(!is.na(d$rt_time))
    ps <- glm(ever ~ age + grade + er, family = binomial, data = d)$fitted.values
    pt <- mean(d$ever); d$w <- ifelse(d$ever == 1, pt / ps, (1 - pt) / (1 - ps))
    summary(coxph(Surv(time, event) ~ ever, data = d, weights = w, robust = TRUE))$coefficients
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.stats.cox import fit_cox
from mbcrt.stats.design import design_matrix
from mbcrt.stats.matching import propensity_score
from mbcrt.stats.timevarying import start_stop
from mbcrt.stats.weighting import propensity_weights

DATA = Path(__file__).parent / "data" / "sensitivity_cohort.csv"

# coxph(Surv(time, event) ~ ever, weights = w, robust = TRUE): coef, se(coef), robust se, Pr(>|z|)
EFRON = (-0.541020998125, 0.14850805419, 0.154246304327, 0.0004523153659)
# ... ties = "breslow"
BRESLOW = (-0.54058262263, 0.14850807029, 0.154147184316, 0.00045331680509)
# coxph(Surv(time, event) ~ ever + age + er, weights = w, robust = TRUE)
MULTI = {"ever": (-0.5377631694994, 0.14854596185219, 0.15289851602871, 0.000436248543257),
         "age": (0.0148056095505, 0.00736980201582, 0.00761591208094, 0.051891073718752),
         "er": (-0.2667209896053, 0.14843048858085, 0.15161547896597, 0.078544620479557)}
# tv$w <- d$w[match(tv$id, d$id)]
# coxph(Surv(tstart, tstop, death) ~ treated + age, data = tv, weights = w, cluster = id)
COUNTING = {"treated": (-0.1897015284660, 0.15740779437627, 0.16105327272223, 0.2388442028721),
            "age": (0.0162980684845, 0.00740083461295, 0.00752363210114, 0.0302920837072)}


@pytest.fixture(scope="module")
def cohort():
    d = pd.read_csv(DATA)
    d["ever"] = d["rt_time"].notna().astype(int)
    X = design_matrix(d, ["age", "grade", "er"], ["grade"], {"grade": ["I", "II", "III"]})
    d["w"] = propensity_weights(propensity_score(X, d["ever"]), d["ever"], "ate", stabilize=True)
    return d


def check(row, ref):
    coef, se, robust_se, p = ref
    assert row["coef"] == pytest.approx(coef, rel=1e-7)
    assert row["se"] == pytest.approx(se, rel=1e-7)
    assert row["robust_se"] == pytest.approx(robust_se, rel=1e-7)
    assert row["p"] == pytest.approx(p, rel=1e-6)


@pytest.mark.parametrize("ties, ref", [("efron", EFRON), ("breslow", BRESLOW)])
def test_weighted_robust_matches_r(cohort, ties, ref):
    fit = fit_cox(cohort[["ever"]], cohort["time"], cohort["event"], weights=cohort["w"], ties=ties)
    check(fit.summary.loc["ever"], ref)
    assert fit.robust_se is not None and fit.n_clusters is None


def test_weighted_multivariable(cohort):
    fit = fit_cox(cohort[["ever", "age", "er"]], cohort["time"], cohort["event"], weights=cohort["w"])
    for term, ref in MULTI.items():
        check(fit.summary.loc[term], ref)


def test_weighted_counting_process_clustered(cohort):
    tv = start_stop(cohort["time"], cohort["event"], cohort["rt_time"], id=cohort["id"])
    tv = tv.merge(cohort[["id", "age", "w"]], on="id")
    fit = fit_cox(tv[["treated", "age"]], tv["tstop"], tv["event"], entry=tv["tstart"], weights=tv["w"],
                  cluster=tv["id"])
    for term, ref in COUNTING.items():
        check(fit.summary.loc[term], ref)


def test_unit_weights_equal_the_unweighted_fit(cohort):
    plain = fit_cox(cohort[["ever", "age"]], cohort["time"], cohort["event"])
    weighted = fit_cox(cohort[["ever", "age"]], cohort["time"], cohort["event"], weights=np.ones(len(cohort)))
    np.testing.assert_allclose(weighted.params, plain.params, rtol=1e-12)
    np.testing.assert_allclose(weighted.se, plain.se, rtol=1e-12)


def test_integer_weights_equal_duplicated_rows_with_breslow(cohort):
    # Breslow's partial likelihood with weight 2 is that of the row entered twice (exact; Efron's differs).
    w = np.where(np.arange(len(cohort)) % 3 == 0, 2.0, 1.0)
    fit = fit_cox(cohort[["ever", "age"]], cohort["time"], cohort["event"], weights=w, ties="breslow")
    dup = pd.concat([cohort, cohort[w == 2]], ignore_index=True)
    plain = fit_cox(dup[["ever", "age"]], dup["time"], dup["event"], ties="breslow")
    np.testing.assert_allclose(fit.params, plain.params, rtol=1e-9)
    np.testing.assert_allclose(fit.se, plain.se, rtol=1e-9)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_non_positive_weights_are_an_input_error(cohort, bad):
    w = cohort["w"].to_numpy().copy()
    w[5] = bad
    with pytest.raises(InputError, match="positive"):
        fit_cox(cohort[["ever"]], cohort["time"], cohort["event"], weights=w)


# coxph(Surv(time, event) ~ ever + age + strata(er), data = d, weights = w, robust = TRUE)
STRATA = {"ever": (-0.5478428077778, 0.14912089769488, 0.15256237892113, 0.000329483685136),
          "age": (0.0143451686489, 0.00735717481529, 0.00755898271111, 0.057727118521652)}
# coxph(Surv(tstart, tstop, death) ~ treated + age + strata(er), data = tv, weights = w, cluster = id)
STRATA_COUNTING = {"treated": (-0.2077345153471, 0.15829811319096, 0.15903722195706, 0.1914843475519),
                   "age": (0.0147699183959, 0.00735296929737, 0.00743969348051, 0.0471126744328)}


def test_weighted_stratified(cohort):
    fit = fit_cox(cohort[["ever", "age"]], cohort["time"], cohort["event"], weights=cohort["w"],
                  strata=cohort["er"])
    for term, ref in STRATA.items():
        check(fit.summary.loc[term], ref)


def test_weighted_stratified_counting_process(cohort):
    tv = start_stop(cohort["time"], cohort["event"], cohort["rt_time"], id=cohort["id"])
    tv = tv.merge(cohort[["id", "age", "er", "w"]], on="id")
    fit = fit_cox(tv[["treated", "age"]], tv["tstop"], tv["event"], entry=tv["tstart"], weights=tv["w"],
                  strata=tv["er"], cluster=tv["id"])
    for term, ref in STRATA_COUNTING.items():
        check(fit.summary.loc[term], ref)
