"""Tests on counts and confidence intervals for proportions.

Each function reproduces an R function, to be checked against it:

- :func:`chi_square_test` is ``chisq.test(tb, correct = FALSE)`` (Pearson, no continuity correction);
- :func:`fisher_exact_test` is ``fisher.test(tb)$p.value`` for any r x c table (Freeman-Halton);
- :func:`categorical_test` chooses between them the way a Table 1 does (Fisher when an expected count is < 5);
- :func:`proportion_ci` is ``prop.test(k, n, correct = FALSE)$conf.int`` (Wilson score) or
  ``binom.test(k, n)$conf.int`` (Clopper-Pearson).

Rows and columns of a table with no count at all are dropped before testing: a level nobody has
carries no information, and it would make the chi-square statistic 0/0 (R returns NaN there).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special, stats

from mbcrt.errors import StatisticalWarning

#: R's rule for a two-sided exact p: tables at most this much more probable than the observed one
#: count as "as extreme" (absorbs rounding in tables that are exactly as probable). R uses a relative
#: 1e-7 for 2 x 2 tables (fisher.test) and adds 3.45254e-7 to the log probability for larger ones (FEXACT).
FISHER_RELATIVE_TOLERANCE = 1e-7
FISHER_LOG_TOLERANCE = 3.45254e-7

#: Work (partial tables examined; a tail sum counts as several) before the exact test gives up, a few seconds.
MAX_FISHER_WORK = 6_000_000

#: Expected count below which :func:`categorical_test` switches to Fisher's exact test.
MIN_EXPECTED_COUNT = 5.0

_CHUNK = 2_000_000  # children generated at once (bounds memory)
_TAIL_COST = 20  # work units of one hypergeometric tail sum, relative to one partial table
_BOUND_SLACK = 1e-9  # relative slack making the pruning bounds safely conservative against rounding


class ExactTestTooLarge(ValueError):
    """Fisher's exact test would need more enumeration than :data:`MAX_FISHER_WORK` allows."""


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------

def _count_table(table) -> np.ndarray:
    """The table as a 2-D int64 array, checked to hold non-negative whole counts."""
    a = np.asarray(table, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"a contingency table needs at least 2 rows and 2 columns, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a != np.round(a)):
        raise ValueError("a contingency table must hold non-negative whole counts")
    return a.astype(np.int64)


def _drop_empty(a: np.ndarray) -> np.ndarray:
    """Drop rows and columns whose total is zero."""
    return a[a.sum(axis=1) > 0][:, a.sum(axis=0) > 0]


def expected_counts(table) -> np.ndarray:
    """Expected counts under independence, ``outer(row totals, column totals) / n`` (empty rows/columns kept)."""
    a = _count_table(table).astype(np.float64)
    return np.outer(a.sum(axis=1), a.sum(axis=0)) / a.sum()


# --------------------------------------------------------------------------------------------------
# Chi-square
# --------------------------------------------------------------------------------------------------

def chi_square_test(table) -> tuple[float, int, float]:
    """Pearson's chi-square test of independence, without continuity correction.

    Parameters
    ----------
    table : array_like of int, shape (r, c)
        Counts, r, c >= 2.

    Returns
    -------
    statistic : float
    dof : int
        ``(r - 1) * (c - 1)`` after dropping empty rows and columns.
    p : float
        Upper tail of the chi-square distribution. NaN when fewer than 2 non-empty rows or columns remain.

    Notes
    -----
    Equals R's ``chisq.test(tb, correct = FALSE)``: statistic, parameter and p.value.
    """
    a = _drop_empty(_count_table(table))
    if min(a.shape) < 2:
        return float("nan"), 0, float("nan")
    observed = a.astype(np.float64)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    dof = (a.shape[0] - 1) * (a.shape[1] - 1)
    return statistic, dof, float(stats.chi2.sf(statistic, dof))


# --------------------------------------------------------------------------------------------------
# Fisher's exact test
# --------------------------------------------------------------------------------------------------

def fisher_exact_test(table) -> float:
    """Two-sided p of Fisher's exact test for an r x c table (Freeman-Halton for r x c).

    The p-value is the total probability, under the multivariate hypergeometric distribution of tables
    with the observed margins, of every table no more probable than the observed one (with R's
    allowance for rounding, :data:`FISHER_RELATIVE_TOLERANCE` and :data:`FISHER_LOG_TOLERANCE`).

    Parameters
    ----------
    table : array_like of int, shape (r, c)

    Returns
    -------
    float
        Equals R's ``fisher.test(tb)$p.value``.

    Raises
    ------
    ExactTestTooLarge
        When the table is too large to enumerate (more than :data:`MAX_FISHER_WORK` units of work,
        a few seconds); use :func:`chi_square_test`, which is accurate for such sizes.

    Notes
    -----
    2 x 2 tables sum the hypergeometric distribution directly, as R does. Larger tables are enumerated
    row by row as a network (Mehta and Patel 1983): a node is a set of remaining column totals; a
    node's whole subtree is counted at once when its most probable completion is below the threshold
    and dropped when its least probable one is above it. With two columns (the usual Table 1) those
    bounds are exact (greedy and vertex solutions of a separable concave problem). The last two rows
    are never enumerated: they reduce to hypergeometric tails. Tables R's FEXACT cannot handle (its
    workspace or key limits) are often within reach, e.g. a rare level among 10^6 patients.
    """
    a = _drop_empty(_count_table(table))
    if min(a.shape) < 2:
        return 1.0  # only one table has these margins
    if a.shape == (2, 2):
        p = _fisher_2x2(a)
    else:
        p = _fisher_network(a)
    return float(min(1.0, max(0.0, p)))


def _log_choose(n, k):
    return special.gammaln(n + 1.0) - special.gammaln(k + 1.0) - special.gammaln(n - k + 1.0)


def _fisher_2x2(a: np.ndarray) -> float:
    """R's 2 x 2 branch: hypergeometric probabilities over the support of the first cell."""
    m, n = a[:, 0].sum(), a[:, 1].sum()
    k, x = a[0].sum(), a[0, 0]
    support = np.arange(max(0, k - n), min(k, m) + 1)
    log_d = _log_choose(m, support) + _log_choose(n, k - support)
    d = np.exp(log_d - log_d.max())
    d /= d.sum()
    return float(d[d <= d[x - support[0]] * (1.0 + FISHER_RELATIVE_TOLERANCE)].sum())


def _fisher_network(a: np.ndarray) -> float:
    """Exact two-sided p for an r x c table: rows enumerated as a network with subtree bounds.

    All but the last two rows are placed one at a time; a node (remaining column totals) is counted
    whole or dropped whole when its bounds allow. The last two rows are summed in closed form: after
    placing their first c - 2 cells, what is left is a 2 x 2 table, a hypergeometric whose qualifying
    tables form its two tails.
    """
    if a.shape[1] > a.shape[0]:
        a = a.T  # fewer columns = smaller node keys
    a = a[np.argsort(a.sum(axis=1), kind="stable")]  # the largest rows last: they are summed, not enumerated
    rows, cols = a.sum(axis=1), a.sum(axis=0)
    n_total = int(rows.sum())
    log_fact = special.gammaln(np.arange(n_total + 1) + 1.0)
    # log P(table) = sum_i [log r_i! - sum_j log n_ij!] + const; the enumeration tracks the sum.
    const = log_fact[cols].sum() - log_fact[n_total]
    observed = float(np.sum(log_fact[rows]) - np.sum(log_fact[a]))
    threshold = observed + FISHER_LOG_TOLERANCE
    bounds = _SubtreeBounds(rows, cols, log_fact)
    budget = _WorkBudget(a.shape, n_total)

    state = cols[None, :].copy()  # remaining column totals of each node
    past = np.zeros(1)  # weight of the rows placed so far (representative of merged paths)
    log_mass = np.zeros(1)  # log of the summed exp(weight) of the paths merged into the entry
    counted: list[float] = []  # log probabilities (without const) of subtrees counted in the p-value
    last = len(rows) - 1
    for k in range(last - 1):
        kept = []
        for chunk in _chunks(state, rows[k], state.shape[1] - 1):
            parent, placed, _ = _expand(state[chunk], int(rows[k]), state.shape[1] - 1)
            budget.spend(len(parent))
            parent = chunk[parent]
            child = state[parent] - placed
            weight = log_fact[rows[k]] - log_fact[placed].sum(axis=1)
            child_past, child_mass = past[parent] + weight, log_mass[parent] + weight
            upper, lower, total = bounds.at(k + 1, child)
            all_in = child_past + upper <= threshold
            counted.append(_log_sum(child_mass + total, all_in))
            undecided = ~all_in & (child_past + lower <= threshold)
            kept.append((child[undecided], child_past[undecided], child_mass[undecided]))
        state, past, log_mass = _merge(*(np.concatenate(parts) for parts in zip(*kept)))
        if len(state) == 0:
            return float(np.exp(_log_sum(np.array(counted)) + const))
    counted.append(_last_two_rows(state, past, log_mass, int(rows[last - 1]), int(rows[last]), threshold,
                                  log_fact, budget))
    return float(np.exp(_log_sum(np.array(counted)) + const))


def _last_two_rows(state, past, log_mass, r_first: int, r_last: int, threshold: float, log_fact, budget) -> float:
    """log of the summed weight of the completions of the last two rows that are <= threshold."""
    n_col = state.shape[1]
    found = []
    for chunk in _chunks(state, r_first, n_col - 2):
        parent, placed, rest_first = _expand(state[chunk], r_first, n_col - 2)
        budget.spend(len(parent) * _TAIL_COST)
        parent = chunk[parent]
        node = state[parent]
        below = node[:, :n_col - 2] - placed  # the last row's cells in those columns
        rest_last = r_last - below.sum(axis=1)
        # Weight of the placed cells, and of the two rows' remaining totals (the 2 x 2 table's rows).
        weight = (log_fact[r_first] + log_fact[r_last] - log_fact[placed].sum(axis=1) - log_fact[below].sum(axis=1)
                  - log_fact[rest_first] - log_fact[rest_last])
        tails = _two_row_tails(node[:, n_col - 2], threshold - past[parent] - weight, rest_first, rest_last,
                               log_fact)
        found.append(_log_sum(log_mass[parent] + weight + tails))
    return _log_sum(np.array(found))


def _log_sum(log_values: np.ndarray, where: np.ndarray | None = None) -> float:
    """log(sum(exp(log_values[where]))), -inf for an empty selection."""
    if where is not None:
        log_values = log_values[where]
    log_values = log_values[np.isfinite(log_values)]
    if log_values.size == 0:
        return -np.inf
    return float(special.logsumexp(log_values))


class _WorkBudget:
    """Counts the partial tables examined and stops the test when it would take too long."""

    def __init__(self, shape, n_total):
        self.shape, self.n_total, self.used = shape, n_total, 0

    def spend(self, units: int) -> None:
        self.used += units
        if self.used > MAX_FISHER_WORK:
            raise ExactTestTooLarge(
                f"Fisher's exact test on this {self.shape[0]} x {self.shape[1]} table of {self.n_total} counts "
                f"needs more than {MAX_FISHER_WORK:,} units of work; use the chi-square test")


def _two_row_tails(a, room, r_first, r_last, log_fact) -> np.ndarray:
    """log of the summed weight of the 2 x 2 completions whose weight is <= ``room`` (per node).

    With ``a`` left in the first column, the first row takes ``x`` of it with weight
    ``log C(r_first, x) + log C(r_last, a - x)``: a log-concave sequence in x, so the completions below
    ``room`` are its two tails, found by bisection on each side of the mode and summed as
    hypergeometric tail probabilities times ``C(r_first + r_last, a)``.
    """
    a, r_first, r_last = np.broadcast_arrays(a, r_first, r_last)

    def weight(x):
        return (log_fact[r_first] - log_fact[x] - log_fact[r_first - x]
                + log_fact[r_last] - log_fact[a - x] - log_fact[r_last - a + x])

    low, high = np.maximum(0, a - r_last), np.minimum(r_first, a)
    mode = np.clip((a + 1) * (r_first + 1) // (r_first + r_last + 2), low, high)
    everything = weight(mode) <= room  # the largest weight is below: every completion counts
    # Largest x in [low, mode] with weight <= room (weight rises up to the mode); low - 1 if none.
    left, bad = low - 1, mode + 1
    while np.any(bad - left > 1):
        mid = (left + bad) // 2
        ok = weight(np.clip(mid, low, high)) <= room
        active = bad - left > 1
        left, bad = np.where(active & ok, mid, left), np.where(active & ~ok, mid, bad)
    # Smallest x in [mode, high] with weight <= room (weight falls after the mode); high + 1 if none.
    bad_right, right = mode - 1, high + 1
    while np.any(right - bad_right > 1):
        mid = (bad_right + right) // 2
        ok = weight(np.clip(mid, low, high)) <= room
        active = right - bad_right > 1
        right, bad_right = np.where(active & ok, mid, right), np.where(active & ~ok, mid, bad_right)
    population = r_first + r_last
    with np.errstate(divide="ignore"):
        tail = np.where(everything, 1.0, _hypergeometric_tails(a, left, right, r_first, r_last, log_fact))
        return log_fact[population] - log_fact[a] - log_fact[population - a] + np.log(tail)


def _hypergeometric_tails(a, left, right, r_first, r_last, log_fact, max_cells: float = 2e7):
    """P(X <= left) + P(X >= right) for X ~ hypergeometric(r_first of r_first + r_last, a drawn).

    Nodes share few distinct distributions: tabulate each once with cumulative sums from both ends
    (accurate in the tails), or ask scipy per node when the table would be too big.
    """
    keys, index = np.unique(np.column_stack([a, r_first, r_last]), axis=0, return_inverse=True)
    index = index.ravel()
    d, first, last = keys[:, 0:1], keys[:, 1:2], keys[:, 2:3]
    width = int(np.minimum(first, last).max()) + 1
    if keys.shape[0] * width > max_cells:
        population = r_first + r_last
        return stats.hypergeom.cdf(left, population, r_first, a) + stats.hypergeom.sf(right - 1, population, r_first, a)
    low, high = np.maximum(0, d - last), np.minimum(first, d)
    x = low + np.arange(width)[None, :]
    inside = x <= high
    x = np.where(inside, x, low)
    population = first + last
    log_pmf = (log_fact[first] - log_fact[x] - log_fact[first - x] + log_fact[last] - log_fact[d - x]
               - log_fact[last - d + x] - (log_fact[population] - log_fact[d] - log_fact[population - d]))
    pmf = np.where(inside, np.exp(log_pmf), 0.0)
    from_left = np.cumsum(pmf, axis=1)
    from_right = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    node_low, node_high = low[index, 0], high[index, 0]
    left_part = np.where(left >= node_low, from_left[index, np.clip(left - node_low, 0, width - 1)], 0.0)
    right_part = np.where(right <= node_high, from_right[index, np.clip(right - node_low, 0, width - 1)], 0.0)
    return left_part + right_part


def _chunks(state: np.ndarray, row_total: int, n_placed: int):
    """Split node indices so that each chunk generates at most about ``_CHUNK`` children."""
    caps = np.minimum(state[:, :n_placed], row_total) + 1
    cumulative = np.cumsum(np.prod(caps.astype(np.float64), axis=1))  # upper bound on children
    start = 0
    while start < len(state):
        limit = (cumulative[start - 1] if start else 0.0) + _CHUNK
        end = max(start + 1, int(np.searchsorted(cumulative, limit, side="right")))
        yield np.arange(start, end)
        start = end


def _expand(state: np.ndarray, row_total: int, n_placed: int):
    """Every way to place the first ``n_placed`` cells of a row of ``row_total`` under each node.

    The cells respect the node's remaining column totals and leave a remainder that fits in the
    columns not placed. Returns the parent index of each child, the placed cells
    (n_children x n_placed) and the remainder; with ``n_placed = c - 1`` the remainder is the last cell.
    """
    capacity_after = np.cumsum(state[:, ::-1], axis=1)[:, ::-1]  # [:, j] = sum of state[:, j:]
    parent = np.arange(len(state))
    remaining = np.full(len(state), row_total, dtype=np.int64)
    placed: list[np.ndarray] = []
    for j in range(n_placed):
        low = np.maximum(0, remaining - capacity_after[parent, j + 1])
        high = np.minimum(remaining, state[parent, j])
        count = high - low + 1
        idx = np.repeat(np.arange(len(parent)), count)
        offset = np.arange(len(idx)) - np.repeat(np.cumsum(count) - count, count)
        value = low[idx] + offset
        parent, remaining = parent[idx], remaining[idx] - value
        placed = [p[idx] for p in placed] + [value]
    cells = np.stack(placed, axis=1) if placed else np.zeros((len(parent), 0), dtype=np.int64)
    if n_placed == state.shape[1] - 1:
        cells = np.column_stack([cells, remaining])
    return parent, cells, remaining


def _merge(state: np.ndarray, past: np.ndarray, log_mass: np.ndarray):
    """Merge entries with the same node and (to 1e-9) the same past weight, summing their mass."""
    if len(state) == 0:
        return state, past, log_mass
    key = np.column_stack([state, np.round(past * 1e9).astype(np.int64)])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    mass = log_mass[order]
    peak = np.maximum.reduceat(mass, starts)
    summed = peak + np.log(np.add.reduceat(np.exp(mass - np.repeat(peak, np.diff(np.r_[starts, len(mass)]))),
                                           starts))
    return state[first], past[first], summed


class _SubtreeBounds:
    """Bounds on the weight of the completions of a node (remaining rows ``k..``, given column totals).

    ``upper`` >= the most probable completion, ``lower`` <= the least probable one, ``total`` = log of
    the sum over all completions (closed form: log M! - sum_j log C_j!). With two columns the bounds are
    exact. With more, each column is bounded on its own, dropping the row totals (a relaxation):
    the weight is sum_i log r_i! + sum_j (-sum_i log n_ij!), and each column term lies between the
    values :func:`_separable_extremes` finds for that column's total.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, log_fact: np.ndarray):
        self.rows, self.log_fact = rows, log_fact
        self.two_columns = len(cols) == 2
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def at(self, k: int, state: np.ndarray):
        rest = self.rows[k:]
        total = self.log_fact[rest.sum()] - self.log_fact[state].sum(axis=1)
        most, least = self._extremes(k)
        if self.two_columns:
            upper, lower = most[state[:, 0]], least[state[:, 0]]
        else:
            row_part = self.log_fact[rest].sum()
            upper = np.minimum(total, row_part + most[state].sum(axis=1))
            lower = np.maximum(0.0, row_part + least[state].sum(axis=1))  # a weight is a log multinomial >= 0
        slack = _BOUND_SLACK * (1.0 + np.abs(total))
        return upper + slack, lower - slack, total

    def _extremes(self, k: int):
        if k not in self._cache:
            rest = self.rows[k:]
            if self.two_columns:  # the first column's count in row i contributes log C(r_i, x)
                pieces = [_log_choose(float(r), np.arange(r + 1.0)) for r in rest]
            else:  # a cell n contributes -log n!
                pieces = [-self.log_fact[:r + 1] for r in rest]
            self._cache[k] = _separable_extremes(pieces)
        return self._cache[k]


def _separable_extremes(pieces: list[np.ndarray], budget: float = 2e7) -> tuple[np.ndarray, np.ndarray]:
    """Max and min of sum_i f_i(x_i) over 0 <= x_i <= r_i with sum_i x_i = a, for every a.

    ``pieces[i]`` holds f_i(0..r_i), a concave sequence. The max takes the a largest marginal gains
    (greedy is optimal for separable concave functions). The min lies at a vertex of the polytope,
    every x_i at 0 or r_i but one; vertices are enumerated by subset sums, and the min falls back to
    the (valid, weaker) bound sum_i min f_i when there would be too many.
    """
    caps = np.array([len(f) - 1 for f in pieces])
    total = int(caps.sum())
    base = float(sum(f[0] for f in pieces))
    gains = np.concatenate([np.diff(f) for f in pieces])
    most = base + np.concatenate([[0.0], np.cumsum(np.sort(gains)[::-1])])
    least = np.full(total + 1, np.inf)
    for p, f_p in enumerate(pieces):
        # Subset sums of the other rows taken in full, each with the least value reaching it.
        sums, values = np.zeros(1, dtype=np.int64), np.zeros(1)
        for i, f_i in enumerate(pieces):
            if i != p:
                sums = np.concatenate([sums, sums + caps[i]])
                values = np.concatenate([values + f_i[0], values + f_i[-1]])
                order = np.lexsort((values, sums))
                sums, values = sums[order], values[order]
                first = np.r_[True, np.diff(sums) != 0]
                sums, values = sums[first], values[first]
        if sums.size * (caps[p] + 1.0) > budget:
            return most, np.full(total + 1, float(sum(f.min() for f in pieces)))
        for start, value in zip(sums, values):
            window = least[start:start + caps[p] + 1]
            np.minimum(window, value + f_p, out=window)
    return most, least


# --------------------------------------------------------------------------------------------------
# Choice of test for Table 1
# --------------------------------------------------------------------------------------------------

def categorical_test(table) -> tuple[float, str]:
    """Chi-square test, or Fisher's exact test when any expected count is below 5.

    Empty rows and columns are dropped first (see the module notes). If the exact test is too large
    to enumerate (only with huge tables, where the chi-square approximation is good anyway), the
    chi-square p is returned with a :class:`StatisticalWarning`.

    Returns
    -------
    p : float
        NaN when fewer than 2 non-empty rows or columns remain.
    test : str
        ``"Chi-square"``, ``"Fisher exact"``, or ``""`` when no test was possible.
    """
    a = _drop_empty(_count_table(table))
    if min(a.shape) < 2:
        return float("nan"), ""
    expected = np.outer(a.sum(axis=1), a.sum(axis=0)) / a.sum()
    if np.any(expected < MIN_EXPECTED_COUNT):
        try:
            return fisher_exact_test(a), "Fisher exact"
        except ExactTestTooLarge as err:
            warnings.warn(f"{err}; reporting the chi-square p although an expected count is below "
                          f"{MIN_EXPECTED_COUNT:g}", StatisticalWarning, stacklevel=2)
    return chi_square_test(a)[2], "Chi-square"


# --------------------------------------------------------------------------------------------------
# Confidence intervals for a proportion
# --------------------------------------------------------------------------------------------------

def proportion_ci(k, n, *, method: str = "wilson", alpha: float = 0.05):
    """Two-sided confidence interval for a binomial proportion ``k / n``.

    Parameters
    ----------
    k, n : int or array_like of int
        Successes and trials (broadcast together). ``n == 0`` gives NaN.
    method : {"wilson", "exact"}
        ``"wilson"``: Wilson score interval, R's ``prop.test(k, n, correct = FALSE)$conf.int``.
        ``"exact"``: Clopper-Pearson, R's ``binom.test(k, n)$conf.int``.
    alpha : float
        1 - confidence level.

    Returns
    -------
    (lower, upper)
        Floats for scalar input, arrays otherwise.
    """
    if method not in ("wilson", "exact"):
        raise ValueError(f"method must be 'wilson' or 'exact', got {method!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    k, n = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64))
    valid_counts = (k >= 0) & (k <= n) & (k == np.round(k)) & (n == np.round(n))
    if not np.all(valid_counts | np.isnan(k) | np.isnan(n)):
        raise ValueError("need whole counts with 0 <= k <= n")
    with np.errstate(divide="ignore", invalid="ignore"):
        lower, upper = (_wilson if method == "wilson" else _clopper_pearson)(k, n, alpha)
    empty = ~(n > 0)
    lower, upper = np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)
    if scalar:
        return float(lower), float(upper)
    return lower, upper


def _wilson(k, n, alpha):
    """R's prop.test interval with YATES = 0 (bounds pinned to 0 and 1 at k = 0 and k = n, as R does)."""
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    p = k / n
    z22n = z * z / (2.0 * n)
    half = z * np.sqrt(p * (1.0 - p) / n + z22n / (2.0 * n))
    lower = np.where(p <= 0, 0.0, (p + z22n - half) / (1.0 + 2.0 * z22n))
    upper = np.where(p >= 1, 1.0, (p + z22n + half) / (1.0 + 2.0 * z22n))
    return lower, upper


def _clopper_pearson(k, n, alpha):
    """R's binom.test interval: beta quantiles, 0 at k = 0 and 1 at k = n."""
    lower = np.where(k <= 0, 0.0, stats.beta.ppf(alpha / 2.0, k, n - k + 1.0))
    upper = np.where(k >= n, 1.0, stats.beta.ppf(1.0 - alpha / 2.0, k + 1.0, n - k))
    return lower, upper
