"""Counting-process Cox (start, stop] against R's coxph on tmerge'd data (R 4, survival 3.5.3).

Data: tests/data/sensitivity_cohort.csv (seeded simulation, tests/data/sensitivity_reference.R).
In R (the full script is tests/data/sensitivity_reference.R):
    d <- read.csv("sensitivity_cohort.csv"); d$grade <- factor(d$grade, levels = c("I", "II", "III"))
    base <- tmerge(d, d, id = id, tstop = time, death = event(time, event))
    tv <- tmerge(base, d, id = id, treated = tdc(rt_time))
    summary(coxph(Surv(tstart, tstop, death) ~ treated + age + grade + er, data = tv, ties = ...))$coefficients
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.stats.cox import cox_coefficients, cox_zph, fit_cox
from mbcrt.stats.design import design_matrix
from mbcrt.stats.timevarying import start_stop

DATA = Path(__file__).parent / "data" / "sensitivity_cohort.csv"
RTOL = 1e-8
TERMS = ["treated", "age", "gradeII", "gradeIII", "er"]

# coxph(Surv(tstart, tstop, death) ~ treated + age + grade + er, data = tv): coef, se(coef), Pr(>|z|)
EFRON = {
    "treated": (-0.197694303328, 0.15717096497493, 0.2084533622671),
    "age": (0.018635866691, 0.00733999092087, 0.0111185853184),
    "gradeII": (-0.108379241715, 0.17327400939393, 0.5316567739368),
    "gradeIII": (0.212121030132, 0.19707126602312, 0.2817631033407),
    "er": (-0.351126496637, 0.14895318946897, 0.0184086536308),
}
# ... ties = "breslow"
BRESLOW = {
    "treated": (-0.1974129875096, 0.15716851565327, 0.2090944438326),
    "age": (0.0186319867916, 0.00733976933533, 0.0111329568678),
    "gradeII": (-0.1081644920493, 0.17327394926248, 0.5324701253552),
    "gradeIII": (0.2121476913055, 0.19707248274393, 0.2817055979150),
    "er": (-0.3509402781044, 0.14895313889236, 0.0184706866754),
}
# ... cluster = id: robust se, Pr(>|z|)
ROBUST = {
    "treated": (0.15807198862261, 0.2110585729889),
    "age": (0.00730192697914, 0.0107049736934),
    "gradeII": (0.17664036440276, 0.5395069469947),
    "gradeIII": (0.18703187786152, 0.2567342661267),
    "er": (0.14713525349775, 0.0170133132262),
}
# coxph(Surv(tstart, tstop, death) ~ treated + age + strata(er), data = tv): coef, se, p
STRATA = {"treated": (-0.2288417416628, 0.15744057609008, 0.1460816943501),
          "age": (0.0172694227408, 0.00736167585601, 0.0189835005281)}


@pytest.fixture(scope="module")
def tv():
    d = pd.read_csv(DATA)
    rows = start_stop(d["time"], d["event"], d["rt_time"], id=d["id"])
    return rows.merge(d[["id", "age", "grade", "er"]], on="id", how="left")


def design(tv):
    return design_matrix(tv, ["treated", "age", "grade", "er"], ["grade"], {"grade": ["I", "II", "III"]})


def test_tmerge_shape(tv):
    # R: nrow(tv) 641, sum(tv$death) 185, sum(tv$treated) 241
    assert (len(tv), tv["event"].sum(), tv["treated"].sum()) == (641, 185, 241)


@pytest.mark.parametrize("ties, ref", [("efron", EFRON), ("breslow", BRESLOW)])
def test_counting_process_matches_r(tv, ties, ref):
    fit = fit_cox(design(tv), tv["tstop"], tv["event"], entry=tv["tstart"], ties=ties)
    for term, (coef, se, p) in ref.items():
        row = fit.summary.loc[term]
        assert row["coef"] == pytest.approx(coef, rel=RTOL)
        assert row["se"] == pytest.approx(se, rel=RTOL)
        assert row["p"] == pytest.approx(p, rel=1e-7)


def test_counting_process_cluster_robust(tv):
    fit = fit_cox(design(tv), tv["tstop"], tv["event"], entry=tv["tstart"], cluster=tv["id"])
    for term, (robust_se, p) in ROBUST.items():
        assert fit.summary.loc[term, "robust_se"] == pytest.approx(robust_se, rel=1e-7)
        assert fit.summary.loc[term, "p"] == pytest.approx(p, rel=1e-6)


def test_counting_process_with_strata(tv):
    fit = fit_cox(tv[["treated", "age"]], tv["tstop"], tv["event"], entry=tv["tstart"], strata=tv["er"])
    for term, (coef, se, p) in STRATA.items():
        assert fit.summary.loc[term, ["coef", "se", "p"]].tolist() == pytest.approx([coef, se, p], rel=1e-7)


def test_entry_zero_equals_right_censored_fit(tv):
    d = pd.read_csv(DATA)
    X = d[["age", "er"]]
    plain = fit_cox(X, d["time"], d["event"])
    counting = fit_cox(X, d["time"], d["event"], entry=np.zeros(len(d)))
    np.testing.assert_allclose(counting.params, plain.params, rtol=1e-10)
    np.testing.assert_allclose(counting.se, plain.se, rtol=1e-10)
    assert counting.loglik == pytest.approx(plain.loglik, rel=1e-12)


def test_splitting_rows_without_a_change_changes_nothing():
    # A patient's follow-up cut into two rows with the same covariates is the same likelihood.
    d = pd.read_csv(DATA)
    X = d[["age", "er"]]
    plain = fit_cox(X, d["time"], d["event"])
    cut = d["time"] / 2
    rows = pd.concat([pd.DataFrame({"tstart": 0.0, "tstop": cut, "event": 0, "age": d["age"], "er": d["er"]}),
                      pd.DataFrame({"tstart": cut, "tstop": d["time"], "event": d["event"], "age": d["age"],
                                    "er": d["er"]})], ignore_index=True)
    split = fit_cox(rows[["age", "er"]], rows["tstop"], rows["event"], entry=rows["tstart"])
    np.testing.assert_allclose(split.params, plain.params, rtol=1e-9)
    np.testing.assert_allclose(split.se, plain.se, rtol=1e-9)


def test_entry_not_before_stop_is_an_input_error(tv):
    with pytest.raises(InputError, match="start time not before stop"):
        fit_cox(tv[["age"]], tv["tstop"], tv["event"], entry=tv["tstop"])


def test_cox_zph_refuses_counting_process(tv):
    fit = fit_cox(tv[["treated", "age"]], tv["tstop"], tv["event"], entry=tv["tstart"])
    with pytest.raises(NotImplementedError):
        cox_zph(fit)


def test_refits_share_the_sort_and_equal_weighted_fits(tv):
    X = tv[["treated", "age"]]
    rng = np.random.default_rng(3)
    w = rng.uniform(0.5, 2.0, size=(3, len(tv)))
    coefs = cox_coefficients(X, tv["tstop"], tv["event"], w, entry=tv["tstart"])
    for b in range(3):
        fit = fit_cox(X, tv["tstop"], tv["event"], entry=tv["tstart"], weights=w[b])
        np.testing.assert_allclose(coefs[b], fit.params, rtol=1e-10)
