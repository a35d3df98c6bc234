"""Persistence on the same therapy at a horizon: evaluability, proportions, CIs and tests against R.

Golden values are R 4.2 (stats) output, the calls quoted beside them:

    prop.test(k, n, correct = FALSE)$conf.int     # Wilson score interval
    binom.test(k, n)$conf.int                     # Clopper-Pearson
    tb6 <- matrix(c(22,12, 5,4, 1,3), ncol = 2, byrow = TRUE)
    chisq.test(tb6, correct = FALSE)   # X-squared = 2.417529731191, df = 2, p-value = 0.298565820701
    fisher.test(tb6)$p.value           # 0.334510146014
    tb12 <- matrix(c(14,14, 3,4, 1,2), ncol = 2, byrow = TRUE)
    chisq.test(tb12, correct = FALSE)  # X-squared = 0.371957671958, df = 2, p-value = 0.830291167096
    fisher.test(tb12)$p.value          # 1
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.stats.persistence import (
    ALL,
    LANE_COLUMNS,
    evaluable_at,
    persistence_at,
    persistence_by_subgroup,
    persisting_at,
    subgroup_levels,
    swimmer_lanes,
)
from mbcrt.steps.persistence import readable_summary

# k/n: (wilson lower, wilson upper, exact lower, exact upper), from the R calls above.
R_CI = {
    (28, 47): (0.453421229501, 0.723599654808, 0.442663842490, 0.736307551875),
    (22, 34): (0.479139631198, 0.785120794051, 0.464886370891, 0.802541352088),
    (5, 9): (0.266651293495, 0.811221478902, 0.212008506779, 0.863004337735),
    (1, 4): (0.045587260810, 0.699358157418, 0.006309463210, 0.805879550317),
    (18, 38): (0.324790233225, 0.627410286155, 0.309807301608, 0.641816563739),
    (0, 5): (0.0, 0.434482464783, 0.0, 0.521823750105),
    (5, 5): (0.565517535217, 1.0, 0.478176249895, 1.0),
}
R_TB6 = {"statistic": 2.417529731191, "df": 2, "chisq_p": 0.298565820701, "fisher_p": 0.334510146014}
R_TB12 = {"statistic": 0.371957671958, "df": 2, "chisq_p": 0.830291167096, "fisher_p": 1.0}
RTOL = 1e-9


def cohort(table: dict[str, tuple[int, int, int]], horizon: float = 6.0) -> pd.DataFrame:
    """Patients per group: (on therapy at the horizon, off it before, lost before the horizon).

    Persisting patients switch well after the horizon; failures switch at half the horizon and are
    followed on; lost patients are censored on therapy before the horizon.
    """
    rows = []
    for group, (k, fail, lost) in table.items():
        rows += [dict(group=group, time=horizon + 3.0, event=1, followup=horizon + 10.0)] * k
        rows += [dict(group=group, time=horizon / 2, event=1, followup=horizon + 10.0)] * fail
        rows += [dict(group=group, time=horizon / 3, event=0, followup=horizon / 3)] * lost
    return pd.DataFrame(rows)


PAPER_6M = {"HR+/HER2-": (22, 12, 2), "HER2+": (5, 4, 1), "TNBC": (1, 3, 2)}
ORDER = ["HR+/HER2-", "HER2+", "TNBC"]


@pytest.fixture
def result_6m():
    df = cohort(PAPER_6M)
    return persistence_at(df.time, df.event, df.followup, 6, group=df.group, order=ORDER)


# ---- evaluability and persistence -----------------------------------------------------------------

def test_evaluable_rules_differ_only_for_early_failures_lost_afterwards():
    # switched at 3 then lost at 4; died at 4 on therapy; censored at 5; on therapy to 8; switched at 2.
    time = [3.0, 4.0, 5.0, 8.0, 2.0]
    event = [1, 1, 0, 1, 1]
    followup = [4.0, 4.0, 5.0, 20.0, 30.0]
    followed = evaluable_at(time, event, followup, 6, "followed")
    known = evaluable_at(time, event, followup, 6, "status_known")
    assert followed.tolist() == [False, False, False, True, True]
    assert known.tolist() == [True, True, False, True, True]
    assert persisting_at(time, 6).tolist() == [False, False, False, True, False]


def test_persisting_includes_a_switch_exactly_at_the_horizon():
    r = persistence_at([6.0, 5.999], [1, 1], [12.0, 12.0], 6)
    assert r.summary.loc[0, ["n_evaluable", "n_persisting"]].tolist() == [2, 1]


def test_counts_and_shares_by_group(result_6m):
    s = result_6m.summary.set_index("group")
    assert s.index.tolist() == [ALL, *ORDER]
    assert s.loc[ALL, ["n_patients", "n_evaluable", "n_persisting"]].tolist() == [52, 47, 28]
    assert s["n_persisting"].loc[ORDER].tolist() == [22, 5, 1]
    assert s["n_evaluable"].loc[ORDER].tolist() == [34, 9, 4]
    assert s["n_patients"].loc[ORDER].tolist() == [36, 10, 6]
    np.testing.assert_allclose(s["share"].loc[ORDER], [36 / 52, 10 / 52, 6 / 52], rtol=1e-12)
    np.testing.assert_allclose(s.loc[ALL, "proportion"], 28 / 47, rtol=1e-12)


def test_wilson_and_exact_intervals_equal_r(result_6m):
    s = result_6m.summary
    for row in s.itertuples():
        want = R_CI[(row.n_persisting, row.n_evaluable)]
        got = (row.wilson_lower, row.wilson_upper, row.exact_lower, row.exact_upper)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12, err_msg=row.group)


@pytest.mark.parametrize("k,n", [(0, 5), (5, 5), (18, 38)])
def test_intervals_at_the_edges_equal_r(k, n):
    r = persistence_at([9.0] * k + [1.0] * (n - k), [1] * n, [20.0] * n, 6)
    row = r.summary.iloc[0]
    np.testing.assert_allclose([row.wilson_lower, row.wilson_upper, row.exact_lower, row.exact_upper],
                               R_CI[(k, n)], rtol=RTOL, atol=1e-12)


def test_between_group_tests_equal_r(result_6m):
    t = result_6m.tests.set_index("test")
    np.testing.assert_allclose(t.loc["chisq", "statistic"], R_TB6["statistic"], rtol=RTOL)
    assert t.loc["chisq", "df"] == R_TB6["df"]
    np.testing.assert_allclose(result_6m.p("chisq"), R_TB6["chisq_p"], rtol=RTOL)
    np.testing.assert_allclose(result_6m.p("fisher"), R_TB6["fisher_p"], rtol=1e-7)
    # The table tested is the evaluable patients only.
    assert result_6m.table[["persisting", "not_persisting"]].to_numpy().tolist() == [[22, 12], [5, 4], [1, 3]]
    np.testing.assert_allclose(t.loc["chisq", "min_expected"], 4 * 19 / 47, rtol=1e-12)


def test_twelve_month_table_equals_r():
    df = cohort({"HR+/HER2-": (14, 14, 0), "HER2+": (3, 4, 0), "TNBC": (1, 2, 0)}, horizon=12)
    r = persistence_at(df.time, df.event, df.followup, 12, group=df.group, order=ORDER)
    np.testing.assert_allclose(r.tests.set_index("test").loc["chisq", "statistic"], R_TB12["statistic"],
                               rtol=RTOL)
    np.testing.assert_allclose([r.p("chisq"), r.p("fisher")], [R_TB12["chisq_p"], R_TB12["fisher_p"]], rtol=1e-7)


def test_group_without_evaluable_patients_is_nan_and_left_out_of_the_tests():
    df = cohort({"A": (22, 12, 0), "B": (5, 4, 0), "C": (1, 3, 0), "D": (0, 0, 3)})
    r = persistence_at(df.time, df.event, df.followup, 6, group=df.group)
    d = r.summary.set_index("group").loc["D"]
    assert d.n_patients == 3 and d.n_evaluable == 0 and np.isnan(d.proportion) and np.isnan(d.wilson_lower)
    np.testing.assert_allclose(r.p("chisq"), R_TB6["chisq_p"], rtol=RTOL)


def test_no_groups_means_no_tests_and_missing_group_counts_in_all_only():
    df = cohort({"A": (3, 2, 1)})
    r = persistence_at(df.time, df.event, df.followup, 6)
    assert r.summary["group"].tolist() == [ALL] and r.tests.empty and np.isnan(r.p())
    group = pd.Series(["A"] * 5 + [None])
    r = persistence_at(df.time, df.event, df.followup, 6, group=group)
    s = r.summary.set_index("group")
    assert s.loc[ALL, "n_patients"] == 6 and s.loc["A", "n_patients"] == 5


@pytest.mark.parametrize("time,event,followup,message", [
    ([5.0], [1], [4.0], "exceeds follow-up"),
    ([5.0], [2], [9.0], "0 or 1"),
    ([np.nan], [1], [9.0], "finite"),
    ([-1.0], [1], [9.0], "finite"),
])
def test_bad_inputs_are_named(time, event, followup, message):
    with pytest.raises(InputError, match=message):
        persistence_at(time, event, followup, 6)


def test_unknown_rule_and_unknown_group_are_errors():
    with pytest.raises(InputError, match="status_known"):
        evaluable_at([1.0], [1], [2.0], 6, rule="status-known")
    with pytest.raises(InputError, match="not in the given order"):
        persistence_at([1.0, 2.0], [1, 1], [9.0, 9.0], 6, group=["A", "B"], order=["A"])


def test_scales_to_a_million_patients():
    rng = np.random.default_rng(7)
    n = 1_000_000
    t = rng.exponential(8.0, n)
    e = (rng.random(n) < 0.7).astype(int)
    f = np.where(e == 1, t + rng.exponential(6.0, n), t)
    g = rng.integers(0, 3, n).astype(str)
    r = persistence_at(t, e, f, 6, group=g, rule="status_known")
    ok = (f >= 6) | ((t < 6) & (e == 1))
    s = r.summary.set_index("group")
    assert s.loc[ALL, "n_evaluable"] == ok.sum() and s.loc[ALL, "n_persisting"] == (ok & (t >= 6)).sum()
    assert s.loc["2", "n_persisting"] == (ok & (t >= 6) & (g == "2")).sum()


# ---- subgroups ----------------------------------------------------------------------------------------

def test_subgroup_levels_by_groups_breaks_and_levels():
    site = pd.Series(["bone", "lung", "liver", None, "skin"])
    lv, order = subgroup_levels(site, {"variable": "site", "groups": {"Bone": ["bone"], "Visceral": ["lung", "liver"]}})
    assert order == ["Bone", "Visceral"] and lv.tolist() == ["Bone", "Visceral", "Visceral", None, None]
    line = pd.Series([1, 2, 3, 7, np.nan])
    lv, order = subgroup_levels(line, {"variable": "line", "breaks": [2, 3], "labels": ["1st", "2nd", "3rd+"]})
    assert order == ["1st", "2nd", "3rd+"] and lv.tolist() == ["1st", "2nd", "3rd+", "3rd+", None]
    lv, order = subgroup_levels(pd.Series(["b", "a", "c"]), {"variable": "x", "levels": ["b", "a"]})
    assert order == ["b", "a"] and lv.tolist() == ["b", "a", None]


@pytest.mark.parametrize("spec,message", [
    ({"variable": "x", "groups": {"A": [1], "B": [1]}}, "two subgroup levels"),
    ({"variable": "x", "breaks": [2], "labels": ["only one"]}, "need 2 labels"),
    ({"variable": "x", "breaks": [3, 2], "labels": ["a", "b", "c"]}, "increase"),
])
def test_bad_subgroup_specs_are_errors(spec, message):
    with pytest.raises(InputError, match=message):
        subgroup_levels(pd.Series([1, 2, 3], name="x"), spec)


def test_persistence_by_subgroup_rows_and_p_values():
    df = cohort(PAPER_6M).assign(lesions=lambda d: np.where(np.arange(len(d)) % 2 == 0, 1, 3))
    specs = [{"variable": "group", "label": "Subtype", "levels": ORDER},
             {"variable": "lesions", "label": "Lesions", "breaks": [2], "labels": ["1", "2-5"]}]
    out = persistence_by_subgroup(df, specs, 6, time="time", event="event", followup="followup")
    assert out[["variable", "level"]].values.tolist() == [["group", g] for g in ORDER] + \
        [["lesions", "1"], ["lesions", "2-5"]]
    sub = out[out.variable == "group"]
    assert sub["n_persisting"].tolist() == [22, 5, 1]
    np.testing.assert_allclose(sub["chisq_p"], R_TB6["chisq_p"], rtol=RTOL)
    np.testing.assert_allclose(sub["fisher_p"], R_TB6["fisher_p"], rtol=1e-7)
    assert out.loc[out.variable == "lesions", "n_patients"].sum() == len(df)
    with pytest.raises(InputError, match="not in the cohort"):
        persistence_by_subgroup(df, [{"variable": "lesion"}], 6, time="time", event="event", followup="followup")


# ---- swimmer lanes and display ------------------------------------------------------------------------

def test_swimmer_lanes_are_anonymous_sorted_and_keep_only_events_within_the_lane():
    lanes = swimmer_lanes(time=[4.0, 10.0, 7.0, 10.0], event=[1, 0, 1, 1], group=["a", "b", "a", "b"],
                          progression=[3.0, 5.0, np.nan, 12.0], next_therapy=[4.0, np.nan, np.nan, 10.0],
                          death=[9.0, np.nan, 7.0, 15.0])
    assert list(lanes.columns) == LANE_COLUMNS
    assert lanes["lane"].tolist() == [1, 2, 3, 4]
    assert lanes["end"].tolist() == [10.0, 10.0, 7.0, 4.0]  # longest first, ties in input order
    assert lanes["group"].tolist() == ["b", "b", "a", "a"]
    # Patient 2 (censored at 10): censored marker, progression at 5.
    assert lanes.loc[0, "censored"] == 10.0 and lanes.loc[0, "progression"] == 5.0
    # Patient 4 (switch at 10): progression at 12 and death at 15 are after the lane.
    assert lanes.loc[1, "next_therapy"] == 10.0 and np.isnan(lanes.loc[1, "progression"])
    assert np.isnan(lanes.loc[1, "death"]) and np.isnan(lanes.loc[1, "censored"])
    # Patient 3 died on therapy at 7; patient 1 switched at 4 and died later (not on the lane).
    assert lanes.loc[2, "death"] == 7.0 and np.isnan(lanes.loc[3, "death"])


def test_readable_summary_shows_percent_and_both_intervals(result_6m):
    shown = readable_summary(result_6m.summary.assign(horizon=6), "months")
    first = shown.iloc[0]
    assert first["Time after MDRT"] == "6 months" and first["Evaluable"] == 47
    assert first["% (95% CI, Wilson)"] == "60% (45\u201372)"  # an en dash between the bounds, as journals print
    assert first["% (95% CI, exact)"] == "60% (44\u201374)"


# ---- the study file's persistence section ----------------------------------------------------------------

def test_step_settings_default_and_name_unknown_keys():
    from mbcrt.paths import STUDIES_DIR
    from mbcrt.steps.persistence import step_settings
    from mbcrt.study.config import load_study

    path = STUDIES_DIR / "op_mdrt" / "study.yaml"
    s = step_settings(load_study(path, {"persistence": {"followup": "followup_months", "horizons": [6.0, 12.5]}}))
    assert s["time"] == "_time" and s["event"] == "_event" and s["evaluable"] == "followed"
    assert s["horizons"] == [6, 12.5] and isinstance(s["horizons"][0], int) and s["forest_horizon"] == 6
    with pytest.raises(InputError, match="Did you mean 'horizons'"):
        step_settings(load_study(path, {"persistence": {"followup": "followup_months", "horizon": [6]}}))
    with pytest.raises(InputError, match="persistence.followup"):
        step_settings(load_study(path, {"persistence": {"horizons": [6]}}))


def test_small_cells_are_suppressed_with_everything_computed_from_them():
    from mbcrt.steps.persistence import suppress_small_cells

    df = cohort(PAPER_6M)
    summary = persistence_at(df.time, df.event, df.followup, 6, group=df.group, order=ORDER).summary
    out = suppress_small_cells(summary, 5).set_index("group")
    # HER2+ (5 of 9: 4 off therapy) and TNBC (1 of 4) reveal counts below 5; HR+/HER2- and All do not.
    assert out["suppressed"].tolist() == [False, False, True, True]
    assert out.loc[["HER2+", "TNBC"], ["n_patients", "n_persisting", "proportion", "wilson_upper"]].isna().all().all()
    assert out.loc["HR+/HER2-", "n_persisting"] == 22
    assert not suppress_small_cells(summary, 1)["suppressed"].any()
