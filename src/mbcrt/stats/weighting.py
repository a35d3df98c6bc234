"""Propensity-score weights (IPTW for the ATE and ATT, overlap weights), their effective sample
size and weighted covariate balance.

Weights (``e`` the propensity score, ``T`` the treatment, ``P = mean(T)``):

=========  =====================  =======================  =========================================
estimand   treated                control                  stabilised (``stabilize=True``)
=========  =====================  =======================  =========================================
ate        1 / e                  1 / (1 - e)              times P (treated) and 1 - P (control)
att        1                      e / (1 - e)              control times (1 - P) / P
overlap    1 - e                  e                        unchanged (already bounded by 1)
=========  =====================  =======================  =========================================

Stabilising the ATE weights (Robins, Hernán & Brumback 2000; Xu et al. 2010) keeps their mean
near 1 and the pseudo-population near the real sample size. For the ATT, the control weights are
multiplied by the marginal odds of control so that they sum approximately to the number of
controls. Both factors are constants per arm, so weighted means, SMDs and the ESS do not change;
weighted Cox estimates change slightly (the arms' relative weight in each risk set).

Balance follows cobalt's conventions (Greifer, ``bal.tab``): weighted means per arm, divided by
an SD computed in the *unweighted* sample, so before and after share one denominator; the
default ``sd="pooled"`` is ``sqrt((s1^2 + s0^2) / 2)`` with sample variances (n - 1), the same as
:func:`mbcrt.stats.matching.standardized_difference` (cobalt's ``s.d.denom = "pooled"``, its
default for the ATE); ``sd="treated"`` uses the treated arm's SD (cobalt's default for the ATT).
Categorical levels are standardised with the proportions' SD ``sqrt(p (1 - p))`` (cobalt
``binary = "std"``). No per-patient loops.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.stats.design import category_codes
from mbcrt.stats.matching import (
    _ratio,  # the same difference-over-SD rule as matching's SMDs
)

ESTIMANDS = ("ate", "att", "overlap")
SD_DENOMINATORS = ("pooled", "treated")
#: Propensity scores outside this range give weights that dominate an arm (Crump et al. 2009 trim at 0.1).
PS_RANGE = (0.01, 0.99)
#: An arm where one patient carries more than this share of the arm's total weight is fragile ...
MAX_WEIGHT_SHARE = 0.05
#: ... checked only in arms with at least this many patients (in a small arm one patient is a large share).
MIN_ARM_FOR_SHARE = 100


def _as_treat(treat, n: int | None = None) -> np.ndarray:
    arr = np.asarray(treat).ravel()
    if n is not None and arr.size != n:
        raise InputError(f"expected one treatment value per patient ({n}), got {arr.size}", column="treatment")
    values = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(np.float64)
    bad = int((~np.isin(values, (0.0, 1.0))).sum())
    if bad:
        raise InputError("treatment must be 0/1 (or boolean)", column="treatment", n_rows=bad)
    out = values == 1.0
    if out.all() or not out.any():
        raise InputError("weights need both treated and control patients", column="treatment")
    return out


def propensity_weights(ps, treat, estimand: str = "ate", *, stabilize: bool = True) -> np.ndarray:
    """Propensity-score weights for one estimand (see the module table).

    Parameters
    ----------
    ps : array-like
        Propensity scores, strictly between 0 and 1.
    treat : array-like of bool or 0/1
        Treatment indicator.
    estimand : {"ate", "att", "overlap"}
        Average treatment effect (inverse probability of treatment weights), average effect in
        the treated, or overlap weights (Li, Morgan & Zaslavsky 2018; the ATO).
    stabilize : bool, default True
        Multiply by the marginal probability of the arm received (ATE) or the control weights by
        the marginal odds of control (ATT); no effect on overlap weights.

    Returns
    -------
    ndarray
        One weight per patient, > 0.

    Warns
    -----
    StatisticalWarning
        When weights explode: a propensity score outside [0.01, 0.99] in an arm where it gives
        a large weight, or one patient carrying more than 5% of an arm's total weight (arms of
        at least 100 patients). See :func:`check_weights`.
    """
    if estimand not in ESTIMANDS:
        raise ValueError(f"estimand must be one of {ESTIMANDS}, not {estimand!r}")
    e = pd.to_numeric(pd.Series(np.asarray(ps).ravel()), errors="coerce").to_numpy(np.float64)
    t = _as_treat(treat, e.size)
    bad = int((~((e > 0) & (e < 1))).sum())
    if bad:
        raise InputError("propensity scores must be strictly between 0 and 1", column="ps", n_rows=bad)
    p_treated = t.mean()
    if estimand == "ate":
        w = np.where(t, 1.0 / e, 1.0 / (1.0 - e))
        if stabilize:
            w *= np.where(t, p_treated, 1.0 - p_treated)
    elif estimand == "att":
        w = np.where(t, 1.0, e / (1.0 - e))
        if stabilize:
            w *= np.where(t, 1.0, (1.0 - p_treated) / p_treated)
    else:
        w = np.where(t, 1.0 - e, e)
    check_weights(w, t, ps=e, estimand=estimand, stacklevel=3)
    return w


def check_weights(weights, treat, *, ps=None, estimand: str = "ate", stacklevel: int = 2) -> list[str]:
    """Warn (``StatisticalWarning``) when weights are extreme; return the problems found.

    Parameters
    ----------
    weights : array-like
        Weights, one per patient.
    treat : array-like
        Treatment indicator.
    ps : array-like, optional
        Propensity scores: those outside :data:`PS_RANGE` are flagged where they make a weight
        large (treated with small ``e`` for the ATE; controls with ``e`` near 1 for ATE and ATT).
        Overlap weights are bounded, so extreme scores are not flagged for them.
    estimand : str
        As for :func:`propensity_weights`.

    Returns
    -------
    list of str
        Plain-text descriptions of the problems (empty when none).
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    t = _as_treat(treat, w.size)
    problems = []
    if ps is not None and estimand != "overlap":
        e = np.asarray(ps, dtype=np.float64).ravel()
        low, high = PS_RANGE
        risky = (~t & (e > high)) | ((t & (e < low)) if estimand == "ate" else False)
        if np.any(risky):
            problems.append(f"{int(np.sum(risky))} patients have propensity scores outside "
                            f"[{low}, {high}] that give them extreme weights")
    for arm, name in ((t, "treated"), (~t, "control")):
        if arm.sum() >= MIN_ARM_FOR_SHARE:
            share = w[arm].max() / w[arm].sum()
            if share > MAX_WEIGHT_SHARE:
                problems.append(f"one {name} patient carries {share:.0%} of the {name} arm's total weight")
    for problem in problems:
        warnings.warn(f"extreme weights: {problem}; weighted estimates are fragile (consider overlap "
                      "weights or trimming)", StatisticalWarning, stacklevel=stacklevel)
    return problems


def effective_sample_size(weights) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``.

    Parameters
    ----------
    weights : array-like
        Non-negative weights (pass one arm's weights for that arm's ESS).

    Returns
    -------
    float
        Equal to n when all weights are equal; smaller the more the weights vary.
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0 or np.any(~np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return float(w.sum() ** 2 / np.dot(w, w))


def _weighted_mean(values: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    return float(np.dot(values, w) / total) if total > 0 else float("nan")


def weighted_smd(x, treat, weights=None, *, categorical: bool = False, levels: Sequence | None = None,
                 sd: str = "pooled"):
    """Weighted standardised mean difference, treated minus control (cobalt's convention).

    Parameters
    ----------
    x : array-like
        The covariate.
    treat : array-like of bool or 0/1
        Treatment indicator.
    weights : array-like, optional
        Weights (None: unweighted, equal to
        :func:`mbcrt.stats.matching.standardized_difference` with ``sd="pooled"``).
    categorical : bool, default False
        One SMD per level (proportions).
    levels : sequence, optional
        Level order for a categorical ``x``.
    sd : {"pooled", "treated"}
        Denominator, from the unweighted sample: ``sqrt((s1^2 + s0^2) / 2)`` or the treated SD
        (for a level, ``p (1 - p)`` replaces ``s^2``).

    Returns
    -------
    float or Series
        Float for a continuous covariate, Series indexed by level for a categorical one. Missing
        values are left out of each arm.
    """
    if sd not in SD_DENOMINATORS:
        raise ValueError(f"sd must be one of {SD_DENOMINATORS}, not {sd!r}")
    values = x if isinstance(x, pd.Series) else pd.Series(np.asarray(x).ravel())
    values = values.reset_index(drop=True)
    t = _as_treat(treat, len(values))
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.size != len(values):
        raise InputError(f"expected one weight per patient ({len(values)}), got {w.size}", column="weights")

    def smd(indicator: np.ndarray, observed: np.ndarray, binary: bool) -> float:
        arms = [t & observed, ~t & observed]
        if binary:
            p = [indicator[a].mean() if a.any() else np.nan for a in arms]
            var = [pi * (1 - pi) for pi in p]
        else:
            var = [indicator[a].var(ddof=1) if a.sum() > 1 else np.nan for a in arms]
        denom = (var[0] + var[1]) / 2 if sd == "pooled" else var[0]
        means = [_weighted_mean(indicator[a], w[a]) for a in arms]
        return _ratio(means[0] - means[1], denom)

    if categorical:
        lv, codes = category_codes(values, levels)
        observed = codes != -1
        return pd.Series({level: smd((codes == k).astype(np.float64), observed, True)
                          for k, level in enumerate(lv)}, name=values.name, dtype=np.float64)
    numeric = pd.to_numeric(values, errors="coerce")
    non_numeric = int(numeric.isna().sum() - values.isna().sum())
    if non_numeric:
        raise InputError("non-numeric values in a continuous covariate (declare it categorical?)",
                         column=str(values.name) if values.name is not None else None, n_rows=non_numeric)
    arr = numeric.to_numpy(dtype=np.float64)
    return smd(arr, ~np.isnan(arr), False)


def weighted_balance_table(df: pd.DataFrame, *, treatment: str, covariates: Iterable[str], weights,
                           categorical: Iterable[str] = (), levels: Mapping[str, Sequence] | None = None,
                           labels: Mapping[str, str] | None = None, sd: str = "pooled") -> pd.DataFrame:
    """SMDs before (unweighted) and after weighting, one row per covariate or level.

    Parameters
    ----------
    df : DataFrame
        The cohort.
    treatment : str
        Treatment column (0/1).
    covariates : iterable of str
        Covariates to check.
    weights : array-like
        One weight per row of ``df``.
    categorical : iterable of str
        Which covariates are categorical.
    levels, labels : mapping, optional
        Level orders and human labels per covariate.
    sd : {"pooled", "treated"}
        As for :func:`weighted_smd` (one denominator for both columns).

    Returns
    -------
    DataFrame
        Columns ``variable, label, level, smd_before, smd_after`` (as
        :func:`mbcrt.stats.matching.balance_table`), ``level`` "" for continuous covariates.
    """
    categorical, levels, labels = set(categorical), dict(levels or {}), dict(labels or {})
    missing = [c for c in [treatment, *covariates] if c not in df.columns]
    if missing:
        raise InputError("column not in the data", column=missing[0])
    t = df[treatment]
    rows = []
    for variable in covariates:
        label = labels.get(variable, variable)
        is_cat = variable in categorical
        kw = dict(categorical=is_cat, levels=levels.get(variable), sd=sd)
        before = weighted_smd(df[variable], t, None, **kw)
        after = weighted_smd(df[variable], t, weights, **kw)
        if is_cat:
            rows += [(variable, label, str(level), before[level], after[level]) for level in before.index]
        else:
            rows.append((variable, label, "", before, after))
    table = pd.DataFrame(rows, columns=["variable", "label", "level", "smd_before", "smd_after"])
    table[["smd_before", "smd_after"]] = table[["smd_before", "smd_after"]].astype(np.float64)
    return table
