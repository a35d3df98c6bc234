"""Missing data figures: the percentage of each analysis variable missing, by arm.

A summary (one bar per variable and group), so its size does not grow with the number of patients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mbcrt.report.figures.style import group_colors, new_figure, style_context


def missingness_plot(table: pd.DataFrame, *, groups: list[str]) -> Figure:
    """Horizontal bars: percentage of patients missing each variable, one bar per group.

    Parameters
    ----------
    table : DataFrame
        :func:`mbcrt.steps.cohort.missingness`: ``label, group, missing_pct`` (blank where suppressed:
        no bar, and the variable's label says "suppressed"), ``model_covariate``.
    groups : list of str
        The groups drawn side by side ("All" for a single-arm study).

    Returns
    -------
    Figure
    """
    labels = list(dict.fromkeys(table["label"]))
    shown = table[table["group"].isin(groups)]
    pct = shown.pivot_table(index="label", columns="group", values="missing_pct", aggfunc="first", dropna=False)
    pct = pct.reindex(index=labels, columns=groups)
    model = table.drop_duplicates("label").set_index("label")["model_covariate"].reindex(labels)
    colors = group_colors(groups)
    n, k = len(labels), len(groups)
    height = 0.8 / k
    with style_context():
        fig = new_figure(6.5, 0.9 + 0.32 * n * max(1, k / 2), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(n, dtype=float)
        top = float(np.nanmax(np.append(pct.to_numpy(float).ravel(), 0.0)))
        right = max(5.0, top * 1.25)
        for j, g in enumerate(groups):
            values = pct[g].to_numpy(float)
            ypos = y - 0.4 + height * (j + 0.5)
            ax.barh(ypos, np.nan_to_num(values), height=height, color=colors[g], label=g)
            for yy, v in zip(ypos, values):  # the value beside each bar: a zero is a result too
                if np.isfinite(v):
                    ax.text(v + right * 0.01, yy, _percent(v), va="center", fontsize="x-small")
        names = [f"{lab}{' *' if bool(model[lab]) else ''}" + (" (suppressed)" if pct.loc[lab].isna().all() else "")
                 for lab in labels]
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(0, right)
        ax.set_xlabel("Missing (%)")
        handles = [Patch(color=colors[g], label=g) for g in groups]
        if k > 1:
            ax.legend(handles=handles, loc="lower right", frameon=False)
        ax.set_title("* model covariate", loc="left", fontsize="small")
    return fig


def _percent(v: float) -> str:
    """0, <1, then whole percentages (journal style: no decimals for a missing-data share)."""
    if v == 0:
        return "0%"
    return "<1%" if v < 1 else f"{v:.0f}%"


def chain_plot(chain_means: pd.DataFrame, labels: dict | None = None) -> Figure:
    """Convergence of the chained equations: the mean of each variable's imputed values after each
    iteration, one line per imputation (chains that mix show no trend and overlap).

    Parameters
    ----------
    chain_means : DataFrame
        ``imputation, iteration, variable, mean`` (:attr:`mbcrt.stats.imputation.MiceResult.chain_means`).
    labels : dict, optional
        Display label per variable.
    """
    labels = labels or {}
    variables = list(dict.fromkeys(chain_means["variable"]))
    n = max(1, len(variables))
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    with style_context():
        fig = new_figure(2.6 * cols + 0.4, 2.1 * rows + 0.3, layout="constrained")
        for j, var in enumerate(variables):
            ax = fig.add_subplot(rows, cols, j + 1)
            d = chain_means[chain_means["variable"] == var]
            wide = d.pivot_table(index="iteration", columns="imputation", values="mean")
            ax.plot(wide.index.to_numpy(), wide.to_numpy(), color="#555555", linewidth=0.6, alpha=0.7)
            ax.set_title(str(labels.get(var, var)), fontsize="small")
            ax.set_xlabel("Iteration", fontsize="small")
            ax.set_ylabel("Mean of imputed values", fontsize="small")
    return fig
