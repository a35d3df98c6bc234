"""Covariate balance figures: a Love plot of standardized mean differences and propensity-score overlap.

Both are summaries (one dot per covariate level, one histogram bar per bin), so their size does not
grow with the number of patients: the overlap plot of a million patients is as small as that of a
hundred.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from mbcrt.errors import InputError
from mbcrt.report.figures._layout import max_text_width
from mbcrt.report.figures.style import (
    CONTROL_COLOR,
    NEUTRAL_COLOR,
    TREATED_COLOR,
    new_figure,
    style_context,
)

BALANCE_COLUMNS = ("label", "level", "smd_before", "smd_after")
BEFORE_COLOR = NEUTRAL_COLOR
AFTER_COLOR = "#000000"


def love_plot(balance: pd.DataFrame, *, threshold: float | None = 0.1,
              labels: tuple[str, str] = ("Before matching", "After matching")) -> Figure:
    """Absolute standardized mean differences before (open dots) and after (filled dots) matching.

    Parameters
    ----------
    balance : DataFrame
        One row per covariate (or level of a categorical covariate), top to bottom, with columns
        ``label``, ``level`` (blank or NaN for a numeric covariate), ``smd_before``, ``smd_after``.
        A NaN difference (e.g. a covariate constant in both arms) draws no dot.
    threshold : float or None
        Dashed vertical line at this absolute difference (conventionally 0.1); None for none.
    labels : (str, str)
        Legend labels of the two sets of dots.

    Returns
    -------
    Figure
    """
    missing = [c for c in BALANCE_COLUMNS if c not in balance.columns]
    if missing:
        raise ValueError(f"balance lacks column(s) {missing}")
    if balance.empty:
        raise ValueError("balance has no rows")
    balance = _one_row_per_binary(balance)
    names = [_row_name(label, level) for label, level in zip(balance["label"], balance["level"])]
    before = np.abs(balance["smd_before"].to_numpy(float))
    after = np.abs(balance["smd_after"].to_numpy(float))
    y = np.arange(len(balance), dtype=float)
    largest = np.nanmax(np.concatenate([before, after, [threshold or 0.0, 0.0]]))

    with style_context():
        fig = new_figure(5.2, 0.9 + 0.24 * len(balance), layout="constrained")
        # the plot keeps 3.4 in beside the widest label, so a long label never squeezes it away
        fig.set_size_inches(max(5.2, max_text_width(fig, names) + 3.8), fig.get_size_inches()[1])
        ax = fig.add_subplot()
        for yi in y:  # faint guides so a dot is easy to match with its label
            ax.axhline(yi, color="#E6E6E6", linewidth=0.6, zorder=0)
        ax.plot(before, y, linestyle="none", marker="o", markersize=5.5, markerfacecolor="white",
                markeredgecolor=BEFORE_COLOR, markeredgewidth=1.2, label=labels[0], gid="before", zorder=3,
                clip_on=False)  # a dot at 0 whole, not cut by the axis
        ax.plot(after, y, linestyle="none", marker="o", markersize=5.5, color=AFTER_COLOR, label=labels[1],
                gid="after", zorder=4, clip_on=False)
        if threshold is not None:
            ax.axvline(threshold, color=NEUTRAL_COLOR, linestyle="--", linewidth=0.9, zorder=1, gid="threshold")
        ax.set_yticks(y, names)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_ylim(len(balance) - 0.5, -0.5)
        ax.set_xlim(0.0, 1.08 * largest if largest > 0 else 1.0)
        ax.set_xlabel("Absolute standardized mean difference")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, borderaxespad=0.2, handletextpad=0.3)
    return fig


def _one_row_per_binary(balance: pd.DataFrame) -> pd.DataFrame:
    """A two-level covariate once (its second level) where both levels show the same absolute difference,
    as they do for a yes/no variable: the first row would repeat the second."""
    key = balance["label"].astype(str)
    levels = balance["level"].where(balance["level"].notna(), "").astype(str)
    binary = (key.map(key.value_counts()) == 2) & (levels != "")
    same = pd.Series(True, index=balance.index)
    for col in ("smd_before", "smd_after"):
        size = balance[col].abs()
        spread = size.groupby(key).transform("max") - size.groupby(key).transform("min")
        same &= spread.fillna(0.0) < 1e-9
    first_of_pair = binary & same & key.duplicated(keep="last")
    return balance[~first_of_pair.to_numpy()]


def _row_name(label, level) -> str:
    if pd.isna(level) or str(level) == "":
        return str(label)
    return f"{label}: {level}"


def ps_overlap(ps, treat, *, matched=None, bins: int = 40,
               labels: tuple[str, str] = ("Control", "Treated")) -> Figure:
    """Mirrored histograms of the propensity score: treated upwards, control downwards.

    Parameters
    ----------
    ps : array-like of float
        Propensity scores in [0, 1], one per patient.
    treat : array-like of bool or 0/1
        Treated (True/1) or control (False/0), aligned with ``ps``.
    matched : array-like of bool, optional
        Patients kept by matching; when given, a second panel shows them ("After matching")
        beside all patients ("Before matching"), on the same bins and count scale.
    bins : int
        Number of equal-width bins spanning the observed scores.
    labels : (str, str)
        Names of the control and treated arms.

    Returns
    -------
    Figure
    """
    ps, treat, matched = _check_overlap_inputs(ps, treat, matched)
    if bins < 1:
        raise ValueError("bins must be at least 1")
    low, high = float(ps.min()), float(ps.max())
    if high - low < 1e-9:
        low, high = max(0.0, low - 0.01), min(1.0, high + 0.01)
    edges = np.linspace(low, high, bins + 1)
    panels = [("before", "Before matching", np.ones(len(ps), dtype=bool))]
    if matched is not None:
        panels.append(("after", "After matching", matched))

    with style_context():
        fig = new_figure(3.4 * len(panels) + 0.5, 3.4, layout="constrained")
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        peak = 1.0
        for ax, (key, title, keep) in zip(axes, panels):
            treated = _counts(ps[keep & treat], edges)
            control = _counts(ps[keep & ~treat], edges)
            peak = max(peak, treated.max(), control.max())
            ax.stairs(treated, edges, baseline=0, fill=True, color=TREATED_COLOR, alpha=0.85, gid=f"treated-{key}")
            ax.stairs(-control, edges, baseline=0, fill=True, color=CONTROL_COLOR, alpha=0.85, gid=f"control-{key}")
            ax.axhline(0.0, color="#262626", linewidth=0.6)
            ax.set_title(f"{title} (n = {int(keep.sum()):,})")
            ax.set_xlabel("Propensity score")
            ax.set_xlim(low, high)
        axes[0].set_ylabel("Number of patients")
        axes[0].yaxis.set_major_locator(MaxNLocator(nbins=6, symmetric=True, integer=True))
        axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):,.0f}"))
        axes[0].set_ylim(-1.1 * peak, 1.1 * peak)  # symmetric, so up and down bars compare directly
        handles = [Patch(color=TREATED_COLOR, alpha=0.85, label=f"{labels[1]} (above)"),
                   Patch(color=CONTROL_COLOR, alpha=0.85, label=f"{labels[0]} (below)")]
        axes[-1].legend(handles=handles, loc="upper right")
    return fig


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.histogram(values, bins=edges)[0].astype(float)


def _check_overlap_inputs(ps, treat, matched):
    ps = np.asarray(ps, dtype=float)
    treat = _as_bool(treat, "treat")
    if ps.ndim != 1 or treat.shape != ps.shape:
        raise InputError("ps and treat must be one-dimensional and of the same length", column="ps")
    bad = ~np.isfinite(ps) | (ps < 0) | (ps > 1)
    if bad.any():
        raise InputError("propensity scores must lie in [0, 1]", column="ps", n_rows=int(bad.sum()))
    if matched is not None:
        matched = _as_bool(matched, "matched")
        if matched.shape != ps.shape:
            raise InputError("matched must have one entry per patient", column="matched")
    return ps, treat, matched


def _as_bool(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == bool:
        return array
    if not np.isin(array, (0, 1)).all():
        raise InputError(f"{name} must be boolean or 0/1", column=name,
                         n_rows=int((~np.isin(array, (0, 1))).sum()))
    return array.astype(bool)
