"""Clone-censor-weight emulation of a target trial with a grace period.

The question "does starting treatment within ``grace`` of time 0 improve survival, compared with
not starting it?" is answered without immortal time by emulating the trial (Hernán & Robins,
Am J Epidemiol 2016; Maringe et al., Int J Epidemiol 2020;49:1719-1729, the tutorial this follows):

1. **Clone** every patient at time 0 into both strategies: arm 1 "start treatment within the grace
   period", arm 0 "do not start treatment" (within the grace period, ``control="grace"``, as
   Maringe et al.; or at all, ``control="never"``).
2. **Censor** each clone when its patient's data stop being compatible with its strategy
   (:func:`clone_censor`):

   =========================================  ==========================  ===========================
   patient                                    arm 1 (treat within grace)  arm 0 (do not treat)
   =========================================  ==========================  ===========================
   treated at s <= min(grace, follow-up)      followed to the end         censored at s
   treated at s > grace (within follow-up)    censored at grace           "grace": followed to the
                                                                          end; "never": censored at s
   not treated, follow-up ends after grace    censored at grace           followed to the end
   not treated, event or censoring at or      outcome kept (event or      outcome kept
   before grace                               censoring at its time)
   =========================================  ==========================  ===========================

   A patient who dies during the grace period before any treatment is compatible with both
   strategies (he could still have started treatment later in the grace period), so his death
   counts in both arms, as in Maringe et al.'s Table 1; this is what removes the immortal time.
   Treatment recorded at the time follow-up ends counts as started (a treatment on the day of death
   censors the arm-0 clone at that day).
3. **Weight** the clones still uncensored by the inverse probability of having remained
   uncensored given baseline covariates (:func:`ipcw`), since the artificial censoring depends on
   prognosis. Time is cut into intervals (``breaks``): by default 4 equal intervals over the grace
   period, then one to the end (``"never"`` adds the quartiles of later treatment times). In each
   arm a pooled logistic regression of "censored in this interval" on the covariates and one
   intercept per interval (only the intervals where censoring happens) is fitted on the clones at
   risk at the interval's start; a clone's weight in interval k is ``1 / prod_{j<k} (1 - p_j)``,
   i.e. censoring is taken to happen at the end of its interval (exact for arm 1, whose censoring
   happens at the end of the grace period; finer ``breaks`` make it closer for arm 0).
4. **Estimate**: weighted Kaplan-Meier per arm and a weighted Cox model of arm (1 vs 0) on the
   split rows (:func:`ccw_estimate`), with a percentile bootstrap interval: patients (both clones
   together) are resampled and the weights are refitted in every replicate. The replicates are
   multinomial frequency weights on the same rows, so the sort of the data is done once.

Everything is vectorised over patients; the only Python loops are over intervals and replicates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.stats.cox import CoxResult, cox_coefficients, fit_cox
from mbcrt.stats.survival import weighted_km

CONTROLS = ("grace", "never")
CLONE_COLUMNS = ["id", "row", "arm", "time", "event", "censored"]
SPLIT_COLUMNS = ["id", "row", "arm", "interval", "tstart", "tstop", "event", "censored"]


def _inputs(time, event, treat_time, grace):
    t = pd.to_numeric(pd.Series(np.asarray(time).ravel()), errors="coerce").to_numpy(np.float64)
    n = t.size
    e = pd.to_numeric(pd.Series(np.asarray(event).ravel()), errors="coerce").to_numpy(np.float64)
    s = pd.to_numeric(pd.Series(np.asarray(treat_time).ravel()), errors="coerce").to_numpy(np.float64)
    if e.size != n or s.size != n:
        raise InputError(f"time, event and treat_time differ in length ({n}, {e.size}, {s.size})")
    bad = int((~np.isfinite(t) | (t < 0)).sum())
    if bad:
        raise InputError("follow-up time must be a non-negative number", column="time", n_rows=bad)
    bad = int((~np.isin(e, (0.0, 1.0))).sum())
    if bad:
        raise InputError("event indicator must be 0 (censored) or 1 (event)", column="event", n_rows=bad)
    if not (np.isfinite(grace) and grace > 0):
        raise ValueError(f"grace must be a positive number, got {grace!r}")
    return t, e.astype(np.int64), s


def clone_censor(time, event, treat_time, grace: float, *, control: str = "grace", id=None) -> pd.DataFrame:
    """Clone each patient into both strategies and censor each clone at its deviation.

    Parameters
    ----------
    time : array-like
        End of follow-up from time 0 (e.g. start of systemic treatment), >= 0.
    event : array-like
        1 = event at ``time``, 0 = censored.
    treat_time : array-like
        Start of the treatment under study; NaN = not treated. Starts after ``time`` are outside
        follow-up and count as not treated; starts before 0 count as at 0.
    grace : float
        Length of the grace period (same unit as ``time``).
    control : {"grace", "never"}
        The comparator strategy: no treatment within the grace period (default; Maringe et al.),
        or no treatment at all during follow-up.
    id : array-like, optional
        Patient identifiers for the ``id`` column (default: position).

    Returns
    -------
    DataFrame
        Two rows per patient (arm 1 first, then arm 0, patients in input order), columns ``id,
        row, arm, time, event, censored``: ``row`` is the patient's position (to join covariates),
        ``time`` the end of the clone's follow-up, ``event`` its outcome, ``censored`` 1 where the
        clone was censored for deviating from its strategy (artificial censoring), else 0.
    """
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, not {control!r}")
    t, e, s = _inputs(time, event, treat_time, grace)
    n = t.size
    treated = np.isfinite(s) & (s <= t)
    start = np.where(treated, np.maximum(s, 0.0), np.inf)
    in_grace = start <= grace
    # arm 1: followed to the end if treated within grace, or if follow-up ends at or before grace
    keep1 = in_grace | (t <= grace)
    time1 = np.where(keep1, t, grace)
    event1 = np.where(keep1, e, 0)
    cens1 = (~keep1).astype(np.int64)
    # arm 0: censored at the start of treatment (within grace, or at any time for "never")
    deviates = in_grace if control == "grace" else treated
    time0 = np.where(deviates, start, t)
    event0 = np.where(deviates, 0, e)
    cens0 = deviates.astype(np.int64)
    ids = np.arange(n) if id is None else np.asarray(id).ravel()
    rows = np.arange(n)
    return pd.DataFrame({"id": np.concatenate([ids, ids]), "row": np.concatenate([rows, rows]),
                         "arm": np.repeat([1, 0], n), "time": np.concatenate([time1, time0]),
                         "event": np.concatenate([event1, event0]).astype(np.int64),
                         "censored": np.concatenate([cens1, cens0])}, columns=CLONE_COLUMNS)


def default_breaks(clones: pd.DataFrame, grace: float, *, control: str = "grace",
                   n_intervals: int = 4) -> np.ndarray:
    """Interval end points for :func:`ipcw`: ``n_intervals`` equal pieces of the grace period, then
    (``control="never"``) the quartiles of arm-0 censoring times after grace, then infinity."""
    inner = grace * np.arange(1, n_intervals + 1) / n_intervals
    later = np.zeros(0)
    if control == "never":
        arm0 = clones[(clones["arm"] == 0) & (clones["censored"] == 1) & (clones["time"] > grace)]
        if len(arm0):
            later = np.unique(np.quantile(arm0["time"].to_numpy(), [0.25, 0.5, 0.75, 1.0]))
            later = later[later > grace]
    return np.concatenate([inner, later, [np.inf]])


def split_clones(clones: pd.DataFrame, breaks) -> pd.DataFrame:
    """Start-stop rows of each clone, cut at ``breaks`` (vectorised, as R's ``survSplit``).

    Parameters
    ----------
    clones : DataFrame
        From :func:`clone_censor`.
    breaks : array-like
        Increasing interval end points; the last should be ``inf`` (or beyond all times).

    Returns
    -------
    DataFrame
        Columns ``id, row, arm, interval, tstart, tstop, event, censored``: interval k is
        ``(breaks[k-1], breaks[k]]`` (``breaks[-1] = 0``); the clone's event and censoring flag are on
        its last row. Clones with no follow-up (time 0) have no rows.
    """
    b = np.asarray(breaks, dtype=np.float64)
    if b.ndim != 1 or b.size == 0 or np.any(np.diff(b) <= 0) or b[0] <= 0:
        raise ValueError("breaks must be positive and increasing")
    lower = np.concatenate([[0.0], b[:-1]])
    t = clones["time"].to_numpy(np.float64)
    # number of intervals a clone reaches: those with lower bound < time
    n_rows = np.searchsorted(lower, t, side="left")
    n_rows = np.where(t > 0, n_rows, 0)
    if np.any(t > b[-1]):
        raise ValueError("a clone's follow-up goes beyond the last break")
    idx = np.repeat(np.arange(len(clones)), n_rows)
    interval = np.arange(idx.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    tstart = lower[interval]
    tstop = np.minimum(b[interval], t[idx])
    last = interval == n_rows[idx] - 1
    out = {c: clones[c].to_numpy()[idx] for c in ("id", "row", "arm")}
    out.update(interval=interval, tstart=tstart, tstop=tstop,
               event=np.where(last, clones["event"].to_numpy()[idx], 0),
               censored=np.where(last, clones["censored"].to_numpy()[idx], 0))
    return pd.DataFrame(out, columns=SPLIT_COLUMNS)


def _weighted_logistic(design: np.ndarray, y: np.ndarray, w: np.ndarray, init=None) -> np.ndarray:
    """Maximum-likelihood logistic coefficients with case weights (Newton with step halving), from 0
    or from ``init`` (bootstrap refits start at the full-data estimate)."""
    beta = np.zeros(design.shape[1]) if init is None or len(init) != design.shape[1] else init.copy()

    def loglik(eta):
        return float(np.dot(w, y * eta - np.logaddexp(0.0, eta)))

    eta = design @ beta
    current = loglik(eta)
    for _ in range(100):
        mu = expit(eta)
        score = design.T @ (w * (y - mu))
        info = (design * (w * mu * (1 - mu))[:, None]).T @ design
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise InputError("the censoring model has no unique fit (a covariate is constant among "
                             "the clones at risk)") from None
        for _halving in range(30):
            candidate = beta + step
            eta_c = design @ candidate
            value = loglik(eta_c)
            if value >= current - 1e-12 * (1 + abs(current)):
                break
            step = step / 2
        beta, eta, current = candidate, eta_c, value
        if np.max(np.abs(step)) < 1e-10:
            return beta
    raise InputError("the censoring model did not converge (covariates separate censored from "
                     "uncensored clones?)")


def _censoring_weights(split: pd.DataFrame, xs: np.ndarray, case_weights: np.ndarray,
                       init: dict | None = None) -> tuple[np.ndarray, dict]:
    """Per split row, ``1 / prod_{j<k} (1 - p_j)`` from pooled logistic fits per arm (see module),
    and each arm's coefficients (to start the bootstrap refits from)."""
    arm = split["arm"].to_numpy()
    interval = split["interval"].to_numpy()
    censored = split["censored"].to_numpy().astype(np.float64)
    rowpos = split["row"].to_numpy()
    w_rows = case_weights[rowpos]
    out = np.ones(len(split))
    betas = {}
    for a in (0, 1):
        sel = arm == a
        used = np.unique(interval[sel & (censored == 1) & (w_rows > 0)])
        if used.size == 0:
            continue
        fit_rows = np.flatnonzero(sel & np.isin(interval, used))
        dummies = (interval[fit_rows][:, None] == used[None, :]).astype(np.float64)
        design = np.hstack([dummies, xs[rowpos[fit_rows]]])
        beta = _weighted_logistic(design, censored[fit_rows], w_rows[fit_rows], (init or {}).get(a))
        betas[a] = beta
        # log(1 - p) for each (patient, used interval), summed over used intervals before k
        eta = beta[:used.size][None, :] + (xs @ beta[used.size:])[:, None]  # (n, len(used))
        log_keep = -np.logaddexp(0.0, eta)  # log(1 - expit(eta))
        cum = np.concatenate([np.zeros((len(xs), 1)), np.cumsum(log_keep, axis=1)], axis=1)
        # number of used intervals strictly before each row's interval
        before = np.searchsorted(used, interval[sel], side="left")
        out[sel] = np.exp(-cum[rowpos[sel], before])
    return out, betas


def ipcw(clones: pd.DataFrame, X: pd.DataFrame, breaks, *, case_weights=None) -> pd.DataFrame:
    """Inverse-probability-of-censoring weights for the clones, on rows split at ``breaks``.

    Parameters
    ----------
    clones : DataFrame
        From :func:`clone_censor`.
    X : DataFrame
        Numeric baseline covariates, one row per patient in the order given to
        :func:`clone_censor` (e.g. from :func:`mbcrt.stats.design.design_matrix`).
    breaks : array-like
        Interval end points (see :func:`default_breaks`, :func:`split_clones`).
    case_weights : array-like, optional
        Non-negative weight per patient (e.g. bootstrap frequencies) for the censoring models.

    Returns
    -------
    DataFrame
        :func:`split_clones`'s rows with a column ``weight``: 1 until the first interval with
        censoring in the clone's arm, then ``1 / P(still uncensored | covariates)``.
    """
    n = int(clones["row"].max()) + 1
    xs = _centred(X, n)
    cw = np.ones(n) if case_weights is None else np.asarray(case_weights, dtype=np.float64)
    split = split_clones(clones, breaks)
    split["weight"] = _censoring_weights(split, xs, cw)[0]
    return split


def _centred(X: pd.DataFrame, n: int) -> np.ndarray:
    """The covariates as a centred (n, p) array (the fitted probabilities do not depend on it)."""
    if len(X) != n:
        raise InputError(f"X must have one row per patient ({n}), got {len(X)}")
    values = X.to_numpy(dtype=np.float64).reshape(n, -1)
    if not np.isfinite(values).all():
        raise InputError("missing or infinite values in the censoring-model covariates")
    return values - values.mean(axis=0)


@dataclass(eq=False)
class CCWResult:
    """Clone-censor-weight estimate of treating within the grace period (arm 1) vs not (arm 0).

    Attributes
    ----------
    hr, lower, upper : float
        Weighted Cox hazard ratio of arm 1 vs 0 and its bootstrap percentile interval (NaN
        without bootstrap).
    cox : CoxResult
        The weighted Cox fit on all split rows (robust SE clustered on the patient, for reference;
        the bootstrap interval also reflects the estimated weights).
    km : dict of int to DataFrame
        Weighted Kaplan-Meier table per arm (1, 0), from :func:`mbcrt.stats.survival.weighted_km`.
    rows : DataFrame
        The weighted split clone rows (:func:`ipcw`).
    boot_log_hr : ndarray
        Bootstrap log hazard ratios (NaN for failed replicates).
    grace, control, breaks, alpha, seed, n_boot_failed
        The settings and how many replicates had no estimate.
    max_weight : float
        Largest weight (a large value means fragile estimates).
    """

    hr: float
    lower: float
    upper: float
    cox: CoxResult
    km: dict
    rows: pd.DataFrame
    boot_log_hr: np.ndarray
    grace: float
    control: str
    breaks: np.ndarray
    alpha: float
    seed: int
    n_boot_failed: int
    max_weight: float


def ccw_estimate(time, event, treat_time, X: pd.DataFrame, grace: float, *, control: str = "grace",
                 n_intervals: int = 4, breaks=None, bootstrap: int = 200, seed: int = 20240101,
                 alpha: float = 0.05, ties: str = "efron") -> CCWResult:
    """Clone, censor, weight and estimate (see the module docstring).

    Parameters
    ----------
    time, event, treat_time, grace, control
        As for :func:`clone_censor`.
    X : DataFrame
        Baseline covariates of the censoring models, one row per patient.
    n_intervals : int
        Intervals over the grace period for the censoring models (ignored with ``breaks``).
    breaks : array-like, optional
        Explicit interval end points (see :func:`split_clones`).
    bootstrap : int
        Bootstrap replicates for the percentile interval (0: none).
    seed : int
        Seed of the bootstrap (``numpy.random.default_rng``): reruns are identical.
    alpha : float
        1 - confidence level.
    ties : {"efron", "breslow"}
        Ties in the weighted Cox model.

    Returns
    -------
    CCWResult

    Warns
    -----
    StatisticalWarning
        When more than 5% of the bootstrap replicates have no estimate.
    """
    clones = clone_censor(time, event, treat_time, grace, control=control)
    b = default_breaks(clones, grace, control=control, n_intervals=n_intervals) if breaks is None \
        else np.asarray(breaks, dtype=np.float64)
    n = len(clones) // 2
    xs = _centred(X, n)
    rows = split_clones(clones, b)  # as ipcw(clones, X, b), keeping the censoring models' coefficients
    weight, betas = _censoring_weights(rows, xs, np.ones(n))
    rows["weight"] = weight
    arm = pd.DataFrame({"arm": rows["arm"].to_numpy()})
    cox = fit_cox(arm, rows["tstop"], rows["event"], entry=rows["tstart"], weights=rows["weight"],
                  cluster=rows["row"], ties=ties, alpha=alpha)
    km = {a: weighted_km(rows.loc[rows["arm"] == a, "tstop"], rows.loc[rows["arm"] == a, "event"],
                         weights=rows.loc[rows["arm"] == a, "weight"],
                         entry=rows.loc[rows["arm"] == a, "tstart"]) for a in (1, 0)}
    boot = np.zeros(0)
    lower = upper = float("nan")
    failed = 0
    if bootstrap:
        rng = np.random.default_rng(seed)
        rowpos = rows["row"].to_numpy()
        weights = np.empty((bootstrap, len(rows)))
        for r in range(bootstrap):  # per replicate: a weighted refit of the censoring models
            counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
            try:
                w = _censoring_weights(rows, xs, counts, betas)[0]
            except InputError:
                w = np.full(len(rows), np.nan)
            weights[r] = counts[rowpos] * w
        ok = np.isfinite(weights).all(axis=1)
        boot = np.full(bootstrap, np.nan)
        if ok.any():
            boot[ok] = cox_coefficients(arm, rows["tstop"], rows["event"], weights[ok],
                                        entry=rows["tstart"], ties=ties, init=cox.params.to_numpy())[:, 0]
        failed = int(np.isnan(boot).sum())
        if failed > 0.05 * bootstrap:
            warnings.warn(f"{failed} of {bootstrap} bootstrap replicates had no estimate",
                          StatisticalWarning, stacklevel=2)
        good = boot[np.isfinite(boot)]
        if good.size:
            lower, upper = np.exp(np.quantile(good, [alpha / 2, 1 - alpha / 2]))
    return CCWResult(hr=float(np.exp(cox.params.iloc[0])), lower=float(lower), upper=float(upper), cox=cox,
                     km=km, rows=rows, boot_log_hr=boot, grace=float(grace), control=control, breaks=b,
                     alpha=alpha, seed=seed, n_boot_failed=failed, max_weight=float(rows["weight"].max()))
