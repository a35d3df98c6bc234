"""Love plot: absolute SMDs before (open) and after (filled) matching, on the right rows."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from mbcrt.report.figures.balance import love_plot


@pytest.fixture
def balance():
    return pd.DataFrame({
        "label": ["Age (years)", "Tumour grade", "Tumour grade", "Positive nodes", "Constant"],
        "level": [np.nan, "II", "III", "", np.nan],
        "smd_before": [0.35, -0.20, 0.15, 0.05, np.nan],
        "smd_after": [-0.03, -0.05, 0.08, 0.11, np.nan],
    })


def _dots(ax, gid):
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    return line


def test_dots_are_absolute_differences_on_their_rows(balance):
    (ax,) = love_plot(balance).axes
    before, after = _dots(ax, "before"), _dots(ax, "after")
    np.testing.assert_array_equal(before.get_xdata(), [0.35, 0.20, 0.15, 0.05, np.nan])
    np.testing.assert_array_equal(after.get_xdata(), [0.03, 0.05, 0.08, 0.11, np.nan])
    np.testing.assert_array_equal(before.get_ydata(), [0, 1, 2, 3, 4])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Age (years)", "Tumour grade: II", "Tumour grade: III", "Positive nodes", "Constant"]
    np.testing.assert_array_equal(ax.get_yticks(), [0, 1, 2, 3, 4])
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # first row on top


def test_before_open_after_filled_and_threshold_dashed(balance):
    (ax,) = love_plot(balance, threshold=0.1).axes
    assert to_rgba(_dots(ax, "before").get_markerfacecolor()) == to_rgba("white")
    assert to_rgba(_dots(ax, "after").get_markerfacecolor()) == to_rgba(_dots(ax, "after").get_markeredgecolor())
    threshold = _dots(ax, "threshold")
    np.testing.assert_array_equal(threshold.get_xdata(), [0.1, 0.1])
    assert threshold.get_linestyle() == "--"
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] >= 0.35
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Before matching", "After matching"]
    assert ax.get_xlabel() == "Absolute standardized mean difference"


def test_no_threshold_line_when_none(balance):
    (ax,) = love_plot(balance, threshold=None).axes
    assert not [ln for ln in ax.get_lines() if ln.get_gid() == "threshold"]


def test_missing_column_is_refused(balance):
    with pytest.raises(ValueError, match="smd_after"):
        love_plot(balance.drop(columns="smd_after"))


def test_a_yes_no_covariate_shows_once_and_long_labels_widen_the_figure():
    balance = pd.DataFrame({
        "label": ["Bone metastasis", "Bone metastasis", "A very long covariate label " * 3, "Age (years)"],
        "level": ["No", "Yes", np.nan, np.nan],
        "smd_before": [-0.7, 0.7, 0.2, 0.1], "smd_after": [0.05, -0.05, 0.01, 0.0],
    })
    fig = love_plot(balance)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Bone metastasis: Yes", "A very long covariate label " * 3, "Age (years)"]
    np.testing.assert_array_equal(_dots(ax, "before").get_xdata(), [0.7, 0.2, 0.1])
    fig.canvas.draw()
    assert ax.get_position().width * fig.get_size_inches()[0] > 3.0  # the plot is not squeezed away
