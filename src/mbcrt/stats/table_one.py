"""Table 1: baseline characteristics by group, with tests and standardized differences.

The table follows R's ``tableone::CreateTableOne`` with ``nonnormal`` medians:

- continuous variables: median [Q1, Q3] per group (quantile type 7, R's default), Mann-Whitney U
  test (``wilcox.test(exact = FALSE, correct = TRUE)``; Kruskal-Wallis for more than two groups);
- categorical variables: n (%) per level, % of the group's non-missing values, chi-square test or
  Fisher's exact test when an expected count is below 5 (:func:`mbcrt.stats.contingency.categorical_test`);
- standardized differences: ``(m1 - m0) / sqrt((v1 + v0) / 2)`` for continuous variables (signed,
  second group minus first, i.e. treated minus control), and the multi-level SMD of Yang and Dalton
  (2012) for categorical ones (a distance, never negative), as ``tableone`` computes it. With more
  than two groups the SMD is the mean absolute SMD over all pairs, as ``tableone`` prints it.

Small cells are suppressed with ``min_cell_count`` so that no count of fewer than that many patients
leaves the package (primary suppression only: complementary counts are left as they are).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from mbcrt.errors import InputError, closest
from mbcrt.stats.contingency import categorical_test
from mbcrt.stats.design import category_codes, category_levels

TEST_MANN_WHITNEY = "Mann-Whitney U"
TEST_KRUSKAL_WALLIS = "Kruskal-Wallis"
#: Machine-readable statistics per group, as columns ``"<group>__<stat>"``.
GROUP_STATS = ("n", "pct", "median", "q1", "q3")
KEY_COLUMNS = ("variable", "label", "level")
RESULT_COLUMNS = ("p", "test", "smd", "missing")
NOT_AVAILABLE = "-"  # shown where a group has no value to summarise


# --------------------------------------------------------------------------------------------------
# Rank tests
# --------------------------------------------------------------------------------------------------

def _midranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Average ranks (1-based) of ``values``, the sort order, and sum(t^3 - t) over tie groups."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(starts + (sizes + 1) / 2.0, sizes)
    sizes = sizes.astype(np.float64)
    return ranks, order, float(np.sum(sizes ** 3 - sizes))


def mann_whitney_test(x, y) -> tuple[float, float]:
    """Two-sided Mann-Whitney U (Wilcoxon rank-sum) test, normal approximation.

    Continuity and tie corrections as R's ``wilcox.test(x, y, exact = FALSE, correct = TRUE)``.

    Parameters
    ----------
    x, y : array_like of float
        The two samples (no missing values).

    Returns
    -------
    W : float
        Rank sum of ``x`` minus ``n_x (n_x + 1) / 2`` (R's statistic).
    p : float
        NaN when a sample is empty or every value is tied.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    nx, ny = len(x), len(y)
    if nx == 0 or ny == 0:
        return float("nan"), float("nan")
    n = nx + ny
    ranks, _, ties = _midranks(np.concatenate([x, y]))
    w = float(ranks[:nx].sum() - nx * (nx + 1) / 2.0)
    z = w - nx * ny / 2.0
    sigma = np.sqrt(nx * ny / 12.0 * ((n + 1) - ties / (n * (n - 1.0))))
    if not sigma > 0:
        return w, float("nan")
    z = (z - 0.5 * np.sign(z)) / sigma
    return w, float(min(1.0, 2.0 * stats.norm.sf(abs(z))))


def kruskal_wallis_test(samples: Sequence) -> tuple[float, int, float]:
    """Kruskal-Wallis rank-sum test with tie correction, as R's ``kruskal.test``.

    Empty samples are left out (R drops unused groups).

    Returns
    -------
    H : float
    dof : int
        Number of non-empty samples minus one.
    p : float
        NaN with fewer than two non-empty samples or when every value is tied.
    """
    samples = [np.asarray(s, dtype=np.float64) for s in samples]
    samples = [s for s in samples if len(s)]
    if len(samples) < 2:
        return float("nan"), 0, float("nan")
    sizes = np.array([len(s) for s in samples], dtype=np.float64)
    n = sizes.sum()
    ranks, _, ties = _midranks(np.concatenate(samples))
    codes = np.repeat(np.arange(len(samples)), sizes.astype(np.int64))
    rank_sums = np.bincount(codes, weights=ranks)
    h = (12.0 * np.sum(rank_sums ** 2 / sizes) / (n * (n + 1)) - 3.0 * (n + 1)) / (1.0 - ties / (n ** 3 - n))
    dof = len(samples) - 1
    if not np.isfinite(h):
        return float("nan"), dof, float("nan")
    return float(h), dof, float(stats.chi2.sf(h, dof))


# --------------------------------------------------------------------------------------------------
# Standardized differences
# --------------------------------------------------------------------------------------------------

def continuous_smd(mean1: float, var1: float, mean0: float, var0: float) -> float:
    """``(mean1 - mean0) / sqrt((var1 + var0) / 2)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((mean1 - mean0) / np.sqrt((var1 + var0) / 2.0))


def categorical_smd(counts1, counts0) -> float:
    """Multi-level SMD of Yang and Dalton (2012) between two groups' level counts.

    ``sqrt(d' S^+ d)`` with ``d`` the difference in level proportions without the first level,
    ``S`` the mean of the two multinomial covariance matrices ``diag(p) - p p'`` and ``S^+`` its
    Moore-Penrose inverse (tolerance sqrt(machine eps), as R's ``MASS::ginv``), as ``tableone``.
    For two levels it equals ``|p1 - p0| / sqrt((p1 (1 - p1) + p0 (1 - p0)) / 2)``.
    """
    p1, p0 = (np.asarray(c, dtype=np.float64) for c in (counts1, counts0))
    if p1.sum() == 0 or p0.sum() == 0:
        return float("nan")
    p1, p0 = p1 / p1.sum(), p0 / p0.sum()
    if len(p1) > 1:
        p1, p0 = p1[1:], p0[1:]  # the first level is redundant given the others
    cov = (np.diag(p1) - np.outer(p1, p1) + np.diag(p0) - np.outer(p0, p0)) / 2.0
    d = p1 - p0
    inverse = np.linalg.pinv(cov, rcond=np.sqrt(np.finfo(float).eps))
    return float(np.sqrt(max(0.0, d @ inverse @ d)))


# --------------------------------------------------------------------------------------------------
# Table 1
# --------------------------------------------------------------------------------------------------

class _Cells:
    """Formats display cells and applies small-cell suppression to counts."""

    def __init__(self, decimals: int, min_cell_count: int):
        if decimals < 0:
            raise ValueError("decimals must be >= 0")
        if min_cell_count < 0:
            raise ValueError("min_cell_count must be >= 0")
        self.decimals, self.min_cell_count = int(decimals), int(min_cell_count)

    def hidden(self, k: float) -> bool:
        """Whether a count must not be shown (0 < k < min_cell_count)."""
        return 0 < k < self.min_cell_count

    def number(self, v: float) -> str:
        text = f"{v:.{self.decimals}f}"
        return text.lstrip("-") if float(text) == 0 else text  # never "-0.0"

    def count(self, k: int) -> tuple[str, float]:
        """Display text and numeric value of a count."""
        return (f"<{self.min_cell_count}", np.nan) if self.hidden(k) else (str(int(k)), float(k))

    def count_pct(self, k: int, denominator: int) -> tuple[str, float, float]:
        """``"k (pct)"``, count and percentage (NaN when suppressed or when the group has no value)."""
        if self.hidden(k):
            return f"<{self.min_cell_count}", np.nan, np.nan
        if denominator == 0:
            return f"{int(k)} ({NOT_AVAILABLE})", float(k), np.nan
        pct = 100.0 * k / denominator
        return f"{int(k)} ({self.number(pct)})", float(k), pct

    def median_iqr(self, n: int, median: float, q1: float, q3: float) -> str:
        if n == 0:
            return NOT_AVAILABLE
        if self.hidden(n):
            return f"n<{self.min_cell_count}"
        return f"{self.number(median)} [{self.number(q1)}, {self.number(q3)}]"


def _empty_stats(groups: Sequence[str]) -> dict:
    return {f"{g}__{s}": np.nan for g in groups for s in GROUP_STATS}


def _row(variable: str, label: str, level: str, display: Sequence[str], groups: Sequence[str], *,
         p: float = np.nan, test: str = "", smd: float = np.nan, missing: float = np.nan) -> dict:
    row = {"variable": variable, "label": label, "level": level}
    row.update(zip(groups, display))
    row.update(p=p, test=test, smd=smd, missing=missing)
    row.update(_empty_stats(groups))
    return row


def _unique_level_codes(values: pd.Series, levels) -> tuple[list, np.ndarray]:
    """Levels and each row's level (:func:`mbcrt.stats.design.category_codes`); a level listed twice is an
    error, as it was when the codes came from ``pd.Categorical``."""
    level_values, codes = category_codes(values, levels)
    if not pd.Index(level_values).is_unique:
        raise ValueError("Categorical categories must be unique")
    return level_values, codes


def _group_codes(df: pd.DataFrame, group: str, group_order) -> tuple[list[str], np.ndarray]:
    """Group labels in display order and each row's group index."""
    if group not in df.columns:
        raise InputError("group column not in the data." + closest(group, df.columns), column=group)
    values = df[group]
    n_missing = int(values.isna().sum())
    if n_missing:
        raise InputError("missing values in the group column", column=group, n_rows=n_missing)
    order, codes = _unique_level_codes(values, group_order)
    groups = [str(g) for g in (group_order if group_order is not None else order)]
    reserved = KEY_COLUMNS + RESULT_COLUMNS
    if set(groups) & set(reserved) or len(set(groups)) != len(groups):
        raise InputError(f"group labels must be distinct and differ from the column names {list(reserved)}",
                         column=group)
    return groups, codes


def _is_categorical(values: pd.Series, declared: bool) -> bool:
    return declared or not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def _size_row(codes: np.ndarray, groups: Sequence[str], cells: _Cells) -> dict:
    sizes = np.bincount(codes, minlength=len(groups))
    shown = [cells.count(k) for k in sizes]
    row = _row("n", "n", "", [s for s, _ in shown], groups)
    for g, (_, value) in zip(groups, shown):
        row[f"{g}__n"] = value
    return row


def _continuous_row(values: pd.Series, variable: str, label: str, codes: np.ndarray, groups: Sequence[str],
                    cells: _Cells) -> dict:
    x = values.to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(x)
    samples = [x[present & (codes == g)] for g in range(len(groups))]
    display, summary = [], {}
    for g, sample in zip(groups, samples):
        n = len(sample)
        median, q1, q3 = np.quantile(sample, [0.5, 0.25, 0.75]) if n else (np.nan,) * 3  # type 7 = 'linear'
        display.append(cells.median_iqr(n, median, q1, q3))
        if not cells.hidden(n):
            summary.update({f"{g}__n": float(n), f"{g}__median": median, f"{g}__q1": q1, f"{g}__q3": q3})
    p, test = _continuous_test(samples)
    n_missing = int((~present).sum())
    row = _row(variable, label, "", display, groups, p=p, test=test, smd=_continuous_smd(samples),
               missing=np.nan if cells.hidden(n_missing) else float(n_missing))
    row.update(summary)
    return row


def _continuous_test(samples: list[np.ndarray]) -> tuple[float, str]:
    if len(samples) == 2:
        p = mann_whitney_test(samples[1], samples[0])[1]
        return p, TEST_MANN_WHITNEY if np.isfinite(p) else ""
    if len(samples) > 2:
        p = kruskal_wallis_test(samples)[2]
        return p, TEST_KRUSKAL_WALLIS if np.isfinite(p) else ""
    return np.nan, ""


def _continuous_smd(samples: list[np.ndarray]) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        moments = [(s.mean() if len(s) else np.nan, s.var(ddof=1) if len(s) > 1 else np.nan) for s in samples]
    if len(samples) == 2:
        (m0, v0), (m1, v1) = moments
        return continuous_smd(m1, v1, m0, v0)
    return _mean_of_pairs([abs(continuous_smd(*moments[j], *moments[i]))
                           for i, j in combinations(range(len(samples)), 2)])


def _mean_of_pairs(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _categorical_rows(values: pd.Series, variable: str, label: str, codes: np.ndarray, groups: Sequence[str],
                      levels, cells: _Cells) -> list[dict]:
    level_values, level_codes = _unique_level_codes(values, levels)
    present = level_codes >= 0
    n_groups = len(groups)
    counts = np.bincount(level_codes[present] * n_groups + codes[present],
                         minlength=len(level_values) * n_groups).reshape(len(level_values), n_groups)
    non_missing = counts.sum(axis=0)
    if counts.shape[0] >= 2 and n_groups >= 2:
        p, test = categorical_test(counts)
    else:
        p, test = np.nan, ""
    smd = _categorical_smd(counts)
    n_missing = int((~present).sum())
    header = _row(variable, label, "", [""] * n_groups, groups, p=p, test=test, smd=smd,
                  missing=np.nan if cells.hidden(n_missing) else float(n_missing))
    for g, k in zip(groups, non_missing):
        header[f"{g}__n"] = cells.count(k)[1]
    rows = [header]
    for level, level_counts in zip(level_values, counts):
        shown = [cells.count_pct(k, d) for k, d in zip(level_counts, non_missing)]
        row = _row(variable, label, _key_text(level), [s for s, _, _ in shown], groups)
        for g, (_, k, pct) in zip(groups, shown):
            row[f"{g}__n"], row[f"{g}__pct"] = k, pct
        rows.append(row)
    return rows


def _categorical_smd(counts: np.ndarray) -> float:
    """SMD between the two groups, or the mean over all pairs of groups."""
    n_groups = counts.shape[1]
    if n_groups == 2:
        return categorical_smd(counts[:, 1], counts[:, 0])
    return _mean_of_pairs([categorical_smd(counts[:, j], counts[:, i]) for i, j in combinations(range(n_groups), 2)])


def table_one(df: pd.DataFrame, *, group: str, variables: Iterable[str], categorical: Iterable[str] = (),
              levels: Mapping[str, Sequence] | None = None, labels: Mapping[str, str] | None = None,
              group_order: Sequence | None = None, min_cell_count: int = 0, decimals: int = 1) -> pd.DataFrame:
    """Baseline characteristics by group ("Table 1").

    Parameters
    ----------
    df : DataFrame
        One row per patient.
    group : str
        Column holding each patient's group (display labels, e.g. "Hormone therapy"). No missing values.
    variables : iterable of str
        Variables in display order. Numeric ones are continuous unless listed in ``categorical``;
        non-numeric ones (strings, booleans) are always categorical.
    categorical : iterable of str
        Variables to show as n (%) per level.
    levels : mapping, optional
        Level order per categorical variable (default: sorted values). Levels nobody has are shown
        with zero counts; values not listed are an error.
    labels : mapping, optional
        Display label per variable (default: the variable name).
    group_order : sequence, optional
        Groups in column order, control first (default: sorted). Groups nobody is in are shown empty.
    min_cell_count : int
        Counts ``0 < k < min_cell_count`` are shown as ``"<min_cell_count"`` with no percentage, and set
        to NaN in the numeric columns (with the median and IQR of a group of so few patients).
    decimals : int
        Decimals of percentages, medians and quartiles in the display columns.

    Returns
    -------
    DataFrame
        A first row ``n`` with the group sizes; one row per continuous variable ("median [Q1, Q3]");
        for each categorical variable a header row then one row per level ("n (%)", % of the group's
        non-missing values). Columns: ``variable, label, level`` ("" except on level rows), one
        display column per group, ``p`` (on the variable's first row), ``test``, ``smd``, ``missing``
        (count of missing values), then numeric ``"<group>__n"`` (patients, non-missing values, or level
        count), ``"<group>__pct"``, ``"<group>__median"``, ``"<group>__q1"``, ``"<group>__q3"``.
    """
    groups, codes = _group_codes(df, group, group_order)
    categorical = set(categorical)
    levels, labels = dict(levels or {}), dict(labels or {})
    cells = _Cells(decimals, min_cell_count)
    rows = [_size_row(codes, groups, cells)]
    for variable in variables:
        if variable not in df.columns:
            raise InputError("variable not in the data." + closest(variable, df.columns), column=variable)
        values, label = df[variable], str(labels.get(variable, variable))
        if _is_categorical(values, variable in categorical):
            rows.extend(_categorical_rows(values, variable, label, codes, groups, levels.get(variable), cells))
        else:
            rows.append(_continuous_row(values, variable, label, codes, groups, cells))
    columns = [*KEY_COLUMNS, *groups, *RESULT_COLUMNS, *(f"{g}__{s}" for g in groups for s in GROUP_STATS)]
    table = pd.DataFrame(rows, columns=columns)
    numeric = ["p", "smd", "missing", *columns[len(KEY_COLUMNS) + len(groups) + len(RESULT_COLUMNS):]]
    return table.astype({c: np.float64 for c in numeric})


# --------------------------------------------------------------------------------------------------
# Before and after matching
# --------------------------------------------------------------------------------------------------

def _is_table_one(df: pd.DataFrame) -> bool:
    return {"variable", "level"}.issubset(df.columns)


def _key_text(value) -> str:
    """A row key as text, the same whether the table was built here or read back from CSV."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))  # a level 1 read back from CSV as 1.0
    return str(value)


def _keys(table: pd.DataFrame) -> pd.MultiIndex:
    keys = pd.MultiIndex.from_arrays([table["variable"].map(_key_text), table["level"].map(_key_text)])
    if keys.has_duplicates:
        raise ValueError("a Table 1 has two rows with the same (variable, level)")
    return keys


def _shared_settings(before: pd.DataFrame, after: pd.DataFrame | None, settings: dict) -> dict:
    """Levels and group order taken from both cohorts, so that both tables have the same rows."""
    settings = dict(settings)
    both = before if after is None else pd.concat([before, after], ignore_index=True)
    categorical = set(settings.get("categorical", ()))
    levels = dict(settings.get("levels") or {})
    for variable in settings.get("variables", ()):
        if variable in levels or variable not in both.columns:
            continue
        if _is_categorical(both[variable], variable in categorical):
            levels[variable] = category_levels(both[variable])
    settings["levels"] = levels
    group = settings.get("group")
    if settings.get("group_order") is None and group in both.columns:
        settings["group_order"] = category_levels(both[group])
    return settings


def table_one_before_after(before: pd.DataFrame, after: pd.DataFrame | None = None, **kw) -> pd.DataFrame:
    """Table 1 before and after matching, side by side.

    Parameters
    ----------
    before, after : DataFrame
        Either two tables made by :func:`table_one` (also as read back from CSV), or two cohorts of
        patients, in which case ``kw`` are the arguments of :func:`table_one` (levels and group order
        are then taken from both cohorts so that the rows match). ``after`` may be None.

    Returns
    -------
    DataFrame
        ``variable, label, level``, then every other column of the ``before`` table prefixed
        ``"before: "`` and of the ``after`` table prefixed ``"after: "``; rows aligned by
        ``(variable, level)``, in the order of ``before`` (rows only ``after`` has come last).
    """
    if _is_table_one(before):
        if kw:
            raise TypeError("table_one arguments apply only when before and after are patient data")
        first, second = before, after
    else:
        kw = _shared_settings(before, after, kw)
        first = table_one(before, **kw)
        second = None if after is None else table_one(after, **kw)
    keyed = first.set_index(_keys(first))
    out = keyed[list(KEY_COLUMNS)].copy()
    out["level"] = out.index.get_level_values(1)
    body = {"before": keyed.drop(columns=list(KEY_COLUMNS))}
    if second is not None:
        other = second.set_index(_keys(second))
        extra = other.index.difference(keyed.index, sort=False)
        if len(extra):
            added = other.loc[extra, list(KEY_COLUMNS)].copy()
            added["level"] = added.index.get_level_values(1)
            out = pd.concat([out, added])
        body["after"] = other.drop(columns=list(KEY_COLUMNS))
    parts = [out] + [part.reindex(out.index).add_prefix(f"{name}: ") for name, part in body.items()]
    return pd.concat(parts, axis=1).reset_index(drop=True)
