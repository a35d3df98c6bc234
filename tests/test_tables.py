"""Table 1 against R: GBSG2 before and after 1:1 matching (make_reference.R), tableone's SMDs, rank tests.

Golden values come from the GBSG2 reference values (reference.txt of make_reference.R, R 4.2.2) or
were printed by R with ``options(digits = 15)``; the R call is quoted beside each. In make_reference.R,
for each variable v:
``x1 <- data[[v]][data$horTh == "yes"]; x0 <- data[[v]][data$horTh == "no"]`` and

- ``mannwhitney_p = wilcox.test(x1, x0, exact = FALSE, correct = TRUE)$p.value``
- ``median_iqr_*  = quantile(x, c(.5, .25, .75))``
- ``smd           = (mean(x1) - mean(x0)) / sqrt((var(x1) + var(x0)) / 2)``
- ``chisq_p       = chisq.test(table(data[[v]], data$horTh), correct = FALSE)$p.value``
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.table_one import (
    categorical_smd,
    kruskal_wallis_test,
    mann_whitney_test,
    table_one,
    table_one_before_after,
)

RTOL = 1e-6
PAIRS = Path(__file__).parent / "data" / "gbsg2_pairs_nocaliper.csv"
CONTROL, TREATED = "No hormone therapy", "Hormone therapy"
SETTINGS = dict(group="arm", variables=["age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"],
                categorical=["menostat", "tgrade"], levels={"tgrade": ["I", "II", "III"]},
                group_order=[CONTROL, TREATED])


@pytest.fixture(scope="module")
def gbsg2():
    d = pd.read_csv(PUBLIC_DIR / "gbsg2.csv")
    return d.assign(arm=d["horTh"].map({"no": CONTROL, "yes": TREATED}))


@pytest.fixture(scope="module")
def gbsg2_matched(gbsg2):
    pairs = pd.read_csv(PAIRS)
    return gbsg2[gbsg2["id"].isin(set(pairs["treated_id"]) | set(pairs["control_id"]))]


@pytest.fixture(scope="module")
def table_all(gbsg2):
    return table_one(gbsg2, **SETTINGS)


@pytest.fixture(scope="module")
def table_matched(gbsg2_matched):
    return table_one(gbsg2_matched, **SETTINGS)


def row(table, variable, level=""):
    hit = table[(table["variable"] == variable) & (table["level"] == level)]
    assert len(hit) == 1
    return hit.iloc[0]


# --------------------------------------------------------------------------------------------------
# GBSG2 golden numbers
# --------------------------------------------------------------------------------------------------

# variable: (mannwhitney_p, median_iqr_yes, median_iqr_no, smd), reference.txt all.table1.*
ALL_CONTINUOUS = {
    "age": (2.057361516e-12, (58, 50, 63), (50, 45, 59), 0.5742110569),
    "tsize": (0.5066656123, (25, 20, 35), (25, 20, 35), -0.05734649123),
    "pnodes": (0.4319802086, (3, 1, 7), (3, 1, 7), 0.03431217439),
    "progrec": (0.5945438142, (35.00, 7.25, 133.00), (32, 7, 130), 0.1043544681),
    "estrec": (0.008840952477, (46.0, 9.0, 182.5), (32.00, 8.00, 92.25), 0.2860426883),
}
# reference.txt match.nocaliper.table1.*
MATCHED_CONTINUOUS = {
    "age": (0.6906860061, (58, 50, 63), (58, 50, 63), 0.04116110038),
    "tsize": (0.8082747632, (25, 20, 35), (25, 20, 35), -0.02514505228),
    "pnodes": (0.9388536754, (3, 1, 7), (3, 2, 7), -0.04575540781),
    "progrec": (0.7099122267, (35.00, 7.25, 133.00), (41.00, 7.00, 147.25), 0.03250807931),
    "estrec": (0.9035384359, (46.0, 9.0, 182.5), (51.5, 10.0, 152.0), 0.07595711501),
}
# variable: chisq_p (every expected count is >= 5, so the table reports the chi-square test)
ALL_CATEGORICAL = {"menostat": 4.13500653e-13, "tgrade": 0.2732880458}
MATCHED_CATEGORICAL = {"menostat": 0.9161519439, "tgrade": 0.8421079102}


def check_continuous(table, variable, expected):
    p, yes, no, smd = expected
    r = row(table, variable)
    assert r["test"] == "Mann-Whitney U"
    assert r["p"] == pytest.approx(p, rel=RTOL)
    assert r["smd"] == pytest.approx(smd, rel=RTOL)
    for group, quantiles in ((TREATED, yes), (CONTROL, no)):
        got = [r[f"{group}__median"], r[f"{group}__q1"], r[f"{group}__q3"]]
        assert got == pytest.approx(quantiles, rel=1e-12)


@pytest.mark.parametrize("variable", ALL_CONTINUOUS)
def test_gbsg2_continuous_all_patients(table_all, variable):
    check_continuous(table_all, variable, ALL_CONTINUOUS[variable])


@pytest.mark.parametrize("variable", MATCHED_CONTINUOUS)
def test_gbsg2_continuous_matched(table_matched, variable):
    check_continuous(table_matched, variable, MATCHED_CONTINUOUS[variable])


@pytest.mark.parametrize("table_name, expected", [("table_all", ALL_CATEGORICAL),
                                                  ("table_matched", MATCHED_CATEGORICAL)])
def test_gbsg2_categorical_p(request, table_name, expected):
    table = request.getfixturevalue(table_name)
    for variable, chisq_p in expected.items():
        r = row(table, variable)
        assert r["test"] == "Chi-square"
        assert r["p"] == pytest.approx(chisq_p, rel=RTOL)


def test_gbsg2_layout_counts_and_display(table_all):
    assert list(table_all.columns[:9]) == ["variable", "label", "level", CONTROL, TREATED, "p", "test", "smd",
                                           "missing"]
    assert list(table_all.columns[9:14]) == [f"{CONTROL}__{s}" for s in ("n", "pct", "median", "q1", "q3")]
    first = table_all.iloc[0]
    assert (first["variable"], first[CONTROL], first[TREATED]) == ("n", "440", "246")
    assert list(table_all["variable"]) == ["n", "age", "menostat", "menostat", "menostat", "tsize", "tgrade",
                                           "tgrade", "tgrade", "tgrade", "pnodes", "progrec", "estrec"]
    # table(d$tgrade, d$horTh): I 48/33, II 281/163, III 111/50
    grade_one = row(table_all, "tgrade", "I")
    assert (grade_one[CONTROL], grade_one[TREATED]) == ("48 (10.9)", "33 (13.4)")
    assert grade_one[f"{CONTROL}__n"] == 48 and grade_one[f"{CONTROL}__pct"] == pytest.approx(100 * 48 / 440)
    assert math.isnan(grade_one["p"]) and grade_one["test"] == ""
    assert row(table_all, "age")[TREATED] == "58.0 [50.0, 63.0]"
    assert row(table_all, "tgrade")["missing"] == 0


# --------------------------------------------------------------------------------------------------
# Standardized differences of categorical variables
# --------------------------------------------------------------------------------------------------

def test_multilevel_smd_by_hand(table_all):
    # Yang & Dalton (2012): d = proportions of levels II and III (level I dropped), S = mean of the two
    # multinomial covariances diag(p) - p p', SMD = sqrt(d' S^-1 d). Counts: no 48/281/111, yes 33/163/50.
    a1, b1 = 163 / 246, 50 / 246
    a0, b0 = 281 / 440, 111 / 440
    s11 = (a1 * (1 - a1) + a0 * (1 - a0)) / 2
    s22 = (b1 * (1 - b1) + b0 * (1 - b0)) / 2
    s12 = (-a1 * b1 - a0 * b0) / 2
    da, db = a1 - a0, b1 - b0
    smd = math.sqrt((s22 * da * da - 2 * s12 * da * db + s11 * db * db) / (s11 * s22 - s12 * s12))
    assert row(table_all, "tgrade")["smd"] == pytest.approx(smd, rel=1e-12)
    # tableone's StdDiffMulti written out in R with MASS::ginv gives 0.129090322267277
    assert smd == pytest.approx(0.129090322267277, rel=RTOL)


def test_two_level_smd_is_the_binary_formula(table_all):
    # R: pr <- prop.table(table(d$horTh, d$menostat), 1)[, 2]
    #    abs(pr[2]-pr[1]) / sqrt((pr[1]*(1-pr[1]) + pr[2]*(1-pr[2])) / 2) -> 0.613792193045191
    p1, p0 = 59 / 246, 231 / 440  # premenopausal
    binary = abs(p1 - p0) / math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    assert row(table_all, "menostat")["smd"] == pytest.approx(binary, rel=1e-12)
    assert binary == pytest.approx(0.613792193045191, rel=RTOL)


def test_categorical_smd_of_identical_distributions_is_zero():
    assert categorical_smd([10, 20, 30], [20, 40, 60]) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# Rank tests
# --------------------------------------------------------------------------------------------------

def test_mann_whitney_with_ties_matches_r():
    # R: wilcox.test(c(1.5, 2, 2, 3, 7, 8, 8, 10), c(2, 3, 3, 4, 9, 11, 12, 12, 15), exact=FALSE, correct=TRUE)
    #    -> W = 20, p-value = 0.133430046810714
    w, p = mann_whitney_test([1.5, 2, 2, 3, 7, 8, 8, 10], [2, 3, 3, 4, 9, 11, 12, 12, 15])
    assert w == 20
    assert p == pytest.approx(0.133430046810714, rel=RTOL)


def test_kruskal_wallis_matches_r():
    # R: kruskal.test(list(c(1.5, 2, 2, 3, 7, 8, 8, 10), c(2, 3, 3, 4, 9, 11, 12, 12, 15), c(1, 1, 2, 5, 6)))
    #    -> chi-squared = 5.26077537058151, df = 2, p-value = 0.0720505238951681
    h, dof, p = kruskal_wallis_test([[1.5, 2, 2, 3, 7, 8, 8, 10], [2, 3, 3, 4, 9, 11, 12, 12, 15], [1, 1, 2, 5, 6]])
    assert (h, dof) == (pytest.approx(5.26077537058151, rel=RTOL), 2)
    assert p == pytest.approx(0.0720505238951681, rel=RTOL)


def test_three_groups_use_kruskal_wallis_and_an_r_by_c_test(gbsg2):
    table = table_one(gbsg2, group="tgrade", variables=["age", "menostat"], group_order=["I", "II", "III"])
    # R: kruskal.test(age ~ tgrade, data = d) -> 3.2222067927386, df 2, p 0.199667180442706
    assert row(table, "age")["test"] == "Kruskal-Wallis"
    assert row(table, "age")["p"] == pytest.approx(0.199667180442706, rel=RTOL)
    # R: chisq.test(table(d$menostat, d$tgrade), correct=FALSE)$p.value -> 0.554516144667339
    assert row(table, "menostat")["p"] == pytest.approx(0.554516144667339, rel=RTOL)
    assert list(table.columns[3:6]) == ["I", "II", "III"]


def test_small_cohort_switches_to_fisher(gbsg2):
    first40 = gbsg2.iloc[:40]
    table = table_one(first40, **SETTINGS)
    # R: s <- d[1:40,]; fisher.test(table(s$tgrade, s$horTh))$p.value -> 0.480833787232226
    assert row(table, "tgrade")["test"] == "Fisher exact"
    assert row(table, "tgrade")["p"] == pytest.approx(0.480833787232226, rel=RTOL)
    # R: wilcox.test(s$age[s$horTh=="yes"], s$age[s$horTh=="no"], exact=FALSE, correct=TRUE)$p.value
    assert row(table, "age")["p"] == pytest.approx(0.0226148691113593, rel=RTOL)


# --------------------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------------------

def test_a_level_nobody_has_is_shown_and_changes_nothing(gbsg2, table_all):
    table = table_one(gbsg2, **{**SETTINGS, "levels": {"tgrade": ["I", "II", "III", "IV"]}})
    empty = row(table, "tgrade", "IV")
    assert (empty[CONTROL], empty[TREATED]) == ("0 (0.0)", "0 (0.0)")
    assert empty[f"{TREATED}__n"] == 0 and empty[f"{TREATED}__pct"] == 0
    for column in ("p", "smd"):
        assert row(table, "tgrade")[column] == pytest.approx(row(table_all, "tgrade")[column], rel=1e-12)


def test_missing_values_are_counted_and_left_out(gbsg2):
    d = gbsg2.copy()
    d["age"] = d["age"].astype(float)
    d.loc[d.index[:10], "age"] = np.nan
    d.loc[d.index[:7], "menostat"] = None
    table = table_one(d, **SETTINGS)
    lost = d.iloc[:7]["arm"].value_counts()
    assert row(table, "age")["missing"] == 10
    assert row(table, "menostat")["missing"] == 7
    header = row(table, "menostat")
    for group in (CONTROL, TREATED):
        non_missing = (d["arm"] == group).sum() - lost.get(group, 0)
        assert header[f"{group}__n"] == non_missing
        levels = [row(table, "menostat", lv) for lv in ("Post", "Pre")]
        assert sum(r[f"{group}__n"] for r in levels) == non_missing
        assert sum(r[f"{group}__pct"] for r in levels) == pytest.approx(100.0)
    x1 = d.loc[d["arm"] == TREATED, "age"].dropna()
    assert row(table, "age")[f"{TREATED}__median"] == np.median(x1)


def test_a_group_with_every_value_missing(gbsg2):
    d = gbsg2.copy()
    d["age"] = d["age"].where(d["arm"] == CONTROL)
    d["menostat"] = d["menostat"].where(d["arm"] == CONTROL)
    table = table_one(d, **SETTINGS)
    age = row(table, "age")
    assert age[TREATED] == "-" and age[f"{TREATED}__n"] == 0 and math.isnan(age[f"{TREATED}__median"])
    assert math.isnan(age["p"]) and age["test"] == "" and math.isnan(age["smd"]) and age["missing"] == 246
    assert age[CONTROL] == "50.0 [45.0, 59.0]"
    pre = row(table, "menostat", "Pre")
    assert pre[TREATED] == "0 (-)" and math.isnan(pre[f"{TREATED}__pct"])
    assert math.isnan(row(table, "menostat")["p"]) and math.isnan(row(table, "menostat")["smd"])


def test_a_declared_group_nobody_is_in(gbsg2):
    table = table_one(gbsg2, **{**SETTINGS, "group_order": [CONTROL, TREATED, "Other"]})
    assert table.iloc[0]["Other"] == "0"
    assert row(table, "age")["Other"] == "-"
    # Kruskal-Wallis over the two non-empty groups equals the Mann-Whitney test without continuity
    # correction; the tests must still be computed, not dropped.
    assert row(table, "age")["test"] == "Kruskal-Wallis" and 0 < row(table, "age")["p"] < 1e-10


def test_small_cells_are_suppressed_in_display_and_numbers(gbsg2):
    first40 = gbsg2.iloc[:40].copy()
    first40.loc[first40.index[:2], "pnodes"] = np.nan
    table = table_one(first40, **SETTINGS, min_cell_count=5)
    grade_one = row(table, "tgrade", "I")  # 4 controls, 1 treated
    assert (grade_one[CONTROL], grade_one[TREATED]) == ("<5", "<5")
    assert all(math.isnan(grade_one[f"{g}__{s}"]) for g in (CONTROL, TREATED) for s in ("n", "pct"))
    grade_two = row(table, "tgrade", "II")  # 15 and 12: shown
    assert grade_two[CONTROL] == "15 (60.0)" and grade_two[f"{TREATED}__n"] == 12
    assert math.isnan(row(table, "pnodes")["missing"])  # 2 missing values
    assert row(table, "tgrade")["p"] == pytest.approx(0.480833787232226, rel=RTOL)  # tests use the real counts
    tiny = table_one(gbsg2.iloc[:6], **SETTINGS, min_cell_count=5)
    assert tiny.iloc[0][TREATED] == "<5"
    assert row(tiny, "age")[TREATED] == "n<5" and math.isnan(row(tiny, "age")[f"{TREATED}__median"])
    visible = tiny[[CONTROL, TREATED]].to_numpy().ravel()
    assert not any(text.split(" ")[0] in {"1", "2", "3", "4"} for text in visible)


def test_string_variables_are_categorical_and_labels_are_used(gbsg2):
    table = table_one(gbsg2, group="arm", variables=["horTh", "age"], labels={"age": "Age, years"},
                      group_order=[CONTROL, TREATED], decimals=2)
    assert list(table["level"]) == ["", "", "no", "yes", ""]
    assert row(table, "horTh", "no")[CONTROL] == "440 (100.00)"
    assert row(table, "age")["label"] == "Age, years"
    assert row(table, "age")[CONTROL] == "50.00 [45.00, 59.00]"


@pytest.mark.parametrize("kwargs, column", [({"variables": ["agee"]}, "agee"),
                                            ({"group_order": [CONTROL]}, "arm"),
                                            ({"group": "arms"}, "arms")])
def test_input_errors_name_the_column(gbsg2, kwargs, column):
    with pytest.raises(InputError) as err:
        table_one(gbsg2, **{**SETTINGS, **kwargs})
    assert err.value.column == column


def test_missing_group_values_are_an_error(gbsg2):
    d = gbsg2.copy()
    d.loc[d.index[:3], "arm"] = None
    with pytest.raises(InputError, match="missing values"):
        table_one(d, **SETTINGS)


def test_the_table_is_byte_identical_across_runs(gbsg2):
    first = table_one(gbsg2, **SETTINGS).to_csv(index=False)
    assert table_one(gbsg2.sample(frac=1.0, random_state=3), **SETTINGS).to_csv(index=False) == first


# --------------------------------------------------------------------------------------------------
# Before and after matching
# --------------------------------------------------------------------------------------------------

def test_before_after_aligns_tables_read_back_from_csv(table_all, table_matched, tmp_path):
    path = tmp_path / "table1_all.csv"
    table_all.to_csv(path, index=False)
    side = table_one_before_after(pd.read_csv(path), table_matched)
    assert list(side["variable"]) == list(table_all["variable"])
    assert list(side["level"]) == list(table_all["level"])
    assert side.columns[3] == f"before: {CONTROL}" and f"after: {CONTROL}" in side.columns
    grade_two = side[(side["variable"] == "tgrade") & (side["level"] == "II")].iloc[0]
    assert grade_two[f"before: {CONTROL}"] == "281 (63.9)"
    assert grade_two[f"after: {CONTROL}__n"] == row(table_matched, "tgrade", "II")[f"{CONTROL}__n"]
    age = side[side["variable"] == "age"].iloc[0]
    assert age["before: smd"] == pytest.approx(0.5742110569, rel=RTOL)
    assert age["after: smd"] == pytest.approx(0.04116110038, rel=RTOL)


def test_before_after_from_patient_data_keeps_levels_missing_after(gbsg2):
    after = gbsg2[gbsg2["tgrade"] != "I"]
    side = table_one_before_after(gbsg2, after, **{**SETTINGS, "levels": {}})
    grade_one = side[(side["variable"] == "tgrade") & (side["level"] == "I")].iloc[0]
    assert grade_one[f"after: {TREATED}"] == "0 (0.0)"
    assert grade_one[f"before: {TREATED}"] == "33 (13.4)"


def test_before_after_without_after(table_all):
    side = table_one_before_after(table_all, None)
    assert len(side) == len(table_all)
    assert not any(c.startswith("after: ") for c in side.columns)
    with pytest.raises(TypeError):
        table_one_before_after(table_all, None, group="arm")


# --------------------------------------------------------------------------------------------------
# Scale
# --------------------------------------------------------------------------------------------------

def test_a_million_patients_and_twelve_variables_in_seconds():
    rng = np.random.default_rng(7)
    n = 1_000_000
    data = {"arm": np.where(rng.random(n) < 0.4, TREATED, CONTROL)}
    for i in range(6):
        data[f"x{i}"] = np.round(rng.gamma(2.0, 10.0, n), 1)
    for i in range(6):
        data[f"c{i}"] = rng.choice(["a", "b", "c", "d"], n)
    d = pd.DataFrame(data)
    start = time.perf_counter()
    table = table_one(d, group="arm", variables=list(data)[1:], group_order=[CONTROL, TREATED])
    assert time.perf_counter() - start < 30  # about 2 s on one core
    assert table.iloc[0][f"{CONTROL}__n"] + table.iloc[0][f"{TREATED}__n"] == n
    assert set(table.loc[table["level"] == "", "test"]) - {""} == {"Mann-Whitney U", "Chi-square"}
