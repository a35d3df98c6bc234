"""Kaplan-Meier figures as clinicians read them: time ticks at whole years, numbers at risk under those
ticks, the hazard ratio and log-rank p where no curve or band crosses them, legend in the arms' order.

The tick rule is checked against ticks written out by hand; label placement against the drawn artists'
geometry (matplotlib's own path/box intersection), not against the placement code; the figure's HR and
p against R (survival 3.5-3) on GBSG2.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.cbook import pts_to_poststep
from matplotlib.collections import PolyCollection
from matplotlib.path import Path
from matplotlib.transforms import Bbox

from mbcrt.report.figures.km import km_panels, plot_km, thin_ticks, time_ticks
from mbcrt.report.figures.style import save_figure
from mbcrt.stats.survival import at_risk_table, kaplan_meier

ANNOTATION = "HR 0.62 (95% CI 0.48\u20130.80)\nLog-rank p = 0.002"


# ---- the tick rule, by hand --------------------------------------------------------------------

@pytest.mark.parametrize("tmax, unit, expected", [
    (60, "months", [0, 12, 24, 36, 48, 60]),
    (100, "months", [0, 12, 24, 36, 48, 60, 72, 84, 96]),           # 8 intervals: still 12
    (108, "months", [0, 24, 48, 72, 96]),                            # 9 years: 24
    (175, "months", [0, 24, 48, 72, 96, 120, 144, 168]),             # HER2 RT: 14.6 years
    (300, "months", [0, 36, 72, 108, 144, 180, 216, 252, 288]),      # 25 years: 36
    (40, "months", [0, 12, 24, 36]),
    (30, "months", [0, 6, 12, 18, 24, 30]),                          # under 3 years: half years
    (20, "months", [0, 3, 6, 9, 12, 15, 18]),
    (2659, "days", [0, 365, 730, 1095, 1460, 1825, 2190, 2555]),     # GBSG2: whole years in days
    (4000, "days", [0, 730, 1460, 2190, 2920, 3650]),
    (200, "days", [0, 30, 60, 90, 120, 150, 180]),
    (5.5, "years", [0, 1, 2, 3, 4, 5]),
    (12, "years", [0, 2, 4, 6, 8, 10, 12]),
    (2.5, "years", [0, 0.5, 1, 1.5, 2, 2.5]),
])
def test_ticks_fall_on_whole_years(tmax, unit, expected):
    assert time_ticks(tmax, unit) == [float(x) for x in expected]


def test_a_step_from_the_study_file_overrides_the_rule():
    assert time_ticks(40, "months", step=6) == [float(x) for x in range(0, 37, 6)]
    assert time_ticks(1000, "days", step=250) == [0.0, 250.0, 500.0, 750.0, 1000.0]
    with pytest.raises(ValueError, match="positive"):
        time_ticks(40, "months", step=0)
    with pytest.raises(ValueError, match="unit"):
        time_ticks(40, "weeks")
    assert time_ticks(0, "months") == [0.0]


def test_default_ticks_of_the_steps_follow_the_study_unit_and_step():
    from mbcrt import paths
    from mbcrt.steps.survival import default_ticks, study_ticks
    from mbcrt.study.config import load_study

    assert default_ticks(np.array([3.0, 175.0, 80.0]), "months") == [0, 24, 48, 72, 96, 120, 144, 168]
    study = load_study(paths.STUDIES_DIR / "gbsg2" / "study.yaml")
    assert study.survival["time_step"] is None and study.survival["median_lines"] is False
    assert study_ticks(study, np.array([10.0, 2659.0]))[:3] == [0, 365, 730]
    study = load_study(paths.STUDIES_DIR / "gbsg2" / "study.yaml", ["survival.time_step=500"])
    assert study_ticks(study, np.array([10.0, 2659.0])) == [0, 500, 1000, 1500, 2000, 2500]


@pytest.mark.parametrize("value", ["0", "-12", "twelve", "true"])
def test_a_bad_time_step_is_refused(value):
    from mbcrt import paths
    from mbcrt.errors import InputError
    from mbcrt.study.config import load_study

    with pytest.raises(InputError, match="time_step"):
        load_study(paths.STUDIES_DIR / "gbsg2" / "study.yaml", [f"survival.time_step={value}"])


# ---- figures -----------------------------------------------------------------------------------

def _two_arms(n=400, seed=11, horizon=170.0):
    rng = np.random.default_rng(seed)
    arm = np.where(rng.uniform(size=n) < 0.5, "No RT", "RT")
    event_time = rng.exponential(np.where(arm == "RT", 50.0, 30.0))
    censor = rng.uniform(0.0, horizon, n)
    time, event = np.minimum(event_time, censor), (event_time <= censor).astype(int)
    curves = {k: kaplan_meier(time[arm == k], event[arm == k]) for k in ("No RT", "RT")}
    return time, arm, curves


def _at_risk_numbers(table_ax):
    return [t for t in table_ax.texts if t.get_ha() == "center"]


def _data_box(ax, artist):
    """The artist's drawn extent in the data coordinates of ``ax``."""
    renderer = ax.figure.canvas.get_renderer()
    return artist.get_window_extent(renderer).transformed(ax.transData.inverted())


def _ink_paths(ax):
    """Every curve (as its drawn steps), CI band and median line of the axes, as paths in data units."""
    paths = []
    for line in ax.get_lines():
        if line.get_marker() == "|":
            continue
        x, y = line.get_xdata(), line.get_ydata()
        if line.get_drawstyle() == "steps-post":
            x, y = pts_to_poststep(x, y)
        paths.append((Path(np.column_stack([x, y])), False))
    for band in (c for c in ax.collections if isinstance(c, PolyCollection)):
        paths += [(p, True) for p in band.get_paths()]
    return paths


def _assert_clear_of_ink(ax, artist):
    box = _data_box(ax, artist)
    for path, filled in _ink_paths(ax):
        assert not path.intersects_bbox(Bbox(box.get_points()), filled=filled), artist
    for marks in (ln for ln in ax.get_lines() if ln.get_marker() == "|"):
        inside = ((marks.get_xdata() >= box.x0) & (marks.get_xdata() <= box.x1)
                  & (marks.get_ydata() >= box.y0) & (marks.get_ydata() <= box.y1))
        assert not inside.any()


def test_at_risk_columns_are_the_ticks_at_whole_years():
    time, arm, curves = _two_arms()
    ticks = time_ticks(time.max(), "months")
    at_risk = at_risk_table(time, arm, ticks, order=list(curves))
    ax, table_ax = plot_km(curves, at_risk=at_risk, xlabel="Time (months)", annotation=ANNOTATION).axes
    drawn = ax.get_xticks()
    np.testing.assert_allclose(drawn, ticks)
    assert all(t % 12 == 0 for t in drawn)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{t:g}" for t in ticks]
    numbers = _at_risk_numbers(table_ax)
    assert sorted({t.get_position()[0] for t in numbers}) == list(drawn)
    for text in numbers:  # the count under each tick is the one counted at that tick
        x, row = text.get_position()
        assert text.get_text() == f"{at_risk.iloc[int(row)][x]:,}"


def test_narrow_panels_with_large_counts_keep_every_second_tick():
    time, arm, curves = _two_arms()
    ticks = time_ticks(100.0, "months", step=12)  # 0 ... 96: nine ticks on a 2.9-inch panel
    at_risk = at_risk_table(time, arm, ticks, order=list(curves)) * 1000  # "150,000": too wide for 12 months
    fig = km_panels([{"title": "Bone", "curves": curves, "at_risk": at_risk}], xlabel="Months", xmax=100)
    ax, table_ax = fig.axes
    assert list(ax.get_xticks()) == [0, 24, 48, 72, 96]
    renderer = fig.canvas.get_renderer()
    for row in (0, 1):
        boxes = sorted((t.get_window_extent(renderer) for t in _at_risk_numbers(table_ax)
                        if t.get_position()[1] == row), key=lambda b: b.x0)
        assert len(boxes) == 5
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))  # no two numbers touch


def test_thin_ticks_keeps_hand_chosen_ticks_as_given():
    from mbcrt.report.figures.style import new_figure

    fig = new_figure(3, 2)
    assert thin_ticks(fig, [0, 5, 30, 90], 90, 0.5) == [0, 5, 30, 90]


def test_hr_and_p_label_and_legend_cross_no_curve_band_or_median_line():
    time, arm, curves = _two_arms()
    at_risk = at_risk_table(time, arm, time_ticks(time.max(), "months"), order=list(curves))
    fig = plot_km(curves, at_risk=at_risk, xlabel="Time (months)", annotation=ANNOTATION, median_lines=True)
    ax = fig.axes[0]
    (text,) = ax.texts
    assert text.get_text() == ANNOTATION
    _assert_clear_of_ink(ax, text)
    _assert_clear_of_ink(ax, ax.get_legend())
    text_box, legend_box = _data_box(ax, text), _data_box(ax, ax.get_legend())
    assert not text_box.overlaps(legend_box)
    for box in (text_box, legend_box):  # inside the plot
        assert 0 <= box.x0 and box.x1 <= ax.get_xlim()[1] and 0 <= box.y0 and box.y1 <= ax.get_ylim()[1]


def test_median_lines_drop_from_half_to_each_median():
    time, arm, curves = _two_arms()
    ax = plot_km(curves, at_risk=None, xlabel="Months", median_lines=True).axes[0]
    dashed = [ln for ln in ax.get_lines() if ln.get_label() == "_median"]
    medians = sorted(c.median for c in curves.values())
    verticals = sorted(ln.get_xdata()[0] for ln in dashed if ln.get_xdata()[0] == ln.get_xdata()[1])
    np.testing.assert_allclose(verticals, medians)
    assert not [ln for ln in plot_km(curves, at_risk=None, xlabel="Months").axes[0].get_lines()
                if ln.get_label() == "_median"]


def test_subgroup_panels_place_every_label_clear_of_the_curves():
    panels = []
    for seed in (1, 2, 3, 4):
        time, arm, curves = _two_arms(n=250, seed=seed)
        at_risk = at_risk_table(time, arm, time_ticks(170.0, "months"), order=list(curves))
        panels.append({"title": f"Site {seed}", "curves": curves, "at_risk": at_risk, "annotation": ANNOTATION})
    fig = km_panels(panels, xlabel="Time (months)", xmax=170.0)
    plots = fig.axes[0::2]
    for ax in plots:
        (text,) = ax.texts
        assert list(ax.get_xticks()) == [0, 24, 48, 72, 96, 120, 144, 168]
        inside = _data_box(ax, text).y1 <= ax.get_ylim()[1]
        if inside:
            _assert_clear_of_ink(ax, text)
        legend = ax.get_legend()
        if _data_box(ax, legend).y0 < ax.get_ylim()[1]:
            _assert_clear_of_ink(ax, legend)


def test_no_room_inside_puts_the_label_between_the_plot_and_its_title():
    # Five wide bands fill the plot: nothing fits inside, so the label goes above the plot.
    rng = np.random.default_rng(5)
    curves = {}
    for k, scale in enumerate((8, 15, 30, 60, 120)):
        t = rng.exponential(scale, 12)
        curves[f"Group {k + 1}"] = kaplan_meier(np.append(t, 200.0), np.append(np.ones(12, int), 0))
    fig = km_panels([{"title": "Crowded", "curves": curves, "at_risk": None, "annotation": ANNOTATION}],
                    xlabel="Months", xmax=200.0)
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    (text,) = ax.texts
    text_box = text.get_window_extent(renderer)
    plot_box = ax.get_window_extent(renderer)
    title_box = ax._left_title.get_window_extent(renderer)  # the lettered title is left-aligned
    assert text_box.y0 >= plot_box.y1 - 1e-6           # above the plot
    assert title_box.y0 >= text_box.y1 - 1e-6          # below the title
    assert ax.get_title(loc="left") == "A   Crowded"
    legend_box = ax.get_legend().get_window_extent(renderer)  # five groups: a row of their own above
    assert legend_box.y0 >= text_box.y1 - 1e-6 and title_box.y0 >= legend_box.y1 - 1e-6
    figure_box = fig.bbox
    for box in (text_box, legend_box):
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1


def test_legend_lists_the_arms_in_the_order_of_the_at_risk_rows():
    time, arm, curves = _two_arms()
    at_risk = at_risk_table(time, arm, time_ticks(time.max(), "months"), order=list(curves))
    ax, table_ax = plot_km(curves, at_risk=at_risk, xlabel="Months", annotation=ANNOTATION).axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    rows = [t.get_text() for t in sorted((t for t in table_ax.texts if t.get_ha() == "right"),
                                         key=lambda t: t.get_position()[1])]
    assert legend == rows == list(curves) == ["No RT", "RT"]


def test_a_figure_saves_to_the_same_bytes_twice(tmp_path):
    time, arm, curves = _two_arms()
    at_risk = at_risk_table(time, arm, time_ticks(time.max(), "months"), order=list(curves))
    files = []
    for run in ("a", "b"):
        fig = plot_km(curves, at_risk=at_risk, xlabel="Months", annotation=ANNOTATION, median_lines=True)
        files.append(save_figure(fig, tmp_path / run / "km"))
    for first, second in zip(*files):
        assert first.read_bytes() == second.read_bytes()


# ---- the survival and subgroup steps -----------------------------------------------------------

@pytest.fixture(scope="module")
def gbsg2_steps():
    import warnings

    from mbcrt import paths
    from mbcrt.steps.subgroups import subgroup_step
    from mbcrt.steps.survival import survival_step
    from mbcrt.study.cohort import build_cohort
    from mbcrt.study.config import load_study

    study = load_study(paths.STUDIES_DIR / "gbsg2" / "study.yaml")
    cohorts = {"all": build_cohort(study).cohort}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return survival_step(study, cohorts), subgroup_step(study, cohorts)


def test_survival_figure_shows_the_cox_hr_and_log_rank_p_of_r(gbsg2_steps):
    # R 4, survival 3.5-3, d <- read.csv("gbsg2.csv"):
    #   summary(coxph(Surv(time, cens) ~ I(horTh == "yes"), data = d))$conf.int -> 0.6949 (0.5438-0.8879)
    #   survdiff(Surv(time, cens) ~ horTh, data = d) -> Chisq = 8.6, p = 0.003
    surv, _ = gbsg2_steps
    ax = surv.figures["km_rfs_all"].axes[0]
    (text,) = ax.texts
    assert text.get_text() == "HR 0.69 (95% CI 0.54\u20130.89)\nLog-rank p = 0.003"
    assert list(ax.get_xticks()) == [0, 365, 730, 1095, 1460, 1825, 2190, 2555]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["No hormone therapy", "Hormone therapy"]
    _assert_clear_of_ink(ax, text)


def test_subgroup_panels_show_their_forest_rows_hr(gbsg2_steps):
    from mbcrt.report.format import format_hr_label

    _, sub = gbsg2_steps
    fig = sub.figures["subgroup_km_all"]
    table = sub.table[sub.table["cohort"] == "all"].reset_index(drop=True)
    plots = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert len(plots) == len(table) == 5
    for ax, row in zip(plots, table.itertuples()):
        (text,) = ax.texts
        assert text.get_text().split("\n")[0] == format_hr_label(row.hr, row.lower, row.upper)
        assert all(t % 365 == 0 for t in ax.get_xticks())
        assert ax.get_xlim() == plots[0].get_xlim()  # one time axis for every panel


def test_panels_step_alike_when_one_has_wider_counts():
    time, arm, curves = _two_arms()
    ticks = time_ticks(100.0, "months", step=12)
    small = at_risk_table(time, arm, ticks, order=list(curves))
    panels = [{"title": "Small", "curves": curves, "at_risk": small},
              {"title": "Large", "curves": curves, "at_risk": small * 1000}]
    fig = km_panels(panels, xlabel="Months", xmax=100)
    assert [list(ax.get_xticks()) for ax in fig.axes[0::2]] == [[0, 24, 48, 72, 96]] * 2
