"""Kaplan-Meier figures: step curves with 95% CI bands, censor marks and a numbers-at-risk table.

Each curve is drawn from the survival table of a fitted Kaplan-Meier result (columns ``time``,
``n_censor``, ``surv``, ``lower``, ``upper``; one row per distinct time), starting at (0, 1). The
numbers at risk are printed under the plot at the x ticks, one row per group, with the group's name
in the colour of its curve.
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

# Geometry in inches.
_ROW_HEIGHT = 0.2  # one at-risk row
_TABLE_HEADER = 0.26  # "Number at risk"
_BELOW_PLOT = 0.55  # tick labels and x label
_BOTTOM_PAD = 0.08
_LABEL_GAP = 0.12  # between at-risk row labels and the first column
_Y_AXIS_ROOM = 0.62  # y tick labels and y label
_RIGHT_PAD = 0.25
_CI_ALPHA = 0.18


def plot_km(curves: Mapping[str, object], *, at_risk: pd.DataFrame | None, xlabel: str,
            ylabel: str = "Survival probability", annotation: str | None = None, xmax: float | None = None,
            xticks: Sequence[float] | None = None, ci: bool = True, censor_marks: bool = True,
            colors: Sequence | Mapping | None = None, title: str | None = None,
            legend_loc: str = "upper right") -> Figure:
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
        Text printed in the lower left of the plot, e.g. "Log-rank p < 0.0001".
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
        Where the legend goes (a matplotlib legend location).

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
                    legend_loc=legend_loc, row_labels=row_labels)
    return fig


def km_panels(panels: Sequence[Mapping], *, ncols: int = 2, xlabel: str, xticks: Sequence[float] | None = None,
              ylabel: str = "Survival probability", xmax: float | None = None, colors: Sequence | Mapping | None = None,
              letters: bool = True, legend_loc: str = "upper right") -> Figure:
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
        Legend location in each panel.

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
        cell_w, cell_h = _panel_size(row_labels, plot_width, plot_height, n_rows, title=any(titles))
        fig.set_size_inches(cell_w * ncols, cell_h * nrows_grid)
        for i, (panel, title) in enumerate(zip(panels, titles)):
            row, col = divmod(i, ncols)
            origin = (col * cell_w, (nrows_grid - 1 - row) * cell_h)
            ax, table_ax = _panel_axes(fig, origin, row_labels, plot_width, plot_height, n_rows)
            _draw_panel(ax, table_ax, panel["curves"], at_risk=panel.get("at_risk"), xlabel=xlabel, ylabel=ylabel,
                        annotation=panel.get("annotation"), xmax=xmax, xticks=xticks, ci=True, censor_marks=True,
                        colors=colors, title=title, legend_loc=legend_loc, row_labels=row_labels)
    return fig


# ---- drawing -----------------------------------------------------------------------------------

def _draw_panel(ax: Axes, table_ax: Axes | None, curves, *, at_risk, xlabel, ylabel, annotation, xmax, xticks,
                ci, censor_marks, colors, title, legend_loc, row_labels) -> None:
    if not curves:
        raise ValueError("no curves to plot")
    tables = {label: _survival_table(label, result) for label, result in curves.items()}
    palette = group_colors(tables, colors)
    ticks = _ticks(xticks, at_risk)
    last_time = max((float(t["time"].max()) for t in tables.values() if len(t)), default=0.0)
    x_end = float(xmax) if xmax is not None else max([last_time, *ticks])
    if not x_end > 0:
        raise ValueError("the x axis needs a positive extent (give xmax)")

    for label, table in tables.items():
        _draw_curve(ax, table, label=str(label), color=palette[label], ci=ci, censor_marks=censor_marks,
                    x_end=x_end)
    _format_axes(ax, xlabel=xlabel, ylabel=ylabel, ticks=ticks, x_end=x_end)
    if title:
        ax.set_title(title)
    if annotation:
        ax.text(0.03, 0.04, annotation, transform=ax.transAxes, ha="left", va="bottom")
    ax.legend(loc=legend_loc, handlelength=1.6, borderaxespad=0.3)
    if table_ax is not None:
        table_ax.set_axis_off()
        if at_risk is not None:
            _draw_at_risk(table_ax, _check_at_risk(at_risk, list(tables), ticks), palette, x_end, row_labels)


def _draw_curve(ax: Axes, table: pd.DataFrame, *, label: str, color, ci: bool, censor_marks: bool,
                x_end: float) -> None:
    """One survival curve: the step line from (0, 1), its CI band, and its censor marks."""
    time = np.concatenate(([0.0], table["time"].to_numpy(float)))
    surv = np.concatenate(([1.0], table["surv"].to_numpy(float)))
    ax.step(time, surv, where="post", color=color, label=label, zorder=3)
    if ci:
        lower = np.concatenate(([1.0], table["lower"].to_numpy(float)))
        upper = np.concatenate(([1.0], table["upper"].to_numpy(float)))
        band_time, band_lower, band_upper = band_envelope(time, lower, upper, x_end)
        # Explicit step vertices: fill_between(step="post") would drop the interval before a NaN limit
        # (e.g. the last one before the curve reaches 0), which this draws as it should.
        step_x = np.repeat(band_time, 2)[1:]
        ax.fill_between(step_x, np.repeat(band_lower, 2)[:-1], np.repeat(band_upper, 2)[:-1], color=color,
                        alpha=_CI_ALPHA, linewidth=0, zorder=2)
    if censor_marks:
        censored = table["n_censor"].to_numpy() > 0
        keep = thin_marks(table["time"].to_numpy(float)[censored], x_end)
        ax.plot(table["time"].to_numpy(float)[censored][keep], table["surv"].to_numpy(float)[censored][keep],
                linestyle="none", marker="|", markersize=6, markeredgewidth=1.0, color=color, zorder=4,
                label="_censored")


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


def _format_axes(ax: Axes, *, xlabel: str, ylabel: str, ticks: list[float], x_end: float) -> None:
    ax.set_xlim(0.0, x_end)
    ax.set_ylim(0.0, 1.03)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
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
