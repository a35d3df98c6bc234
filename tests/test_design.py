"""Design matrices and category codes: R's dummy columns, and integer codes that select exactly the rows
``values == level`` selects (the codes replace one string comparison per row and level)."""

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths
from mbcrt.errors import InputError
from mbcrt.stats.design import category_codes, category_levels, design_matrix


def gbsg2():
    return pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")


def test_design_matrix_matches_r_model_matrix():
    # R 4.2.2:
    #   d <- read.csv("gbsg2.csv"); d$tgrade <- factor(d$tgrade, levels = c("I", "II", "III"))
    #   d$menostat <- factor(d$menostat, levels = c("Pre", "Post"))
    #   m <- model.matrix(~ age + menostat + tgrade + pnodes, d); colSums(m); m[c(1, 2, 3, 686), ]
    X = design_matrix(gbsg2(), ["age", "menostat", "tgrade", "pnodes"], ["menostat", "tgrade"],
                      {"menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]})
    assert list(X.columns) == ["age", "menostatPost", "tgradeII", "tgradeIII", "pnodes"]
    assert X.sum().tolist() == [36394, 396, 444, 161, 3437]
    assert X.iloc[[0, 1, 2, 685]].to_numpy().tolist() == [[70, 1, 1, 0, 3], [56, 1, 1, 0, 7], [58, 1, 1, 0, 9],
                                                           [55, 1, 1, 0, 9]]
    assert (X.dtypes == np.float64).all()


MIXED = pd.Series(["b", None, "a", np.nan, "b", 1, "1", 2.0, True, "c"], name="v", dtype=object)


@pytest.mark.parametrize("values, levels", [
    (pd.Series(["II", "I", None, "III", "I"], name="g"), None),
    (pd.Series(["II", "I", None, "III", "I"], name="g"), ["III", "I", "II", "IV"]),  # declared order, one empty
    (pd.Series([3, 1, 2, 1, 3], name="n"), None),
    (pd.Series([3, 1, 2, 1, 3], name="n"), ["1", "2", "3"]),  # YAML text matched to numbers
    (pd.Series([1.0, np.nan, 0.0, 1.0], name="f"), [0, 1]),
    (pd.Series([True, False, True], name="b"), None),
    (MIXED, ["a", "b", "c", 1, 2.0, True]),
    (pd.Series(["II", "I", "II"], name="g"), ["I", "II", "II"]),  # a level listed twice
])
def test_codes_select_the_rows_equality_selects(values, levels):
    levels_found, codes = category_codes(values, levels)
    assert levels_found == category_levels(values, levels)
    for level in levels_found:
        np.testing.assert_array_equal(codes == levels_found.index(level), (values == level).to_numpy())
    np.testing.assert_array_equal(codes == -1, values.isna().to_numpy())


def test_codes_keep_the_types_of_the_data():
    levels, _ = category_codes(pd.Series([2, 1, 2]), None)
    assert levels == [1, 2] and all(isinstance(v, np.integer) for v in levels)
    levels, _ = category_codes(pd.Series([2, 1, 2]), ["2", "1"])  # declared as text, the data's numbers
    assert levels == [2, 1] and all(isinstance(v, np.integer) for v in levels)


def test_values_outside_the_declared_levels_are_an_error():
    with pytest.raises(InputError, match=r"1 value\(s\) not among the declared levels") as err:
        category_codes(pd.Series(["I", "II", "IV"], name="tgrade"), ["I", "II", "III"])
    assert err.value.column == "tgrade"


def test_a_missing_categorical_value_is_a_zero_row_of_dummies():
    X = design_matrix(pd.DataFrame({"g": ["a", None, "b"]}), ["g"], ["g"])
    assert X["gb"].tolist() == [0.0, 0.0, 1.0]


def test_a_level_listed_twice_gives_one_dummy_of_its_rows():
    X = design_matrix(pd.DataFrame({"g": ["a", "b", "b"]}), ["g"], ["g"], {"g": ["a", "b", "b"]})
    assert list(X.columns) == ["gb"] and X["gb"].tolist() == [0.0, 1.0, 1.0]
