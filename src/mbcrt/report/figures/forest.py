"""Forest plots: one estimate with its 95% CI per row, labels on the left, text columns on the right.

Used for subgroup hazard ratios (log axis, reference line at 1, "favours" labels, bold section
headers carrying the interaction p) and for proportions (linear axis, no reference).
The figure is laid out in inches from the measured width of its text, so long labels never overlap
the plot and the same input always gives the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from mbcrt.report.figures._layout import add_axes_inches, max_text_width
from mbcrt.report.figures.style import NEUTRAL_COLOR, new_figure, style_context

NOT_ESTIMABLE = "not estimable"

# Geometry in inches.
_LINE = 0.26  # one row of the plot
_HEADER = 0.34  # column headers
_BOTTOM = 0.95  # x tick labels, "favours" labels and x label
_TOP = 0.08
_SIDE = 0.12  # outer margins
_GAP = 0.22  # between columns
_INDENT = 0.16  # rows under a section header
_PLOT_WIDTH = 2.9
_FONT = 9


@dataclass(frozen=True)
class _Line:
    """One line of the plot: a section header or a data row (position into ``rows``)."""

    text: str
    row: int | None  # None for a header


def forest_plot(rows: pd.DataFrame, *, estimate: str = "hr", lower: str = "lower", upper: str = "upper",
                label: str = "label", group: str | None = None, right_text: str | Sequence[str] | None = None,
                reference: float | None = 1.0, log_scale: bool = True, xlabel: str = "Hazard ratio (95% CI)",
                favours: tuple[str, str] | None = ("Favours treated", "Favours control"),
                xlim: tuple[float, float] | None = None, label_header: str = "") -> Figure:
    """Forest plot of estimates with 95% confidence intervals, one row per line of ``rows``.

    Parameters
    ----------
    rows : DataFrame
        One row per estimate, in display order (top to bottom).
    estimate, lower, upper : str
        Columns of the point estimate and its CI limits. A NaN estimate shows "not estimable";
        an infinite limit is drawn to the edge of the axis with an arrow.
    label : str
        Column of row labels.
    group : str, optional
        Column naming each row's section (e.g. "Age (interaction p = 0.41)"); consecutive rows with
        the same value sit under one bold header and their labels are indented.
    right_text : str or sequence of str, optional
        Columns printed as text to the right of the plot (e.g. "HR (95% CI)", "n"), headed by
        their names. Values are printed as given (format them beforehand).
    reference : float or None
        Vertical reference line (1 for hazard ratios); None for none (and no "favours" labels).
    log_scale : bool
        Log x axis (ratios) or linear (proportions).
    xlabel : str
        x-axis label.
    favours : (str, str) or None
        Labels under the axis left and right of the reference, e.g. ("Favours treated",
        "Favours control") for hazard ratios of treated vs control.
    xlim : (float, float), optional
        x-axis limits (default: all finite limits and the reference, with a margin).
    label_header : str
        Header of the label column.

    Returns
    -------
    Figure
    """
    _check_rows(rows, [estimate, lower, upper, label] + ([group] if group else []), estimate, lower, upper,
                log_scale)
    text_columns = [right_text] if isinstance(right_text, str) else list(right_text or [])
    missing = [c for c in text_columns if c not in rows.columns]
    if missing:
        raise ValueError(f"right_text column(s) {missing} not in rows")
    rows = rows.reset_index(drop=True)
    lines = _lines(rows, label, group)
    est, lo, hi = (rows[c].to_numpy(float) for c in (estimate, lower, upper))
    limits = tuple(xlim) if xlim is not None else _auto_limits(est, lo, hi, reference, log_scale)

    with style_context():
        fig = new_figure(1.0, 1.0)
        indent = _INDENT if group else 0.0
        label_width = max(max_text_width(fig, [ln.text for ln in lines if ln.row is None], size=_FONT,
                                         weight="bold"),
                          indent + max_text_width(fig, [ln.text for ln in lines if ln.row is not None], size=_FONT),
                          max_text_width(fig, [label_header], size=_FONT, weight="bold"))
        column_widths = [max(max_text_width(fig, [str(c)], size=_FONT, weight="bold"),
                             max_text_width(fig, [_cell(v) for v in rows[c]], size=_FONT)) for c in text_columns]
        plot_width = max(_PLOT_WIDTH, max_text_width(fig, [xlabel]) + 0.1)
        show_favours = reference is not None and bool(favours)
        header = _HEADER if (label_header or text_columns) else 0.0
        bottom = _BOTTOM if show_favours else _BOTTOM - 0.3
        plot_left = _SIDE + label_width + _GAP
        columns_width = sum(_GAP + w for w in column_widths)
        if show_favours:  # the "favours" labels may reach past the plot on either side
            at = _axis_fraction(reference, limits, log_scale) * plot_width
            left_need, right_need = (max_text_width(fig, [f"{t} \u2192"], size=8.5) + 0.07 for t in favours)
            plot_left += max(0.0, left_need - at - plot_left + _SIDE)
            columns_width = max(columns_width, right_need - (plot_width - at))
        width = plot_left + plot_width + columns_width + _SIDE
        height = _TOP + header + len(lines) * _LINE + bottom
        fig.set_size_inches(width, height)
        ax = add_axes_inches(fig, plot_left, bottom, plot_width, len(lines) * _LINE)
        ax.set_ylim(len(lines) - 0.5, -0.5)
        _draw_estimates(ax, lines, est, lo, hi, limits)
        _format_x_axis(ax, limits, log_scale, xlabel, reference, favours)
        inches_y = blended_transform_factory(fig.dpi_scale_trans, ax.transData)
        _draw_labels(ax, lines, inches_y, indent, label_header)
        x = plot_left + plot_width + _GAP
        for column, column_width in zip(text_columns, column_widths):
            _draw_text_column(ax, lines, rows[column], str(column), x, inches_y)
            x += column_width + _GAP
    return fig


# ---- inputs ------------------------------------------------------------------------------------

def _check_rows(rows: pd.DataFrame, columns, estimate, lower, upper, log_scale) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack column(s) {missing}")
    if rows.empty:
        raise ValueError("no rows to plot")
    est, lo, hi = (rows[c].to_numpy(float) for c in (estimate, lower, upper))
    with np.errstate(invalid="ignore"):
        if np.any((lo > est) | (est > hi)):
            raise ValueError(f"each row needs {lower} <= {estimate} <= {upper}")
        if log_scale and np.any((est <= 0) | (lo < 0) | (hi <= 0)):
            raise ValueError("a log-scale forest plot needs positive estimates and limits")


def _lines(rows: pd.DataFrame, label: str, group: str | None) -> list[_Line]:
    """Display lines top to bottom: a header wherever the section changes, then the rows."""
    lines: list[_Line] = []
    previous = object()
    for i, row_label in enumerate(rows[label]):
        if group is not None:
            section = rows[group].iat[i]
            if not pd.isna(section) and section != previous:
                lines.append(_Line(str(section), None))
            previous = section
        lines.append(_Line("" if pd.isna(row_label) else str(row_label), i))
    return lines


def _cell(value) -> str:
    return "" if pd.isna(value) else str(value)


# ---- drawing -----------------------------------------------------------------------------------

def _draw_estimates(ax: Axes, lines: list[_Line], est, lo, hi, limits) -> None:
    """Point estimate (square) and CI segment per row; arrows where a limit runs off the axis."""
    left, right = limits
    for y, line in enumerate(lines):
        if line.row is None:
            continue
        i = line.row
        if np.isnan(est[i]):
            ax.text(0.5, y, NOT_ESTIMABLE, transform=ax.get_yaxis_transform(), ha="center", va="center",
                    fontsize=_FONT, style="italic", color=NEUTRAL_COLOR)
            continue
        if not (np.isnan(lo[i]) or np.isnan(hi[i])):
            start, end = max(lo[i], left), min(hi[i], right)
            ax.plot([start, end], [y, y], color="black", linewidth=1.2, solid_capstyle="butt", gid=f"ci-{i}",
                    clip_on=False)
            for limit, clipped_at, marker in ((lo[i], left, "<"), (hi[i], right, ">")):
                if (limit < left) if marker == "<" else (limit > right):
                    ax.plot([clipped_at], [y], marker=marker, color="black", markersize=5, clip_on=False)
        ax.plot([est[i]], [y], marker="s", markersize=5.5, color="black", linestyle="none", gid=f"estimate-{i}",
                clip_on=False)


def _format_x_axis(ax: Axes, limits, log_scale: bool, xlabel: str, reference, favours) -> None:
    if log_scale:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(_log_ticks(*limits)))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(*limits)
    ax.yaxis.set_visible(False)
    ax.spines["left"].set_visible(False)
    if reference is not None:
        ax.axvline(reference, color=NEUTRAL_COLOR, linestyle="--", linewidth=0.9, zorder=0, gid="reference")
    ax.set_xlabel(xlabel, labelpad=18 if reference is not None and favours else 4)
    if reference is not None and favours:
        for text, side in zip(favours, (-1, 1)):
            arrow = f"\u2190 {text}" if side < 0 else f"{text} \u2192"
            ax.annotate(arrow, xy=(reference, 0), xycoords=ax.get_xaxis_transform(), xytext=(5 * side, -21),
                        textcoords="offset points", ha="right" if side < 0 else "left", va="top", fontsize=8.5,
                        color="#4D4D4D", annotation_clip=False)


def _draw_labels(ax: Axes, lines: list[_Line], inches_y, indent: float, label_header: str) -> None:
    for y, line in enumerate(lines):
        header = line.row is None
        ax.text(_SIDE + (0.0 if header else indent), y, line.text, transform=inches_y, ha="left", va="center",
                fontsize=_FONT, fontweight="bold" if header else "normal",
                gid=f"header-{y}" if header else f"label-{line.row}")
    if label_header:
        ax.text(_SIDE, -0.5 - _HEADER / _LINE / 2, label_header, transform=inches_y, ha="left", va="center",
                fontsize=_FONT, fontweight="bold")


def _draw_text_column(ax: Axes, lines: list[_Line], values: pd.Series, title: str, x: float, inches_y) -> None:
    ax.text(x, -0.5 - _HEADER / _LINE / 2, title, transform=inches_y, ha="left", va="center", fontsize=_FONT,
            fontweight="bold")
    for y, line in enumerate(lines):
        if line.row is not None:
            ax.text(x, y, _cell(values.iat[line.row]), transform=inches_y, ha="left", va="center", fontsize=_FONT)


# ---- axis limits and ticks ---------------------------------------------------------------------

def _auto_limits(est, lo, hi, reference, log_scale: bool) -> tuple[float, float]:
    values = np.concatenate([est, lo, hi, [] if reference is None else [reference]])
    values = values[np.isfinite(values)]
    if log_scale:
        values = values[values > 0]
    if values.size == 0:
        return (0.5, 2.0) if log_scale else (0.0, 1.0)
    low, high = values.min(), values.max()
    if log_scale:
        span = max(np.log10(high / low), np.log10(2.0))
        pad = 0.06 * span
        return 10 ** (np.log10(low) - pad), 10 ** (np.log10(high) + pad)
    span = high - low if high > low else max(abs(high), 1.0)
    return low - 0.06 * span, high + 0.06 * span


def _axis_fraction(value: float, limits, log_scale: bool) -> float:
    """Where ``value`` falls along the x axis, 0 (left) to 1 (right)."""
    low, high = limits
    if log_scale:
        value, low, high = np.log10(value), np.log10(low), np.log10(high)
    return float((value - low) / (high - low))


def _log_ticks(low: float, high: float) -> list[float]:
    """Readable ticks on a log axis: 1-2-5 steps, finer when the range is narrow, at most ~7."""
    decades = np.arange(np.floor(np.log10(low)) - 1, np.ceil(np.log10(high)) + 1)
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8)):
        ticks = [float(f"{m * 10 ** d:.6g}") for d in decades for m in mantissas]
        inside = [t for t in ticks if low <= t <= high]
        if len(inside) >= 4:
            break
    if len(inside) < 3:  # a narrow range (e.g. 0.95-1.08): evenly spaced round values
        locator = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10])
        inside = [float(f"{t:.6g}") for t in locator.tick_values(low, high) if low <= t <= high]
    while len(inside) > 7:
        inside = inside[::2]
    if low <= 1.0 <= high and 1.0 not in inside:  # keep the usual reference value labelled
        inside = sorted([*inside, 1.0])
    return inside
