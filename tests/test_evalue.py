"""E-values (VanderWeele & Ding, Ann Intern Med 2017), by hand and against the published example."""

import math

import numpy as np
import pytest

from mbcrt.stats.evalue import evalue, evalue_rr, hr_to_rr


def test_published_example():
    # VanderWeele & Ding 2017: RR 3.9 (95% CI 1.8 to 8.7) -> E-value 7.26, for the lower limit 3.0.
    point, ci = evalue(3.9, 1.8, 8.7, rare=True)
    assert round(point, 2) == 7.26
    assert round(ci, 1) == 3.0


def test_formula_by_hand():
    assert evalue_rr(2.0) == pytest.approx(2 + math.sqrt(2))
    assert evalue_rr(0.5) == pytest.approx(2 + math.sqrt(2))  # protective: 1/RR first
    assert evalue_rr(1.0) == 1.0


def test_common_outcome_conversion_by_hand():
    hr = 0.6
    rr = (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))
    assert hr_to_rr(hr) == pytest.approx(rr, rel=1e-14)
    assert hr_to_rr(1.0) == 1.0
    assert hr_to_rr(hr, rare=True) == hr
    point, ci = evalue(0.6, 0.45, 0.8)
    assert point == pytest.approx(evalue_rr(rr), rel=1e-14)
    up = hr_to_rr(0.8)
    assert ci == pytest.approx(1 / up + math.sqrt(1 / up * (1 / up - 1)), rel=1e-14)  # the upper limit, nearer 1


def test_interval_covering_one_gives_one():
    assert evalue(0.9, 0.7, 1.2)[1] == 1.0
    assert evalue(1.3, 0.95, 1.8, rare=True)[1] == 1.0


def test_without_interval():
    point, ci = evalue(2.0, rare=True)
    assert point == pytest.approx(2 + math.sqrt(2)) and np.isnan(ci)


def test_bad_inputs():
    with pytest.raises(ValueError):
        evalue(-1.0)
    with pytest.raises(ValueError):
        evalue(2.0, 2.5, 3.0)
