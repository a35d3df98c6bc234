"""match_nearest against a plain, quadratic transcription of MatchIt's nearest-neighbour loop.

The reference below follows MatchIt 4.5.5's C++ (``src/nn_matchC_vec.cpp``: ``find_left``,
``find_right`` and the choice between them) line for line, walking the sorted units one at a time.
The fast implementation must give the very same pairs, in the same order, on ~300 seeded random
and adversarial cases: many tied distances, everyone outside the caliper, more treated than
controls, one arm of size 1, n from 2 to 2000, every matching order.
"""

import statistics

import numpy as np
import pytest

from mbcrt.errors import InputError
from mbcrt.stats.matching import ORDERS, match_nearest


def matchit_reference(distance, is_treated, chooser_order, caliper_absolute):
    """Pairs {treated row: control row} in the order they are made, as MatchIt makes them."""
    n = len(distance)
    # sort.list(distance): ascending, ties in data order (Python's sort is stable).
    sorted_units = sorted(range(n), key=lambda i: distance[i])
    position = {unit: pos for pos, unit in enumerate(sorted_units)}
    used = set()
    pairs = {}
    for t in chooser_order:
        ii = position[t]
        dt = distance[t]

        def walk(step):
            k = ii + step
            while 0 <= k < n:
                unit = sorted_units[k]
                if is_treated[unit] or unit in used:
                    k += step
                    continue
                if caliper_absolute is not None and abs(dt - distance[unit]) > caliper_absolute:
                    return None  # the closest available one is outside the caliper: none can be found
                return unit
            return None

        left, right = walk(-1), walk(+1)
        if left is not None and right is not None:
            chosen = left if abs(distance[left] - dt) <= abs(distance[right] - dt) else right
        elif left is not None:
            chosen = left
        elif right is not None:
            chosen = right
        else:
            continue
        pairs[t] = chosen
        used.add(chosen)
    return pairs


def reference_chooser_order(distance, is_treated, order, seed):
    treated = [i for i in range(len(distance)) if is_treated[i]]
    if order == "largest":  # reverse=True keeps ties in their original order, as R's order() does
        return sorted(treated, key=lambda i: distance[i], reverse=True)
    if order == "smallest":
        return sorted(treated, key=lambda i: distance[i])
    if order == "data":
        return treated
    return [treated[j] for j in np.random.default_rng(seed).permutation(len(treated))]


def make_case(rng, kind):
    """(ps, treat, caliper) for one adversarial family."""
    n = int(np.exp(rng.uniform(np.log(2), np.log(2000))))
    share = rng.uniform(0.05, 0.95)
    caliper = [None, 0.01, 0.1, 0.2, 1.0][rng.integers(5)]
    if kind == "continuous":
        ps = rng.uniform(0.001, 0.999, n)
    elif kind == "few_values":  # heavy ties, including treated tied with controls
        ps = rng.choice(rng.uniform(0.05, 0.95, rng.integers(1, 6)), n)
    elif kind == "grid":  # exact binary fractions: equal distances on both sides of a treated unit
        ps = rng.integers(1, 16, n) / 16
    elif kind == "all_equal":
        ps = np.full(n, 0.5)
    elif kind == "more_treated":
        ps = rng.uniform(0.01, 0.99, n)
        share = rng.uniform(0.6, 0.95)
    elif kind == "outside_caliper":  # treated far above every control, caliper much smaller than the gap
        treat = rng.random(n) < share
        treat[0], treat[-1] = True, False
        ps = np.where(treat, rng.uniform(0.9, 0.99, n), rng.uniform(0.01, 0.1, n))
        return ps, treat.astype(int), 0.05
    elif kind in ("one_treated", "one_control"):
        n = max(n, 2)
        ps = rng.uniform(0.01, 0.99, n)
        treat = np.zeros(n, dtype=int) if kind == "one_treated" else np.ones(n, dtype=int)
        treat[rng.integers(n)] = 1 if kind == "one_treated" else 0
        return ps, treat, caliper
    treat = (rng.random(n) < share).astype(int)
    treat[rng.choice(n, 2, replace=False)] = [0, 1]  # both arms present
    return ps, treat, caliper


KINDS = ["continuous", "few_values", "grid", "all_equal", "more_treated", "outside_caliper",
         "one_treated", "one_control"]
CASES = [(seed, KINDS[seed % len(KINDS)], ORDERS[(seed // len(KINDS)) % len(ORDERS)])
         for seed in range(320)]


@pytest.mark.parametrize("seed, kind, order", CASES)
def test_identical_to_quadratic_reference(seed, kind, order):
    rng = np.random.default_rng(seed)
    ps, treat, caliper = make_case(rng, kind)
    scale = "logit" if seed % 3 else "probability"
    result = match_nearest(ps, treat, caliper=caliper, caliper_scale=scale, order=order, seed=seed)

    distance = result.distance.tolist()
    if scale == "probability":
        assert distance == ps.tolist()
    else:
        np.testing.assert_allclose(result.distance, np.log(ps / (1 - ps)), rtol=1e-12, atol=1e-15)
    caliper_absolute = None
    if caliper is not None:
        caliper_absolute = caliper * statistics.stdev(distance)
        assert result.caliper_absolute == pytest.approx(caliper_absolute, rel=1e-12)
        caliper_absolute = result.caliper_absolute

    is_treated = (treat == 1).tolist()
    chooser = reference_chooser_order(distance, is_treated, order, seed)
    expected = matchit_reference(distance, is_treated, chooser, caliper_absolute)

    assert result.treated.tolist() == list(expected)
    assert result.control.tolist() == list(expected.values())
    assert result.n_unmatched_treated == sum(is_treated) - len(expected)
    if kind == "outside_caliper":
        assert result.n_pairs == 0


def test_tie_rules_by_hand():
    # Equal distances on both sides: the lower neighbour wins (MatchIt compares with <=).
    assert match_nearest([0.25, 0.5, 0.75], [0, 1, 0], caliper=None, caliper_scale="probability").control.tolist() == [0]
    # All distances equal: units sorted by data order; the nearest control below the treated
    # unit in that order is the last one before it in the data ...
    assert match_nearest([0.5] * 4, [0, 0, 1, 0], caliper=None).control.tolist() == [1]
    # ... and with none before it, the first one after it.
    assert match_nearest([0.5] * 3, [1, 0, 0], caliper=None).control.tolist() == [1]
    # Tied treated units choose in data order under "largest".
    result = match_nearest([0.6, 0.6, 0.2, 0.3], [1, 1, 0, 0], caliper=None, caliper_scale="probability")
    assert result.treated.tolist() == [0, 1]
    assert result.control.tolist() == [3, 2]


def test_caliper_leaves_far_treated_unmatched_by_hand():
    # R: 0.2 * sd(c(0.1, 0.2, 0.9, 0.15))  # 0.0754431353183752
    # The treated 0.9 chooses first; its nearest free control (0.15) is 0.75 away: left unmatched.
    result = match_nearest([0.1, 0.2, 0.9, 0.15], [0, 1, 1, 0], caliper=0.2, caliper_scale="probability")
    assert result.caliper_absolute == pytest.approx(0.0754431353183752, rel=1e-14)
    assert result.treated.tolist() == [1]
    assert result.control.tolist() == [3]
    assert result.pair_id.tolist() == [0, 1, 0, 1]


def test_random_order_is_reproducible_and_needs_a_seed():
    rng = np.random.default_rng(1)
    ps, treat = rng.uniform(0.1, 0.9, 300), rng.integers(0, 2, 300)
    first = match_nearest(ps, treat, order="random", seed=11)
    again = match_nearest(ps, treat, order="random", seed=11)
    other = match_nearest(ps, treat, order="random", seed=12)
    assert first.treated.tolist() == again.treated.tolist()
    assert first.control.tolist() == again.control.tolist()
    assert first.treated.tolist() != other.treated.tolist()
    with pytest.raises(InputError, match="seed"):
        match_nearest(ps, treat, order="random")


@pytest.mark.parametrize("kwargs, message", [
    ({"ps": [0.5], "treat": [1]}, "both arms"),
    ({"ps": [0.2, 0.4], "treat": [1, 1]}, "both arms"),
    ({"ps": [0.0, 0.4], "treat": [1, 0]}, "strictly between 0 and 1"),
    ({"ps": [np.nan, 0.4], "treat": [1, 0]}, "between 0 and 1"),
    ({"ps": [0.2, 0.4], "treat": [1, 0], "caliper": -0.1}, "positive"),
    ({"ps": [0.2, 0.4], "treat": [1, 0], "order": "largets"}, "Did you mean 'largest'"),
    ({"ps": [0.2, 0.4], "treat": [1, 0], "caliper_scale": "logistic"}, "not one of"),
    ({"ps": [0.2, 0.4, 0.5], "treat": [1, 0]}, "2 values for 3 rows"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message):
        match_nearest(**kwargs)
