"""Kaplan-Meier estimates, the log-rank test, landmark survival and median follow-up.

Every function reproduces R's ``survival`` package (version 3.5): ``survfit`` for the
Kaplan-Meier curve, its Greenwood standard error, its pointwise confidence band and its median
with confidence interval; ``summary(fit, times = )`` for landmark survival; ``survdiff`` for the
log-rank test; ``survfit(Surv(time, 1 - event) ~ 1)`` for the reverse Kaplan-Meier median
follow-up; ``survfit(Surv(entry, time, event) ~ 1, weights = w)`` for the weighted and/or
left-truncated curve (:func:`weighted_km`) and ``print(fit, rmean = tau)`` for the restricted mean
survival time (:func:`rmst`). The tests check each number against R's output.

All work is vectorised: the data are sorted once (``np.unique``) and aggregated by distinct time
with ``np.bincount`` (O(n log n)), so a million patients take about a second.

Departures from R, on purpose:

- Where the estimate is 1 (no event yet) the log-log interval is (1, 1), not R's ``NA``: there is
  no uncertainty to report, and R itself prints (1, 1) for times before the first observation.
- R's ``timefix`` (merging times that differ by rounding error) is not applied: times are used as
  given. It changes nothing for times recorded in whole days.
- Negative or missing times are an error (R accepts negative times; in follow-up from a start
  date they are a data error).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mbcrt.errors import InputError, StatisticalWarning

CONF_TYPES = ("log-log", "log", "plain")
MEDIAN_CI_METHODS = ("brookmeyer-crowley", "symmetric")

#: R's tolerance when reading a quantile off a curve (``.Machine$double.eps^0.5`` in survmean).
_R_TOLERANCE = float(np.sqrt(np.finfo(np.float64).eps))

#: Half-width of the survival window Collett uses to estimate the density at the median.
_COLLETT_EPSILON = 0.05

KM_TABLE_COLUMNS = ["time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"]
LANDMARK_COLUMNS = ["time", "surv", "std_err", "lower", "upper", "n_risk"]


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------

def _as_time_event(time, event) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert ``time`` (finite, >= 0) and ``event`` (0/1 or bool) to arrays."""
    t = np.asarray(time, dtype=np.float64).ravel()
    e_raw = np.asarray(event).ravel()
    if t.shape != e_raw.shape:
        raise InputError(f"time and event differ in length ({t.size} vs {e_raw.size})")
    if t.size == 0:
        raise InputError("no patients: time and event are empty")
    n_bad_time = int((~np.isfinite(t)).sum())
    if n_bad_time:
        raise InputError("survival times must be finite numbers (missing or infinite found)",
                         column="time", n_rows=n_bad_time)
    n_negative = int((t < 0).sum())
    if n_negative:
        raise InputError("survival times must not be negative", column="time", n_rows=n_negative)
    e = pd.to_numeric(pd.Series(e_raw), errors="coerce").to_numpy(dtype=np.float64)
    n_bad_event = int((~np.isin(e, (0.0, 1.0))).sum())
    if n_bad_event:
        raise InputError("event indicator must be 1 (event) or 0 (censored)", column="event",
                         n_rows=n_bad_event)
    return t, e.astype(np.int64)


def _check_options(conf_type: str, alpha: float, median_ci: str = "brookmeyer-crowley") -> float:
    """Check the options and return the normal quantile z for a two-sided ``1 - alpha`` interval."""
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, not {conf_type!r}")
    if median_ci not in MEDIAN_CI_METHODS:
        raise ValueError(f"median_ci must be one of {MEDIAN_CI_METHODS}, not {median_ci!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    return float(stats.norm.ppf(1 - alpha / 2))


def _distinct_values(group, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's index into the group's distinct values, and those values, by factorizing once (no
    ``str()`` per row); None where factorizing could merge values whose texts differ (``True`` and
    ``1``, ``0.0`` and ``-0.0``): then the caller compares texts row by row. Strings and integers
    (any dtype but object or float, or an object array of strings only) are safe."""
    values = group.to_numpy() if isinstance(group, (pd.Series, pd.Index)) else np.asarray(group)
    values = values.ravel()
    if values.size != n or not (values.dtype == object or values.dtype.kind in "iub"):
        return None
    raw, uniques = pd.factorize(values)  # missing values get -1
    if values.dtype == object and not all(type(u) is str for u in uniques):
        return None
    return raw, uniques


def _group_codes(group, order: Sequence | None, n: int) -> tuple[np.ndarray, list[str]]:
    """Integer code per patient and the group labels.

    Labels are ``order`` if given, else a categorical's level order (levels present), else the
    sorted values. Labels are compared as strings, so ``order=["0", "1"]`` matches integer
    groups 0 and 1.
    """
    distinct = None if isinstance(getattr(group, "dtype", None), pd.CategoricalDtype) else _distinct_values(group, n)
    if distinct is None:
        return _group_codes_by_text(group, order, n)
    raw, uniques = distinct
    n_missing = int((raw < 0).sum())
    if n_missing:
        raise InputError("group is missing", column="group", n_rows=n_missing)
    texts = [str(u) for u in uniques]
    labels = _group_labels(order, [str(u) for u in sorted(uniques)] if order is None else None)
    position = {label: k for k, label in enumerate(labels)}
    lookup = np.array([position.get(text, -1) for text in texts], dtype=np.int64)
    codes = lookup[raw]
    return _checked_codes(codes, labels, [text for text, k in zip(texts, lookup) if k < 0])


def _group_labels(order: Sequence | None, sorted_present: list[str] | None) -> list[str]:
    if order is None:
        return sorted_present
    labels = [str(v) for v in order]
    if len(set(labels)) != len(labels):
        raise ValueError(f"order lists a group twice: {labels}")
    return labels


def _checked_codes(codes: np.ndarray, labels: list[str], unlisted: list[str]) -> tuple[np.ndarray, list[str]]:
    """``codes`` after checking every row has a listed group and every listed group a patient."""
    n_unlisted = int((codes < 0).sum())
    if n_unlisted:
        raise InputError(f"group values {sorted(set(unlisted))} are not in order={labels}", column="group",
                         n_rows=n_unlisted)
    sizes = np.bincount(codes, minlength=len(labels))
    empty = [lab for lab, size in zip(labels, sizes) if size == 0]
    if empty:
        raise InputError(f"group(s) {empty} have no patients; remove them from order or check "
                         "the data", column="group")
    return codes, labels


def _group_codes_by_text(group, order: Sequence | None, n: int) -> tuple[np.ndarray, list[str]]:
    """:func:`_group_codes` comparing each row's text (any values, categoricals)."""
    g = pd.Series(np.asarray(group, dtype=object).ravel())
    if g.size != n:
        raise InputError(f"group differs in length from time ({g.size} vs {n})")
    n_missing = int(g.isna().sum())
    if n_missing:
        raise InputError("group is missing", column="group", n_rows=n_missing)
    present = pd.unique(g)
    if order is None and isinstance(getattr(group, "dtype", None), pd.CategoricalDtype):
        # A categorical column carries its own level order (e.g. tumour grade I < II < III).
        present_set = set(present)
        labels = [str(v) for v in pd.Series(group).cat.categories if v in present_set]
    else:
        values = sorted(present, key=lambda v: (str(type(v)), v)) if order is None else None
        labels = _group_labels(order, None if values is None else [str(v) for v in values])
    as_text = g.astype(str)
    codes = pd.Categorical(as_text, categories=labels).codes.astype(np.int64)
    return _checked_codes(codes, labels, list(as_text[codes < 0]))


# --------------------------------------------------------------------------------------------
# Kaplan-Meier
# --------------------------------------------------------------------------------------------

@dataclass(eq=False)
class KMResult:
    """Kaplan-Meier estimate of one group, as R's ``survfit`` computes it.

    Attributes
    ----------
    table : DataFrame
        One row per distinct time (event or censoring), columns ``time, n_risk, n_event,
        n_censor, surv, std_err, lower, upper``. ``std_err`` is Greenwood's standard error of
        S(t) (R's ``summary(fit)$std.err``); ``lower``/``upper`` is the pointwise band.
    conf_type : str
        Transformation of the pointwise band: "log-log", "log" or "plain".
    alpha : float
        1 - confidence level.
    n, events : int
        Patients and events.
    median, median_lower, median_upper : float
        Median survival time and its confidence interval; NaN when not reached (R's ``NA``).
    median_ci : str
        How the median's interval was computed: "brookmeyer-crowley" or "symmetric".
    """

    table: pd.DataFrame
    conf_type: str
    alpha: float
    n: int
    events: int
    median: float
    median_lower: float
    median_upper: float
    median_ci: str

    @property
    def summary(self) -> pd.DataFrame:
        """One-row tidy summary: n, events, median and its confidence interval."""
        return pd.DataFrame({"n": [self.n], "events": [self.events], "median": [self.median],
                             "median_lower": [self.median_lower],
                             "median_upper": [self.median_upper]})

    def survival_at(self, times) -> pd.DataFrame:
        """Survival at landmark times, as R's ``summary(fit, times = times)``.

        Parameters
        ----------
        times : float or array-like
            Landmark times, in the unit of the data.

        Returns
        -------
        DataFrame
            Columns ``time, surv, std_err, lower, upper, n_risk``: the estimate (and its band) at
            the last observed time <= t, and the number still at risk at t (time >= t).
            Before the first observed time S = 1 with interval (1, 1). After the last observed
            time the estimate is NaN (R leaves such times out) unless the curve has reached 0,
            in which case it stays 0.
        """
        t = np.atleast_1d(np.asarray(times, dtype=np.float64)).ravel()
        if not np.isfinite(t).all():
            raise ValueError("landmark times must be finite")
        tab = self.table
        tab_time = tab["time"].to_numpy()
        last_row = np.searchsorted(tab_time, t, side="right") - 1
        before_first = last_row < 0
        row = np.clip(last_row, 0, None)
        out = {"time": t}
        for col, at_start in (("surv", 1.0), ("std_err", 0.0), ("lower", 1.0), ("upper", 1.0)):
            out[col] = np.where(before_first, at_start, tab[col].to_numpy()[row])
        beyond_last = t > tab_time[-1]
        if tab["surv"].iloc[-1] > 0:
            for col in ("surv", "std_err", "lower", "upper"):
                out[col] = np.where(beyond_last, np.nan, out[col])
        next_row = np.searchsorted(tab_time, t, side="left")
        n_risk = tab["n_risk"].to_numpy()
        out["n_risk"] = np.where(beyond_last, 0, n_risk[np.clip(next_row, 0, len(tab) - 1)])
        return pd.DataFrame(out, columns=LANDMARK_COLUMNS)


def _counts_by_time(t: np.ndarray, e: np.ndarray) -> pd.DataFrame:
    """Distinct times with number at risk, events and censorings (sorted by time)."""
    times, index = np.unique(t, return_inverse=True)
    n_leaving = np.bincount(index, minlength=times.size)
    n_event = np.bincount(index[e == 1], minlength=times.size)
    n_risk = t.size - np.concatenate(([0], np.cumsum(n_leaving)[:-1]))
    return pd.DataFrame({"time": times, "n_risk": n_risk.astype(np.int64),
                         "n_event": n_event.astype(np.int64),
                         "n_censor": (n_leaving - n_event).astype(np.int64)})


def _greenwood_log_variance(n_risk: np.ndarray, n_event: np.ndarray) -> np.ndarray:
    """Cumulative Greenwood variance of log S(t): sum of d / (n (n - d)); infinite once S = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event).astype(np.float64)),
                         0.0)
    return np.cumsum(terms)


def confidence_band(surv: np.ndarray, se_log: np.ndarray, conf_type: str,
                    z: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise confidence limits for S(t), with R's ``survfit_confint`` formulas.

    Parameters
    ----------
    surv : ndarray
        Survival estimates.
    se_log : ndarray
        Standard error of log S(t) (square root of the Greenwood sum).
    conf_type : {"log-log", "log", "plain"}
        "plain": S +/- z se(S), clipped to [0, 1]. "log": exp(log S +/- z se_log), upper clipped
        at 1. "log-log": exp(-exp(log(-log S) -/+ z se_log / log S)) (lifelines' "exponential
        Greenwood"), inside (0, 1) by construction.
    z : float
        Normal quantile (1.96 for 95%).

    Returns
    -------
    lower, upper : ndarray
        NaN where S = 0 (as R); (1, 1) where S = 1.
    """
    surv = np.asarray(surv, dtype=np.float64)
    se_log = np.asarray(se_log, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            half_width = z * se_log * surv
            lower = np.maximum(surv - half_width, 0.0)
            upper = np.minimum(surv + half_width, 1.0)
            # np.maximum propagates NaN (0 * inf at S = 0), as R's pmax does.
        elif conf_type == "log":
            positive = np.where(surv > 0, surv, np.nan)
            lower = np.exp(np.log(positive) - z * se_log)
            upper = np.minimum(np.exp(np.log(positive) + z * se_log), 1.0)
        elif conf_type == "log-log":
            inside = np.where((surv > 0) & (surv < 1), surv, np.nan)
            shift = z * se_log / np.log(inside)
            log_minus_log = np.log(-np.log(inside))
            lower = np.exp(-np.exp(log_minus_log - shift))
            upper = np.exp(-np.exp(log_minus_log + shift))
            lower = np.where(surv == 1, 1.0, lower)
            upper = np.where(surv == 1, 1.0, upper)
        else:
            raise ValueError(f"conf_type must be one of {CONF_TYPES}, not {conf_type!r}")
    return lower, upper


def first_time_at_or_below_half(curve: np.ndarray, times: np.ndarray) -> float:
    """Time where ``curve`` first reaches 0.5, with R's rule (``survmean``'s ``minmin``).

    The first time the curve is <= 0.5 (within R's tolerance sqrt(machine eps)); if the curve
    equals 0.5 there and drops below later, the midpoint between that time and the time it drops.
    NaN values are skipped; NaN if the curve never reaches 0.5.
    """
    curve = np.asarray(curve, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        reached = np.flatnonzero(curve < 0.5 + _R_TOLERANCE)  # NaN compares False: skipped
    if reached.size == 0:
        return float("nan")
    first = reached[0]
    if abs(curve[first] - 0.5) < _R_TOLERANCE:
        later = reached[curve[reached] < curve[first]]
        if later.size:
            return float((times[first] + times[later[0]]) / 2)
    return float(times[first])


def collett_median_se(table: pd.DataFrame, median: float) -> float:
    """Standard error of the median survival time (Collett's estimator).

    SE(t50) = SE{S(t50)} / f(t50), with the density f estimated by the slope of the curve over
    the window where it passes from 0.55 to 0.45:
    f(t50) = {S(u) - S(l)} / (l - u), u = the last event time with S >= 0.55 (time 0, S = 1, if
    none), l = the first event time with S <= 0.45. SE{S(t50)} is Greenwood's standard error of S
    at the first time S <= 0.5. Collett D., *Modelling Survival Data in Medical Research*,
    3rd ed., 2015, section 2.4 (equations 2.17-2.18), epsilon = 0.05.

    Returns NaN when the median or ``l`` is not reached.
    """
    if np.isnan(median):
        return float("nan")
    events = table[table["n_event"] > 0]
    times = np.concatenate(([0.0], events["time"].to_numpy()))
    surv = np.concatenate(([1.0], events["surv"].to_numpy()))
    std_err = np.concatenate(([0.0], events["std_err"].to_numpy()))
    above = np.flatnonzero(surv >= 0.5 + _COLLETT_EPSILON - _R_TOLERANCE)
    below = np.flatnonzero(surv <= 0.5 - _COLLETT_EPSILON + _R_TOLERANCE)
    if below.size == 0:
        return float("nan")
    u, l = above[-1], below[0]
    density = (surv[u] - surv[l]) / (times[l] - times[u])
    at_median = np.flatnonzero(surv < 0.5 + _R_TOLERANCE)[0]
    return float(std_err[at_median] / density)


def _median_interval(table: pd.DataFrame, median: float, method: str,
                     z: float) -> tuple[float, float]:
    """Confidence interval of the median survival time (see :func:`kaplan_meier`)."""
    if method == "brookmeyer-crowley":
        times = table["time"].to_numpy()
        # The lower band reaches 0.5 first: it gives the lower limit (R's print.survfit).
        return (first_time_at_or_below_half(table["lower"].to_numpy(), times),
                first_time_at_or_below_half(table["upper"].to_numpy(), times))
    se = collett_median_se(table, median)
    return median - z * se, median + z * se


def kaplan_meier(time, event, *, conf_type: str = "log-log", alpha: float = 0.05,
                 median_ci: str = "brookmeyer-crowley") -> KMResult:
    """Kaplan-Meier estimate with Greenwood standard errors, as R's ``survfit``.

    Parameters
    ----------
    time : array-like
        Follow-up times (finite, >= 0).
    event : array-like
        1 (or True) for an event, 0 for a censored observation. An event and a censoring at the
        same time: the censored patient counts as at risk at that time (R's convention).
    conf_type : {"log-log", "log", "plain"}
        Pointwise interval for S(t) (see :func:`confidence_band`). Default log-log.
    alpha : float
        1 - confidence level (0.05 for 95% intervals).
    median_ci : {"brookmeyer-crowley", "symmetric"}
        Interval for the median.
        "brookmeyer-crowley" (default, R's ``print.survfit``): read off the pointwise band; the
        lower limit is the first time the lower band is <= 0.5, the upper limit the first time
        the upper band is <= 0.5 (with R's midpoint rule); NaN when not reached.
        "symmetric": median +/- z SE(median), with Collett's SE (:func:`collett_median_se`).
        This is the kind of interval SPSS's KM procedure prints; SPSS's own formula (its
        Algorithms manual) was not available to check against, so agreement with SPSS output
        is not verified. Not clipped at 0.

    Returns
    -------
    KMResult
    """
    z = _check_options(conf_type, alpha, median_ci)
    t, e = _as_time_event(time, event)
    table = _counts_by_time(t, e)
    n_risk = table["n_risk"].to_numpy()
    n_event = table["n_event"].to_numpy()
    surv = np.cumprod(1.0 - n_event / n_risk)
    var_log = _greenwood_log_variance(n_risk, n_event)
    se_log = np.sqrt(var_log)
    with np.errstate(invalid="ignore"):
        table["surv"] = surv
        table["std_err"] = np.where(surv > 0, surv * se_log, np.nan)  # 0 * inf: R gives NaN
    table["lower"], table["upper"] = confidence_band(surv, se_log, conf_type, z)
    median = first_time_at_or_below_half(surv, table["time"].to_numpy())
    median_lower, median_upper = _median_interval(table, median, median_ci, z)
    return KMResult(table=table[KM_TABLE_COLUMNS], conf_type=conf_type, alpha=alpha,
                    n=int(t.size), events=int(e.sum()), median=median,
                    median_lower=float(median_lower), median_upper=float(median_upper),
                    median_ci=median_ci)


def km_by_group(time, event, group, *, order: Sequence | None = None,
                **kwargs) -> dict[str, KMResult]:
    """Kaplan-Meier estimate per group (R's ``survfit(Surv(time, event) ~ group)``).

    Parameters
    ----------
    time, event : array-like
        As for :func:`kaplan_meier`.
    group : array-like
        Group of each patient (no missing values).
    order : sequence, optional
        Groups in the order wanted (compared as strings); every group in the data must be
        listed and every listed group must have patients. Default: the level order of a
        categorical ``group``, else the sorted values.
    **kwargs
        Passed to :func:`kaplan_meier` (``conf_type``, ``alpha``, ``median_ci``).

    Returns
    -------
    dict of str to KMResult
        Keys are the group labels as strings, in ``order`` (or sorted).
    """
    t, e = _as_time_event(time, event)
    codes, labels = _group_codes(group, order, t.size)
    return {label: kaplan_meier(t[codes == i], e[codes == i], **kwargs)
            for i, label in enumerate(labels)}


def median_followup(time, event, *, conf_type: str = "log-log", alpha: float = 0.05,
                    median_ci: str = "brookmeyer-crowley") -> KMResult:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper and Smith, 1996).

    The Kaplan-Meier estimate of the censoring distribution: censored observations are the
    events and events are censorings, as R's ``survfit(Surv(time, 1 - event) ~ 1)``. Its
    ``median`` is the median follow-up time.

    Parameters
    ----------
    time, event : array-like
        As for :func:`kaplan_meier` (``event`` is the event indicator, not reversed).
    conf_type, alpha, median_ci
        As for :func:`kaplan_meier`.

    Returns
    -------
    KMResult
    """
    t, e = _as_time_event(time, event)
    return kaplan_meier(t, 1 - e, conf_type=conf_type, alpha=alpha, median_ci=median_ci)


def at_risk_table(time, group, times, *, order: Sequence | None = None) -> pd.DataFrame:
    """Number at risk (follow-up time >= t) per group at each of ``times``, as under a KM plot.

    Parameters
    ----------
    time : array-like
        Follow-up times.
    group : array-like
        Group of each patient.
    times : array-like
        Times at which to count.
    order : sequence, optional
        Group order (see :func:`km_by_group`).

    Returns
    -------
    DataFrame
        One row per group (index named "group"), one column per time, integer counts.
    """
    t = np.asarray(time, dtype=np.float64).ravel()
    if t.size == 0:
        raise InputError("no patients: time is empty")
    if not np.isfinite(t).all():
        raise InputError("survival times must be finite numbers", column="time",
                         n_rows=int((~np.isfinite(t)).sum()))
    at = np.atleast_1d(np.asarray(times, dtype=np.float64)).ravel()
    codes, labels = _group_codes(group, order, t.size)
    order_by_group_then_time = np.lexsort((t, codes))
    sorted_t, sorted_codes = t[order_by_group_then_time], codes[order_by_group_then_time]
    starts = np.searchsorted(sorted_codes, np.arange(len(labels)), side="left")
    ends = np.searchsorted(sorted_codes, np.arange(len(labels)), side="right")
    counts = np.empty((len(labels), at.size), dtype=np.int64)
    for i, (start, end) in enumerate(zip(starts, ends)):
        counts[i] = end - start - np.searchsorted(sorted_t[start:end], at, side="left")
    table = pd.DataFrame(counts, index=pd.Index(labels, name="group"), columns=list(at))
    return table


# --------------------------------------------------------------------------------------------
# Log-rank test
# --------------------------------------------------------------------------------------------

@dataclass(eq=False)
class LogrankResult:
    """Log-rank test of k groups, as R's ``survdiff``.

    Attributes
    ----------
    chisq : float
        Chi-square statistic.
    df : int
        Degrees of freedom: groups with a positive expected count, minus 1.
    p : float
        Upper tail of chi-square(df) at ``chisq``.
    summary : DataFrame
        One row per group: ``group, n, observed, expected``.
    variance : ndarray
        k x k variance matrix of observed - expected.
    """

    chisq: float
    df: int
    p: float
    summary: pd.DataFrame
    variance: np.ndarray


def _counts_by_time_and_group(t: np.ndarray, e: np.ndarray, codes: np.ndarray,
                              k: int) -> tuple[np.ndarray, np.ndarray]:
    """At-risk and event counts, one row per distinct event time, one column per group."""
    times, index = np.unique(t, return_inverse=True)
    cell = index * k + codes
    leaving = np.bincount(cell, minlength=times.size * k).reshape(times.size, k)
    deaths = np.bincount(cell[e == 1], minlength=times.size * k).reshape(times.size, k)
    at_risk = np.cumsum(leaving[::-1], axis=0)[::-1]  # time >= t
    has_event = deaths.sum(axis=1) > 0
    return at_risk[has_event].astype(np.float64), deaths[has_event].astype(np.float64)


def logrank_test(time, event, group, *, order: Sequence | None = None) -> LogrankResult:
    """Log-rank test that k survival curves are equal (R's ``survdiff(Surv(time, event) ~ g)``).

    Parameters
    ----------
    time, event : array-like
        As for :func:`kaplan_meier`.
    group : array-like
        Group of each patient; at least two groups.
    order : sequence, optional
        Group order for the summary (see :func:`km_by_group`); does not change the statistic.

    Returns
    -------
    LogrankResult

    Notes
    -----
    With n_j at risk and d_j events at event time j, and p_gj = n_gj / n_j the share of group g:
    E_g = sum_j d_j p_gj and V = sum_j d_j (n_j - d_j) / (n_j - 1) [diag(p_j) - p_j p_j'].
    The statistic is (O - E)' V^- (O - E) over the groups with E_g > 0, the first of them
    dropped (as R); V^- is the inverse of that (k-1) x (k-1) block, or its Moore-Penrose
    generalised inverse if it is singular.
    """
    t, e = _as_time_event(time, event)
    codes, labels = _group_codes(group, order, t.size)
    k = len(labels)
    if k < 2:
        raise InputError(f"the log-rank test needs at least two groups, found {labels}",
                         column="group")
    at_risk, deaths = _counts_by_time_and_group(t, e, codes, k)
    total_risk = at_risk.sum(axis=1)
    total_deaths = deaths.sum(axis=1)
    share = at_risk / total_risk[:, None]
    observed = deaths.sum(axis=0)
    expected = (total_deaths[:, None] * share).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(total_risk > 1,
                          total_deaths * (total_risk - total_deaths) / (total_risk - 1), 0.0)
    variance = np.diag((weight[:, None] * share).sum(axis=0)) - (share * weight[:, None]).T @ share
    chisq, df = _logrank_statistic(observed, expected, variance)
    summary = pd.DataFrame({"group": labels, "n": np.bincount(codes, minlength=k),
                            "observed": observed, "expected": expected})
    if df < 1:
        warnings.warn("log-rank test undefined: fewer than two groups have expected events",
                      StatisticalWarning, stacklevel=2)
        p = float("nan")
    else:
        p = float(stats.chi2.sf(chisq, df))
    return LogrankResult(chisq=chisq, df=df, p=p, summary=summary, variance=variance)


def _logrank_statistic(observed: np.ndarray, expected: np.ndarray,
                       variance: np.ndarray) -> tuple[float, int]:
    """Quadratic form of O - E over groups with expected > 0, first one dropped (R's survdiff)."""
    used = np.flatnonzero(expected > 0)
    df = int(used.size) - 1
    if df < 1:
        return 0.0, df
    keep = used[1:]
    diff = (observed - expected)[keep]
    block = variance[np.ix_(keep, keep)]
    try:
        solved = np.linalg.solve(block, diff)
    except np.linalg.LinAlgError:
        solved = np.linalg.pinv(block, hermitian=True) @ diff
    return float(diff @ solved), df


# --------------------------------------------------------------------------------------------
# Weighted and left-truncated Kaplan-Meier, restricted mean survival time
# --------------------------------------------------------------------------------------------

KM_VARIANCES = ("auto", "greenwood", "ij")


def _as_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != n:
        raise InputError(f"expected one weight per row ({n}), got {w.size}", column="weights")
    bad = int((~np.isfinite(w) | (w < 0)).sum())
    if bad:
        raise InputError("weights must be finite and non-negative", column="weights", n_rows=bad)
    return w


def _as_entry(entry, t: np.ndarray) -> np.ndarray | None:
    if entry is None:
        return None
    s = np.asarray(entry, dtype=np.float64).ravel()
    if s.size != t.size:
        raise InputError(f"expected one entry time per row ({t.size}), got {s.size}", column="entry")
    bad = int((~np.isfinite(s) | (s >= t)).sum())
    if bad:
        raise InputError("entry (start) time must be finite and before the stop time", column="entry",
                         n_rows=bad)
    return s


def _weighted_counts(t, e, w, entry):
    """Distinct stop times with weighted numbers at risk (entry < t <= stop), events and censorings."""
    times, index = np.unique(t, return_inverse=True)
    leaving = np.bincount(index, weights=w, minlength=times.size)
    n_event = np.bincount(index, weights=w * e, minlength=times.size)
    n_risk = np.cumsum(leaving[::-1])[::-1]  # stop >= time
    if entry is not None:  # minus rows that enter at or after the time: not yet at risk
        order = np.argsort(entry, kind="stable")
        entered_after = np.concatenate((np.cumsum(w[order][::-1])[::-1], [0.0]))
        n_risk = n_risk - entered_after[np.searchsorted(entry[order], times, side="left")]
    return times, index, n_risk, n_event, leaving - n_event


def _ij_log_variance(t, e, w, entry, index, n_risk, n_event) -> np.ndarray:
    """Infinitesimal-jackknife variance of log S at each distinct time (R survfit's robust variance).

    The influence of row i on log S(t) is ``sum_{t_j <= t} (d_j Y_i(t_j) - n_j dN_i(t_j)) /
    (n_j (n_j - d_j))``. With ``C(s) = sum_{t_j <= s} d_j / (n_j (n_j - d_j))`` and
    ``b_j = 1 / (n_j - d_j)`` it is ``C(min(t, T_i)) - C(entry_i) - event_i b(T_i) [T_i <= t]``, so
    the sum over rows of ``w_i^2 influence^2`` splits into rows already out by t (a cumulative
    sum) and rows still at risk (a square expanded in cumulative sums): O(n log n).
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # once S = 0 the terms are infinite: NaN, as R's
        a = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
        b = np.where(n_event > 0, 1.0 / (n_risk - n_event), 0.0)
        c = np.cumsum(a)
        times = np.unique(t)
        w2 = w * w
        c_entry = (np.zeros(t.size) if entry is None
                   else np.concatenate(([0.0], c))[np.searchsorted(times, entry, side="right")])
        gone = w2 * (c[index] - c_entry - e * b[index]) ** 2  # influence once out (T_i <= t)
        done = np.cumsum(np.bincount(index, weights=gone, minlength=c.size))
        # rows with T_i > t and entry_i < t contribute w^2 (C(t) - C(entry_i))^2: expand the square
        if entry is not None:
            order = np.argsort(entry, kind="stable")
            entered_at = np.searchsorted(entry[order], times, side="left")
        sums = []
        for values in (w2, w2 * c_entry, w2 * c_entry ** 2):
            at_risk_after = np.cumsum(np.bincount(index, weights=values, minlength=c.size)[::-1])[::-1]
            later = np.concatenate((at_risk_after[1:], [0.0]))  # T_i > t_j
            if entry is not None:  # minus rows entering at or after t_j
                later = later - np.concatenate((np.cumsum(values[order][::-1])[::-1], [0.0]))[entered_at]
            sums.append(later)
        still = c * c * sums[0] - 2 * c * sums[1] + sums[2]
    return done + still


def weighted_km(time, event, *, weights=None, entry=None, variance: str = "auto",
                conf_type: str = "log-log", alpha: float = 0.05) -> pd.DataFrame:
    """Weighted and/or left-truncated Kaplan-Meier curve, as R's
    ``survfit(Surv(entry, time, event) ~ 1, weights = w)``.

    Parameters
    ----------
    time : array-like
        Stop times (end of each row's interval), >= 0.
    event : array-like
        1 = event at ``time``, 0 = censored.
    weights : array-like, optional
        Case weights, >= 0 (e.g. inverse probability weights).
    entry : array-like, optional
        Start times: a row is at risk at t when ``entry < t <= time`` (counting-process rows,
        delayed entry).
    variance : {"auto", "greenwood", "ij"}
        Standard error of the curve. "greenwood": Greenwood's formula on the weighted counts.
        "ij": the infinitesimal jackknife (robust), each row independent. "auto" (default) does
        what R does without ``id``: IJ when some weight is not a whole number, else Greenwood.
    conf_type : {"log-log", "log", "plain"}
        Pointwise band (see :func:`confidence_band`).
    alpha : float
        1 - confidence level.

    Returns
    -------
    DataFrame
        One row per distinct stop time: ``time, n_risk, n_event, n_censor, surv, std_err, lower,
        upper`` (weighted counts; ``std_err`` is the standard error of S(t), as R's
        ``summary(fit)$std.err``; NaN once S = 0, where R's robust variance prints 0).
    """
    if variance not in KM_VARIANCES:
        raise ValueError(f"variance must be one of {KM_VARIANCES}, not {variance!r}")
    z = _check_options(conf_type, alpha)
    t, e = _as_time_event(time, event)
    w = _as_weights(weights, t.size)
    s = _as_entry(entry, t)
    times, index, n_risk, n_event, n_censor = _weighted_counts(t, e.astype(np.float64), w, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n_event > 0, 1.0 - n_event / n_risk, 1.0))
    if variance == "auto":
        variance = "ij" if np.any(w != np.floor(w)) else "greenwood"
    if variance == "greenwood":
        var_log = _greenwood_log_variance(n_risk, n_event)
    else:
        var_log = _ij_log_variance(t, e.astype(np.float64), w, s, index, n_risk, n_event)
    se_log = np.sqrt(var_log)
    table = pd.DataFrame({"time": times, "n_risk": n_risk, "n_event": n_event, "n_censor": n_censor,
                          "surv": surv})
    with np.errstate(invalid="ignore"):
        table["std_err"] = np.where(surv > 0, surv * se_log, np.nan)
    table["lower"], table["upper"] = confidence_band(surv, se_log, conf_type, z)
    return table[KM_TABLE_COLUMNS]


def rmst(time, event, tau: float, *, weights=None, entry=None) -> tuple[float, float]:
    """Restricted mean survival time up to ``tau`` and its standard error.

    Equal to R's ``print(survfit(Surv(time, event) ~ 1, weights = w), rmean = tau)`` (``rmean`` and
    ``se(rmean)``, R's ``survmean``): the area under the (weighted) Kaplan-Meier curve from 0 to
    ``tau``, with variance ``sum_j A_j^2 d_j / (n_j (n_j - d_j))`` over the times ``t_j <= tau``
    (``A_j`` the area from ``t_j`` to ``tau``; weighted counts, as R).

    Parameters
    ----------
    time, event : array-like
        As for :func:`weighted_km`.
    tau : float
        Horizon (> 0), in the unit of ``time``.
    weights, entry : array-like, optional
        As for :func:`weighted_km`.

    Returns
    -------
    (estimate, se) : tuple of float
    """
    tau = float(tau)
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a positive number, got {tau!r}")
    t, e = _as_time_event(time, event)
    w = _as_weights(weights, t.size)
    s = _as_entry(entry, t)
    times, _, n_risk, n_event, _ = _weighted_counts(t, e.astype(np.float64), w, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n_event > 0, 1.0 - n_event / n_risk, 1.0))
        hh = np.where(n_risk - n_event == 0, 0.0, n_event / (n_risk * (n_risk - n_event)))
    keep = times <= tau
    grid = np.concatenate(([0.0], times[keep], [tau]))
    level = np.concatenate(([1.0], surv[keep]))  # S on each interval between grid points
    rectangles = np.diff(grid) * level
    area_after = np.cumsum(rectangles[::-1])[::-1][1:]  # from each kept time to tau
    return float(rectangles.sum()), float(np.sqrt(np.sum(area_after ** 2 * hh[keep])))


@dataclass(frozen=True)
class RMSTDifference:
    """Difference in restricted mean survival time, group 1 minus group 0, with a normal CI.

    Attributes
    ----------
    tau : float
    rmst1, se1, rmst0, se0 : float
        Each group's RMST and standard error (see :func:`rmst`).
    difference, se, lower, upper, p : float
        ``rmst1 - rmst0``, ``sqrt(se1^2 + se0^2)`` (independent groups), the ``1 - alpha`` normal
        interval and the two-sided Wald p-value.
    """

    tau: float
    rmst1: float
    se1: float
    rmst0: float
    se0: float
    difference: float
    se: float
    lower: float
    upper: float
    p: float


def rmst_difference(time, event, group, tau: float, *, weights=None, entry=None,
                    alpha: float = 0.05) -> RMSTDifference:
    """RMST of group 1 minus group 0 up to ``tau``, with a normal confidence interval.

    Parameters
    ----------
    time, event : array-like
        As for :func:`weighted_km`.
    group : array-like of bool or 0/1
        1 (e.g. treated) or 0.
    tau : float
        Horizon; should be no later than the last follow-up in either group.
    weights, entry : array-like, optional
        As for :func:`weighted_km`.
    alpha : float
        1 - confidence level.

    Returns
    -------
    RMSTDifference
    """
    g = pd.to_numeric(pd.Series(np.asarray(group).ravel()), errors="coerce").to_numpy(np.float64)
    if not np.isin(g, (0.0, 1.0)).all() or g.min() == g.max():
        raise InputError("group must be 0/1 with both values present", column="group")
    t = np.asarray(time, dtype=np.float64).ravel()
    e = np.asarray(event).ravel()
    w = _as_weights(weights, t.size)
    s = None if entry is None else np.asarray(entry, dtype=np.float64).ravel()
    out = {}
    for k in (1.0, 0.0):
        sel = g == k
        if tau > t[sel].max():
            warnings.warn("tau is beyond the last follow-up of a group: its curve is extrapolated flat",
                          StatisticalWarning, stacklevel=2)
        out[k] = rmst(t[sel], e[sel], tau, weights=w[sel], entry=None if s is None else s[sel])
    (r1, se1), (r0, se0) = out[1.0], out[0.0]
    diff, se = r1 - r0, float(np.hypot(se1, se0))
    q = float(stats.norm.ppf(1 - alpha / 2))
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else float("nan")
    return RMSTDifference(tau=float(tau), rmst1=r1, se1=se1, rmst0=r0, se0=se0, difference=diff, se=se,
                          lower=diff - q * se, upper=diff + q * se, p=p)
