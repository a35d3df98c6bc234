"""Interactive exploration (mbcrt.steps.explore, mbcrt.run.explore), without a browser or a kernel.

The computation must give what the study's own steps give for the study's parameters (and so the
HER2 RT paper's 135 pairs and matched HR 0.484 (0.361-0.650), Results 3.2-3.3 and Table 2); the
controls must change what the panel shows.
"""

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.run.explore import ExplorePanel, explore_panel, load_cohort
from mbcrt.stats import cox
from mbcrt.steps.common import endpoints
from mbcrt.steps.cox import matched_treatment_models
from mbcrt.steps.explore import explore, with_caliper
from mbcrt.steps.matching import run_matching
from mbcrt.steps.survival import km_analysis
from mbcrt.study.cohort import build_cohort
from mbcrt.study.config import load_study

HER2 = "studies/her2_rt/study.yaml"


@pytest.fixture(scope="module")
def her2():
    study = load_study(HER2)
    return study, build_cohort(study).cohort


@pytest.fixture(scope="module")
def default(her2):
    study, cohort = her2
    return explore(study, cohort)


def _html(panel: ExplorePanel) -> str:
    return "".join(o["data"].get("text/html", "") for o in panel.output.outputs)


# ---- the computation against the study's own steps ------------------------------------------------

def test_default_match_is_the_matching_step(her2, default):
    study, cohort = her2
    step = run_matching(study, cohort)
    assert default.n_pairs == 135  # the paper's matched pairs (published.yaml "pairs")
    pd.testing.assert_frame_equal(default.matching.matched, step.matched)
    pd.testing.assert_frame_equal(default.balance, step.balance)
    assert default.n == {"all": len(cohort), "matched": 270}


def test_default_hazard_ratios_are_the_cox_step(her2, default):
    study, cohort = her2
    matched = run_matching(study, cohort).matched
    expected = matched_treatment_models(study, matched)
    got = default.hr[default.hr["cohort"] == "matched"].reset_index(drop=True)
    assert list(got["model"]) == ["naive", "cluster_robust", "pair_stratified"]
    for col in ("hr", "lower", "upper", "p", "n", "events"):
        np.testing.assert_array_equal(got[col].to_numpy(float), expected[col].to_numpy(float))
    fit = cox.fit_cox(cohort[["_treat"]].astype(float), cohort["_time"], cohort["_event"], ties="breslow")
    whole = default.hr[default.hr["cohort"] == "all"].iloc[0]
    assert whole["hr"] == fit.summary["hr"].iloc[0] and whole["n"] == 488
    # Table 2 of the paper (univariable, after matching): HR 0.484 (its CI 0.361-0.650).
    naive = got.iloc[0]
    assert naive["hr"] == pytest.approx(0.484, abs=5e-4)
    assert (naive["lower"], naive["upper"]) == pytest.approx((0.361, 0.650), abs=2e-3)


def test_default_landmarks_are_the_survival_step(her2, default):
    study, cohort = her2
    assert default.parameters["landmark"] == 12.0  # the study's first landmark
    ep = endpoints(study)[0]
    for name, df in (("all", cohort), ("matched", default.matching.matched)):
        step = km_analysis(study, df, ep, name, by="_arm", order=study.arms).landmarks
        step = step[(step["time"] == 12) & (step["group"] != "All")].reset_index(drop=True)
        got = default.landmarks[default.landmarks["cohort"] == name].reset_index(drop=True)
        assert list(got["group"]) == study.arms
        pd.testing.assert_frame_equal(got, step)


def test_another_landmark_reads_the_curves_there(her2):
    study, cohort = her2
    res = explore(study, cohort, landmark=36)
    km = km_analysis(study, cohort, endpoints(study)[0], "all", by="_arm", order=study.arms)
    for arm in study.arms:
        row = res.landmarks[(res.landmarks["cohort"] == "all") & (res.landmarks["group"] == arm)].iloc[0]
        assert row["surv"] == km.curves[arm].survival_at([36.0])["surv"].iloc[0]


def test_caliper_changes_the_pairs(her2, default):
    study, cohort = her2
    narrow = explore(study, cohort, caliper=0.05)
    assert narrow.n_pairs < default.n_pairs
    assert narrow.n_pairs == run_matching(with_caliper(study, 0.05, "logit"), cohort).matched["pair_id"].nunique()
    # Without a caliper every treated patient finds a control (281 controls for 207 treated).
    assert explore(study, cohort, caliper=None).n_pairs == int(cohort["_treat"].sum()) == 207
    prob = explore(study, cohort, caliper=0.2, caliper_scale="probability")
    assert prob.matching.summary.set_index("quantity").loc["scale", "value"] == "probability"
    with pytest.raises(InputError, match="caliper"):
        explore(study, cohort, caliper=0)


def test_subgroup_restricts_the_patients(her2, default):
    study, cohort = her2
    res = explore(study, cohort, subgroup=("met_brain", "Yes"))
    in_sub = cohort["met_brain"] == "Yes"
    matched = default.matching.matched
    assert res.n == {"all": int(in_sub.sum()), "matched": int((matched["met_brain"] == "Yes").sum())}
    assert 0 < res.n["all"] < len(cohort)
    assert res.n_pairs == default.n_pairs  # matching is on the whole cohort
    whole = res.hr[(res.hr["cohort"] == "all")].iloc[0]
    fit = cox.fit_cox(cohort.loc[in_sub, ["_treat"]].astype(float), cohort.loc[in_sub, "_time"],
                      cohort.loc[in_sub, "_event"], ties="breslow")
    assert whole["n"] == in_sub.sum() and whole["hr"] == fit.summary["hr"].iloc[0]
    assert "met_brain" not in set(res.balance["variable"])  # constant within the subgroup
    with pytest.raises(InputError, match="not one of the study's subgroups"):
        explore(study, cohort, subgroup=("age", "50"))


def test_endpoint_choice_uses_its_columns(her2):
    study = load_study(HER2, {"endpoints": [{"name": "os12", "label": "Survival to 12 months",
                                             "time": "os12_time", "event": "os12_event"}]})
    _, cohort = her2
    t = cohort["_time"].to_numpy()
    cohort = cohort.assign(os12_time=np.minimum(t, 12.0), os12_event=((t <= 12) & (cohort["_event"] == 1)).astype(int))
    res = explore(study, cohort, endpoint="os12")
    assert res.parameters["endpoint"] == "os12"
    m = res.matching.matched
    fit = cox.fit_cox(m[["_treat"]].astype(float), m["os12_time"], m["os12_event"], ties="breslow")
    naive = res.hr[(res.hr["cohort"] == "matched") & (res.hr["model"] == "naive")].iloc[0]
    assert naive["hr"] == fit.summary["hr"].iloc[0] and naive["events"] == m["os12_event"].sum()
    assert "Survival to 12 months" in res.figure.axes[0].get_ylabel()
    with pytest.raises(InputError, match="unknown endpoint"):
        explore(study, cohort, endpoint="pfs")


def test_a_single_arm_study_is_refused():
    study = load_study("studies/op_mdrt/study.yaml")
    with pytest.raises(InputError, match="two arms"):
        explore(study, pd.DataFrame())


# ---- the panel ------------------------------------------------------------------------------------

@pytest.fixture()
def panel(her2):
    study, cohort = her2
    return ExplorePanel(study, cohort, source="test cohort")


def test_panel_shows_the_defaults(panel, default):
    assert panel.result.n_pairs == default.n_pairs
    pd.testing.assert_frame_equal(panel.result.hr, default.hr)
    text = _html(panel)
    assert "135 pairs from 207 treated patients" in text
    assert "0.48 (0.36\u20130.65)" in text  # matched HR, journal style
    assert "Survival at 12 months" in text and "Hormone receptor status" in text
    assert not re.search(r"\d[eE][+-]?\d", text) and "nan" not in text.lower()
    assert any("image/svg+xml" in o["data"] for o in panel.output.outputs)
    heading = panel.widget.children[0].value
    assert "SYNTHETIC DATA" in heading and "test cohort" in heading


def test_caliper_control_redraws(panel):
    before, svg = _html(panel), panel.output.outputs[1]["data"]["image/svg+xml"]
    panel.caliper.value = 0.05
    assert panel.result.n_pairs < 135 and panel.result.parameters["caliper"] == 0.05
    assert _html(panel) != before and panel.output.outputs[1]["data"]["image/svg+xml"] != svg
    panel.no_caliper.value = True
    assert panel.result.n_pairs == 207 and panel.caliper.disabled
    panel.scale.value = "probability"
    assert panel.result.parameters["caliper_scale"] == "probability"


def test_subgroup_controls_restrict(panel, her2):
    _, cohort = her2
    panel.subgroup.value = "met_brain"
    assert panel.level.options == ("No", "Yes") and panel.level.value == "No" and not panel.level.disabled
    assert panel.result.n["all"] == int((cohort["met_brain"] == "No").sum())
    panel.level.value = "Yes"
    assert panel.result.n["all"] == int((cohort["met_brain"] == "Yes").sum())
    assert "Subgroup Brain metastasis = Yes" in _html(panel)
    panel.subgroup.value = ""
    assert panel.level.disabled and panel.result.parameters["subgroup"] is None


def test_landmark_and_cohort_controls(panel):
    panel.landmark.value = 36
    assert set(panel.result.landmarks["time"]) == {36.0} and "Survival at 36 months" in _html(panel)
    panel.show.value = "all"
    assert panel.result.parameters["cohort"] == "all"


def test_a_subgroup_without_pairs_is_an_error(her2, default):
    study, cohort = her2
    m = default.matching
    no_brain = dataclasses.replace(m, matched=m.matched[m.matched["met_brain"] == "No"])
    with pytest.raises(InputError, match="no matched pair in this subgroup"):
        explore(study, cohort, subgroup=("met_brain", "Yes"), matching=no_brain)
    shown = explore(study, cohort, subgroup=("met_brain", "Yes"), matching=no_brain, show="all")
    assert shown.n["matched"] == 0 and shown.hr[shown.hr["cohort"] == "matched"]["hr"].isna().all()
    assert any("No hazard ratio in the matched cohort" in w for w in shown.warnings)


def test_a_model_that_cannot_be_fitted_reads_not_estimable(her2):
    study, _ = her2
    cohort = her2[1].copy()
    cohort.loc[cohort["met_brain"] == "Yes", "_event"] = 0  # no death in the subgroup: no Cox model
    panel = ExplorePanel(study, cohort)
    panel.subgroup.value = "met_brain"
    panel.level.value = "Yes"
    assert panel.result is not None and panel.result.hr["hr"].isna().all()
    assert "not estimable" in _html(panel) and "No hazard ratio in the whole cohort" in _html(panel)


def test_panel_reports_a_choice_it_cannot_compute(panel, monkeypatch):
    import mbcrt.run.explore as run_explore

    def refuse(*args, **kwargs):
        raise InputError("no matched pair in this subgroup")

    monkeypatch.setattr(run_explore, "explore", refuse)
    panel.landmark.value = 24
    assert panel.result is None and panel.output.outputs == ()
    assert "Not computed" in panel.message.value and "no matched pair" in panel.message.value
    monkeypatch.undo()
    panel.landmark.value = 12
    assert panel.result is not None and panel.message.value == ""


def test_load_cohort_builds_when_no_run_wrote_one(tmp_path):
    study = load_study(HER2)
    cohort, source = load_cohort(study, str(tmp_path))
    assert len(cohort) == 488 and "./run_all.sh --study her2_rt" in source
    assert str(tmp_path) not in source


def test_explore_panel_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    panel = explore_panel("studies/gbsg2/study.yaml", "[]", str(tmp_path))
    assert panel.result is not None and panel.result.n["all"] == 686
    assert "SYNTHETIC" not in panel.widget.children[0].value
