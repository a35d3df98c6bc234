"""min_cell_count: small counts blanked with a flag, estimates of small groups blanked, nothing changed
when min_cell_count is 0 or 1. Expected tables are worked out by hand beside each test."""

import numpy as np
import pandas as pd
import pytest

from mbcrt.report.privacy import KINDS, SUPPRESSED, note, suppress

KM = pd.DataFrame({
    "endpoint": "os", "cohort": "all", "group": ["All", "No RT", "RT"],
    "n": [40, 37, 3], "events": [20, 18, 2], "event_pct": [50.0, 100 * 18 / 37, 100 * 2 / 3],
    "median": [10.0, 11.0, 8.0], "median_lower": [7.0, 8.0, 2.0], "median_upper": [14.0, 15.0, np.nan],
})


def test_zero_or_one_leaves_every_table_unchanged():
    for m in (0, 1):
        out = suppress(KM, "km_summary", m)
        pd.testing.assert_frame_equal(out, KM)
        assert out is not KM


def test_a_small_arm_is_blanked_with_its_complement_and_its_estimates():
    out = suppress(KM, "km_summary", 5)
    # RT: n = 3 < 5 -> n, events, %, median and CI blank. No RT: 37 and 18 would give RT's 3 and 2 by
    # subtraction from All (40, 20), so they are blanked too; No RT's estimates stay (37 >= 5).
    assert out["n"].tolist()[0] == 40 and np.isnan(out["n"].tolist()[1:]).all()
    assert out["events"].tolist()[0] == 20 and np.isnan(out["events"].tolist()[1:]).all()
    assert np.isnan(out.loc[2, ["event_pct", "median", "median_lower", "median_upper"]].astype(float)).all()
    assert out.loc[1, ["median", "median_lower", "median_upper"]].tolist() == [11.0, 8.0, 15.0]
    assert np.isnan(out.loc[1, "event_pct"])                   # 18/37 would give the blank counts back
    assert out[SUPPRESSED].tolist() == [False, True, True]


def test_zero_counts_are_shown():
    big = KM.assign(n=[60, 37, 23], events=[18, 18, 0], event_pct=[30.0, 100 * 18 / 37, 0.0])
    out = suppress(big, "km_summary", 5)
    assert out["events"].tolist() == [18, 18, 0] and not out[SUPPRESSED].any()


def test_landmarks_blank_small_groups_and_small_numbers_at_risk():
    marks = pd.DataFrame({
        "endpoint": "os", "cohort": "all", "group": ["All", "No RT", "RT"] * 2, "time": [12] * 3 + [36] * 3,
        "surv": [0.8, 0.8, 0.9, 0.5, 0.5, 0.6], "lower": [0.7] * 6, "upper": [0.9] * 6,
        "n_risk": [30, 28, 2, 12, 12, 0]})
    with pytest.raises(ValueError, match="group_sizes"):
        suppress(marks, "landmarks", 5)
    out = suppress(marks, "landmarks", 5, group_sizes=KM)
    # RT has 3 patients: its survival is blank at every time. At 12, 2 at risk is blank and so is 28
    # (30 - 28 = 2); at 36, 0 at risk is shown and 12 = 12 - 0 stays.
    assert np.isnan(out.loc[[2, 5], ["surv", "lower", "upper"]].to_numpy(float)).all()
    assert out.loc[[0, 1, 3, 4], "surv"].tolist() == [0.8, 0.8, 0.5, 0.5]
    assert out["n_risk"].fillna(-1).tolist() == [30, -1, -1, 12, 12, 0]
    assert out[SUPPRESSED].tolist() == [False, True, True, False, False, True]


def test_cohort_overview_blanks_the_median_time_of_a_small_group():
    overview = pd.DataFrame({"group": ["All", "Control", "Treated"], "patients": [9, 5, 4], "events": [6, 3, 3],
                             "median_time": [10.0, 12.0, 7.0], "endpoint": "OS"})
    out = suppress(overview, "cohort_overview", 5)
    # Treated: 4 patients and 3 events are small; Control's 5 and 3 are blanked as complements (3 is
    # also small itself). The median time of 4 patients is blank; Control's stays.
    assert out["patients"].fillna(-1).tolist() == [9, -1, -1]
    assert out["events"].fillna(-1).tolist() == [6, -1, -1]
    assert out["median_time"].fillna(-1).tolist() == [10.0, 12.0, -1]


def test_attrition_hides_a_small_exclusion_from_subtraction():
    att = pd.DataFrame({"order": [0, 1, 2, 3], "criterion": ["Records assessed", "Age", "Male", "Analysis cohort"],
                        "excluded": [0, 86, 3, 0], "remaining": [686, 600, 597, 597]})
    out = suppress(att, "attrition", 5)
    # 3 excluded: 600 - 597 would show it, and 597 is the cohort size other tables print. So 600 is
    # blank, and then 686 - 86 would give 600 back: 86 is blank too. 86 + 3 = 89 is all a reader learns.
    assert out["excluded"].fillna(-1).tolist() == [0, -1, -1, 0]
    assert out["remaining"].fillna(-1).tolist() == [686, -1, 597, 597]


def test_attrition_with_nothing_small_is_unchanged_but_flagged_false():
    att = pd.DataFrame({"order": [0, 1, 2], "criterion": ["Records assessed", "Age", "Analysis cohort"],
                        "excluded": [0, 40, 0], "remaining": [100, 60, 60]})
    out = suppress(att, "attrition", 11)
    assert out["excluded"].tolist() == [0, 40, 0] and not out[SUPPRESSED].any()


def test_subgroups_blank_the_comparison_when_an_arm_is_small():
    sub = pd.DataFrame({
        "cohort": "all", "variable": "grade", "level": ["I", "II", "III"], "n": [20, 50, 30], "events": [8, 20, 12],
        "n_treated": [3, 20, 10], "n_control": [17, 30, 20], "median_treated": [1.0, 2.0, 3.0],
        "median_control": [1.5, 2.5, 3.5], "logrank_p": [0.1, 0.2, 0.3], "hr": [0.5, 0.8, 0.9],
        "lower": [0.1, 0.5, 0.6], "upper": [2.0, 1.2, 1.3], "p": [0.3, 0.4, 0.5], "interaction_p": 0.6,
        "note": ""})
    out = suppress(sub, "subgroups", 5)
    # Grade I: 3 treated -> the treated median and the comparison (HR, CI, p, log-rank p) are blank;
    # the control median of 17 patients stays; the interaction p (one per variable) stays.
    assert np.isnan(out.loc[0, ["median_treated", "logrank_p", "hr", "lower", "upper", "p"]].astype(float)).all()
    assert out.loc[0, "median_control"] == 1.5 and out["interaction_p"].tolist() == [0.6] * 3
    assert np.isnan(out.loc[0, "n_treated"])
    # 17 = 20 - 3 would give it back: n or n_control of grade I is blank too, and the other grades'
    # treated counts add up to the treated arm, so one of them is blank as well.
    assert out.loc[0, ["n", "n_control"]].isna().any()
    assert out.loc[1:, "n_treated"].isna().any()
    assert out.loc[1, ["hr", "median_treated"]].tolist() == [0.8, 2.0]


def test_at_risk_numbers_under_a_plot():
    at_risk = pd.DataFrame({0.0: [40, 3], 12.0: [30, 2], 24.0: [20, 0]}, index=pd.Index(["No RT", "RT"], name="group"))
    out = suppress(at_risk, "at_risk", 5)
    assert out.index.tolist() == ["No RT", "RT"] and SUPPRESSED not in out
    assert out.fillna(-1).to_numpy().tolist() == [[40, 30, 20], [-1, -1, 0]]


def test_index_and_row_order_are_kept():
    km = KM.set_axis([10, 11, 12])
    assert suppress(km, "km_summary", 5).index.tolist() == [10, 11, 12]


def test_unknown_kind_and_bad_threshold():
    with pytest.raises(ValueError, match="unknown table kind"):
        suppress(KM, "kaplan", 5)
    with pytest.raises(ValueError, match="whole number"):
        suppress(KM, "km_summary", 2.5)


def test_every_kind_documented_in_the_readme_is_handled():
    assert set(KINDS) == {"km_summary", "landmarks", "subgroups", "cohort_overview", "attrition", "at_risk"}


def test_note_names_the_threshold():
    assert note(0) == "" and "1 to 10 patients" in note(11)
