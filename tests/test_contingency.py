"""Chi-square, Fisher's exact test (any r x c) and proportion intervals, against R 4.2.2.

Golden values were printed by R with ``options(digits = 15)``; the call that made each is quoted.
Fisher's test is also checked against a brute-force enumeration of every table with the same margins.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import StatisticalWarning
from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats import contingency
from mbcrt.stats.contingency import (
    ExactTestTooLarge,
    categorical_test,
    chi_square_test,
    expected_counts,
    fisher_exact_test,
    proportion_ci,
)

RTOL = 1e-6
PAIRS = Path(__file__).parent / "data" / "gbsg2_pairs_nocaliper.csv"


def r_matrix(values, nrow):
    """An R ``matrix(values, nrow)`` (filled by column) as a numpy array."""
    return np.array(values).reshape(-1, nrow).T


# --------------------------------------------------------------------------------------------------
# Chi-square
# --------------------------------------------------------------------------------------------------

def test_chi_square_3x2_matches_r():
    # R: chisq.test(matrix(c(22,5,1,12,4,3),3), correct=FALSE) -> X-squared, df, p-value
    statistic, dof, p = chi_square_test(r_matrix([22, 5, 1, 12, 4, 3], 3))
    assert statistic == pytest.approx(2.41752973119072, rel=RTOL)
    assert dof == 2
    assert p == pytest.approx(0.29856582070123, rel=RTOL)


def test_chi_square_2x2_has_no_continuity_correction():
    # R: chisq.test(matrix(c(1,9,11,3),2), correct=FALSE) -> 10.9714285714286, df 1, p 0.000925274037119761
    statistic, dof, p = chi_square_test(r_matrix([1, 9, 11, 3], 2))
    assert (statistic, dof) == (pytest.approx(10.9714285714286, rel=RTOL), 1)
    assert p == pytest.approx(0.000925274037119761, rel=RTOL)


def test_chi_square_drops_an_empty_row():
    # R: t4 <- matrix(c(3,0,7,10, 8,0,2,5),4); chisq.test(t4, correct=FALSE) is NaN (0/0 in the empty row);
    # chisq.test(t4[-2,], correct=FALSE) -> 6.12794612794613, df 2, p 0.0467017769844154
    statistic, dof, p = chi_square_test(r_matrix([3, 0, 7, 10, 8, 0, 2, 5], 4))
    assert (statistic, dof) == (pytest.approx(6.12794612794613, rel=RTOL), 2)
    assert p == pytest.approx(0.0467017769844154, rel=RTOL)


def test_chi_square_of_a_single_nonempty_column_is_nan():
    statistic, dof, p = chi_square_test([[3, 0], [4, 0]])
    assert math.isnan(statistic) and math.isnan(p) and dof == 0


# --------------------------------------------------------------------------------------------------
# Fisher's exact test against R
# --------------------------------------------------------------------------------------------------

# (R matrix values, nrow, fisher.test(...)$p.value)
R_FISHER = [
    # The 3 x 2 example published as p = 0.335: R fisher.test(matrix(c(22,5,1,12,4,3),3))
    ([22, 5, 1, 12, 4, 3], 3, 0.334510146013741),
    # R: fisher.test(matrix(c(1,9,11,3),2))
    ([1, 9, 11, 3], 2, 0.00275945618522009),
    # R: fisher.test(matrix(c(3,1,0, 2,4,1, 0,2,5),3))
    ([3, 1, 0, 2, 4, 1, 0, 2, 5], 3, 0.035503031826561),
    # R: fisher.test(matrix(c(2,0,3,5, 6,1,1,0),2, byrow=TRUE)) (2 x 4)
    ([2, 6, 0, 1, 3, 1, 5, 0], 2, 0.0182823712235476),
    # R: fisher.test(matrix(c(1,1,2,3,4,0,2,0,1,3,1,4,2,1,0,0,1,0,0,2),4)) (4 x 5)
    ([1, 1, 2, 3, 4, 0, 2, 0, 1, 3, 1, 4, 2, 1, 0, 0, 1, 0, 0, 2], 4, 0.161634562913055),
    # R: fisher.test(matrix(c(10, 20, 30, 7, 30, 25),3))
    ([10, 20, 30, 7, 30, 25], 3, 0.242792534685677),
    # R: fisher.test(matrix(c(3, 40, 300, 500, 800, 9, 70, 250, 480, 700),5), workspace=2e8) (n = 3152)
    ([3, 40, 300, 500, 800, 9, 70, 250, 480, 700], 5, 0.00172388056190053),
    # R: fisher.test(matrix(c(2, 150, 4000, 6000, 1, 170, 3900, 5800), 4), workspace=2e8) (n = 20023)
    ([2, 150, 4000, 6000, 1, 170, 3900, 5800], 4, 0.531162234794476),
    # R: fisher.test(matrix(c(3, 10, 40, 80, 2, 12, 30, 95, 0, 5, 22, 60), 4), workspace=2e8) (4 x 3)
    ([3, 10, 40, 80, 2, 12, 30, 95, 0, 5, 22, 60], 4, 0.541480167079581),
    # R: fisher.test(matrix(c(5,5,5,5,5,5),3))
    ([5, 5, 5, 5, 5, 5], 3, 1.0),
]


@pytest.mark.parametrize("values, nrow, expected", R_FISHER)
def test_fisher_matches_r(values, nrow, expected):
    assert fisher_exact_test(r_matrix(values, nrow)) == pytest.approx(expected, rel=RTOL)


def test_fisher_is_the_same_for_a_table_and_its_transpose():
    table = r_matrix([3, 40, 300, 500, 800, 9, 70, 250, 480, 700], 5)
    assert fisher_exact_test(table.T) == pytest.approx(fisher_exact_test(table), rel=1e-12)


def test_fisher_ignores_an_empty_row():
    # R: fisher.test(matrix(c(3,0,7,10, 8,0,2,5),4)) and fisher.test(t4[-2,]) both give 0.061723333237149
    assert fisher_exact_test(r_matrix([3, 0, 7, 10, 8, 0, 2, 5], 4)) == pytest.approx(0.061723333237149, rel=RTOL)


def test_fisher_with_one_nonempty_row_is_one():
    assert fisher_exact_test([[4, 7], [0, 0]]) == 1.0


# --------------------------------------------------------------------------------------------------
# Fisher's exact test against brute-force enumeration
# --------------------------------------------------------------------------------------------------

def brute_force_fisher(table) -> float:
    """Sum the probability of every table with the observed margins that is no more probable than it."""
    table = np.asarray(table)
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    r, c = table.shape
    const = sum(math.lgamma(v + 1) for v in [*rows, *cols]) - math.lgamma(table.sum() + 1)

    def log_p(t):
        return const - sum(math.lgamma(v + 1) for v in t.ravel())

    observed = log_p(table)
    total = 0.0
    free = [range(min(rows[i], cols[j]) + 1) for i in range(r - 1) for j in range(c - 1)]
    for cells in itertools.product(*free):
        t = np.zeros((r, c), dtype=int)
        t[:r - 1, :c - 1] = np.reshape(cells, (r - 1, c - 1))
        t[:r - 1, c - 1] = rows[:r - 1] - t[:r - 1, :c - 1].sum(axis=1)
        t[r - 1] = cols - t[:r - 1].sum(axis=0)
        if (t >= 0).all():
            lp = log_p(t)
            if lp <= observed + math.log1p(1e-7):
                total += math.exp(lp)
    return total


def test_fisher_matches_brute_force_on_random_small_tables():
    rng = np.random.default_rng(20240611)
    checked = 0
    while checked < 60:
        r, c = rng.integers(2, 5, size=2)
        table = rng.integers(0, 6, size=(r, c))
        if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any() or (r * c > 9 and table.sum() > 24):
            continue
        assert fisher_exact_test(table) == pytest.approx(brute_force_fisher(table), rel=1e-9), table
        checked += 1


def test_fisher_on_a_table_too_large_for_r():
    # R's fisher.test stops with "FEXACT error 501" on this table (even with workspace = 2e8): the
    # enumeration over the three small rows (4 x 9 x 11 tables) is the reference.
    table = np.array([[1, 2], [3, 5], [0, 10], [300000, 300000]])
    assert fisher_exact_test(table) == pytest.approx(brute_force_fisher(table), rel=1e-7)


# --------------------------------------------------------------------------------------------------
# GBSG2: Table 1 tests before and after matching (reference.txt of make_reference.R)
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gbsg2():
    return pd.read_csv(PUBLIC_DIR / "gbsg2.csv")


@pytest.fixture(scope="module")
def gbsg2_matched(gbsg2):
    pairs = pd.read_csv(PAIRS)
    return gbsg2[gbsg2["id"].isin(set(pairs["treated_id"]) | set(pairs["control_id"]))]


def crosstab(df, variable):
    return pd.crosstab(df[variable], df["horTh"]).to_numpy()


# R (make_reference.R, tab1): tb <- table(data[[v]], data$horTh)
#   chisq_p = chisq.test(tb, correct = FALSE)$p.value;  fisher_p = fisher.test(tb)$p.value
GBSG2_ALL = {"menostat": (4.13500653e-13, 2.475151099e-13), "tgrade": (0.2732880458, 0.2683230285)}
GBSG2_MATCHED = {"menostat": (0.9161519439, 1.0), "tgrade": (0.8421079102, 0.8547468483)}


@pytest.mark.parametrize("variable", ["menostat", "tgrade"])
def test_gbsg2_all_patients(gbsg2, variable):
    chisq_p, fisher_p = GBSG2_ALL[variable]
    table = crosstab(gbsg2, variable)
    assert chi_square_test(table)[2] == pytest.approx(chisq_p, rel=RTOL)
    assert fisher_exact_test(table) == pytest.approx(fisher_p, rel=RTOL)


@pytest.mark.parametrize("variable", ["menostat", "tgrade"])
def test_gbsg2_matched_without_caliper(gbsg2_matched, variable):
    chisq_p, fisher_p = GBSG2_MATCHED[variable]
    table = crosstab(gbsg2_matched, variable)
    assert table.sum() == 492
    assert chi_square_test(table)[2] == pytest.approx(chisq_p, rel=RTOL)
    assert fisher_exact_test(table) == pytest.approx(fisher_p, rel=RTOL)


# --------------------------------------------------------------------------------------------------
# Choice of test
# --------------------------------------------------------------------------------------------------

def test_categorical_test_uses_chi_square_when_expected_counts_are_large(gbsg2):
    p, test = categorical_test(crosstab(gbsg2, "tgrade"))
    assert test == "Chi-square"
    assert p == pytest.approx(0.2732880458, rel=RTOL)


def test_categorical_test_uses_fisher_when_an_expected_count_is_below_5():
    # The first 40 GBSG2 patients, tgrade x horTh: I 4/1, II 15/12, III 6/2.
    # R: s <- d[1:40,]; fisher.test(table(s$tgrade, s$horTh))$p.value -> 0.480833787232226
    table = [[4, 1], [15, 12], [6, 2]]
    assert expected_counts(table).min() < 5
    p, test = categorical_test(table)
    assert test == "Fisher exact"
    assert p == pytest.approx(0.480833787232226, rel=RTOL)


def test_categorical_test_ignores_an_empty_level_when_choosing():
    # A declared level nobody has must not force Fisher (its expected count is 0).
    p, test = categorical_test([[209, 187], [231, 59], [0, 0]])
    assert test == "Chi-square"
    assert p == pytest.approx(4.13500653e-13, rel=RTOL)


def test_categorical_test_without_two_nonempty_levels_is_not_a_test():
    p, test = categorical_test([[10, 12], [0, 0]])
    assert math.isnan(p) and test == ""


def test_too_large_exact_test_raises_and_falls_back_to_chi_square(monkeypatch):
    monkeypatch.setattr(contingency, "MAX_FISHER_WORK", 1000)
    table = r_matrix([1, 5, 40, 300, 800, 1500, 4, 2, 50, 280, 790, 1400], 6)
    assert expected_counts(table).min() < 5
    with pytest.raises(ExactTestTooLarge):
        fisher_exact_test(table)
    with pytest.warns(StatisticalWarning):
        p, test = categorical_test(table)
    assert test == "Chi-square"
    assert p == pytest.approx(chi_square_test(table)[2], rel=1e-12)


@pytest.mark.parametrize("bad", [[[1, -2], [3, 4]], [[1.5, 2], [3, 4]], [[1, 2, 3]], [[np.nan, 1], [2, 3]]])
def test_tables_must_hold_whole_counts_in_two_dimensions(bad):
    with pytest.raises(ValueError):
        fisher_exact_test(bad)


# --------------------------------------------------------------------------------------------------
# Proportion intervals
# --------------------------------------------------------------------------------------------------

# k, n, Wilson (R: prop.test(k, n, correct=FALSE)$conf.int), exact (R: binom.test(k, n)$conf.int)
R_INTERVALS = [
    (0, 10, (0.0, 0.277532799862889), (0.0, 0.308497107818761)),
    (1, 10, (0.0178762130950729, 0.404150026795238), (0.00252857854446179, 0.445016117028195)),
    (7, 20, (0.181191824101082, 0.567145723314764), (0.153909204784541, 0.592188534532828)),
    (20, 20, (0.838874841947181, 1.0), (0.831566529016915, 1.0)),
    (999, 1000, (0.994357441402042, 0.999823453629374), (0.994441075720173, 0.999974682512509)),
    (3, 7, (0.15821985525147, 0.749541635472343), (0.0989882784425079, 0.815948432359917)),
]


@pytest.mark.parametrize("k, n, wilson, exact", R_INTERVALS)
def test_proportion_intervals_match_r(k, n, wilson, exact):
    assert proportion_ci(k, n) == pytest.approx(wilson, rel=RTOL, abs=1e-15)
    assert proportion_ci(k, n, method="exact") == pytest.approx(exact, rel=RTOL, abs=1e-15)


def test_proportion_intervals_are_vectorised():
    k = np.array([row[0] for row in R_INTERVALS])
    n = np.array([row[1] for row in R_INTERVALS])
    lower, upper = proportion_ci(k, n, method="exact")
    np.testing.assert_allclose(lower, [row[3][0] for row in R_INTERVALS], rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(upper, [row[3][1] for row in R_INTERVALS], rtol=RTOL, atol=1e-15)


def test_proportion_interval_at_90_percent():
    # R: prop.test(7, 20, correct=FALSE, conf.level=0.9)$conf.int; binom.test(7, 20, conf.level=0.9)$conf.int
    assert proportion_ci(7, 20, alpha=0.1) == pytest.approx((0.202260040056761, 0.533487311151528), rel=RTOL)
    assert proportion_ci(7, 20, method="exact", alpha=0.1) == pytest.approx(
        (0.177310917574449, 0.558034511315489), rel=RTOL)


def test_proportion_interval_of_no_trials_is_nan():
    lower, upper = proportion_ci(np.array([0, 2]), np.array([0, 4]))
    assert np.isnan(lower[0]) and np.isnan(upper[0]) and 0 < lower[1] < 0.5 < upper[1] < 1


@pytest.mark.parametrize("k, n, kwargs", [(5, 4, {}), (-1, 4, {}), (1, 4, {"method": "wald"}), (1, 4, {"alpha": 0})])
def test_proportion_interval_rejects_bad_input(k, n, kwargs):
    with pytest.raises(ValueError):
        proportion_ci(k, n, **kwargs)
