"""Forest plot: CI segments where the numbers say, rows and headers where a reader expects them."""

import numpy as np
import pandas as pd
import pytest

from mbcrt.report.figures.forest import NOT_ESTIMABLE, forest_plot


@pytest.fixture
def rows():
    return pd.DataFrame({
        "section": ["Overall", "Age (interaction p = 0.41)", "Age (interaction p = 0.41)",
                    "Brain metastasis (interaction p = NA)", "Brain metastasis (interaction p = NA)"],
        "label": ["All patients", "< 50 years", ">= 50 years", "Yes", "No"],
        "hr": [0.62, 0.55, 0.70, np.nan, 0.80],
        "lower": [0.48, 0.38, 0.50, np.nan, 0.20],
        "upper": [0.80, 0.79, 0.98, np.nan, np.inf],
        "HR (95% CI)": ["0.62 (0.48-0.80)", "0.55 (0.38-0.79)", "0.70 (0.50-0.98)", "", "0.80 (0.20-inf)"],
        "n": [488, 200, 288, 3, 485],
    })


def _lines_by_gid(ax, prefix):
    return {ln.get_gid(): ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith(prefix)}


def _texts(ax):
    return {t.get_text(): t for t in ax.texts}


def _texts_with_gid(ax, prefix):
    """Texts whose gid starts with ``prefix``, top to bottom."""
    found = [t for t in ax.texts if (t.get_gid() or "").startswith(prefix)]
    return sorted(found, key=lambda t: t.get_position()[1])


def test_ci_segments_end_at_the_limits_on_a_log_axis(rows):
    fig = forest_plot(rows, group="section", right_text=["HR (95% CI)", "n"])
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    cis = _lines_by_gid(ax, "ci-")
    left, right = ax.get_xlim()
    for i in (0, 1, 2):
        np.testing.assert_allclose(cis[f"ci-{i}"].get_xdata(), rows.loc[i, ["lower", "upper"]].to_numpy(float))
        # On the page: the end's fraction of the axis width is its log-distance from the left limit.
        lo_px, hi_px = ax.transData.transform(np.column_stack([cis[f"ci-{i}"].get_xdata(), [0, 0]]))[:, 0]
        x0, x1 = ax.transAxes.transform([(0, 0), (1, 0)])[:, 0]
        for px, value in ((lo_px, rows.at[i, "lower"]), (hi_px, rows.at[i, "upper"])):
            assert (px - x0) / (x1 - x0) == pytest.approx(np.log(value / left) / np.log(right / left), abs=1e-9)
    estimates = _lines_by_gid(ax, "estimate-")
    assert estimates["estimate-1"].get_xdata()[0] == 0.55


def test_infinite_limit_runs_to_the_axis_edge_with_an_arrow(rows):
    (ax,) = forest_plot(rows, group="section").axes
    ci = _lines_by_gid(ax, "ci-")["ci-4"]
    assert ci.get_xdata()[0] == 0.20
    assert ci.get_xdata()[1] == pytest.approx(ax.get_xlim()[1])
    arrows = [ln for ln in ax.get_lines() if ln.get_marker() == ">"]
    assert len(arrows) == 1 and arrows[0].get_xdata()[0] == pytest.approx(ax.get_xlim()[1])


def test_not_estimable_row_has_text_and_no_segment(rows):
    (ax,) = forest_plot(rows, group="section").axes
    assert "ci-3" not in _lines_by_gid(ax, "ci-") and "estimate-3" not in _lines_by_gid(ax, "estimate-")
    note = _texts(ax)[NOT_ESTIMABLE]
    label = [t for t in ax.texts if t.get_gid() == "label-3"][0]
    assert label.get_text() == "Yes" and note.get_position()[1] == label.get_position()[1]


def test_section_headers_are_bold_and_rows_follow_in_order(rows):
    (ax,) = forest_plot(rows, group="section").axes
    headers = _texts_with_gid(ax, "header-")
    assert [h.get_text() for h in headers] == ["Overall", "Age (interaction p = 0.41)",
                                               "Brain metastasis (interaction p = NA)"]
    assert all(h.get_fontweight() == "bold" for h in headers)
    labels = _texts_with_gid(ax, "label-")
    assert [t.get_text() for t in labels] == list(rows["label"])
    assert all(t.get_fontweight() == "normal" for t in labels)
    # Top to bottom: header 0, row 0, header 1, rows 1-2, header 2, rows 3-4.
    assert [h.get_position()[1] for h in headers] == [0, 2, 5]
    assert [t.get_position()[1] for t in labels] == [1, 3, 4, 6, 7]
    # A segment sits on its label's line.
    assert _lines_by_gid(ax, "ci-")["ci-2"].get_ydata()[0] == 4


def test_right_text_columns_print_values_on_their_rows(rows):
    (ax,) = forest_plot(rows, group="section", right_text=["HR (95% CI)", "n"]).axes
    texts = _texts(ax)
    assert texts["HR (95% CI)"].get_fontweight() == "bold" and texts["n"].get_fontweight() == "bold"
    label_y = {t.get_text(): t.get_position()[1] for t in ax.texts if (t.get_gid() or "").startswith("label-")}
    assert texts["0.55 (0.38-0.79)"].get_position()[1] == label_y["< 50 years"]
    assert texts["485"].get_position()[1] == label_y["No"]
    assert texts["0.55 (0.38-0.79)"].get_position()[0] < texts["200"].get_position()[0]  # column order kept


def test_reference_line_and_favours_labels(rows):
    (ax,) = forest_plot(rows, group="section", favours=("Favours RT", "Favours no RT")).axes
    (ref,) = [ln for ln in ax.get_lines() if ln.get_gid() == "reference"]
    np.testing.assert_array_equal(ref.get_xdata(), [1.0, 1.0])
    favours = [t for t in ax.texts if "Favours" in t.get_text()]
    assert [t.get_text() for t in favours] == ["\u2190 Favours RT", "Favours no RT \u2192"]
    assert [t.get_ha() for t in favours] == ["right", "left"]
    assert 1.0 in ax.get_xticks()
    assert ax.get_xlabel() == "Hazard ratio (95% CI)"


def test_proportions_on_a_linear_axis_without_reference():
    props = pd.DataFrame({"label": ["HR+/HER2-", "HER2+"], "p": [0.72, 0.60], "lo": [0.60, 0.45], "hi": [0.82, 0.74]})
    (ax,) = forest_plot(props, estimate="p", lower="lo", upper="hi", log_scale=False, reference=None,
                        xlabel="Proportion on same therapy at 6 months (95% CI)", xlim=(0, 1)).axes
    assert ax.get_xscale() == "linear" and ax.get_xlim() == (0.0, 1.0)
    assert not [ln for ln in ax.get_lines() if ln.get_gid() == "reference"]
    assert not [t for t in ax.texts if "Favours" in t.get_text()]
    np.testing.assert_allclose(_lines_by_gid(ax, "ci-")["ci-1"].get_xdata(), [0.45, 0.74])


def test_inconsistent_or_non_positive_rows_are_refused():
    bad = pd.DataFrame({"label": ["a"], "hr": [0.5], "lower": [0.6], "upper": [0.9]})
    with pytest.raises(ValueError, match="lower <= hr <= upper"):
        forest_plot(bad)
    zero = pd.DataFrame({"label": ["a"], "hr": [0.0], "lower": [0.0], "upper": [0.9]})
    with pytest.raises(ValueError, match="positive"):
        forest_plot(zero)
    with pytest.raises(ValueError, match="right_text"):
        forest_plot(zero.assign(hr=0.5, lower=0.1), right_text="missing")


def test_narrow_ratio_range_still_gets_several_round_ticks():
    narrow = pd.DataFrame({"label": ["a", "b"], "hr": [1.01, 0.99], "lower": [0.98, 0.97], "upper": [1.05, 1.02]})
    (ax,) = forest_plot(narrow).axes
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert len(ticks) >= 3 and 1.0 in ticks
    assert all(len(f"{t:g}") <= 5 for t in ticks)
