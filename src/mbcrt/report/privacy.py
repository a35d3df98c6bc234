"""Small-cell suppression before results are shared: the study file's ``min_cell_count``.

With ``min_cell_count`` *m* > 1 (5 or 11 are usual for real data), :func:`suppress` rewrites one of the
tidy tables so that

- every count of 1 to *m* - 1 patients is blank (NaN), zeros are shown (they identify nobody);
- no blanked count can be worked out from the counts still shown: the table's own arithmetic (arms
  add up to the "All" row, subgroup levels to the cohort, each attrition step to the one before it)
  is written as linear relations, and while a blank count is still determined by them, the smallest
  shown count of a relation it is in is blanked too (complementary suppression);
- the estimates of a group of fewer than *m* patients (median, CI, survival, hazard ratio, p) are
  blank, and so is any percentage computed from a blanked count;
- a boolean column ``suppressed`` marks every row with a blank.

``min_cell_count`` 0 or 1 (the paper reproductions) returns the table unchanged, without the flag
column, so committed outputs stay byte for byte what they were.

Limits: relations hold within one table (plus the totals other tables print, treated as known);
bounds from non-negativity are not used (a blank is known to lie between 0 and the shown total, as
with any suppression). Figures are not covered here except the numbers at risk (kind ``"at_risk"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import null_space

from mbcrt.report.format import SUPPRESSED_MARK

SUPPRESSED = "suppressed"
ALL = "All"

Cell = tuple[int, str]  # (row position, column)
Relation = dict[Cell, float]  # sum(coefficient * cell) = a number a reader knows


@dataclass(frozen=True)
class _Kind:
    """How one kind of table is suppressed."""

    counts: tuple[str, ...]
    relations: Callable[[pd.DataFrame], tuple[list[Relation], set[Cell]]]
    blank: Callable[[pd.DataFrame, pd.DataFrame, int, pd.DataFrame | None], pd.DataFrame]


def suppress(df: pd.DataFrame, kind: str, min_cell_count: int, *,
             group_sizes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Suppress small counts (and what would reveal them) in one tidy table.

    Parameters
    ----------
    df : DataFrame
        The table as the analysis wrote it.
    kind : {"km_summary", "landmarks", "subgroups", "cohort_overview", "attrition", "at_risk"}
        Which table it is (its columns as in the README; ``at_risk`` is a numbers-at-risk frame, groups
        by times, as drawn under a Kaplan-Meier plot).
    min_cell_count : int
        Counts below it (and above 0) are not shown; 0 or 1 leaves the table as it is.
    group_sizes : DataFrame, optional
        For ``landmarks`` only (required there): the unsuppressed ``km_summary`` of the same analysis,
        whose ``n`` per endpoint, cohort and group decides which groups' estimates are blanked.

    Returns
    -------
    DataFrame
        A copy: blanked cells are NaN (count columns become float), plus a boolean ``suppressed``
        column (except for ``at_risk``). Row order and index are kept.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r}; one of {', '.join(KINDS)}")
    if not isinstance(min_cell_count, (int, np.integer)) or min_cell_count < 0:
        raise ValueError("min_cell_count must be a whole number >= 0")
    if min_cell_count <= 1:
        return df.copy()
    if kind == "landmarks" and group_sizes is None:
        raise ValueError("landmarks need group_sizes: the unsuppressed km_summary of the same analysis")
    spec = KINDS[kind]
    table = df.reset_index(drop=True)
    counts = [c for c in spec.counts if c in table.columns] if kind != "at_risk" else list(table.columns)
    values = {(i, c): float(v) for c in counts for i, v in enumerate(table[c].to_numpy(dtype=float))}
    hidden = {cell for cell, v in values.items() if 0 < v < min_cell_count}
    relations, pinned = spec.relations(table)
    relations = [r for r in relations if _holds(r, values)]
    hidden = protect(values, hidden, relations, pinned)
    out = table.copy()
    for c in counts:
        rows = [i for i in range(len(table)) if (i, c) in hidden]
        out[c] = out[c].astype("float64")
        out.loc[rows, c] = np.nan
    out = spec.blank(out, table, min_cell_count, group_sizes)
    if kind != "at_risk":
        changed = out.isna() & ~table.isna()
        out[SUPPRESSED] = changed.any(axis=1).to_numpy()
    out.index = df.index
    return out


def note(min_cell_count: int) -> str:
    """The sentence a report shows under suppressed tables (empty when nothing is suppressed)."""
    if min_cell_count <= 1:
        return ""
    m = min_cell_count
    return (f"Small cells are suppressed (min_cell_count = {m}): counts of 1 to {m - 1} patients are not shown, "
            f"and neither is any count from which one could be worked out, nor the estimates of groups of fewer "
            f"than {m} patients. Such cells read \"{SUPPRESSED_MARK}\" in the tables (blank in the CSV files, whose "
            f"rows with a blank are marked in the column '{SUPPRESSED}').")


# ---- complementary suppression -------------------------------------------------------------------------

def _holds(relation: Relation, values: dict[Cell, float]) -> bool:
    """Keep a relation only if a reader could use it: the true counts satisfy it (e.g. no patient lacks
    a group). A sum against a total printed by another table cannot be checked here and is kept."""
    if not all(cell in values for cell in relation):
        return False
    if getattr(relation, "external", False):
        return True
    return abs(sum(coef * values[cell] for cell, coef in relation.items())) < 1e-9


class _External(dict):
    """A relation whose right-hand side is a total from another table (kept: protects more, never less)."""

    external = True


def determined(hidden: list[Cell], relations: list[Relation]) -> list[Cell]:
    """Hidden cells whose value follows from the shown cells and the relations.

    A hidden cell is determined when its unit vector lies in the row space of the relations restricted
    to the hidden cells, i.e. when every solution of the relations gives it the same value: its row of a
    basis of the null space is zero.
    """
    if not hidden or not relations:
        return []
    position = {cell: j for j, cell in enumerate(hidden)}
    matrix = np.zeros((len(relations), len(hidden)))
    for r, relation in enumerate(relations):
        for cell, coef in relation.items():
            if cell in position:
                matrix[r, position[cell]] = coef
    basis = null_space(matrix)
    free = np.abs(basis).max(axis=1) > 1e-9 if basis.size else np.zeros(len(hidden), dtype=bool)
    return [cell for cell, is_free in zip(hidden, free) if not is_free]


def protect(values: dict[Cell, float], hidden: set[Cell], relations: list[Relation],
            pinned: set[Cell]) -> set[Cell]:
    """Blank more cells until no blank one is determined by the relations.

    Each round takes the first determined blank (in table order) and blanks the smallest shown,
    non-pinned cell of a relation it is in (smallest positive first: a blanked zero protects little).
    ``pinned`` cells (totals other tables print anyway) are never chosen. A last pass shows again
    every added blank that protects nothing (showing it makes no other blank determined).
    Deterministic.
    """
    order = {cell: k for k, cell in enumerate(values)}

    def solved(cells: set[Cell]) -> set[Cell]:
        return set(determined(sorted(cells, key=order.get), relations))

    hidden, added, given_up = set(hidden), [], set()
    while True:
        pending = sorted(solved(hidden) - given_up, key=order.get)
        if not pending:
            break
        target = pending[0]
        candidates = [cell for rel in relations if target in rel for cell in rel
                      if cell in values and cell not in hidden and cell not in pinned]
        if not candidates:
            given_up.add(target)  # nothing left to blank: the table itself reveals it (e.g. a tiny cohort)
            continue
        choice = min(candidates, key=lambda c: (values[c] <= 0, values[c], order[c]))
        hidden.add(choice)
        added.append(choice)
    for cell in reversed(added):
        trial = hidden - {cell}
        if solved(trial) <= solved(hidden):
            hidden = trial
    return hidden


# ---- relations of each kind -----------------------------------------------------------------------------

def _group_sums(table: pd.DataFrame, keys: list[str], columns: list[str]) -> tuple[list[Relation], set[Cell]]:
    """Within rows sharing ``keys``: the "All" row equals the sum of the other rows, per column."""
    relations, pinned = [], set()
    columns = [c for c in columns if c in table.columns]
    families = table.groupby(keys, sort=False, dropna=False) if keys else [(None, table)]
    for _, rows in families:
        is_all = rows["group"].astype(str) == ALL
        if is_all.sum() != 1 or len(rows) < 2:
            continue
        total = int(np.flatnonzero(is_all.to_numpy())[0])
        total_row, parts = rows.index[total], rows.index[~is_all.to_numpy()]
        for c in columns:
            rel = {(int(total_row), c): 1.0}
            rel.update({(int(i), c): -1.0 for i in parts})
            relations.append(rel)
            pinned.add((int(total_row), c))
    return relations, pinned


def _km_summary_relations(table):
    return _group_sums(table, ["endpoint", "cohort"], ["n", "events"])


def _landmark_relations(table):
    return _group_sums(table, ["endpoint", "cohort", "time"], ["n_risk"])


def _overview_relations(table):
    return _group_sums(table, [], ["patients", "events"])


def _subgroup_relations(table):
    relations: list[Relation] = []
    for i in range(len(table)):
        if {"n", "n_treated", "n_control"} <= set(table.columns):
            relations.append({(i, "n"): 1.0, (i, "n_treated"): -1.0, (i, "n_control"): -1.0})
    # The levels of a variable share out the cohort, whose size and events other tables print.
    for _, rows in table.groupby(["cohort", "variable"], sort=False):
        for c in ("n", "n_treated", "n_control", "events"):
            if c in table.columns and len(rows) > 1:
                relations.append(_External({(int(i), c): 1.0 for i in rows.index}))
    return relations, set()


def _attrition_relations(table):
    """remaining[i] = remaining[i-1] - excluded[i]; the analysis cohort's size is printed elsewhere."""
    relations = [{(i, "remaining"): 1.0, (i - 1, "remaining"): -1.0, (i, "excluded"): 1.0}
                 for i in range(1, len(table))]
    last = len(table) - 1
    return relations, {(last, "remaining"), (last, "excluded")}


def _no_relations(table):
    return [], set()


# ---- estimates blanked with their group ------------------------------------------------------------------

def _small(values: pd.Series, m: int) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").fillna(0) < m


def _blank_km_summary(out, table, m, _):
    small = _small(table["n"], m)
    out.loc[small, [c for c in ("median", "median_lower", "median_upper") if c in out]] = np.nan
    if "event_pct" in out:
        out.loc[small | out["n"].isna() | out["events"].isna(), "event_pct"] = np.nan
    return out


def _blank_landmarks(out, table, m, sizes):
    key = ["endpoint", "cohort", "group"]
    n = table[key].astype(str).merge(sizes[key + ["n"]].astype({k: str for k in key}), on=key, how="left")["n"]
    small = _small(n, m).to_numpy()  # a group missing from group_sizes is blanked (safe side)
    out.loc[small, [c for c in ("surv", "lower", "upper") if c in out]] = np.nan
    return out


def _blank_subgroups(out, table, m, _):
    comparison = [c for c in ("logrank_p", "hr", "lower", "upper", "p") if c in out]
    small = _small(table["n"], m)
    small_treated = _small(table["n_treated"], m) if "n_treated" in table else small
    small_control = _small(table["n_control"], m) if "n_control" in table else small
    out.loc[small | small_treated | small_control, comparison] = np.nan
    for flag, col in ((small | small_treated, "median_treated"), (small | small_control, "median_control")):
        if col in out:
            out.loc[flag, col] = np.nan
    return out


def _blank_overview(out, table, m, _):
    if "median_time" in out:
        out.loc[_small(table["patients"], m), "median_time"] = np.nan
    return out


def _blank_nothing(out, table, m, _):
    return out


KINDS: dict[str, _Kind] = {
    "km_summary": _Kind(("n", "events"), _km_summary_relations, _blank_km_summary),
    "landmarks": _Kind(("n_risk",), _landmark_relations, _blank_landmarks),
    "subgroups": _Kind(("n", "events", "n_treated", "n_control"), _subgroup_relations, _blank_subgroups),
    "cohort_overview": _Kind(("patients", "events"), _overview_relations, _blank_overview),
    "attrition": _Kind(("excluded", "remaining"), _attrition_relations, _blank_nothing),
    "at_risk": _Kind((), _no_relations, _blank_nothing),
}
