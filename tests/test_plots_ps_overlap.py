"""Propensity-score overlap: mirrored histograms whose bars are the counts, small at a million patients."""

import time

import numpy as np
import pytest

from mbcrt.errors import InputError
from mbcrt.report.figures import save_figure
from mbcrt.report.figures.balance import ps_overlap
from mbcrt.report.figures.style import CONTROL_COLOR, TREATED_COLOR


def _stairs(ax):
    return {p.get_gid().split("-")[0]: p for p in ax.patches if p.get_gid()}


def test_bars_are_counts_treated_up_control_down_on_shared_bins():
    ps = np.array([0.10, 0.12, 0.33, 0.55, 0.56, 0.90, 0.20, 0.40, 0.41, 0.80])
    treat = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    matched = np.array([False, True, True, True, False, False, True, True, True, False])
    fig = ps_overlap(ps, treat, matched=matched, bins=4)
    before, after = fig.axes
    edges = np.linspace(0.10, 0.90, 5)  # 4 equal bins over the observed range
    for ax, keep in ((before, np.ones(10, bool)), (after, matched)):
        stairs = _stairs(ax)
        treated, control = stairs["treated"].get_data(), stairs["control"].get_data()
        np.testing.assert_allclose(treated.edges, edges)
        np.testing.assert_allclose(control.edges, edges)
        np.testing.assert_array_equal(treated.values, np.histogram(ps[keep & (treat == 1)], edges)[0])
        np.testing.assert_array_equal(control.values, -np.histogram(ps[keep & (treat == 0)], edges)[0])
    # By hand: treated 0.10, 0.12 | 0.33 | 0.55, 0.56 | 0.90 ; control 0.20 | 0.40, 0.41 | 0.80.
    np.testing.assert_array_equal(_stairs(before)["treated"].get_data().values, [2, 1, 2, 1])
    np.testing.assert_array_equal(_stairs(before)["control"].get_data().values, [-1, -2, 0, -1])
    assert before.get_title(loc="left") == "Before matching (n = 10)"
    assert after.get_title(loc="left") == "After matching (n = 6)"
    assert np.allclose(_stairs(before)["treated"].get_facecolor()[:3],
                       np.array([int(TREATED_COLOR[i:i + 2], 16) for i in (1, 3, 5)]) / 255)
    assert np.allclose(_stairs(before)["control"].get_facecolor()[:3],
                       np.array([int(CONTROL_COLOR[i:i + 2], 16) for i in (1, 3, 5)]) / 255)
    # Mirrored axis: tick labels are absolute counts, limits symmetric.
    low, high = before.get_ylim()
    assert low == -high
    assert all(not t.get_text().startswith("-") and "\u2212" not in t.get_text() for t in before.get_yticklabels())


def test_single_panel_without_matching():
    fig = ps_overlap([0.2, 0.4, 0.6], [True, False, True])
    assert len(fig.axes) == 1


def test_invalid_inputs_are_refused():
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        ps_overlap([0.2, 1.2], [1, 0])
    with pytest.raises(InputError, match="same length"):
        ps_overlap([0.2, 0.3], [1, 0, 1])
    with pytest.raises(InputError, match="boolean"):
        ps_overlap([0.2, 0.3], [1, 2])


def test_a_million_patients_is_fast_and_the_svg_small(tmp_path):
    rng = np.random.default_rng(1_000_000)
    n = 1_000_000
    ps = 1 / (1 + np.exp(-rng.normal(-0.5, 1.0, n)))
    treat = rng.uniform(size=n) < ps
    matched = treat | (rng.uniform(size=n) < 0.3)
    start = time.perf_counter()
    png, svg = save_figure(ps_overlap(ps, treat, matched=matched), tmp_path / "ps")
    assert time.perf_counter() - start < 20
    assert svg.stat().st_size < 300_000
    assert png.stat().st_size < 500_000
