"""Swimmer plot: one lane per patient, longest on top, markers at the event times, no identifiers."""

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.report.figures.swimmer import MISSING_GROUP, swimmer_plot


@pytest.fixture
def lanes():
    return pd.DataFrame({
        "lane": [10, 11, 12, 13, 14, 15],
        "group": ["HER2+", "TNBC", "HR+", "HER2+", "TNBC", "HR+"],
        "end": [3.0, 14.5, 7.0, 7.0, 1.0, 22.0],
        "progression": [3.0, np.nan, 7.0, np.nan, 1.0, np.nan],
        "next_therapy": [3.5, np.nan, 7.2, np.nan, np.nan, np.nan],
        "death": [np.nan, np.nan, np.nan, np.nan, 4.0, np.nan],
        "censored": [np.nan, 14.5, np.nan, 7.0, np.nan, 22.0],
    })


def _bars(ax):
    """(end, y) of every bar, from the drawn polygons."""
    bars = []
    for collection in ax.collections:
        for path in collection.get_paths():
            xs, ys = path.vertices[:, 0], path.vertices[:, 1]
            bars.append((xs.max(), (ys.min() + ys.max()) / 2, xs.min()))
    return sorted(bars, key=lambda b: b[1])


def test_lanes_sorted_longest_on_top_one_per_patient(lanes):
    (ax,) = swimmer_plot(lanes).axes
    bars = _bars(ax)
    assert len(bars) == 6
    np.testing.assert_allclose([b[0] for b in bars], [22.0, 14.5, 7.0, 7.0, 3.0, 1.0])
    assert all(b[2] == 0 for b in bars)
    np.testing.assert_allclose([b[1] for b in bars], np.arange(6))
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # y = 0 (longest) at the top


def test_markers_sit_on_their_lanes_at_event_times(lanes):
    (ax,) = swimmer_plot(lanes).axes
    markers = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid() in
               ("progression", "next_therapy", "death", "censored")}
    # Sorted order (ties by lane): 15 (22), 11 (14.5), 12 (7), 13 (7), 10 (3), 14 (1).
    np.testing.assert_array_equal(markers["progression"].get_xdata(), [np.nan, np.nan, 7.0, np.nan, 3.0, 1.0])
    np.testing.assert_array_equal(markers["death"].get_xdata(), [np.nan] * 5 + [4.0])
    np.testing.assert_array_equal(markers["censored"].get_xdata(), [22.0, 14.5, np.nan, 7.0, np.nan, np.nan])
    np.testing.assert_array_equal(markers["next_therapy"].get_ydata(), np.arange(6))


def test_no_identifier_is_shown_and_reference_lines_drawn(lanes):
    fig = swimmer_plot(lanes)
    (ax,) = fig.axes
    assert len(ax.get_yticks()) == 0
    shown = [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_legend().get_texts()]
    assert not any(str(lane) in text for lane in lanes["lane"] for text in shown)
    refs = sorted(ln.get_xdata()[0] for ln in ax.get_lines() if (ln.get_gid() or "").startswith("reference"))
    assert refs == [6, 12]
    assert ax.get_xlabel() == "Months since MDRT"


def test_legend_lists_groups_then_present_markers(lanes):
    (ax,) = swimmer_plot(lanes.drop(columns="death")).axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "HER2+", "HR+", "TNBC", "Progression", "Next therapy", "Censored (ongoing)"]
    (ax,) = swimmer_plot(lanes, legend=False).axes
    assert ax.get_legend() is None


def test_max_lanes_spreads_the_selection_and_says_so():
    n = 1000
    lanes = pd.DataFrame({"lane": np.arange(n), "group": "All", "end": np.arange(n, 0, -1) / 10.0})
    (ax,) = swimmer_plot(lanes, max_lanes=11).axes
    ends = [b[0] for b in _bars(ax)]
    assert len(ends) == 11
    assert ends[0] == 100.0 and ends[-1] == 0.1  # longest and shortest kept
    assert ends == sorted(ends, reverse=True)
    assert ax.get_title(loc="left").startswith("11 of 1,000 patients shown")


def test_missing_group_gets_its_own_entry_and_bad_input_is_refused(lanes):
    with_missing = lanes.assign(group=[np.nan, "TNBC", "HR+", "HER2+", "TNBC", "HR+"])
    (ax,) = swimmer_plot(with_missing).axes
    assert len(_bars(ax)) == 6
    assert MISSING_GROUP in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(InputError, match="unique"):
        swimmer_plot(lanes.assign(lane=[1, 1, 2, 3, 4, 5]))
    with pytest.raises(InputError, match="non-negative"):
        swimmer_plot(lanes.assign(end=[-1.0, 1, 2, 3, 4, 5]))
