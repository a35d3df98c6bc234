"""Group codes of the survival functions: the fast path (factorize once, convert the distinct values to
text) gives the codes, labels and errors of comparing every row's text, and falls back to that where
factorizing could merge values whose texts differ."""

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.stats.survival import _distinct_values, _group_codes, _group_codes_by_text

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("group, order", [
    (RNG.choice(np.array(["No RT", "RT"], dtype=object), 500), None),
    (RNG.choice(np.array(["No RT", "RT"], dtype=object), 500), ["RT", "No RT"]),
    (pd.Series(RNG.choice(["b", "a", "c"], 300)), ["c", "a", "b"]),
    (RNG.integers(0, 12, 400), None),  # numbers sort as numbers: 2 before 10
    (RNG.integers(0, 3, 400), ["0", "1", "2"]),
    (RNG.integers(0, 2, 50).astype(bool), None),
    (np.array(["x", "y"] * 5, dtype=object), ["y", "x"]),
])
def test_fast_path_equals_comparing_texts(group, order):
    assert _distinct_values(group, len(group)) is not None
    fast_codes, fast_labels = _group_codes(group, order, len(group))
    slow_codes, slow_labels = _group_codes_by_text(group, order, len(group))
    assert fast_labels == slow_labels
    np.testing.assert_array_equal(fast_codes, slow_codes)


def _outcome(function, group, order):
    try:
        codes, labels = function(group, order, len(group))
    except InputError as exc:
        return str(exc)
    return codes.tolist(), labels


@pytest.mark.parametrize("group", [
    np.array([True, 1, 0, False], dtype=object),  # True == 1: one value to factorize, two texts
    np.array([0.0, -0.0, 1.0]),                   # 0.0 == -0.0, texts "0.0" and "-0.0"
    np.array([1.5, 2.5, 1.5]),
    pd.Series(["II", "I", "II"], dtype=pd.CategoricalDtype(["II", "I"])),  # a categorical's own order
])
def test_values_that_factorize_could_merge_are_compared_as_text(group):
    assert _outcome(_group_codes, group, None) == _outcome(_group_codes_by_text, group, None)


@pytest.mark.parametrize("group, order, message", [
    (np.array(["a", None, "b"], dtype=object), None, "group is missing"),
    (np.array(["a", "b", "c"], dtype=object), ["a", "b"], r"group values \['c'\] are not in order"),
    (np.array(["a", "b"], dtype=object), ["a", "b", "z"], r"group\(s\) \['z'\] have no patients"),
])
def test_errors_are_the_same(group, order, message):
    for function in (_group_codes, _group_codes_by_text):
        with pytest.raises(InputError, match=message):
            function(group, order, len(group))


def test_an_order_listing_a_group_twice_is_an_error():
    with pytest.raises(ValueError, match="twice"):
        _group_codes(np.array(["a", "b"], dtype=object), ["a", "a"], 2)
