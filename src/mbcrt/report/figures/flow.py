"""CONSORT-like flow diagram of how the analysis cohort was selected.

A column of boxes from "Records assessed" down to the analysis cohort, one exclusion box to the
right of each step, and optionally one box per arm at the bottom. Boxes are sized to their text
(measured, not guessed) and the counts are checked to add up before anything is drawn.
"""

from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.report.figures._layout import format_count, text_size
from mbcrt.report.figures.style import new_figure, style_context

ATTRITION_COLUMNS = ("order", "criterion", "excluded", "remaining")
ARM_COLUMNS = ("arm", "n")

# Geometry in inches.
_PAD_X, _PAD_Y = 0.12, 0.08  # text to box edge
_MARGIN = 0.1
_SIDE_GAP = 0.4  # main column to exclusion boxes
_STEP_MIN = 0.42  # vertical room between two main boxes
_ARM_GAP = 0.3
_ARM_DROP = 0.45  # final box to the arm boxes
_WRAP = 42  # characters per line of an exclusion box
_FONT = 9


@dataclass(frozen=True)
class _Box:
    text: str
    width: float
    height: float


def flow_diagram(attrition: pd.DataFrame, *, final_label: str = "Analysis cohort",
                 arms: pd.DataFrame | None = None) -> Figure:
    """Flow diagram of patient selection.

    Parameters
    ----------
    attrition : DataFrame
        One row per exclusion step with columns ``order`` (sort key), ``criterion`` (why patients
        were excluded), ``excluded`` (how many) and ``remaining`` (how many were left). The
        records assessed are the first step's ``remaining + excluded``; each later step must have
        ``remaining`` = previous ``remaining`` - ``excluded``.
    final_label : str
        Name of the last box (the cohort analysed).
    arms : DataFrame, optional
        Columns ``arm`` and ``n``: one box per arm under the final box (e.g. RT / no RT).
        A warning is raised if their counts do not sum to the final cohort.

    Returns
    -------
    Figure

    Raises
    ------
    InputError
        If a column is missing or the counts do not add up.
    """
    steps = _check_attrition(attrition)
    arm_rows = _check_arms(arms, int(steps["remaining"].iat[-1]))
    assessed = int(steps["remaining"].iat[0] + steps["excluded"].iat[0])

    with style_context():
        fig = new_figure(1.0, 1.0)
        main_texts = [f"Records assessed (n = {format_count(assessed)})"]
        main_texts += [f"n = {format_count(n)}" for n in steps["remaining"].iloc[:-1]]
        main_texts.append(f"{final_label} (n = {format_count(steps['remaining'].iat[-1])})")
        side_texts = [_exclusion_text(c, n) for c, n in zip(steps["criterion"], steps["excluded"])]
        arm_texts = [f"{arm}\n(n = {format_count(n)})" for arm, n in arm_rows]

        main = _boxes(fig, main_texts, same_width=True)
        side = _boxes(fig, side_texts, same_width=True)
        arm_boxes = _boxes(fig, arm_texts, same_width=True)
        _lay_out(fig, main, side, arm_boxes)
    return fig


# ---- inputs ------------------------------------------------------------------------------------

def _check_attrition(attrition: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ATTRITION_COLUMNS if c not in attrition.columns]
    if missing:
        raise InputError(f"attrition table lacks column(s) {missing}", column=missing[0])
    if attrition.empty:
        raise InputError("attrition table has no rows", column="criterion")
    steps = attrition.sort_values("order", kind="stable").reset_index(drop=True)
    counts = steps[["excluded", "remaining"]]
    if counts.isna().any().any() or (counts.to_numpy(float) < 0).any():
        raise InputError("counts must be present and non-negative", column="excluded")
    remaining = steps["remaining"].to_numpy(np.int64)
    expected = remaining[:-1] - steps["excluded"].to_numpy(np.int64)[1:]
    wrong = np.flatnonzero(remaining[1:] != expected)
    if wrong.size:
        first = steps["criterion"].iat[wrong[0] + 1]
        raise InputError(f"counts do not add up at '{first}': remaining must equal the previous remaining "
                         f"minus excluded", column="remaining", n_rows=int(wrong.size))
    return steps


def _check_arms(arms: pd.DataFrame | None, cohort: int) -> list[tuple[str, int]]:
    if arms is None:
        return []
    missing = [c for c in ARM_COLUMNS if c not in arms.columns]
    if missing:
        raise InputError(f"arms table lacks column(s) {missing}", column=missing[0])
    rows = [(str(a), int(n)) for a, n in zip(arms["arm"], arms["n"])]
    total = sum(n for _, n in rows)
    if total != cohort:
        warnings.warn(f"the arms hold {total:,} patients but the analysis cohort has {cohort:,}",
                      StatisticalWarning, stacklevel=3)
    return rows


def _exclusion_text(criterion, n) -> str:
    lines = textwrap.wrap(f"Excluded: {criterion}", _WRAP, break_long_words=False) or ["Excluded"]
    count = f"(n = {format_count(n)})"
    if len(lines[-1]) + 1 + len(count) <= _WRAP:
        lines[-1] = f"{lines[-1]} {count}"
    else:
        lines.append(count)
    return "\n".join(lines)


# ---- layout ------------------------------------------------------------------------------------

def _boxes(fig: Figure, texts: list[str], same_width: bool) -> list[_Box]:
    sizes = [text_size(fig, t, size=_FONT) for t in texts]
    widest = max((w for w, _ in sizes), default=0.0)
    return [_Box(t, (widest if same_width else w) + 2 * _PAD_X, h + 2 * _PAD_Y) for t, (w, h) in zip(texts, sizes)]


def _lay_out(fig: Figure, main: list[_Box], side: list[_Box], arms: list[_Box]) -> None:
    """Place boxes in inches (top down), size the figure, draw boxes and arrows."""
    main_width = main[0].width
    arms_width = sum(b.width for b in arms) + _ARM_GAP * max(len(arms) - 1, 0)
    center = _MARGIN + max(main_width, arms_width) / 2
    side_left = center + main_width / 2 + _SIDE_GAP
    width = max(side_left + max((b.width for b in side), default=0.0), center + arms_width / 2) + _MARGIN

    # Vertical positions, measured downwards from the top edge; flipped once the height is known.
    tops, y = [], _MARGIN
    side_centers = []
    for i, box in enumerate(main):
        if i > 0:
            step = max(_STEP_MIN, side[i - 1].height + 0.3)
            side_centers.append(y + step / 2)
            y += step
        tops.append(y)
        y += box.height
    arm_top = y + _ARM_DROP
    height = (arm_top + max(b.height for b in arms) if arms else y) + _MARGIN

    fig.set_size_inches(width, height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, width)
    ax.set_ylim(height, 0.0)  # y grows downwards, like reading the diagram
    ax.set_axis_off()

    for i, (box, top) in enumerate(zip(main, tops)):
        _draw_box(ax, center - box.width / 2, top, box, role="main")
        if i > 0:
            _arrow(ax, (center, tops[i - 1] + main[i - 1].height), (center, top))
            ys = side_centers[i - 1]
            _draw_box(ax, side_left, ys - side[i - 1].height / 2, side[i - 1], role="excluded")
            _arrow(ax, (center, ys), (side_left, ys))
    if arms:
        _draw_arms(ax, arms, center, arms_width, y, arm_top)


def _draw_arms(ax: Axes, arms: list[_Box], center: float, arms_width: float, final_bottom: float,
               arm_top: float) -> None:
    split = final_bottom + _ARM_DROP / 2
    x, centers = center - arms_width / 2, []
    for box in arms:
        _draw_box(ax, x, arm_top, box, role="arm")
        centers.append(x + box.width / 2)
        x += box.width + _ARM_GAP
    ax.plot([center, center], [final_bottom, split], color="#262626", linewidth=0.9)
    ax.plot([min(centers), max(centers)], [split, split], color="#262626", linewidth=0.9)
    for cx in centers:
        _arrow(ax, (cx, split), (cx, arm_top))


def _draw_box(ax: Axes, left: float, top: float, box: _Box, role: str) -> None:
    ax.add_patch(FancyBboxPatch((left, top), box.width, box.height, boxstyle="round,pad=0,rounding_size=0.04",
                                facecolor="white", edgecolor="#262626", linewidth=0.9))
    ax.text(left + box.width / 2, top + box.height / 2, box.text, ha="center", va="center", fontsize=_FONT,
            multialignment="center")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="#262626", linewidth=0.9,
                                                          shrinkA=0, shrinkB=0, mutation_scale=9))
