"""The sensitivity step (mbcrt.steps.sensitivity) on a simulated cohort: its estimates against R, its tables'
shapes, its defaults, and the warnings (not crashes) for settings the data cannot support."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from mbcrt.steps import sensitivity as S
from mbcrt.steps.cox import cox_models
from mbcrt.steps.matching import run_matching
from mbcrt.study.cohort import build_cohort
from mbcrt.study.config import load_study
from test_sensitivity_unseen import STUDY, simulate, write_study

#: R 4.2.2, survival 3.5-3, on simulate(600, seed=11) with os and the treatment time in months
#: (days / 30.4375 from origin_date), grade and bone as factors (first level the reference):
#:   coxph(Surv(os, died) ~ trt + age + grade + bone)                                  naive
#:   coxph(Surv(ifelse(trt == 1, os - tt, os), died) ~ trt + age + grade + bone)        exclude_immortal
#:   tv <- tmerge(d[, c("id", "age", "grade", "bone")], d, id = id, death = event(os, died))
#:   tv <- tmerge(tv, d, id = id, treated = tdc(tt))
#:   coxph(Surv(tstart, tstop, death) ~ treated + age + grade + bone, data = tv)        time_varying
#:   l <- subset(d, os > L); l$expo <- trt == 1 & tt <= L
#:   coxph(Surv(os - L, died) ~ expo + age + grade + bone, data = l), L = 3, 6          landmark
#:   ps <- fitted(glm(trt ~ age + grade + bone, binomial)); pt <- mean(trt)
#:   coxph(Surv(os, died) ~ trt, weights = ifelse(trt == 1, pt / ps, (1 - pt) / (1 - ps)), robust = TRUE)
#:   coxph(Surv(os, died) ~ trt, weights = ifelse(trt == 1, 1 - ps, ps), robust = TRUE)  overlap
#: (hr, lower, upper, p, n patients, events)
R = {
    ("naive", None): (0.5388910645, 0.4503013849, 0.6449093631, 1.509609611e-11, 600, 496),
    ("exclude_immortal", None): (0.7211934578, 0.6026534464, 0.8630499114, 0.0003603151569, 600, 496),
    ("time_varying", None): (1.001081839, 0.8192683067, 1.223243766, 0.9915636159, 600, 496),
    ("landmark", 3): (0.9667161802, 0.7041677108, 1.327155674, 0.8341630836, 527, 423),
    ("landmark", 6): (0.950808789, 0.7521319629, 1.201966407, 0.6731876056, 453, 349),
    ("iptw_ate", None): (0.5567213119, 0.4653274766, 0.6660655876, 1.538929683e-10, 600, 496),
    ("overlap", None): (0.5540635853, 0.4621631156, 0.6642383312, 1.756617069e-10, 600, 496),
}
#: summary(survfit(Surv(os, died) ~ 1, data = subset(d, trt == g)), rmean = 24)$table[c("rmean", "se(rmean)")]
R_RMST = {1: (18.25109794, 0.4133263501), 0: (11.47029024, 0.5026629275)}

FAST = STUDY.replace("sensitivity: {bootstrap: 100}", "sensitivity: {bootstrap: 0}")


def _run(tmp_path, study_text=FAST, data=None, name="s"):
    file = write_study(tmp_path / name, simulate(600, seed=11) if data is None else data, study_text)
    study = load_study(file)
    cohort = build_cohort(study).cohort
    matched = run_matching(study, cohort).matched if "matching" in study.steps else None
    return study, cohort, S.sensitivity_step(study, cohort, matched)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("sens"))


def test_estimates_equal_r(result):
    _, _, res = result
    est = res.estimates
    for (analysis, mark), (hr, lo, hi, p, n, events) in R.items():
        row = est[(est["analysis"] == analysis) & (est["landmark"].fillna(-1) == (mark if mark else -1))]
        assert len(row) == 1, (analysis, mark)
        r = row.iloc[0]
        np.testing.assert_allclose([r.hr, r.lower, r.upper], [hr, lo, hi], rtol=1e-6, err_msg=analysis)
        assert r.p == pytest.approx(p, rel=1e-4)
        assert (r.n, r.events) == (n, events)


def test_naive_is_the_cox_steps_multivariable_treatment_row(result):
    study, cohort, res = result
    _, multi, _ = cox_models(study, cohort, "all")
    cox = multi[multi["term"] == study.treatment].iloc[0]
    naive = res.estimates.set_index("analysis").loc["naive"]
    assert (naive.hr, naive.lower, naive.upper, naive.p) == (cox.hr, cox.lower, cox.upper, cox.p)


def test_rmst_of_the_naive_cohort_equals_r(result):
    _, _, res = result
    r = res.rmst.set_index("analysis").loc["naive"]
    assert r.horizon == 24  # the study's last landmark
    (t1, se1), (t0, se0) = R_RMST[1], R_RMST[0]
    assert r.rmst_treated == pytest.approx(t1, rel=1e-8) and r.rmst_control == pytest.approx(t0, rel=1e-8)
    se = math.hypot(se1, se0)
    np.testing.assert_allclose([r.difference, r.lower, r.upper], [t1 - t0, t1 - t0 - 1.959963985 * se,
                                                                  t1 - t0 + 1.959963985 * se], rtol=1e-8)


def test_tables_have_their_columns_and_rows_in_report_order(result):
    _, _, res = result
    est = res.estimates
    assert list(est.columns) == S.COLUMNS
    assert est["analysis"].tolist() == ["naive", "exclude_immortal", "time_varying", "landmark", "landmark",
                                        "clone_censor_weight", "iptw_ate", "iptw_att", "overlap", "matched"]
    assert est["landmark"].dropna().tolist() == [3, 6]
    assert est["note"].str.len().gt(0).all()
    assert list(res.rmst.columns) == S.RMST_COLUMNS
    assert res.rmst["analysis"].tolist() == ["naive", "landmark", "landmark", "clone_censor_weight", "iptw_ate",
                                             "iptw_att", "overlap", "matched"]
    assert list(res.evalue.columns) == S.EVALUE_COLUMNS
    assert res.evalue.loc[res.evalue["chosen"], "analysis"].tolist() == ["time_varying"]
    assert sorted(res.weights["weighting"].unique()) == ["iptw_ate", "iptw_att", "overlap"]
    assert len(res.panels) == 4


def test_evalues_by_hand(result):
    """VanderWeele 2020: RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)); E = RR + sqrt(RR (RR - 1)), RR >= 1."""
    _, _, res = result
    ev = res.evalue.set_index("analysis").loc["naive"]

    def e(hr):
        rr = (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))
        rr = 1 / rr if rr < 1 else rr
        return rr + math.sqrt(rr * (rr - 1))

    assert ev.evalue == pytest.approx(e(ev.hr), rel=1e-12)
    assert ev.evalue_ci == pytest.approx(e(ev.upper), rel=1e-12)  # the limit nearer 1 of an HR below 1
    tv = res.evalue.set_index("analysis").loc["time_varying"]
    assert tv.evalue_ci == 1  # its interval covers 1


def test_defaults_are_stated(result):
    study, _, res = result
    st = res.settings
    assert (st.landmarks, st.grace, st.rmst_horizon, st.bootstrap) == ([3, 6], 6, 24, 0)
    text = res.methods
    assert "3 months and 6 months (default: the study's first landmark and its half)" in text
    assert "Grace period of the clone-censor-weight analysis: 6 months (default" in text
    assert "24 months (default: the study's last landmark)" in text


def test_the_paragraph_is_words_and_journal_numbers(result):
    study, _, res = result
    text = S.interpretation(study, res)
    assert "HR 0.54 (0.45\u20130.64)" in text  # the naive estimate, as a journal prints it
    assert "less benefit for Treated" in text
    assert re.search(r"\d[eE][+-]?\d", text) is None  # no exponent notation
    assert re.search(r"\d\.\d{4,}", text) is None  # no raw floats
    assert "synthetic cohort these differences show the method" in text  # the study is marked synthetic


def test_a_treatment_start_in_months_gives_the_same_estimates(result, tmp_path):
    _, _, res = result
    data = simulate(600, seed=11)
    treated = data["treatment_date"] != ""
    days = (pd.to_datetime(data["treatment_date"][treated]) - pd.to_datetime(data["origin_date"][treated])).dt.days
    data["months_to_treatment"] = (days / 30.4375).reindex(data.index)
    study = FAST.replace("treatment_start: treatment_date", "treatment_start: months_to_treatment")
    _, _, again = _run(tmp_path, study, data)
    pd.testing.assert_frame_equal(again.estimates, res.estimates)


def test_only_the_analyses_asked_for(tmp_path):
    study = FAST.replace("sensitivity: {bootstrap: 0}", "sensitivity: {bootstrap: 0, analyses: [time_varying, naive]}")
    _, _, res = _run(tmp_path, study)
    assert res.estimates["analysis"].tolist() == ["naive", "time_varying"]
    assert res.rmst["analysis"].tolist() == ["naive"]
    assert res.weights.empty and res.balance.empty


def test_settings_the_data_cannot_support_warn_instead_of_failing(tmp_path):
    # a landmark after most follow-up, and a grace period before anyone is treated (the first
    # treatment comes 15 days after the origin)
    study = FAST.replace("sensitivity: {bootstrap: 0}", "sensitivity: {bootstrap: 0, landmarks: [40], grace: 0.2}")
    _, _, res = _run(tmp_path, study)
    text = " ".join(res.warnings)
    assert "The landmark at 40 months comes after most follow-up" in text
    assert "No patient started treatment within the grace period of 0.2 months" in text
    ccw = res.estimates.set_index("analysis").loc["clone_censor_weight"]
    assert np.isnan(ccw.hr) and ccw.note.startswith("Not estimable")
    assert np.isfinite(res.estimates.set_index("analysis").loc["landmark", "hr"])


def test_exploding_weights_warn(tmp_path):
    data = simulate(600, seed=11)
    # age almost decides treatment: extreme propensity scores
    old = (data["age"] >= 62) & (data["treated"] == "no")
    young_treated = data.index[(data["age"] < 50) & (data["treated"] == "yes")]
    keep = ~data.index.isin(young_treated[3:]) & ~(old & (data.index % 7 != 0))
    _, _, res = _run(tmp_path, FAST, data[keep].reset_index(drop=True))
    assert any("extreme weights" in w or "effective sample size" in w for w in res.warnings), res.warnings


def test_without_study_landmarks_the_default_comes_from_the_treatment_times(tmp_path):
    study = FAST.replace("landmarks: [6, 12, 24]\n", "")
    _, _, res = _run(tmp_path, study)
    st = res.settings
    # three quarters of the treated start by about 7 months (uniform 0.5-12): rounded up to 10, and its half
    assert st.landmarks == [5, 10] and st.grace == 10 and st.rmst_horizon == 20
    assert "three quarters of the treated" in res.methods


def test_the_bootstrap_is_seeded(tmp_path):
    study = FAST.replace("sensitivity: {bootstrap: 0}",
                         "sensitivity: {bootstrap: 20, analyses: [clone_censor_weight]}")
    runs = [_run(tmp_path, study, name=f"run{i}")[2].estimates for i in (1, 2)]
    pd.testing.assert_frame_equal(*runs)
    assert "percentile bootstrap 95% CI (20 replicates" in runs[0]["note"].iloc[0]


def test_above_the_bootstrap_limit_the_interval_is_robust_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "BOOTSTRAP_MAX_PATIENTS", 500)
    study = FAST.replace("sensitivity: {bootstrap: 0}", "sensitivity: {bootstrap: 50, analyses: [clone_censor_weight]}")
    _, _, res = _run(tmp_path, study)
    assert res.settings.bootstrap == 0
    assert "above 500 patients the bootstrap (50 replicates asked) is not run" in res.methods
    note = res.estimates["note"].iloc[0]
    assert "robust SE clustered on the patient (no bootstrap above 500 patients)" in note
    assert np.isfinite(res.estimates[["hr", "lower", "upper", "p"]].to_numpy()).all()


def test_small_counts_are_blanked_with_min_cell_count():
    table = pd.DataFrame({"analysis": ["a", "b", "c"], "n": [3, 0, 40], "events": [1, 0, 12]})
    out = S._suppress(table, 5)
    assert out["n"].isna().tolist() == [True, False, False] and out["events"].isna().tolist() == [True, False, False]
    pd.testing.assert_frame_equal(S._suppress(table, 0), table)


def test_without_a_matching_step_the_matched_row_says_why(tmp_path):
    study = FAST.replace("steps: [cohort, matching, sensitivity]", "steps: [cohort, sensitivity]").replace(
        "sensitivity: {bootstrap: 0}", "sensitivity: {bootstrap: 0, analyses: [naive, matched]}")
    _, _, res = _run(tmp_path, study)
    row = res.estimates.set_index("analysis").loc["matched"]
    assert np.isnan(row.hr) and "no matched cohort" in row.note
    assert res.rmst["analysis"].tolist() == ["naive"]


def test_a_model_the_data_cannot_support_is_a_row_not_a_crash(tmp_path):
    # a landmark so late that only a handful of patients remain: the Cox model there cannot be fitted
    data = simulate(600, seed=11)
    study = FAST.replace("sensitivity: {bootstrap: 0}", "sensitivity: {bootstrap: 0, landmarks: [6, 66],"
                                                       " analyses: [naive, landmark]}")
    _, _, res = _run(tmp_path, study, data)
    late = res.estimates[res.estimates["landmark"] == 66].iloc[0]
    assert np.isnan(late.hr) and late.note.startswith("Not estimable")
    assert "Landmark at 66 months: not estimable" in " ".join(res.warnings)
