"""Swimmer plot: one horizontal lane per patient, longest on top, with event markers.

Lanes are anonymous (an index, never a patient identifier) and carry no tick labels. Bars of one
group are drawn as a single collection, so hundreds of lanes stay light; for larger cohorts
``max_lanes`` draws an evenly spread selection across the durations and says so on the figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from mbcrt.errors import InputError
from mbcrt.report.figures.style import (
    NEUTRAL_COLOR,
    OKABE_ITO,
    new_figure,
    style_context,
)

LANE_COLUMNS = ("lane", "group", "end")
#: Event-marker columns (times; NaN when the event did not happen) with how each is drawn.
MARKERS = {
    "progression": dict(marker="D", color="#000000", markerfacecolor="#000000", label="Progression"),
    "next_therapy": dict(marker="s", color="#000000", markerfacecolor="white", label="Next therapy"),
    "death": dict(marker="X", color="#000000", markerfacecolor="#000000", label="Death"),
    "censored": dict(marker=">", color=NEUTRAL_COLOR, markerfacecolor=NEUTRAL_COLOR, label="Censored (ongoing)"),
}
#: Group colours: the Okabe-Ito hues that are not reserved for the control/treated arms first.
GROUP_PALETTE = (OKABE_ITO["sky_blue"], OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"], OKABE_ITO["orange"],
                 OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["yellow"], "#7F7F7F")
_BAR_HEIGHT = 0.7
MISSING_GROUP = "Unknown"


def swimmer_plot(lanes: pd.DataFrame, *, xlabel: str = "Months since MDRT", max_lanes: int | None = None,
                 legend: bool = True, reference_lines: Sequence[float] = (6, 12),
                 colors: dict | None = None) -> Figure:
    """Swimmer plot of time on the same systemic therapy, one lane per patient.

    Parameters
    ----------
    lanes : DataFrame
        One row per patient: ``lane`` (an anonymous index), ``group`` (colour of the bar, e.g.
        subtype), ``end`` (bar length: time on the same therapy) and any of the marker columns
        ``progression``, ``next_therapy``, ``death``, ``censored`` (event times; NaN if none).
    xlabel : str
        x-axis label with its unit.
    max_lanes : int, optional
        Draw at most this many lanes, evenly spread over the lanes sorted by duration (so the
        shape of the distribution is kept); a note on the figure gives "k of n patients shown".
    legend : bool
        Show the legend of groups and markers.
    reference_lines : sequence of float
        Vertical dashed lines at these times (e.g. 6 and 12 months).
    colors : dict, optional
        Group -> colour (default: Okabe-Ito hues other than the arms' blue and vermillion).

    Returns
    -------
    Figure
    """
    lanes = _check_lanes(lanes)
    order = np.lexsort((lanes["lane"].to_numpy(), -lanes["end"].to_numpy(float)))  # longest first, ties by lane
    shown = lanes.iloc[order].reset_index(drop=True)
    total = len(shown)
    if max_lanes is not None and total > max_lanes:
        if max_lanes < 1:
            raise ValueError("max_lanes must be at least 1")
        shown = shown.iloc[np.unique(np.linspace(0, total - 1, max_lanes).round().astype(np.int64))]
        shown = shown.reset_index(drop=True)
    groups = _group_order(lanes["group"])
    palette = _group_palette(groups, colors)
    markers = [c for c in MARKERS if c in shown.columns and shown[c].notna().any()]
    y = np.arange(len(shown), dtype=float)

    with style_context():
        fig = new_figure(7.0, min(1.4 + 0.12 * len(shown), 9.0), layout="constrained")
        ax = fig.add_subplot()
        for k, group in enumerate(groups):
            in_group = (shown["group"] == group).to_numpy()
            if in_group.any():
                ax.add_collection(_bars(shown["end"].to_numpy(float)[in_group], y[in_group], palette[group],
                                        gid=f"lanes-{k}"))
        marker_size = float(np.clip(120.0 / max(len(shown), 1) ** 0.5, 2.5, 6.0))
        for column in markers:
            style = dict(MARKERS[column])
            label = style.pop("label")
            ax.plot(shown[column].to_numpy(float), y, linestyle="none", markersize=marker_size,
                    markeredgewidth=0.8, zorder=4, label=label, gid=column, **style)
        for line in reference_lines:
            ax.axvline(line, color=NEUTRAL_COLOR, linestyle="--", linewidth=0.9, zorder=1, gid=f"reference-{line:g}")
        _format(ax, shown, markers, reference_lines, xlabel)
        if len(shown) < total:
            ax.set_title(f"{len(shown):,} of {total:,} patients shown, spread evenly over the durations",
                         fontsize=8.5, fontweight="normal", color="#4D4D4D")
        if legend:
            _legend(ax, groups, palette, markers)
    return fig


def _bars(ends: np.ndarray, y: np.ndarray, color, gid: str) -> PolyCollection:
    """Horizontal bars from 0 to ``ends`` at heights ``y``, as one collection (fast for many lanes)."""
    half = _BAR_HEIGHT / 2
    zeros = np.zeros_like(ends)
    corners = np.stack([np.column_stack([zeros, y - half]), np.column_stack([ends, y - half]),
                        np.column_stack([ends, y + half]), np.column_stack([zeros, y + half])], axis=1)
    return PolyCollection(corners, facecolors=color, edgecolors="none", zorder=2, gid=gid)


def _format(ax, shown: pd.DataFrame, markers: list[str], reference_lines, xlabel: str) -> None:
    times = [shown["end"].to_numpy(float)] + [shown[c].to_numpy(float) for c in markers]
    right = np.nanmax(np.concatenate(times + [np.asarray(reference_lines, dtype=float), [0.0]]))
    ax.set_xlim(0.0, 1.04 * right if right > 0 else 1.0)
    ax.set_ylim(len(shown) - 0.5, -0.5)  # longest lane on top
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_ylabel("Patients")
    ax.set_xlabel(xlabel)


def _legend(ax, groups: list, palette: dict, markers: list[str]) -> None:
    handles = [Patch(color=palette[g], label=str(g)) for g in groups]
    for column in markers:
        style = dict(MARKERS[column])
        handles.append(Line2D([], [], linestyle="none", markersize=6, markeredgewidth=0.8, **style))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _check_lanes(lanes: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in LANE_COLUMNS if c not in lanes.columns]
    if missing:
        raise InputError(f"lanes lack column(s) {missing}", column=missing[0])
    if lanes.empty:
        raise InputError("no lanes to draw", column="lane")
    if lanes["lane"].duplicated().any():
        raise InputError("lane must be unique", column="lane", n_rows=int(lanes["lane"].duplicated().sum()))
    end = lanes["end"].to_numpy(float)
    bad = ~np.isfinite(end) | (end < 0)
    if bad.any():
        raise InputError("end must be a finite, non-negative time", column="end", n_rows=int(bad.sum()))
    for column in MARKERS:
        if column in lanes.columns and (lanes[column].to_numpy(float) < 0).any():
            raise InputError("event times must be non-negative", column=column,
                             n_rows=int((lanes[column].to_numpy(float) < 0).sum()))
    if lanes["group"].isna().any():  # keep those lanes visible under their own legend entry
        lanes = lanes.assign(group=lanes["group"].astype(object).where(lanes["group"].notna(), MISSING_GROUP))
    return lanes


def _group_order(groups: pd.Series) -> list:
    """Categorical order when the column is categorical, else sorted: never the data's row order."""
    if isinstance(groups.dtype, pd.CategoricalDtype):
        present = set(groups.dropna())
        return [g for g in groups.cat.categories if g in present]
    return sorted(pd.unique(groups.dropna()), key=str)


def _group_palette(groups: list, colors: dict | None) -> dict:
    if colors is not None:
        missing = [g for g in groups if g not in colors]
        if missing:
            raise ValueError(f"no colour given for group(s) {missing}")
        return {g: colors[g] for g in groups}
    if len(groups) > len(GROUP_PALETTE):
        raise ValueError(f"{len(groups)} groups but only {len(GROUP_PALETTE)} colours; pass colors")
    return dict(zip(groups, GROUP_PALETTE))
