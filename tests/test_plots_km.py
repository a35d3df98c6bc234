"""Kaplan-Meier figure: what a reader relies on (curve values, censor marks, at-risk table alignment).

The survival values are checked against a hand computation of the product-limit estimate, so the
figure is tested against an independent reference, not against the code that drew it.
"""

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex

from mbcrt.report.figures.km import (
    MAX_CENSOR_MARKS,
    band_envelope,
    km_panels,
    plot_km,
    thin_marks,
)
from mbcrt.report.figures.style import CONTROL_COLOR, TREATED_COLOR
from mbcrt.stats.survival import at_risk_table, kaplan_meier

# Group A: times 1, 2, 2+, 3, 4+, 5 (+ = censored). By hand:
#   S(1) = 5/6, S(2) = 5/6 * 4/5 = 2/3, S(3) = 2/3 * 2/3 = 4/9, S(4) = 4/9, S(5) = 0.
A_TIME, A_EVENT = [1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1]
A_STEPS = {"time": [1, 2, 3, 4, 5], "surv": [5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0]}
A_CENSORED = {"time": [2, 4], "surv": [2 / 3, 4 / 9]}
# Group B: times 0.5+, 1.5, 2.5+, 6. By hand: S(0.5) = 1, S(1.5) = 2/3, S(2.5) = 2/3, S(6) = 0.
B_TIME, B_EVENT = [0.5, 1.5, 2.5, 6], [0, 1, 0, 1]
B_STEPS = {"time": [0.5, 1.5, 2.5, 6], "surv": [1.0, 2 / 3, 2 / 3, 0.0]}
TICKS = [0, 2, 4, 6]
# Numbers at risk (time >= tick) by hand.
AT_RISK = pd.DataFrame([[6, 5, 2, 0], [4, 2, 1, 1]], index=["Control", "Treated"], columns=TICKS)


@pytest.fixture
def curves():
    return {"Control": kaplan_meier(A_TIME, A_EVENT), "Treated": kaplan_meier(B_TIME, B_EVENT)}


def _main_and_table_axes(fig):
    main, table = fig.axes
    return main, table


def _curve_line(ax, label):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return line


def _censor_lines(ax):
    return [ln for ln in ax.get_lines() if ln.get_marker() == "|"]


def test_step_path_equals_hand_computed_survival_from_0_1(curves):
    ax, _ = _main_and_table_axes(plot_km(curves, at_risk=AT_RISK, xlabel="Months"))
    for label, expected in (("Control", A_STEPS), ("Treated", B_STEPS)):
        line = _curve_line(ax, label)
        assert line.get_drawstyle() == "steps-post"
        np.testing.assert_allclose(line.get_xdata(), [0.0, *expected["time"]], rtol=0, atol=1e-12)
        np.testing.assert_allclose(line.get_ydata(), [1.0, *expected["surv"]], rtol=1e-12)


def test_censor_marks_sit_on_the_curve_at_censoring_times(curves):
    ax, _ = _main_and_table_axes(plot_km(curves, at_risk=AT_RISK, xlabel="Months"))
    marks_a, marks_b = _censor_lines(ax)
    np.testing.assert_allclose(marks_a.get_xdata(), A_CENSORED["time"])
    np.testing.assert_allclose(marks_a.get_ydata(), A_CENSORED["surv"], rtol=1e-12)
    np.testing.assert_allclose(marks_b.get_xdata(), [0.5, 2.5])
    np.testing.assert_allclose(marks_b.get_ydata(), [1.0, 2 / 3], rtol=1e-12)


def test_no_censor_marks_when_switched_off(curves):
    ax, _ = _main_and_table_axes(plot_km(curves, at_risk=AT_RISK, xlabel="Months", censor_marks=False))
    assert _censor_lines(ax) == []


def test_ci_band_spans_the_pointwise_limits(curves):
    ax, _ = _main_and_table_axes(plot_km(curves, at_risk=AT_RISK, xlabel="Months"))
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    table = curves["Control"].table
    ys = np.concatenate([p.vertices[:, 1] for p in bands[0].get_paths()])
    finite = np.concatenate([[1.0], table["lower"].dropna(), table["upper"].dropna()])
    for value in finite:  # every limit of the table is a vertex of the drawn band
        assert np.isclose(ys, value, rtol=1e-12, atol=0).any()
    assert np.nanmin(ys) == pytest.approx(np.nanmin(table["lower"]))


def test_at_risk_numbers_equal_input_and_sit_under_the_ticks(curves):
    fig = plot_km(curves, at_risk=AT_RISK, xlabel="Months")
    ax, table_ax = _main_and_table_axes(fig)
    np.testing.assert_allclose(ax.get_xticks(), TICKS)
    numbers = [t for t in table_ax.texts if t.get_position()[1] in (0, 1) and t.get_ha() == "center"]
    assert len(numbers) == AT_RISK.size
    for text in numbers:
        x, row = text.get_position()
        label = AT_RISK.index[int(row)]
        assert text.get_text() == str(AT_RISK.loc[label, x])
        # Aligned on the page, not just in data units: same display x as the tick above.
        tick_x = ax.transData.transform((x, 0.0))[0]
        assert table_ax.transData.transform((x, row))[0] == pytest.approx(tick_x, abs=1e-6)


def test_at_risk_group_names_coloured_like_their_curves(curves):
    fig = plot_km(curves, at_risk=AT_RISK, xlabel="Months")
    ax, table_ax = _main_and_table_axes(fig)
    names = {t.get_text(): t for t in table_ax.texts if t.get_ha() == "right"}
    assert set(names) == {"Control", "Treated"}
    for label in names:
        assert to_hex(names[label].get_color()) == to_hex(_curve_line(ax, label).get_color())
    # Default colours: first group (control) blue, second (treated) vermillion.
    assert to_hex(_curve_line(ax, "Control").get_color()) == CONTROL_COLOR.lower()
    assert to_hex(_curve_line(ax, "Treated").get_color()) == TREATED_COLOR.lower()


def test_at_risk_rows_follow_curve_order_and_large_counts_get_separators(curves):
    reordered = AT_RISK.loc[["Treated", "Control"]] * 1000
    _, table_ax = _main_and_table_axes(plot_km(curves, at_risk=reordered, xlabel="Months"))
    first_row = [t.get_text() for t in table_ax.texts if t.get_position()[1] == 0 and t.get_ha() == "center"]
    assert first_row == ["6,000", "5,000", "2,000", "0"]


def test_annotation_labels_and_no_default_title(curves):
    ax, _ = _main_and_table_axes(plot_km(curves, at_risk=AT_RISK, xlabel="Months since MDRT",
                                         annotation="Log-rank p = 0.21"))
    assert [t.get_text() for t in ax.texts] == ["Log-rank p = 0.21"]
    assert ax.get_xlabel() == "Months since MDRT"
    assert ax.get_ylabel() == "Survival probability"
    assert [ax.get_title(loc=loc) for loc in ("left", "center", "right")] == ["", "", ""]


def test_at_risk_column_off_the_ticks_is_refused(curves):
    with pytest.raises(ValueError, match="not x ticks"):
        plot_km(curves, at_risk=AT_RISK, xlabel="Months", xticks=[0, 3, 6])
    with pytest.raises(ValueError, match="no row"):
        plot_km(curves, at_risk=AT_RISK.iloc[:1], xlabel="Months")


def test_real_at_risk_table_feeds_the_plot(curves):
    at_risk = at_risk_table(A_TIME + B_TIME, ["Control"] * 6 + ["Treated"] * 4, TICKS)
    pd.testing.assert_frame_equal(at_risk.astype(int), AT_RISK.rename_axis("group").set_axis(at_risk.columns, axis=1),
                                  check_names=False)
    plot_km(curves, at_risk=at_risk, xlabel="Months")


def test_censor_marks_are_thinned_on_large_curves():
    rng = np.random.default_rng(20240501)
    n = 50_000
    time = rng.exponential(20.0, n).round(3)
    event = rng.uniform(size=n) < 0.4
    result = kaplan_meier(time, event)
    fig = plot_km({"All": result}, at_risk=None, xlabel="Months", xmax=60, xticks=[0, 20, 40, 60])
    (marks,) = _censor_lines(fig.axes[0])
    assert 100 <= len(marks.get_xdata()) <= MAX_CENSOR_MARKS
    table = result.table.set_index("time")
    censored_times = table.index[table["n_censor"] > 0]
    assert np.isin(marks.get_xdata(), censored_times).all()
    np.testing.assert_allclose(marks.get_ydata(), table.loc[marks.get_xdata(), "surv"].to_numpy(), rtol=1e-12)
    assert marks.get_xdata().max() <= 60


def test_thin_marks_keeps_all_when_few_and_one_per_bin_when_many():
    few = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(thin_marks(few, x_end=10), [0, 1, 2])
    np.testing.assert_array_equal(thin_marks(few, x_end=2.5), [0, 1])
    many = np.arange(10_000) / 1000 + 0.0001  # no time on a bin edge
    kept = thin_marks(many, x_end=10, max_marks=50)
    assert len(kept) == 50
    np.testing.assert_allclose(many[kept], np.arange(50) * 0.2 + 0.0001, atol=1e-9)  # first time in each bin


def test_band_envelope_is_never_narrower_than_the_band():
    rng = np.random.default_rng(7)
    time = np.concatenate([[0.0], np.sort(rng.uniform(0, 100, 20_000))])
    centre = np.linspace(1, 0.2, time.size)
    lower = centre - rng.uniform(0.01, 0.1, time.size)
    upper = centre + rng.uniform(0.01, 0.1, time.size)
    bt, bl, bu = band_envelope(time, lower, upper, x_end=100, max_points=500)
    assert len(bt) == 501
    probe = np.sort(rng.uniform(0, time[-1], 5_000))
    row = np.searchsorted(time, probe, side="right") - 1
    drawn = np.searchsorted(bt, probe, side="right") - 1
    assert (bl[drawn] <= lower[row] + 1e-15).all()
    assert (bu[drawn] >= upper[row] - 1e-15).all()
    same = band_envelope(time[:100], lower[:100], upper[:100], x_end=100, max_points=500)
    np.testing.assert_array_equal(same[1], lower[:100])


def test_km_panels_keep_their_own_curves_and_at_risk_rows(curves):
    other = {"Control": kaplan_meier(B_TIME, B_EVENT), "Treated": kaplan_meier(A_TIME, A_EVENT)}
    other_at_risk = AT_RISK.iloc[::-1].set_axis(["Control", "Treated"])
    panels = [{"title": "Bone metastasis", "curves": curves, "at_risk": AT_RISK, "annotation": "p = 0.2"},
              {"title": "Liver metastasis", "curves": other, "at_risk": other_at_risk, "annotation": "p = 0.7"},
              {"title": "Lung metastasis", "curves": curves, "at_risk": AT_RISK, "annotation": None}]
    fig = km_panels(panels, ncols=2, xlabel="Months")
    assert len(fig.axes) == 6  # plot + table per panel
    plots, tables = fig.axes[0::2], fig.axes[1::2]
    titles = [ax.get_title(loc="left") for ax in plots]
    assert titles == ["A   Bone metastasis", "B   Liver metastasis", "C   Lung metastasis"]
    np.testing.assert_allclose(_curve_line(plots[1], "Control").get_ydata(), [1.0, *B_STEPS["surv"]])
    for table_ax, at_risk in zip(tables, (AT_RISK, other_at_risk, AT_RISK)):
        row0 = [t.get_text() for t in table_ax.texts if t.get_position()[1] == 0 and t.get_ha() == "center"]
        assert row0 == [str(v) for v in at_risk.iloc[0]]
    # Panels in the same grid column share the x placement of their ticks.
    x_a = plots[0].transData.transform((4.0, 0))[0]
    assert plots[2].transData.transform((4.0, 0))[0] == pytest.approx(x_a)


def test_panel_with_fewer_groups_keeps_row_spacing(curves):
    single = {"Control": curves["Control"]}
    panels = [{"title": "Bone", "curves": curves, "at_risk": AT_RISK},
              {"title": "Brain", "curves": single, "at_risk": AT_RISK.loc[["Control"]]}]
    fig = km_panels(panels, ncols=2, xlabel="Months")
    tables = fig.axes[1::2]
    first_rows = [[t for t in ax.texts if t.get_ha() == "center" and t.get_position()[1] == 0][0] for ax in tables]
    y_display = [ax.transData.transform(t.get_position())[1] for ax, t in zip(tables, first_rows)]
    assert y_display[0] == pytest.approx(y_display[1])
    assert not tables[1].axison


def test_a_million_patients_plot_fast_and_small(tmp_path):
    import time

    from mbcrt.report.figures import save_figure

    rng = np.random.default_rng(1_000_000)
    n = 1_000_000
    event_time, censor_time = rng.exponential(30.0, n), rng.uniform(0.0, 90.0, n)
    time_, event = np.minimum(event_time, censor_time), event_time <= censor_time
    arm = np.where(rng.uniform(size=n) < 0.5, "No RT", "RT")
    curves = {k: kaplan_meier(time_[arm == k], event[arm == k]) for k in ("No RT", "RT")}
    at_risk = at_risk_table(time_, arm, [0, 24, 48, 72], order=["No RT", "RT"])
    start = time.perf_counter()
    png, svg = save_figure(plot_km(curves, at_risk=at_risk, xlabel="Months"), tmp_path / "km")
    assert time.perf_counter() - start < 30
    assert svg.stat().st_size < 1_000_000  # CI band drawn as its envelope, censor marks thinned
    assert png.stat().st_size < 500_000


def test_ci_band_reaches_the_time_the_curve_drops_to_zero():
    # Times 1, 2+, 2.5: S = 2/3 on [1, 2.5) with a finite band, then S = 0 with no band (NaN limits).
    result = kaplan_meier([1, 2, 2.5], [1, 0, 1])
    assert np.isnan(result.table["lower"].iloc[-1])
    ax = plot_km({"All": result}, at_risk=None, xlabel="Months").axes[0]
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = np.concatenate([p.vertices for p in band.get_paths()])
    assert vertices[:, 0].max() == pytest.approx(2.5)
    at_end = vertices[np.isclose(vertices[:, 0], 2.5)][:, 1]
    limits_at_2 = result.table[["lower", "upper"]].iloc[1].to_numpy()
    np.testing.assert_allclose(sorted(set(at_end.round(12))), sorted(limits_at_2.round(12)))
