"""Cox proportional-hazards regression, vectorised, matching R's ``survival::coxph``.

The fit follows R's ``coxfit6``: Newton-Raphson from 0 with R's step halving, convergence when
the relative change in log partial likelihood is at most 1e-9 (at most 20 iterations), Efron
(default) or Breslow ties, separate risk sets per stratum. With ``cluster`` the variance is the
sandwich ``D'D`` where ``D`` sums the dfbeta residuals within cluster, as
``coxph(..., cluster = id)``. :func:`cox_zph` is the score test of proportional hazards of R
survival >= 3.0 ``cox.zph``.

How it scales: the data are sorted once by (stratum, time, deaths first). Risk-set sums are
reverse cumulative sums over the distinct times of a stratum, and the Efron terms of a tied group
come from its risk-set sums, its tied deaths' sums and a few scalar sums over those deaths (all by
``np.add.reduceat``), so an iteration costs a few passes over the data and two ``p x n`` matrix
products, with no Python loop over times, strata or patients. Two identities keep memory at
O(n p): the sum over event times of the risk-set second moments is ``X' diag(v) X``, with ``v`` the
expected events of each patient under the Efron hazard (``event - v`` is the martingale
residual), and the score is ``X' (event - v)``.

Counting-process rows ``(entry, time]`` (R's ``Surv(tstart, tstop, event)``, as ``agfit4``) use the
same sort: a row's entry is located among its stratum's times once (``searchsorted``), and each
risk-set sum is the sum over rows still in (stop >= t) minus the rows not yet entered (entry >= t),
both reverse cumulative sums. Case weights (R's ``weights =``) weight every risk-set sum, and each
of a tied group's Efron terms counts the mean weight of its deaths (R's ``meanwt``); the variance is
then the robust sandwich from the weighted dfbeta residuals (``robust = TRUE``). A new weight vector
reuses the sort, so refits with bootstrap weights cost a few passes each.

Conventions are R's: a patient censored at an event time is in that event's risk set; the
covariates are centred (the fit does not depend on it). Where R only warns that a coefficient
"may be infinite" (monotone likelihood), or that the fit did not converge, this module raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from mbcrt.errors import InputError, StatisticalWarning

TIES = ("efron", "breslow")
EPS = 1e-9  # R coxph.control(eps): relative change in log-likelihood
ITER_MAX = 20  # R coxph.control(iter.max)
TOLER_INF = EPS ** 0.5  # R coxph.control(toler.inf): flags a coefficient still moving at convergence
TOLER_CHOL = np.finfo(float).eps ** 0.75  # R coxph.control(toler.chol): singular-column tolerance
SE_BLOWUP = 1e4  # variance ratio (final / at 0) beyond which a still-moving coefficient diverges
MIN_EVENTS_PER_VARIABLE = 10
ZPH_TRANSFORMS = ("km", "identity", "rank", "log")


@dataclass(frozen=True)
class _RiskSets:
    """The data sorted by (stratum, time, deaths first), with the index arrays every iteration reuses.

    A *group* is a run of equal (stratum, time); an *event group* is a group with a death. Death
    rows are the deaths in sorted order; the deaths of a group are its first rows. A *segment* is
    either the deaths of a group or the rest of it, so one ``np.add.reduceat`` over segments gives
    both the tied deaths' sums and (summing a group's segments) the group's sums.
    """

    order: np.ndarray  # (n,) permutation from the caller's order to sorted order
    time: np.ndarray  # (n,) sorted times
    event: np.ndarray  # (n,) sorted 0/1 events (float)
    group: np.ndarray  # (n,) group of each sorted row
    group_starts: np.ndarray  # (G,) sorted position of each group's first row
    first_group_of_stratum: np.ndarray  # (G,) first group of each group's stratum
    event_group: np.ndarray  # (E,) group index of each event group (where its risk set starts)
    stop_group: np.ndarray  # (E,) group index where its stratum, so its risk set, ends (exclusive)
    deaths: np.ndarray  # (E,) number of deaths per event group
    death_pos: np.ndarray  # (D,) sorted positions of the deaths
    death_group: np.ndarray  # (D,) event group (0..E-1) of each death row
    run_start: np.ndarray  # (E,) first death row of each event group (for np.add.reduceat)
    frac: np.ndarray  # (D,) share of the tied deaths' risk removed: k/d (Efron) or 0 (Breslow)
    segments: np.ndarray  # (K,) sorted position where each segment starts
    group_first_segment: np.ndarray  # (G,) first segment of each group
    death_segment: np.ndarray  # (E,) the segment holding each event group's deaths
    # Counting-process data only (None otherwise): a row is at risk in groups entry_group..group.
    entry_group: np.ndarray | None = None  # (n,) first group (of its stratum) later than the row's entry
    # Case weights only (None otherwise), set per fit by :func:`_with_weights` on a shared sort.
    weight: np.ndarray | None = None  # (n,) sorted case weights
    mean_weight: np.ndarray | None = None  # (E,) mean weight of each event group's tied deaths (R's meanwt)

    @property
    def n_groups(self) -> int:
        return len(self.first_group_of_stratum)


def _risk_sets(time: np.ndarray, event: np.ndarray, strata_codes: np.ndarray, ties: str,
               entry: np.ndarray | None = None) -> _RiskSets:
    """Sort once and index the groups, strata, segments and deaths (see :class:`_RiskSets`)."""
    n = len(time)
    order = np.lexsort((1.0 - event, time, strata_codes))  # stable otherwise: ties keep the caller's order
    t, s, e = time[order], strata_codes[order], event[order]
    new_stratum = np.ones(n, dtype=bool)
    new_stratum[1:] = s[1:] != s[:-1]
    new_group = new_stratum.copy()
    new_group[1:] |= t[1:] != t[:-1]
    group = np.cumsum(new_group) - 1
    group_start = np.flatnonzero(new_group)
    stratum_start = np.flatnonzero(new_stratum)
    group_stratum = (np.cumsum(new_stratum) - 1)[group_start]
    first_group = group[stratum_start]
    stop_group = np.append(first_group[1:], len(group_start))

    deaths_per_group = np.bincount(group, weights=e, minlength=len(group_start)).astype(np.int64)
    event_group = np.flatnonzero(deaths_per_group)
    deaths = deaths_per_group[event_group]
    death_pos = np.flatnonzero(e)
    run_start = np.concatenate(([0], np.cumsum(deaths)[:-1]))
    death_group = np.repeat(np.arange(len(event_group)), deaths)
    if ties == "efron":
        frac = (np.arange(len(death_pos)) - run_start[death_group]) / deaths[death_group]
    else:
        frac = np.zeros(len(death_pos))
    death_end = group_start[event_group] + deaths
    new_segment = new_group.copy()
    new_segment[death_end[death_end < n]] = True
    segment = np.cumsum(new_segment) - 1
    entry_group = None if entry is None else _entry_groups(entry[order], s, t[group_start], s[group_start])
    return _RiskSets(order=order, time=t, event=e, group=group, group_starts=group_start,
                     first_group_of_stratum=first_group[group_stratum], event_group=event_group,
                     stop_group=stop_group[group_stratum[event_group]],
                     deaths=deaths, death_pos=death_pos, death_group=death_group,
                     run_start=run_start, frac=frac, segments=np.flatnonzero(new_segment),
                     group_first_segment=segment[group_start],
                     death_segment=segment[group_start[event_group]], entry_group=entry_group)


def _entry_groups(entry: np.ndarray, strata: np.ndarray, group_time: np.ndarray,
                  group_stratum: np.ndarray) -> np.ndarray:
    """For each row, the first group of its stratum whose time is later than its entry.

    Times are replaced by their ranks among all times and entries, so (stratum, rank) packs into
    one exact int64 key and one ``searchsorted`` finds every row's group (the groups are sorted by
    stratum then time). A row entering after its stratum's last time gets the next stratum's first
    group, which is never inside its risk sets (its entry is before its own stop).
    """
    _, ranks = np.unique(np.concatenate((group_time, entry)), return_inverse=True)
    width = np.int64(ranks.max() + 1)
    group_key = group_stratum.astype(np.int64) * width + ranks[:len(group_time)]
    entry_key = strata.astype(np.int64) * width + ranks[len(group_time):]
    return np.searchsorted(group_key, entry_key, side="right")


def _with_weights(rs: _RiskSets, weights: np.ndarray) -> _RiskSets:
    """The shared sort with case weights attached (caller's order in, sorted inside)."""
    w = weights[rs.order]
    death_sums = np.add.reduceat(w[rs.death_pos], rs.run_start) if len(rs.death_pos) else np.zeros(0)
    return replace(rs, weight=w, mean_weight=death_sums / rs.deaths)


#: The last few sorts: (time, event, strata codes, ties, entry, risk sets), most recent first.
_RECENT_RISK_SETS: list[tuple] = []
_RECENT_RISK_SETS_KEPT = 2


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def _shared_risk_sets(time: np.ndarray, event: np.ndarray, strata_codes: np.ndarray, ties: str,
                      entry: np.ndarray | None = None) -> _RiskSets:
    """:func:`_risk_sets`, reused when the data equal one of the last few fits' data.

    A study fits many models to the same rows (each univariable model, the full model, the reduced
    and full models of an interaction test): their times, events and strata are the same, so is
    the sort. The arrays are compared in full, so a hit is exact, whatever produced them; the
    comparison is O(n), the sort it saves O(n log n) and several times slower. Only the last
    :data:`_RECENT_RISK_SETS_KEPT` are kept, so the memory held is bounded.
    """
    for i, (t, e, s, kind, start, rs) in enumerate(_RECENT_RISK_SETS):
        if (kind == ties and len(t) == len(time) and np.array_equal(t, time) and np.array_equal(e, event)
                and np.array_equal(s, strata_codes) and _same(start, entry)):
            _RECENT_RISK_SETS.insert(0, _RECENT_RISK_SETS.pop(i))
            return rs
    rs = _risk_sets(time, event, strata_codes, ties, entry)
    for array in vars(rs).values():
        if array is not None:
            array.flags.writeable = False  # shared between fits: nobody may change it
    # Copies: the caller's arrays may be views of data that is changed later.
    _RECENT_RISK_SETS.insert(0, (time.copy(), event.copy(), strata_codes.copy(), ties,
                                 None if entry is None else entry.copy(), rs))
    del _RECENT_RISK_SETS[_RECENT_RISK_SETS_KEPT:]
    return rs


def _segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums over the last axis between consecutive ``starts`` (a no-op when every run has one element)."""
    if len(starts) == values.shape[-1]:
        return values
    return np.add.reduceat(values, starts, axis=-1)


def _tail_sums(values: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Sums of ``values[..., start:stop]`` for each pair, by one reverse cumulative sum along the last
    axis (the order in which R accumulates its risk sets)."""
    tail = np.zeros(values.shape[:-1] + (values.shape[-1] + 1,))
    np.cumsum(values[..., ::-1], axis=-1, out=tail[..., -2::-1])
    return tail[..., start] - tail[..., stop]


def _cumsum_within_strata(per_group: np.ndarray, rs: _RiskSets) -> np.ndarray:
    """Cumulative sums over groups (last axis), restarting at each stratum."""
    padded = np.zeros(per_group.shape[:-1] + (per_group.shape[-1] + 1,))
    np.cumsum(per_group, axis=-1, out=padded[..., 1:])
    return padded[..., 1:] - padded[..., rs.first_group_of_stratum]


@dataclass
class _Terms:
    """Efron quantities at one coefficient vector, per event group.

    With ``den_k = s0 - f_k d0`` the denominator and ``a_k = s1 - f_k d1`` the weighted covariate sum
    of the k-th of the group's tied deaths (``f_k = k/d``), the per-group sums over k of
    ``f_k^m / den_k`` and ``f_k^m / den_k^2`` give every Efron term without one array per death.
    """

    risk: np.ndarray  # (n,) exp(linear predictor)
    loglik: float
    s1: np.ndarray  # (p, E) risk-weighted covariate sum over the risk set
    d1: np.ndarray  # (p, E) the same over the tied deaths
    inv: np.ndarray  # (E,) sum_k 1/den_k
    frac_inv: np.ndarray  # (E,) sum_k f_k/den_k
    inv2: np.ndarray  # (3, E) sum_k f_k^m/den_k^2 for m = 0, 1, 2


def _efron_terms(rs: _RiskSets, xt: np.ndarray, beta: np.ndarray) -> _Terms:
    """Log partial likelihood and per-event-group terms (Efron, or Breslow when ``frac`` is 0).

    ``xt`` is the (p, n) design in sorted order. Sums are taken over segments first, so the
    cumulative sums run over distinct times, not rows.
    """
    eta = beta @ xt
    g, frac = rs.death_group, rs.frac
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        risk = np.exp(eta)
        if rs.weight is not None:
            risk *= rs.weight  # weighted risk: every risk-set sum is weighted (R's coxfit6/agfit4)
        seg0 = _segment_sums(risk, rs.segments)
        seg1 = _segment_sums(xt * risk, rs.segments)
        s0 = _tail_sums(_segment_sums(seg0, rs.group_first_segment), rs.event_group, rs.stop_group)
        s1 = _tail_sums(_segment_sums(seg1, rs.group_first_segment), rs.event_group, rs.stop_group)
        if rs.entry_group is not None:  # (start, stop]: remove rows that have not entered yet
            s0 -= _tail_sums(_entry_sums(risk, rs), rs.event_group + 1, rs.stop_group)
            s1 -= _tail_sums(_entry_sums(xt * risk, rs), rs.event_group + 1, rs.stop_group)
        d0 = seg0[rs.death_segment]
        denom = s0[g] - frac * d0[g]
        if rs.weight is None:
            loglik = float(eta[rs.death_pos].sum() - np.log(denom).sum())
        else:  # each tied death's term counts the deaths' mean weight (R's meanwt)
            mw = rs.mean_weight[g]
            denom = np.where(mw > 0, denom, 1.0)  # a group with no weight (bootstrap) adds nothing
            loglik = float(np.dot(rs.weight[rs.death_pos], eta[rs.death_pos]) - np.dot(mw, np.log(denom)))
        inv = 1.0 / denom
        inv2 = inv * inv
        stacked = np.stack([inv, frac * inv, inv2, frac * inv2, frac * frac * inv2])
        if rs.weight is not None:
            stacked *= mw
        per_group = np.add.reduceat(stacked, rs.run_start, axis=1)
    return _Terms(risk=risk, loglik=loglik, s1=s1, d1=seg1[:, rs.death_segment],
                  inv=per_group[0], frac_inv=per_group[1], inv2=per_group[2:])


def _entry_sums(values: np.ndarray, rs: _RiskSets) -> np.ndarray:
    """Sums of ``values`` (last axis, sorted rows) by entry group: (..., G)."""
    if values.ndim == 1:
        return np.bincount(rs.entry_group, weights=values, minlength=rs.n_groups)
    return np.stack([np.bincount(rs.entry_group, weights=row, minlength=rs.n_groups) for row in values])


def _cumsum_at_risk(per_group: np.ndarray, rs: _RiskSets) -> np.ndarray:
    """For each sorted row, the sum of ``per_group`` (last axis) over the groups it is at risk in."""
    if rs.entry_group is None:
        return _cumsum_within_strata(per_group, rs)[..., rs.group]
    padded = np.zeros(per_group.shape[:-1] + (per_group.shape[-1] + 1,))
    np.cumsum(per_group, axis=-1, out=padded[..., 1:])
    return padded[..., rs.group + 1] - padded[..., np.minimum(rs.entry_group, rs.group)]


def _expected_events(rs: _RiskSets, terms: _Terms, weight: np.ndarray | None = None) -> np.ndarray:
    """Each row's expected events under the Efron hazard, event groups weighted by ``weight``.

    ``event - expected`` (unweighted) is R's martingale residual.
    """
    inv, frac_inv = terms.inv, terms.frac_inv
    if weight is not None:
        inv, frac_inv = weight * inv, weight * frac_inv
    hazard = np.zeros(rs.n_groups)
    hazard[rs.event_group] = inv
    cumulative = _cumsum_at_risk(hazard, rs)
    # A death is at risk for only (1 - k/d) of its own tied-death term.
    cumulative[rs.death_pos] -= frac_inv[rs.death_group]
    return terms.risk * cumulative


def _score_information(rs: _RiskSets, xt: np.ndarray, terms: _Terms, weight: np.ndarray | None = None):
    """Score vector and information matrix, each event group weighted by ``weight`` (default 1).

    Returns
    -------
    score : ndarray (p,)
    information : ndarray (p, p)
    expected : ndarray (n,)
        Expected events (see :func:`_expected_events`).
    """
    expected = _expected_events(rs, terms, weight)
    observed = rs.event.copy() if rs.weight is None else rs.event * rs.weight
    e0, e1, e2 = terms.inv2 if weight is None else terms.inv2 * weight
    if weight is not None:
        observed[rs.death_pos] = weight[rs.death_group]
    score = xt @ (observed - expected)
    s1, d1 = terms.s1, terms.d1
    # sum_k a_k a_k' / den_k^2, expanded in s1 and d1
    cross = (s1 * e1) @ d1.T
    mean_term = (s1 * e0) @ s1.T - cross - cross.T + (d1 * e2) @ d1.T
    information = (xt * expected) @ xt.T - mean_term
    return score, (information + information.T) / 2, expected


def _score_residuals(rs: _RiskSets, xt: np.ndarray, terms: _Terms, expected: np.ndarray) -> np.ndarray:
    """(p, n) score residuals, rows in sorted order, as R's ``residuals(fit, "score")`` (coxscore2)."""
    s1, d1 = terms.s1, terms.d1
    e0, e1, e2 = terms.inv2
    per_group = np.zeros((xt.shape[0], rs.n_groups))
    per_group[:, rs.event_group] = s1 * e0 - d1 * e1  # sum_k xbar_k / den_k
    resid = _cumsum_at_risk(per_group, rs)
    resid *= terms.risk
    resid -= xt * expected
    deaths = rs.deaths if rs.weight is None else rs.deaths * rs.mean_weight
    mean_of_means = (s1 * terms.inv - d1 * terms.frac_inv) / deaths
    own_term = s1 * e1 - d1 * e2  # sum_k f_k xbar_k / den_k
    dp, g = rs.death_pos, rs.death_group
    observed = xt[:, dp] - mean_of_means[:, g]
    if rs.weight is not None:
        observed *= rs.weight[dp]
    resid[:, dp] += observed - terms.risk[dp] * own_term[:, g]
    return resid


def _aliased_columns(matrix: np.ndarray, tol: float = TOLER_CHOL) -> list[int]:
    """Columns of a positive semi-definite matrix that are (near) combinations of earlier ones.

    A Cholesky pass on the correlation scale, zeroing a column whose pivot is below ``tol``
    (as R's ``cholesky2``); p is small, so the loop is over columns, not rows.
    """
    diag = np.diag(matrix).copy()
    aliased = [i for i in range(len(diag)) if not diag[i] > 0]
    scale = np.sqrt(np.where(diag > 0, diag, 1.0))
    work = matrix / np.outer(scale, scale)
    for i in range(len(diag)):
        if i in aliased:
            work[i, :] = work[:, i] = 0.0
            continue
        pivot = work[i, i]
        if pivot < tol:
            aliased.append(i)
            work[i, :] = work[:, i] = 0.0
            continue
        work[i + 1:, i + 1:] -= np.outer(work[i + 1:, i], work[i, i + 1:]) / pivot
    return sorted(aliased)


@dataclass(eq=False)
class CoxResult:
    """A fitted Cox model.

    Attributes
    ----------
    params : Series
        Coefficients (log hazard ratios), indexed by design column.
    se : Series
        Model-based (naive) standard errors.
    robust_se : Series or None
        Robust (sandwich) standard errors: cluster-robust when fitted with ``cluster``, per row when
        fitted with ``weights`` and no cluster.
    var : ndarray
        Variance matrix used for inference: robust when ``cluster`` or ``weights`` was given (as R's
        ``fit$var``).
    naive_var : ndarray
        Inverse of the information matrix (R's ``fit$naive.var`` when robust).
    loglik, loglik_null : float
        Log partial likelihood at the estimate and at 0.
    n, events : int
        Rows and events used.
    ties : str
        "efron" or "breslow".
    iterations : int
        Newton-Raphson iterations (R's ``fit$iter``).
    alpha : float
        1 - confidence level of the intervals in ``summary``.
    summary : DataFrame
        Index ``term``; columns coef, hr, se, (robust_se), z, p, lower, upper (HR confidence
        interval at ``1 - alpha``, from the robust SE when a cluster was given).
    n_strata : int
        Number of strata (1 without ``strata``).
    n_clusters : int or None
        Number of clusters (None without ``cluster``).

    The sorted, centred design and risk-set indexes are kept (private) for :func:`cox_zph`.
    """

    params: pd.Series
    se: pd.Series
    robust_se: pd.Series | None
    var: np.ndarray
    naive_var: np.ndarray
    loglik: float
    loglik_null: float
    n: int
    events: int
    ties: str
    iterations: int
    alpha: float
    summary: pd.DataFrame
    n_strata: int = 1
    n_clusters: int | None = None
    _risk_sets: _RiskSets | None = field(default=None, repr=False)
    _X: np.ndarray | None = field(default=None, repr=False)  # (p, n) sorted, centred design

    def lr_test(self) -> tuple[float, int, float]:
        """Likelihood-ratio test against the model with every coefficient 0.

        Returns
        -------
        (chisq, df, p)
        """
        chisq = 2.0 * (self.loglik - self.loglik_null)
        df = len(self.params)
        return chisq, df, float(stats.chi2.sf(chisq, df)) if df else float("nan")


def _as_vector(values, n: int, name: str) -> np.ndarray:
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    if arr.ndim != 1 or len(arr) != n:
        raise InputError(f"expected one value per row ({n}), got shape {arr.shape}", column=name)
    return arr


def _name(values, default: str) -> str:
    return str(getattr(values, "name", None) or default)


def _check_time_event(time, event, n: int) -> tuple[np.ndarray, np.ndarray]:
    time_name, event_name = _name(time, "time"), _name(event, "event")
    t = pd.to_numeric(pd.Series(_as_vector(time, n, time_name)), errors="coerce").to_numpy(np.float64)
    bad = int((~np.isfinite(t)).sum())
    if bad:
        raise InputError("survival time missing, non-numeric or infinite", column=time_name, n_rows=bad)
    if (t < 0).any():
        raise InputError("negative survival time", column=time_name, n_rows=int((t < 0).sum()))
    e = pd.to_numeric(pd.Series(_as_vector(event, n, event_name)), errors="coerce").to_numpy(np.float64)
    bad = int((~np.isin(e, (0.0, 1.0))).sum())
    if bad:
        raise InputError("event indicator must be 0 (censored) or 1 (event)", column=event_name, n_rows=bad)
    if not e.any():
        raise InputError("no events: a Cox model needs at least one", column=event_name)
    return t, e


def _check_entry(entry, t: np.ndarray) -> np.ndarray:
    s = pd.to_numeric(pd.Series(_as_vector(entry, len(t), "entry")), errors="coerce").to_numpy(np.float64)
    bad = int((~np.isfinite(s)).sum())
    if bad:
        raise InputError("start time missing, non-numeric or infinite", column=_name(entry, "entry"), n_rows=bad)
    bad = int((s >= t).sum())
    if bad:
        raise InputError("start time not before stop time: a row needs an interval (start, stop]",
                         column=_name(entry, "entry"), n_rows=bad)
    return s


def _check_weights(weights, n: int) -> np.ndarray:
    w = pd.to_numeric(pd.Series(_as_vector(weights, n, "weights")), errors="coerce").to_numpy(np.float64)
    bad = int((~np.isfinite(w) | ~(w > 0)).sum())
    if bad:
        raise InputError("case weights must be positive finite numbers (as R's coxph)",
                         column=_name(weights, "weights"), n_rows=bad)
    return w


def _check_design(X: pd.DataFrame) -> np.ndarray:
    """The design as a (p, n) float array (one contiguous row per column), checked."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame of numeric design columns")
    xt = np.empty((X.shape[1], X.shape[0]))
    for j, col in enumerate(X.columns):
        if not (pd.api.types.is_numeric_dtype(X[col]) or pd.api.types.is_bool_dtype(X[col])):
            raise InputError("design column is not numeric (expand categories with design_matrix)",
                             column=str(col))
        xt[j] = X[col].to_numpy(dtype=np.float64)
        bad = int((~np.isfinite(xt[j])).sum())
        if bad:
            raise InputError("missing or infinite values in a model covariate", column=str(col), n_rows=bad)
        if len(xt[j]) and xt[j].min() == xt[j].max():
            raise InputError("constant column: its hazard ratio is not estimable", column=str(col))
    return xt


def _codes(values, n: int, name: str) -> tuple[np.ndarray, int]:
    arr = _as_vector(values, n, name)
    missing = int(pd.isna(arr).sum())
    if missing:
        raise InputError("missing values", column=name, n_rows=missing)
    codes, uniques = pd.factorize(arr)  # first-appearance order: any label type, deterministic
    return codes.astype(np.int64), len(uniques)


def _newton_raphson(rs: _RiskSets, xt: np.ndarray, names: list[str], init: np.ndarray | None = None):
    """R's coxfit6 iteration from 0 (or from ``init``, for bootstrap refits), with its step halving.

    Returns
    -------
    beta, terms, score, information at beta; log-likelihood at the start (0 unless ``init``);
    iterations; diagonal of the inverse information at the start (for :func:`_check_divergence`).
    """
    beta = np.zeros(xt.shape[0]) if init is None else np.array(init, dtype=np.float64)
    terms = _efron_terms(rs, xt, beta)
    loglik_null = terms.loglik
    score, info, _ = _score_information(rs, xt, terms)
    aliased = _aliased_columns(info)
    if aliased:
        raise InputError("column not estimable: constant within every stratum or a linear combination "
                         "of other columns", column=names[aliased[0]])
    var_at_zero = np.diag(np.linalg.inv(info))
    best = loglik_null
    new_beta = beta + np.linalg.solve(info, score)
    halving = 0
    for iteration in range(1, ITER_MAX + 1):
        new_terms = _efron_terms(rs, xt, new_beta)
        new_lk = new_terms.loglik
        new_score, new_info, _ = _score_information(rs, xt, new_terms)
        finite = np.isfinite(new_lk) and np.isfinite(new_score).all() and np.isfinite(new_info).all()
        if finite and abs(new_lk - best) <= EPS * abs(new_lk):
            return new_beta, new_terms, new_score, new_info, loglik_null, iteration, var_at_zero
        if not finite or new_lk < best:  # not improving: step back towards the last good beta
            halving += 1
            new_beta = (new_beta + halving * beta) / (halving + 1.0)
        else:
            halving, best, beta = 0, new_lk, new_beta
            new_beta = new_beta + np.linalg.solve(new_info, new_score)
    terms = _efron_terms(rs, xt, beta)
    score, info, _ = _score_information(rs, xt, terms)
    step = np.abs(np.linalg.solve(info, score))
    moving = np.flatnonzero((step > EPS) & (step > TOLER_INF * np.abs(beta)))
    column = names[moving[np.argmax(step[moving])]] if len(moving) else None
    raise InputError(f"the fit did not converge in {ITER_MAX} iterations" +
                     ("; coefficient diverges (monotone likelihood)" if column else ""), column=column)


def _check_divergence(beta, score, var, var_at_zero, names) -> None:
    """R's test for an infinite coefficient (a Newton step still large at convergence), confirmed by
    a collapsed information (variance grown by ``SE_BLOWUP``), since we raise where R only warns."""
    step = np.abs(score @ var)
    moving = (step > EPS) & (step > TOLER_INF * np.abs(beta)) & (np.diag(var) > SE_BLOWUP * var_at_zero)
    if moving.any():
        col = names[int(np.flatnonzero(moving)[0])]
        raise InputError("coefficient diverges (monotone likelihood, e.g. no events in one group of this "
                         "covariate): its hazard ratio is not estimable", column=col)


def _summary(params, se, robust_se, alpha) -> pd.DataFrame:
    used = robust_se if robust_se is not None else se
    z = params / used
    q = stats.norm.ppf(1.0 - alpha / 2.0)
    table = {"coef": params, "hr": np.exp(params), "se": se}
    if robust_se is not None:
        table["robust_se"] = robust_se
    table.update({"z": z, "p": stats.chi2.sf(z ** 2, 1),
                  "lower": np.exp(params - q * used), "upper": np.exp(params + q * used)})
    out = pd.DataFrame(table, index=params.index)
    out.index.name = "term"
    return out


def fit_cox(X: pd.DataFrame, time, event, *, ties: str = "efron", strata=None, cluster=None,
            entry=None, weights=None, alpha: float = 0.05) -> CoxResult:
    """Fit a Cox proportional-hazards model (R's ``coxph``).

    Parameters
    ----------
    X : DataFrame
        Numeric design columns (no intercept), e.g. from :func:`mbcrt.stats.design.design_matrix`.
        May have no columns (the null model, e.g. for a likelihood-ratio test).
    time : array-like
        Follow-up time, >= 0.
    event : array-like
        1 = event, 0 = censored.
    ties : {"efron", "breslow"}
        Handling of tied event times.
    strata : array-like, optional
        Stratum labels: separate baseline hazards (``+ strata(s)`` in R), e.g. the matched pair.
    cluster : array-like, optional
        Cluster labels for the robust sandwich variance (``cluster = id`` in R), e.g. the pair, or
        the patient of counting-process rows.
    entry : array-like, optional
        Start times of counting-process rows, ``Surv(entry, time, event)`` in R: a row is at risk
        at t when ``entry < t <= time`` (time-varying covariates, delayed entry). Must be < time.
    weights : array-like, optional
        Case weights > 0 (``weights =`` in R), e.g. inverse probability weights. The variance is
        then the robust sandwich, as ``coxph(..., weights = w, robust = TRUE)`` (each row its own
        cluster, or ``cluster``'s clusters), and ``summary`` uses it.
    alpha : float
        1 - confidence level of the hazard-ratio intervals.

    Returns
    -------
    CoxResult

    Raises
    ------
    InputError
        Bad time/event values, missing values, no events, a constant or aliased column, or a
        coefficient that diverges (monotone likelihood) or does not converge.

    Warns
    -----
    StatisticalWarning
        Fewer than 10 events per coefficient.
    """
    if ties not in TIES:
        raise InputError(f"ties must be one of {TIES}, not {ties!r}", column="ties")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    names = [str(c) for c in X.columns]
    xt = _check_design(X)
    p, n = xt.shape
    t, e = _check_time_event(time, event, n)
    strata_codes, n_strata = (np.zeros(n, np.int64), 1) if strata is None else _codes(strata, n, "strata")
    start = None if entry is None else _check_entry(entry, t)
    w = None if weights is None else _check_weights(weights, n)
    events = int(e.sum())
    if p and events / p < MIN_EVENTS_PER_VARIABLE:
        warnings.warn(f"{events} events for {p} coefficient(s): fewer than {MIN_EVENTS_PER_VARIABLE} "
                      "events per variable, estimates may be biased", StatisticalWarning, stacklevel=2)

    rs = _shared_risk_sets(t, e, strata_codes, ties, start)
    if w is not None:
        rs = _with_weights(rs, w)
    xs = xt[:, rs.order]
    xs -= xs.mean(axis=1, keepdims=True)  # keeps exp() in range and sums accurate; the fit is invariant
    if p == 0:
        terms = _efron_terms(rs, xs, np.zeros(0))
        beta, naive_var, iterations, loglik_null = np.zeros(0), np.zeros((0, 0)), 0, terms.loglik
    else:
        beta, terms, score, info, loglik_null, iterations, var_at_zero = _newton_raphson(rs, xs, names)
        naive_var = np.linalg.inv(info)
        naive_var = (naive_var + naive_var.T) / 2
        _check_divergence(beta, score, naive_var, var_at_zero, names)

    params = pd.Series(beta, index=names, name="coef")
    se = pd.Series(np.sqrt(np.diag(naive_var)), index=names, name="se")
    var, robust_se, n_clusters = naive_var, None, None
    if cluster is not None or w is not None:
        if cluster is not None:
            cluster_codes, n_clusters = _codes(cluster, n, "cluster")
        if p:
            _, _, expected = _score_information(rs, xs, terms)
            # weighted dfbeta residuals (R's residuals(fit, "dfbeta", weighted = TRUE))
            dfbeta = naive_var @ _score_residuals(rs, xs, terms, expected)
            if cluster is None:
                var = dfbeta @ dfbeta.T
            else:
                codes = cluster_codes[rs.order]
                summed = np.stack([np.bincount(codes, weights=row, minlength=n_clusters) for row in dfbeta])
                var = summed @ summed.T
        robust_se = pd.Series(np.sqrt(np.diag(var)), index=names, name="robust_se")

    return CoxResult(params=params, se=se, robust_se=robust_se, var=var, naive_var=naive_var,
                     loglik=terms.loglik, loglik_null=loglik_null, n=n, events=events, ties=ties,
                     iterations=iterations, alpha=alpha, summary=_summary(params, se, robust_se, alpha),
                     n_strata=n_strata, n_clusters=n_clusters, _risk_sets=rs, _X=xs)


def likelihood_ratio(full: CoxResult, reduced: CoxResult) -> tuple[float, int, float]:
    """Likelihood-ratio test of nested Cox models fitted to the same rows (R's ``anova(reduced, full)``).

    Returns
    -------
    (chisq, df, p)
    """
    if full.n != reduced.n or full.events != reduced.events:
        raise ValueError(f"models fitted to different data: {full.n} vs {reduced.n} rows, "
                         f"{full.events} vs {reduced.events} events")
    df = len(full.params) - len(reduced.params)
    if df <= 0:
        raise ValueError("the full model must have more coefficients than the reduced one")
    chisq = 2.0 * (full.loglik - reduced.loglik)
    return chisq, df, float(stats.chi2.sf(chisq, df))


def _time_transform(time: np.ndarray, event: np.ndarray, transform: str) -> np.ndarray:
    """R cox.zph's g(t) for each row: 1 - left-continuous KM (over all rows), identity, rank or log."""
    if transform == "identity":
        return time.copy()
    if transform == "log":
        return np.log(time)
    if transform == "rank":
        return stats.rankdata(time)  # average ranks, as R's rank()
    unique, inverse, counts = np.unique(time, return_inverse=True, return_counts=True)
    deaths = np.bincount(inverse, weights=event, minlength=len(unique))
    at_risk = len(time) - np.cumsum(counts) + counts
    surv = np.cumprod(1.0 - deaths / at_risk)
    return 1.0 - np.concatenate(([1.0], surv[:-1]))[inverse]


def _term_columns(names: list[str], terms) -> dict[str, list[int]]:
    if terms is None:
        return {name: [j] for j, name in enumerate(names)}
    if isinstance(terms, Mapping):
        out = {str(term): [names.index(str(c)) for c in cols] for term, cols in terms.items()}
    else:  # covariate names: each design column goes to the longest covariate name prefixing it
        from mbcrt.stats.design import term_of
        out = {}
        for j, name in enumerate(names):
            out.setdefault(term_of(name, [str(c) for c in terms]), []).append(j)
    covered = sorted(j for cols in out.values() for j in cols)
    if covered != list(range(len(names))):
        raise ValueError("terms must assign every design column to exactly one term")
    return out


def cox_zph(result: CoxResult, transform: str = "km",
            terms: Mapping[str, Sequence[str]] | Sequence[str] | None = None) -> pd.DataFrame:
    """Score test of proportional hazards, as R survival >= 3.0 ``cox.zph``.

    For each term, the score test of adding ``x * g(t)`` to the fitted model (coefficients held at
    their estimates), with ``g`` the time transform centred on its mean over events; GLOBAL tests
    all columns at once.

    Parameters
    ----------
    result : CoxResult
        The fitted model (its ties, strata and data are reused).
    transform : {"km", "identity", "rank", "log"}
        g(t): "km" is 1 minus the left-continuous Kaplan-Meier of all rows (R's default).
    terms : mapping or sequence of str, optional
        How design columns group into terms. None (default): one row per design column, as
        ``cox.zph(fit, terms = FALSE)``. A mapping term -> columns, or the covariate names the
        design was built from (dummies of one categorical covariate form one term with df = number of
        dummies), gives R's default ``cox.zph(fit)`` grouping.

    Returns
    -------
    DataFrame
        Index: terms then "GLOBAL"; columns chisq, df, p.
    """
    if transform not in ZPH_TRANSFORMS:
        raise ValueError(f"transform must be one of {ZPH_TRANSFORMS}, not {transform!r}")
    rs, x = result._risk_sets, result._X
    if rs is not None and (rs.entry_group is not None or rs.weight is not None):
        raise NotImplementedError("cox_zph is implemented for unweighted right-censored fits only")
    names = list(result.params.index)
    p = len(names)
    if rs is None or p == 0:
        raise ValueError("cox_zph needs a fitted model with at least one coefficient")
    groups = _term_columns(names, terms)
    g_time = _time_transform(rs.time, rs.event, transform)
    g_time = g_time - g_time[rs.death_pos].mean()
    weight = g_time[rs.group_starts[rs.event_group]]  # g(t) of each event group

    fitted = _efron_terms(rs, x, result.params.to_numpy())
    _, info, _ = _score_information(rs, x, fitted)
    u_g, info_g, _ = _score_information(rs, x, fitted, weight)
    _, info_gg, _ = _score_information(rs, x, fitted, weight ** 2)
    full_info = np.block([[info, info_g], [info_g, info_gg]])
    score = np.concatenate([np.zeros(p), u_g])  # the fitted coefficients' own score is ~0: R uses 0

    def test(columns: list[int]) -> float:
        keep = list(range(p)) + [p + j for j in columns]
        u = score[keep]
        return float(u @ np.linalg.solve(full_info[np.ix_(keep, keep)], u))

    rows = {term: (test(cols), len(cols)) for term, cols in groups.items()}
    rows["GLOBAL"] = (test(list(range(p))), p)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["chisq", "df"])
    out["df"] = out["df"].astype(int)
    out["p"] = stats.chi2.sf(out["chisq"], out["df"])
    out.index.name = "term"
    return out


def cox_coefficients(X: pd.DataFrame, time, event, weights, *, entry=None, strata=None,
                     ties: str = "efron", init=None) -> np.ndarray:
    """Coefficients of one Cox model refitted under many weight vectors, sorting the data once.

    For bootstrap and weighted-bootstrap intervals: resampling patients is the same as refitting
    with multinomial frequency weights (0 for a patient not drawn), so every replicate shares the
    sort and the risk-set indexes and costs only the Newton-Raphson passes.

    Parameters
    ----------
    X, time, event, entry, strata, ties
        As for :func:`fit_cox`.
    weights : array-like, shape (B, n)
        One row of non-negative case weights per refit (zeros allowed).
    init : array-like, shape (p,), optional
        Starting coefficients (e.g. the full-data estimate: fewer Newton steps per refit). The
        maximum does not depend on the start; the fit's tolerance does, at the 1e-9 level.

    Returns
    -------
    ndarray, shape (B, p)
        The coefficients of each refit; a row of NaN where the refit has no finite estimate (e.g.
        a replicate with no events in one group).
    """
    if ties not in TIES:
        raise InputError(f"ties must be one of {TIES}, not {ties!r}", column="ties")
    names = [str(c) for c in X.columns]
    xt = _check_design(X)
    p, n = xt.shape
    t, e = _check_time_event(time, event, n)
    strata_codes = np.zeros(n, np.int64) if strata is None else _codes(strata, n, "strata")[0]
    start = None if entry is None else _check_entry(entry, t)
    w_all = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if w_all.shape[1] != n or not np.isfinite(w_all).all() or (w_all < 0).any():
        raise InputError(f"weights must be a (B, {n}) array of finite non-negative numbers", column="weights")
    rs0 = _shared_risk_sets(t, e, strata_codes, ties, start)
    xs = xt[:, rs0.order]
    xs -= xs.mean(axis=1, keepdims=True)
    out = np.full((len(w_all), p), np.nan)
    for b, w in enumerate(w_all):  # a loop over replicates; each refit is vectorised over rows
        try:
            with np.errstate(all="ignore"):
                beta = _newton_raphson(_with_weights(rs0, w), xs, names, init)[0]
        except (InputError, np.linalg.LinAlgError):
            continue
        out[b] = beta
    return out
