"""Kaplan-Meier figures: step curves with 95% CI bands, censor marks and a numbers-at-risk table.

Each curve is drawn from the survival table of a fitted Kaplan-Meier result (columns ``time``,
``n_censor``, ``surv``, ``lower``, ``upper``; one row per distinct time), starting at (0, 1). The
numbers at risk are printed under the plot at the x ticks, one row per group, with the group's name
in the colour of its curve.

Time ticks fall on whole years (:func:`time_ticks`: 0, 12, 24 ... months; 24 or 36 when the follow-up
is long) and are thinned to every second, third ... tick when their labels or the numbers at risk
would touch. The legend and the annotation (log-rank p, hazard ratio) go where no curve, confidence
band or median line passes (:func:`free_box`), else in a band between the title and the plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from mbcrt.report.figures._layout import add_axes_inches, format_count, max_text_width
from mbcrt.report.figures.style import group_colors, new_figure, style_context

#: At most this many censor marks per curve: beyond it marks are thinned to one per time bin, so a
#: curve of a million patients stays readable and its SVG small.
MAX_CENSOR_MARKS = 100
#: Longest CI band drawn step by step; longer bands are drawn as their envelope on this many bins.
MAX_BAND_POINTS = 300
TABLE_COLUMNS = ("time", "n_censor", "surv", "lower", "upper")
#: Time units of a year, for ticks at whole years. Days step by 365 (730, 1,095 ...), not 365.25,
#: whose multiples (1,461) read as odd numbers.
UNITS_PER_YEAR = {"days": 365, "months": 12, "years": 1}
#: Tick steps tried, in years, until the axis has at most ``max_intervals`` intervals.
YEAR_MULTIPLES = (1, 2, 3, 4, 5, 10, 15, 20, 25, 50, 100)
#: Steps under a year, for follow-up shorter than :data:`MIN_YEARS` years.
SUB_YEAR_STEPS = {"days": (7, 14, 30, 60, 90, 180), "months": (1, 2, 3, 6), "years": (0.25, 0.5)}
MIN_YEARS = 3
MAX_INTERVALS = 8
#: Every k-th tick is kept, for the first k in this list at which labels do not touch.
_THIN_FACTORS = (1, 2, 3, 4, 5, 6, 10, 20, 50, 100)
_TICK_GAP = 0.1  # inches between neighbouring tick labels or numbers at risk
#: Step points of a curve or band kept to find empty room for the legend and annotation.
MAX_INK_POINTS = 400
_BOX_PAD = (0.05, 0.045)  # inches around a legend or annotation kept clear of ink (x, y): a censor mark is 6 pt
_BOX_MARGIN = 0.04  # inches from the axes' edges
_ANNOTATION_SIZE = 9

# Geometry in inches.
_ROW_HEIGHT = 0.2  # one at-risk row
_TABLE_HEADER = 0.26  # "Number at risk"
_BELOW_PLOT = 0.55  # tick labels and x label
_BOTTOM_PAD = 0.08
_LABEL_GAP = 0.12  # between at-risk row labels and the first column
_Y_AXIS_ROOM = 0.62  # y tick labels and y label
_BAND_LEFT_ROOM = _Y_AXIS_ROOM - 0.1  # inches left of the plot a legend row above it may use
_RIGHT_PAD = 0.25
_CI_ALPHA = 0.18


def plot_km(curves: Mapping[str, object], *, at_risk: pd.DataFrame | None, xlabel: str,
            ylabel: str = "Survival probability", annotation: str | None = None, xmax: float | None = None,
            xticks: Sequence[float] | None = None, ci: bool = True, censor_marks: bool = True,
            colors: Sequence | Mapping | None = None, title: str | None = None,
            legend_loc: str = "auto", median_lines: bool = False) -> Figure:
    """Kaplan-Meier curves of one or more groups with a numbers-at-risk table under the plot.

    Parameters
    ----------
    curves : mapping of str to KMResult
        Group label -> fitted Kaplan-Meier result (anything with a ``table`` DataFrame holding
        ``time, n_censor, surv, lower, upper``). Order sets the colours, legend and table rows;
        list the control arm first so it is blue and the treated arm vermillion.
    at_risk : DataFrame or None
        Numbers at risk: index = the group labels of ``curves``, columns = the times (x ticks) at
        which they are counted. ``None`` draws no table.
    xlabel : str
        x-axis label with its unit, e.g. "Months since diagnosis".
    ylabel : str
        y-axis label.
    annotation : str, optional
        Text printed where no curve or band passes, e.g. "HR 0.62 (95% CI 0.48-0.80)\nLog-rank p = 0.002";
        in a band above the plot when there is no such room.
    xmax : float, optional
        Right end of the x axis (default: the last tick or the last time, whichever is larger).
    xticks : sequence of float, optional
        x ticks (default: the columns of ``at_risk``). Every ``at_risk`` column must be a tick.
    ci : bool
        Shade the 95% confidence band of each curve.
    censor_marks : bool
        Mark censoring times with '|' on the curve (thinned to at most :data:`MAX_CENSOR_MARKS`).
    colors : sequence or mapping, optional
        Colours of the groups (default: blue, vermillion, then the Okabe-Ito palette).
    title : str, optional
        A title; leave it out when the caption says the same.
    legend_loc : str
        "auto" (default): where no curve or band passes, preferring the upper right; else a
        matplotlib legend location.
    median_lines : bool
        Draw dashed lines from 0.5 on the y axis to each median survival time and down to the x axis.

    Returns
    -------
    Figure
    """
    with style_context():
        n_rows = 0 if at_risk is None else len(curves)
        fig = new_figure(1.0, 1.0)
        row_labels = _row_label_room(fig, curves, at_risk)
        width, height = _panel_size(row_labels, plot_width=5.2, plot_height=3.3, n_rows=n_rows, title=title)
        fig.set_size_inches(width, height)
        ax, table_ax = _panel_axes(fig, (0.0, 0.0), row_labels, plot_width=5.2, plot_height=3.3, n_rows=n_rows)
        _draw_panel(ax, table_ax, curves, at_risk=at_risk, xlabel=xlabel, ylabel=ylabel, annotation=annotation,
                    xmax=xmax, xticks=xticks, ci=ci, censor_marks=censor_marks, colors=colors, title=title,
                    legend_loc=legend_loc, row_labels=row_labels, median_lines=median_lines)
    return fig


def km_panels(panels: Sequence[Mapping], *, ncols: int = 2, xlabel: str, xticks: Sequence[float] | None = None,
              ylabel: str = "Survival probability", xmax: float | None = None, colors: Sequence | Mapping | None = None,
              letters: bool = True, legend_loc: str = "auto", median_lines: bool = False) -> Figure:
    """A grid of small Kaplan-Meier plots, each with its own numbers-at-risk rows (subgroup figures).

    Parameters
    ----------
    panels : sequence of dict
        One dict per panel with keys ``title``, ``curves``, ``at_risk`` and optionally
        ``annotation`` (see :func:`plot_km`). Panels fill the grid row by row.
    ncols : int
        Panels per row.
    xlabel, ylabel : str
        Axis labels (the same for every panel).
    xticks : sequence of float, optional
        x ticks of every panel (default: each panel's ``at_risk`` columns).
    xmax : float, optional
        Right end of every panel's x axis.
    colors : sequence or mapping, optional
        Group colours, as in :func:`plot_km`; the same group gets the same colour in every panel
        when the groups are listed in the same order.
    letters : bool
        Prefix panel titles with A, B, C, ... so the caption can refer to "Figure 2A".
    legend_loc : str
        Legend location in each panel ("auto": placed clear of the curves, see :func:`plot_km`).
    median_lines : bool
        Draw the median lines in every panel.

    Returns
    -------
    Figure
    """
    if not panels:
        raise ValueError("km_panels needs at least one panel")
    if ncols < 1:
        raise ValueError("ncols must be at least 1")
    plot_width, plot_height = 2.9, 2.0
    ncols = min(ncols, len(panels))
    nrows_grid = -(-len(panels) // ncols)
    with style_context():
        fig = new_figure(1.0, 1.0)
        row_labels = _RowLabels.widest([_row_label_room(fig, p["curves"], p.get("at_risk")) for p in panels])
        n_rows = max(0 if p.get("at_risk") is None else len(p["curves"]) for p in panels)
        titles = [_panel_title(i, p.get("title"), letters) for i, p in enumerate(panels)]
        # Every panel's ticks are thinned for the widest count of any panel, so all step alike.
        tables = [p["at_risk"] for p in panels if p.get("at_risk") is not None]
        counts = pd.concat([t.reset_index(drop=True) for t in tables], ignore_index=True) if tables else None
        cell_w, cell_h = _panel_size(row_labels, plot_width, plot_height, n_rows, title=any(titles))
        fig.set_size_inches(cell_w * ncols, cell_h * nrows_grid)
        for i, (panel, title) in enumerate(zip(panels, titles)):
            row, col = divmod(i, ncols)
            origin = (col * cell_w, (nrows_grid - 1 - row) * cell_h)
            ax, table_ax = _panel_axes(fig, origin, row_labels, plot_width, plot_height, n_rows)
            _draw_panel(ax, table_ax, panel["curves"], at_risk=panel.get("at_risk"), xlabel=xlabel, ylabel=ylabel,
                        annotation=panel.get("annotation"), xmax=xmax, xticks=xticks, ci=True, censor_marks=True,
                        colors=colors, title=title, legend_loc=legend_loc, row_labels=row_labels,
                        median_lines=median_lines, counts=counts)
    return fig


# ---- drawing -----------------------------------------------------------------------------------

def _draw_panel(ax: Axes, table_ax: Axes | None, curves, *, at_risk, xlabel, ylabel, annotation, xmax, xticks,
                ci, censor_marks, colors, title, legend_loc, row_labels, median_lines=False, counts=None) -> None:
    if not curves:
        raise ValueError("no curves to plot")
    tables = {label: _survival_table(label, result) for label, result in curves.items()}
    palette = group_colors(tables, colors)
    ticks = _ticks(xticks, at_risk)
    last_time = max((float(t["time"].max()) for t in tables.values() if len(t)), default=0.0)
    x_end = float(xmax) if xmax is not None else max([last_time, *ticks])
    if not x_end > 0:
        raise ValueError("the x axis needs a positive extent (give xmax)")
    if at_risk is not None:
        at_risk = _check_at_risk(at_risk, list(tables), ticks)
    if table_ax is None:
        counts = None
    elif counts is None:
        counts = at_risk
    ticks = thin_ticks(ax.figure, ticks, x_end, ax.get_position().width * ax.figure.get_size_inches()[0], counts)

    ink = []
    for label, table in tables.items():
        ink += _draw_curve(ax, table, label=str(label), color=palette[label], ci=ci, censor_marks=censor_marks,
                           x_end=x_end)
    if median_lines:
        ink += _draw_median_lines(ax, [getattr(result, "median", np.nan) for result in curves.values()], x_end)
    _format_axes(ax, xlabel=xlabel, ylabel=ylabel, ticks=ticks, x_end=x_end)
    title_text = ax.set_title(title) if title else None
    legend = ax.legend(loc="lower left" if legend_loc == "auto" else legend_loc, handlelength=1.6,
                       borderaxespad=0.0 if legend_loc == "auto" else 0.3)
    text = None
    if annotation:
        text = ax.text(0.0, 0.0, annotation, transform=ax.transAxes, ha="left", va="bottom",
                       fontsize=_ANNOTATION_SIZE, linespacing=1.3)
    _place_labels(ax, ink, legend if legend_loc == "auto" else None, text, title_text)
    if table_ax is not None:
        table_ax.set_axis_off()
        if at_risk is not None:
            kept = [c for c in at_risk.columns if np.any(np.isclose(float(c), ticks))]
            _draw_at_risk(table_ax, at_risk[kept], palette, x_end, row_labels)


def _draw_curve(ax: Axes, table: pd.DataFrame, *, label: str, color, ci: bool, censor_marks: bool,
                x_end: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One survival curve: the step line from (0, 1), its CI band, and its censor marks.

    Returns the ink drawn, as step functions ``(time, low, high)`` (see :func:`free_box`).
    """
    time = np.concatenate(([0.0], table["time"].to_numpy(float)))
    surv = np.concatenate(([1.0], table["surv"].to_numpy(float)))
    ax.step(time, surv, where="post", color=color, label=label, zorder=3)
    ink = [band_envelope(time, surv, surv, x_end, MAX_INK_POINTS)]  # the line, to a few hundred steps
    if ci:
        lower = np.concatenate(([1.0], table["lower"].to_numpy(float)))
        upper = np.concatenate(([1.0], table["upper"].to_numpy(float)))
        band_time, band_lower, band_upper = band_envelope(time, lower, upper, x_end)
        # Explicit step vertices: fill_between(step="post") would drop the interval before a NaN limit
        # (e.g. the last one before the curve reaches 0), which this draws as it should.
        step_x = np.repeat(band_time, 2)[1:]
        ax.fill_between(step_x, np.repeat(band_lower, 2)[:-1], np.repeat(band_upper, 2)[:-1], color=color,
                        alpha=_CI_ALPHA, linewidth=0, zorder=2)
        ink.append(band_envelope(band_time, band_lower, band_upper, x_end, MAX_INK_POINTS))
    if censor_marks:
        censored = table["n_censor"].to_numpy() > 0
        keep = thin_marks(table["time"].to_numpy(float)[censored], x_end)
        ax.plot(table["time"].to_numpy(float)[censored][keep], table["surv"].to_numpy(float)[censored][keep],
                linestyle="none", marker="|", markersize=6, markeredgewidth=1.0, color=color, zorder=4,
                label="_censored")
    return ink


def _draw_median_lines(ax: Axes, medians, x_end: float) -> list:
    """Dashed lines from 0.5 on the y axis to each median and down to the x axis; returns their ink."""
    medians = sorted(float(m) for m in medians if m is not None and np.isfinite(m) and 0 < m <= x_end)
    if not medians:
        return []
    style = {"color": "#7F7F7F", "linestyle": (0, (3, 2)), "linewidth": 0.8, "zorder": 1, "label": "_median"}
    ax.plot([0.0, medians[-1]], [0.5, 0.5], **style)
    ink = [(np.array([0.0, medians[-1]]), np.array([0.5, 0.5]), np.array([0.5, 0.5]))]
    for m in medians:
        ax.plot([m, m], [0.0, 0.5], **style)
        ink.append((np.array([m, m]), np.array([0.0, 0.0]), np.array([0.5, 0.5])))
    return ink


def band_envelope(time: np.ndarray, lower: np.ndarray, upper: np.ndarray, x_end: float,
                  max_points: int = MAX_BAND_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CI band as drawn: exact when short, else its envelope on ``max_points`` equal x bins.

    A filled polygon is not simplified by matplotlib, so a band of 10^6 steps would make a 100 MB SVG.
    Each bin takes the lowest lower and highest upper limit in force anywhere in it, so the drawn
    band is never narrower than the true one and differs from it by less than a pixel's width.

    Parameters
    ----------
    time : ndarray
        Step times, ascending, starting at 0.
    lower, upper : ndarray
        Limits in force from each time on (NaN where undefined).
    x_end : float
        Right end of the x axis.
    max_points : int
        Most steps to draw.

    Returns
    -------
    (ndarray, ndarray, ndarray)
        Times, lower and upper limits to draw with ``step="post"``.
    """
    if len(time) <= max_points:
        return time, lower, upper
    stop = min(float(x_end), float(time[-1]))
    edges = np.linspace(0.0, stop, max_points + 1)
    first = np.searchsorted(time, edges[:-1], side="right") - 1  # step in force at the bin's start
    last = np.maximum(np.searchsorted(time, edges[1:], side="left") - 1, first)  # last step starting inside
    bounds = np.column_stack((first, last + 1)).ravel()

    def reduce(ufunc, values):
        # A NaN sentinel makes index len(values) valid for reduceat; fmin/fmax skip NaN.
        return ufunc.reduceat(np.append(values, np.nan), bounds)[::2]

    at_stop = np.searchsorted(time, stop, side="right") - 1
    return (np.append(edges[:-1], stop), np.append(reduce(np.fmin, lower), lower[at_stop]),
            np.append(reduce(np.fmax, upper), upper[at_stop]))


def thin_marks(times: np.ndarray, x_end: float, max_marks: int = MAX_CENSOR_MARKS) -> np.ndarray:
    """Indices of the censoring times to mark: all when few, else the first in each of ``max_marks`` bins.

    Parameters
    ----------
    times : ndarray
        Censoring times, ascending.
    x_end : float
        Right end of the x axis; times beyond it are not marked (they would be off the plot).
    max_marks : int
        Most marks to keep.

    Returns
    -------
    ndarray of int
        Positions into ``times``, ascending.
    """
    inside = np.flatnonzero(times <= x_end)
    if len(inside) <= max_marks:
        return inside
    # Equal-width bins along the x axis keep marks evenly spread where censoring is dense.
    bins = np.minimum((times[inside] / x_end * max_marks).astype(np.int64), max_marks - 1)
    _, first = np.unique(bins, return_index=True)
    return inside[first]


def time_ticks(tmax: float, unit: str, step: float | None = None,
               max_intervals: int = MAX_INTERVALS) -> list[float]:
    """Tick times at whole years from 0 to ``tmax``: where the numbers at risk are counted and printed.

    Months step by 12, years by 1, days by 365; when that gives more than ``max_intervals``
    intervals the step grows to 2, 3, 4, 5, 10 ... years (24 or 36 months for 10-15 years). Follow-up
    shorter than :data:`MIN_YEARS` years steps by part of a year (3 or 6 months; 30, 90 or 180 days;
    a quarter or half year).

    Parameters
    ----------
    tmax : float
        The longest follow-up (the right end of the axis).
    unit : {"days", "months", "years"}
        The study's time unit.
    step : float, optional
        A step given by the study (``survival.time_step``); overrides the rule.
    max_intervals : int
        Most intervals between ticks.

    Returns
    -------
    list of float
        0, step, 2 step, ... up to ``tmax``.
    """
    if unit not in UNITS_PER_YEAR:
        raise ValueError(f"unit must be one of {', '.join(UNITS_PER_YEAR)}, not {unit!r}")
    tmax = float(tmax)
    if not np.isfinite(tmax) or tmax <= 0:
        return [0.0]
    if step is None:
        year = UNITS_PER_YEAR[unit]
        if tmax >= MIN_YEARS * year:
            steps = [k * year for k in YEAR_MULTIPLES]
        else:
            steps = list(SUB_YEAR_STEPS[unit]) + [year]
        step = next((s for s in steps if np.floor(tmax / s + 1e-9) <= max_intervals), steps[-1])
    step = float(step)
    if not step > 0:
        raise ValueError(f"the tick step must be positive, not {step}")
    n = int(np.floor(tmax / step + 1e-9))
    return [float(k * step) for k in range(n + 1)]


def tick_label(value: float) -> str:
    """A time tick as read on the axis: "0", "12", "1,095", "0.5"."""
    value = float(value)
    if value.is_integer():
        return f"{value:,.0f}"
    return f"{value:g}"


def thin_ticks(fig: Figure, ticks: list[float], x_end: float, plot_width: float,
               at_risk: pd.DataFrame | None = None) -> list[float]:
    """Every k-th of evenly spaced ``ticks`` (k = 1, 2, 3 ...): the first k at which neither the tick
    labels nor the numbers at risk under them touch.

    Keeping every k-th tick of 0, 12, 24 ... keeps them at whole years (0, 24, 48 ...).

    Parameters
    ----------
    fig : Figure
        The figure (to measure text).
    ticks : list of float
        The ticks, ascending.
    x_end : float
        Right end of the x axis.
    plot_width : float
        Width of the plot in inches.
    at_risk : DataFrame, optional
        Numbers at risk printed under the ticks (only their widths matter).

    Returns
    -------
    list of float
    """
    if len(ticks) < 3:
        return list(ticks)
    gaps = np.diff(ticks)
    if not np.allclose(gaps, gaps[0]) or not gaps[0] > 0:
        return list(ticks)  # ticks chosen by hand, not a regular step: as given
    texts = [tick_label(t) for t in ticks]
    if at_risk is not None:
        texts += sorted({format_count(n) for n in pd.unique(at_risk.to_numpy().ravel()) if pd.notna(n)})
    widest = max_text_width(fig, texts, size=9)
    spacing = gaps[0] / x_end * plot_width
    k = next((k for k in _THIN_FACTORS if k * spacing >= widest + _TICK_GAP), len(ticks))
    return list(ticks[::k])


def free_box(ink, width: float, height: float, x_end: float, y_end: float, *, margin=(0.0, 0.0),
             prefer=("upper right", "lower left", "lower right", "upper left"), avoid=(),
             grid: int = 21) -> tuple[float, float] | None:
    """Lower-left corner of a ``width`` x ``height`` box (data units) that no ink crosses, or None.

    Candidate boxes lie on a grid over the axes; the one nearest a corner wins, earlier corners of
    ``prefer`` first (a box in a corner reads as a label, one in the middle as part of the data).

    Parameters
    ----------
    ink : list of (ndarray, ndarray, ndarray)
        Step functions ``(time, low, high)`` drawn on the axes: from ``time[i]`` to ``time[i + 1]``
        the ink spans ``low[i]`` to ``high[i]`` (NaN: nothing drawn); nothing before ``time[0]`` or
        after ``time[-1]``. A step curve is ``(time, surv, surv)``, its band ``(time, lower, upper)``.
    width, height : float
        The box, padding included, in data units.
    x_end, y_end : float
        The axes' upper limits (both axes start at 0).
    margin : (float, float)
        Distance from the axes' edges, in data units.
    prefer : sequence of str
        Corners in order of preference.
    avoid : sequence of (x0, y0, x1, y1)
        Boxes already taken (e.g. the legend's).
    grid : int
        Candidate positions along each axis.

    Returns
    -------
    (float, float) or None
    """
    mx, my = margin
    x_hi, y_hi = x_end - mx - width, y_end - my - height
    if x_hi < mx or y_hi < my:
        return None
    xs, ys = np.linspace(mx, x_hi, grid), np.linspace(my, y_hi, grid)
    corners = {"lower left": (mx, my), "lower right": (x_hi, my), "upper left": (mx, y_hi), "upper right": (x_hi, y_hi)}
    x0, y0 = (a.ravel() for a in np.meshgrid(xs, ys))
    # Distance to the nearest preferred corner, in axes fractions, plus a little per rank of the corner.
    score = np.min([np.hypot((x0 - cx) / x_end, (y0 - cy) / y_end) + 0.05 * rank
                    for rank, (cx, cy) in enumerate(corners[c] for c in prefer)], axis=0)
    for i in np.argsort(score, kind="stable"):
        box = (x0[i], y0[i], x0[i] + width, y0[i] + height)
        if not any(_crosses(box, steps) for steps in ink) and not any(_overlap(box, b) for b in avoid):
            return float(x0[i]), float(y0[i])
    return None


def _crosses(box, steps) -> bool:
    """Does the step function ``(time, low, high)`` pass through ``box`` = (x0, y0, x1, y1)?"""
    x0, y0, x1, y1 = box
    time, low, high = steps
    if len(time) == 0 or x1 < time[0] or x0 > time[-1]:
        return False
    first = max(int(np.searchsorted(time, x0, side="right")) - 1, 0)
    last = int(np.searchsorted(time, min(x1, time[-1]), side="right")) - 1
    lo, hi = np.fmin.reduce(low[first:last + 1]), np.fmax.reduce(high[first:last + 1])
    return bool(np.isfinite(lo) and lo <= y1 and hi >= y0)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_labels(ax: Axes, ink, legend, text, title) -> None:
    """Move the legend and the annotation to empty room of the axes; else into a band above the plot.

    Both orders are tried inside the plot (the first placed takes its room from the second). When
    they do not both fit, a band between the plot and its title takes the legend (as one row), else
    the annotation, else both; the band is made by lowering the top of the plot, the title keeps
    its place above it.
    """
    prefer = {"legend": ("upper right", "lower left", "lower right", "upper left"),
              "text": ("lower left", "upper right", "lower right", "upper left")}
    items = [(artist, prefer[kind]) for artist, kind in ((legend, "legend"), (text, "text")) if artist is not None]
    if not items:
        return
    renderer = ax.figure.canvas.get_renderer()
    for order in (items, items[::-1]):
        spots = _find_spots(ax, ink, order, renderer)
        if spots is not None:
            for (artist, _), corner in zip(order, spots):
                _move(ax, artist, corner, renderer)
            return
    fig_w, fig_h = ax.figure.get_size_inches()
    pos = ax.get_position()
    plot_w, gap = pos.width * fig_w, 0.06
    handles, labels = ax.get_legend_handles_labels()
    kinds = [kind for kind, a in (("legend", legend), ("text", text)) if a is not None]
    options = [[kind] for kind in kinds] if len(kinds) == 2 else []
    options.append(kinds)
    for k, out_kinds in enumerate(options):
        if legend is not None:  # a fresh legend each time (a band row replaces the axes' legend)
            legend = ax.legend(handles, labels, loc="lower left", handlelength=1.6, borderaxespad=0.0)
        inside = [(a, prefer[kind]) for kind, a in (("legend", legend), ("text", text))
                  if a is not None and kind not in out_kinds]
        rows = _band_rows(ax, out_kinds, text, handles, labels, plot_w, renderer)
        band = sum(h for _, h in rows) + (len(rows) + 1) * gap
        plot_h = pos.height * fig_h - band
        ax.set_position([pos.x0, pos.y0, pos.width, plot_h / fig_h])
        if "legend" not in out_kinds and legend is not None:  # the band row replaced it: back to the inside one
            ax.legend_ = legend
        spots = _find_spots(ax, ink, inside, renderer) if inside else []
        if spots is None and k < len(options) - 1:
            continue
        for (artist, _), corner in zip(inside, spots or []):
            _move(ax, artist, corner, renderer)
        if title is not None:
            ax.set_title(title.get_text(), y=1.0 + band / plot_h)
        y = gap
        for artists, height in rows:  # bottom row first
            for artist in artists:
                if artist is text:
                    _move(ax, text, (0.0, 1.0 + y / plot_h), renderer)
                else:  # a legend, flush right
                    width = _extent_inches(artist, renderer)[0]
                    _move(ax, artist, (1.0 - width / plot_w, 1.0 + y / plot_h), renderer)
            y += height + gap
        return


def _band_rows(ax: Axes, out_kinds, text, handles, labels, plot_w: float, renderer) -> list:
    """Rows of the band above the plot, bottom first: ``([artists], height in inches)``.

    The annotation sits left, the legend right on one row when both fit side by side, else the
    legend goes on a row above; the legend takes as many columns as fit the plot's width.
    """
    rows = []
    if "text" in out_kinds:
        rows.append(([text], _extent_inches(text, renderer)[1]))
    if "legend" in out_kinds:
        for ncols in range(len(labels), 0, -1):
            row = ax.legend(handles, labels, ncols=ncols, loc="lower left", handlelength=1.6, borderaxespad=0.0,
                            columnspacing=1.2)
            width, height = _extent_inches(row, renderer)
            # Flush right, it may reach over the y axis' labels: they end below the band.
            if width <= plot_w + _BAND_LEFT_ROOM or ncols == 1:
                break
        beside = "text" in out_kinds and _extent_inches(text, renderer)[0] + 0.2 + width <= plot_w
        if beside:
            rows[0] = ([text, row], max(rows[0][1], height))
        else:
            rows.append(([row], height))
    return rows


def _find_spots(ax: Axes, ink, items, renderer) -> list | None:
    """Lower-left corners (axes fractions) for each artist in a free box, avoiding those placed
    before it; None when one finds no room."""
    fig_w, fig_h = ax.figure.get_size_inches()
    pos = ax.get_position()
    plot_w, plot_h = pos.width * fig_w, pos.height * fig_h
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    sx, sy = (x_hi - x_lo) / plot_w, (y_hi - y_lo) / plot_h  # data units per inch
    pad_x, pad_y = _BOX_PAD
    taken, corners = [], []
    for artist, prefer in items:
        w, h = _extent_inches(artist, renderer)
        width, height = (w + 2 * pad_x) * sx, (h + 2 * pad_y) * sy
        spot = free_box(ink, width, height, x_hi, y_hi, margin=(_BOX_MARGIN * sx, _BOX_MARGIN * sy),
                        prefer=prefer, avoid=taken)
        if spot is None:
            return None
        x0, y0 = spot
        taken.append((x0, y0, x0 + width, y0 + height))
        corners.append(((x0 / sx + pad_x) / plot_w, (y0 / sy + pad_y) / plot_h))
    return corners


def _extent_inches(artist, renderer) -> tuple[float, float]:
    box = artist.get_window_extent(renderer)
    dpi = artist.figure.dpi
    return box.width / dpi, box.height / dpi


def _move(ax: Axes, artist, corner: tuple[float, float], renderer) -> None:
    """Put the lower-left corner of ``artist``'s drawn extent at ``corner`` (axes fractions)."""
    from matplotlib.legend import Legend

    if isinstance(artist, Legend):
        artist.set_loc("lower left")
        artist.set_bbox_to_anchor((corner[0], corner[1], 0.0, 0.0), transform=ax.transAxes)
        artist.borderaxespad = 0.0
    else:
        artist.set_position(corner)
    # Correct for padding inside the artist's box (legend border, text descent) measured as drawn.
    box = artist.get_window_extent(renderer)
    drawn = ax.transAxes.inverted().transform((box.x0, box.y0))
    shift = np.asarray(corner) - drawn
    if isinstance(artist, Legend):
        artist.set_bbox_to_anchor((corner[0] + shift[0], corner[1] + shift[1], 0.0, 0.0), transform=ax.transAxes)
    else:
        artist.set_position(tuple(np.asarray(corner) + shift))


def _format_axes(ax: Axes, *, xlabel: str, ylabel: str, ticks: list[float], x_end: float) -> None:
    ax.set_xlim(0.0, x_end)
    ax.set_ylim(0.0, 1.03)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(v)))
    ax.yaxis.set_major_locator(FixedLocator(np.linspace(0.0, 1.0, 6)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.1f}"))


def _draw_at_risk(table_ax: Axes, at_risk: pd.DataFrame, palette: dict, x_end: float, labels: _RowLabels) -> None:
    """Numbers at risk: one row per group, one number under each tick, group names coloured."""
    fig_width, fig_height = table_ax.figure.get_size_inches()
    plot_width = table_ax.get_position().width * fig_width
    table_height = table_ax.get_position().height * fig_height
    slots = max(round(table_height / _ROW_HEIGHT), len(at_risk))  # a panel may have fewer groups than others
    table_ax.set_xlim(0.0, x_end)
    table_ax.set_ylim(slots - 0.5, -0.5)
    table_ax.set_axis_off()
    for row, (label, counts) in enumerate(at_risk.iterrows()):
        table_ax.text(-labels.offset / plot_width, row, str(label), transform=table_ax.get_yaxis_transform(),
                      ha="right", va="center", color=palette[label], fontweight="bold", fontsize=9)
        for time, n in counts.items():
            if float(time) <= x_end:
                table_ax.text(float(time), row, format_count(n), ha="center", va="center", fontsize=9)
    table_ax.text(-labels.room / plot_width, 1.0 + 0.5 * _TABLE_HEADER / table_height,
                  "Number at risk", transform=table_ax.transAxes, ha="left", va="center",
                  fontsize=9, fontweight="bold")


# ---- inputs ------------------------------------------------------------------------------------

def _survival_table(label, result) -> pd.DataFrame:
    table = getattr(result, "table", None)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"curve {label!r}: expected a Kaplan-Meier result with a .table DataFrame")
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"curve {label!r}: survival table lacks column(s) {missing}")
    times = table["time"].to_numpy(float)
    if np.any(np.diff(times) < 0) or np.any(times < 0):
        raise ValueError(f"curve {label!r}: times must be non-negative and ascending")
    return table


def _ticks(xticks, at_risk) -> list[float]:
    if xticks is not None:
        return [float(t) for t in xticks]
    if at_risk is not None:
        return [float(t) for t in at_risk.columns]
    return []


def _check_at_risk(at_risk: pd.DataFrame, labels: list, ticks: list[float]) -> pd.DataFrame:
    """Rows in the curves' order; every column on a tick so numbers sit under their tick."""
    missing = [lab for lab in labels if lab not in at_risk.index]
    if missing:
        raise ValueError(f"at_risk has no row for group(s) {missing}")
    off_tick = [c for c in at_risk.columns if not np.any(np.isclose(float(c), ticks))]
    if off_tick:
        raise ValueError(f"at_risk column(s) {off_tick} are not x ticks {ticks}")
    return at_risk.loc[labels]


# ---- geometry ----------------------------------------------------------------------------------

def _panel_title(index: int, title: str | None, letters: bool) -> str | None:
    letter = chr(ord("A") + index) if letters and index < 26 else ""
    return "   ".join(part for part in (letter, title or "") if part) or None


@dataclass(frozen=True)
class _RowLabels:
    """Room for the at-risk row labels: their width, and their right edge's distance left of x = 0
    (clear of half the widest number centred there)."""

    width: float
    offset: float
    right: float = 0.0  # half the widest number in the last column, which may stick out on the right

    @property
    def room(self) -> float:
        return self.width + self.offset

    @staticmethod
    def widest(labels: list["_RowLabels"]) -> "_RowLabels":
        return _RowLabels(max(lab.width for lab in labels), max(lab.offset for lab in labels),
                          max(lab.right for lab in labels))


def _row_label_room(fig: Figure, curves, at_risk: pd.DataFrame | None) -> _RowLabels:
    width = max_text_width(fig, [str(label) for label in curves], size=9, weight="bold")
    if at_risk is None or at_risk.shape[1] == 0:
        return _RowLabels(width, _LABEL_GAP)
    first, last = (max_text_width(fig, [format_count(n) for n in at_risk.iloc[:, i]], size=9) / 2 for i in (0, -1))
    return _RowLabels(width, _LABEL_GAP + first, last)


def _left_margin(labels: _RowLabels) -> float:
    return max(labels.room + 0.05, _Y_AXIS_ROOM)


def _panel_size(row_labels: _RowLabels, plot_width: float, plot_height: float, n_rows: int,
                title) -> tuple[float, float]:
    width = _left_margin(row_labels) + plot_width + max(_RIGHT_PAD, row_labels.right + 0.05)
    table = (_TABLE_HEADER + n_rows * _ROW_HEIGHT) if n_rows else 0.0
    top = 0.32 if title else 0.12
    return width, top + plot_height + _BELOW_PLOT + table + _BOTTOM_PAD


def _panel_axes(fig: Figure, origin: tuple[float, float], row_labels: _RowLabels, plot_width: float, plot_height: float,
                n_rows: int) -> tuple[Axes, Axes | None]:
    """The plot axes and, under it, the at-risk table axes (same x extent) of one panel."""
    x0, y0 = origin
    left = x0 + _left_margin(row_labels)
    table_height = n_rows * _ROW_HEIGHT
    table_bottom = y0 + _BOTTOM_PAD
    plot_bottom = table_bottom + table_height + (_TABLE_HEADER if n_rows else 0.0) + _BELOW_PLOT
    ax = add_axes_inches(fig, left, plot_bottom, plot_width, plot_height)
    table_ax = add_axes_inches(fig, left, table_bottom, plot_width, table_height) if n_rows else None
    return ax, table_ax
