"""Standardised mean differences and the balance table, against R on GBSG2 and by hand."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.matching import (
    balance_table,
    match_nearest,
    matched_frame,
    standardized_difference,
)

DATA = Path(__file__).parent / "data"
CONTINUOUS = ["age", "tsize", "pnodes", "progrec", "estrec"]

# R 4.2.2 (make_reference.R), all.table1.<v>.smd on the whole cohort and match.nocaliper.table1.<v>.smd
# on match.data(matchit(f, data = d, method = "nearest", distance = "glm", link = "logit")):
#   x1 <- data[[v]][data$horTh == "yes"]; x0 <- data[[v]][data$horTh == "no"]
#   (mean(x1) - mean(x0)) / sqrt((var(x1) + var(x0)) / 2)
R_SMD_ALL = {"age": 0.5742110569, "tsize": -0.05734649123, "pnodes": 0.03431217439,
             "progrec": 0.1043544681, "estrec": 0.2860426883}
R_SMD_MATCHED = {"age": 0.04116110038, "tsize": -0.02514505228, "pnodes": -0.04575540781,
                 "progrec": 0.03250807931, "estrec": 0.07595711501}

# R 4.2.2, proportions version per level, matched set = ids in gbsg2_pairs_nocaliper.csv:
#   smd_level <- function(x, g, lv) { p1 <- mean(x[g == "yes"] == lv); p0 <- mean(x[g == "no"] == lv)
#     (p1 - p0) / sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2) }
#   sprintf("%.12g", smd_level(d$tgrade, d$horTh, "I"))   # and so on for each level, d and md
R_SMD_LEVELS_ALL = {("menostat", "Pre"): -0.613792193045, ("menostat", "Post"): 0.613792193045,
                    ("tgrade", "I"): 0.0767148693536, ("tgrade", "II"): 0.0502812862607,
                    ("tgrade", "III"): -0.117086262873}
R_SMD_LEVELS_MATCHED = {("menostat", "Pre"): -0.00949307673176, ("menostat", "Post"): 0.00949307673176,
                        ("tgrade", "I"): 0.0490106288011, ("tgrade", "II"): -0.0433286300251,
                        ("tgrade", "III"): 0.0101396205855}


@pytest.fixture(scope="module")
def cohorts():
    gbsg2 = pd.read_csv(PUBLIC_DIR / "gbsg2.csv")
    gbsg2["treated"] = (gbsg2["horTh"] == "yes").astype(int)
    ps = pd.read_csv(DATA / "gbsg2_ps.csv")["ps"].to_numpy()
    result = match_nearest(ps, gbsg2["treated"], caliper=None, caliper_scale="probability")
    return gbsg2, matched_frame(gbsg2, result, ps)


@pytest.mark.parametrize("variable", CONTINUOUS)
def test_continuous_smd_equals_r(variable, cohorts):
    before, after = cohorts
    assert standardized_difference(before[variable], before["treated"]) == pytest.approx(
        R_SMD_ALL[variable], rel=1e-9)
    assert standardized_difference(after[variable], after["treated"]) == pytest.approx(
        R_SMD_MATCHED[variable], rel=1e-9)


@pytest.mark.parametrize("variable", ["menostat", "tgrade"])
def test_categorical_smd_equals_r(variable, cohorts):
    before, after = cohorts
    for frame, reference in ((before, R_SMD_LEVELS_ALL), (after, R_SMD_LEVELS_MATCHED)):
        smd = standardized_difference(frame[variable], frame["treated"], categorical=True)
        expected = {lv: v for (var, lv), v in reference.items() if var == variable}
        assert sorted(smd.index) == sorted(expected)
        for level, value in expected.items():
            assert smd[level] == pytest.approx(value, rel=1e-10)


def test_balance_table_layout_and_values(cohorts):
    before, after = cohorts
    table = balance_table(before, after, treatment="treated",
                          covariates=["age", "menostat", "tgrade", "estrec"],
                          categorical=["menostat", "tgrade"],
                          levels={"menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]},
                          labels={"age": "Age (years)", "tgrade": "Tumour grade"})
    assert list(table.columns) == ["variable", "label", "level", "smd_before", "smd_after"]
    assert table[["variable", "level"]].apply(tuple, axis=1).tolist() == [
        ("age", ""), ("menostat", "Pre"), ("menostat", "Post"), ("tgrade", "I"), ("tgrade", "II"),
        ("tgrade", "III"), ("estrec", "")]
    assert table["label"].tolist() == ["Age (years)", "menostat", "menostat", "Tumour grade",
                                       "Tumour grade", "Tumour grade", "estrec"]
    expected_before = [R_SMD_ALL["age"], *[R_SMD_LEVELS_ALL[("menostat", lv)] for lv in ("Pre", "Post")],
                       *[R_SMD_LEVELS_ALL[("tgrade", lv)] for lv in ("I", "II", "III")], R_SMD_ALL["estrec"]]
    expected_after = [R_SMD_MATCHED["age"],
                      *[R_SMD_LEVELS_MATCHED[("menostat", lv)] for lv in ("Pre", "Post")],
                      *[R_SMD_LEVELS_MATCHED[("tgrade", lv)] for lv in ("I", "II", "III")],
                      R_SMD_MATCHED["estrec"]]
    np.testing.assert_allclose(table["smd_before"], expected_before, rtol=1e-9)
    np.testing.assert_allclose(table["smd_after"], expected_after, rtol=1e-9)


def test_balance_table_without_matched_cohort(cohorts):
    before, _ = cohorts
    table = balance_table(before, None, treatment="treated", covariates=["pnodes", "menostat"],
                          categorical=["menostat"])
    assert table["level"].tolist() == ["", "Post", "Pre"]  # sorted levels when none are given
    assert table["smd_after"].isna().all()
    assert table["smd_before"].iloc[0] == pytest.approx(R_SMD_ALL["pnodes"], rel=1e-9)


def test_smd_by_hand():
    # treated 1, 2, 3 (mean 2, var 1); control 2, 4 (mean 3, var 2): (2 - 3) / sqrt(1.5)
    assert standardized_difference([1, 2, 3, 2, 4], [1, 1, 1, 0, 0]) == pytest.approx(-1 / np.sqrt(1.5), rel=1e-15)
    # level "a": p1 = 2/3, p0 = 1/2 -> (1/6) / sqrt((2/9 + 1/4) / 2)
    smd = standardized_difference(["a", "a", "b", "a", "b"], [1, 1, 1, 0, 0], categorical=True)
    assert smd["a"] == pytest.approx((1 / 6) / np.sqrt((2 / 9 + 1 / 4) / 2), rel=1e-15)
    assert smd["b"] == pytest.approx(-smd["a"], rel=1e-15)


def test_smd_degenerate_cases():
    # No spread in either arm: 0 when the means agree, signed infinity when they differ.
    assert standardized_difference([5, 5, 5, 5], [1, 1, 0, 0]) == 0.0
    assert standardized_difference([1, 1, 0, 0], [1, 1, 0, 0], categorical=True)[1] == np.inf
    # Missing values are left out of their group: treated [1, 3], control [2, 4].
    assert standardized_difference([1, np.nan, 3, 2, 4], [1, 1, 1, 0, 0]) == pytest.approx(
        -1 / np.sqrt(2), rel=1e-15)


def test_balance_table_names_missing_column(cohorts):
    before, after = cohorts
    with pytest.raises(InputError, match="Did you mean 'tsize'") as err:
        balance_table(before, after, treatment="treated", covariates=["tsiz"])
    assert err.value.column == "tsiz"
