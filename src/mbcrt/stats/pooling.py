"""Rubin's rules: combining estimates from multiply imputed data sets.

Each completed data set gives an estimate :math:`Q_i` and its variance :math:`U_i`. Pooled
(Rubin 1987; Barnard & Rubin 1999; as R's ``mice::pool`` 3.x computes them):

- estimate :math:`\\bar Q = \\frac1m \\sum Q_i`; within variance :math:`\\bar U = \\frac1m \\sum U_i`;
  between variance :math:`B = \\frac{1}{m-1} \\sum (Q_i - \\bar Q)^2`;
  total variance :math:`T = \\bar U + (1 + 1/m) B`;
- relative increase in variance ``riv`` :math:`r = (1 + 1/m) B / \\bar U`, proportion of the variance
  due to the missing data ``lambda`` :math:`\\lambda = (1 + 1/m) B / T` (floored at 1e-4 for the
  degrees of freedom, as mice does);
- degrees of freedom: Rubin's :math:`\\nu_{old} = (m - 1) / \\lambda^2`, and with a complete-data
  ``df_complete`` :math:`\\nu_{com}` Barnard and Rubin's small-sample
  :math:`\\nu = \\nu_{old}\\nu_{obs}/(\\nu_{old} + \\nu_{obs})`,
  :math:`\\nu_{obs} = \\frac{\\nu_{com}+1}{\\nu_{com}+3}\\nu_{com}(1-\\lambda)`;
- fraction of missing information ``fmi`` :math:`(r + 2/(\\nu + 3)) / (1 + r)`;
- Wald statistic :math:`\\bar Q / \\sqrt T` against a t distribution on :math:`\\nu` degrees of
  freedom (two-sided p, CI :math:`\\bar Q \\pm t_{\\nu, 1-\\alpha/2}\\sqrt T`).

Survival probabilities are pooled on the complementary log-log scale, where their sampling
distribution is closer to normal (Marshall, Altman & Holder 2009), then transformed back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Columns of :func:`rubin`'s table.
RUBIN_COLUMNS = ["m", "estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi", "se",
                 "statistic", "p", "lower", "upper"]


def rubin(estimates, variances, df_complete=None, *, alpha: float = 0.05, terms=None) -> pd.DataFrame:
    """Pool estimates of one or more parameters over ``m`` imputations by Rubin's rules.

    Parameters
    ----------
    estimates, variances : array-like, shape (m,) or (m, k)
        Each imputation's estimates and their squared standard errors (one column per parameter).
    df_complete : float or array-like of shape (k,), optional
        Degrees of freedom of the complete-data analysis, for Barnard and Rubin's adjustment
        (``mice::pool``'s ``dfcom``; for a Cox model mice uses events minus coefficients). None
        (default): infinite, Rubin's original degrees of freedom.
    alpha : float
        1 - confidence level of ``lower``/``upper``.
    terms : sequence of str, optional
        Row labels (the index of the returned table).

    Returns
    -------
    DataFrame
        One row per parameter, columns :data:`RUBIN_COLUMNS`: ``m``, pooled ``estimate``, ``ubar``
        (within), ``b`` (between), ``t`` (total variance), ``dfcom``, ``df`` (Barnard-Rubin), ``riv``,
        ``lambda``, ``fmi``, ``se`` (sqrt t), ``statistic``, two-sided ``p`` and the confidence limits.
        With ``m = 1`` the between variance is 0 (no missing information is estimable).
    """
    q = np.asarray(estimates, dtype=np.float64)
    u = np.asarray(variances, dtype=np.float64)
    if q.ndim == 1:
        q, u = q[:, None], u[:, None]
    if q.shape != u.shape or q.ndim != 2 or q.shape[0] < 1:
        raise ValueError("estimates and variances must have the same shape (m,) or (m, k)")
    m, k = q.shape
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1) if m > 1 else np.zeros(k)
    t = ubar + (1 + 1 / m) * b
    dfcom = np.broadcast_to(np.inf if df_complete is None else np.asarray(df_complete, dtype=np.float64), (k,))
    df = barnard_rubin(m, b, t, dfcom)
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
        se = np.sqrt(t)
        stat = qbar / se
    p = 2 * stats.t.sf(np.abs(stat), df)
    crit = stats.t.ppf(1 - alpha / 2, df)
    out = pd.DataFrame({"m": m, "estimate": qbar, "ubar": ubar, "b": b, "t": t, "dfcom": dfcom, "df": df, "riv": riv,
                        "lambda": lam, "fmi": fmi, "se": se, "statistic": stat, "p": p,
                        "lower": qbar - crit * se, "upper": qbar + crit * se}, columns=RUBIN_COLUMNS)
    if terms is not None:
        out.index = pd.Index(list(terms), name="term")
    return out


def barnard_rubin(m: int, b, t, dfcom=np.inf) -> np.ndarray:
    """Degrees of freedom of a pooled estimate (``mice:::barnard.rubin``).

    ``lambda`` below 1e-4 is set to 1e-4 (so no missing information gives a large, finite
    :math:`\\nu_{old}`); with ``dfcom`` infinite the result is Rubin's :math:`(m-1)/\\lambda^2`.
    """
    b, t = np.asarray(b, dtype=np.float64), np.asarray(t, dtype=np.float64)
    dfcom = np.broadcast_to(np.asarray(dfcom, dtype=np.float64), b.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(t > 0, (1 + 1 / m) * b / t, 0.0)
    lam = np.maximum(lam, 1e-4)
    if m < 2:  # no between-imputation variance to estimate: the complete-data df
        return np.array(dfcom, dtype=np.float64)
    dfold = (m - 1) / lam**2
    finite = np.isfinite(dfcom)
    com = np.where(finite, dfcom, 0.0)  # infinite dfcom: Rubin's df (inf/inf would warn)
    dfobs = (com + 1) / (com + 3) * com * (1 - lam)
    return np.where(finite, dfold * dfobs / (dfold + dfobs), dfold)


def pool_survival(surv, std_err, *, alpha: float = 0.05) -> pd.DataFrame:
    """Pool survival probabilities S(t) over imputations on the complementary log-log scale.

    Each imputation's S and its (Greenwood) standard error are transformed to
    :math:`g = \\log(-\\log S)` with delta-method variance :math:`\\mathrm{se}^2 / (S \\log S)^2`, pooled by
    :func:`rubin` (infinite complete-data df), and transformed back: the pooled survival is
    :math:`\\exp(-\\exp(\\bar g))`, its interval :math:`\\exp(-\\exp(\\bar g \\pm t\\,\\mathrm{se}))` (limits swapped, as
    the transform decreases). This is the log-log band of R's ``survfit``, pooled.

    Parameters
    ----------
    surv, std_err : array-like, shape (m,) or (m, k)
        Survival at k landmark times in each of m imputations, and its standard error.

    Returns
    -------
    DataFrame
        One row per landmark: ``surv, lower, upper`` and the pooled ``fmi``, ``riv``, ``df``, ``m``.
        Where S is 0 or 1 in any imputation (no variance on this scale), the estimate is the mean S
        and the limits and fmi are missing.
    """
    s = np.asarray(surv, dtype=np.float64)
    se = np.asarray(std_err, dtype=np.float64)
    if s.ndim == 1:
        s, se = s[:, None], se[:, None]
    inside = np.all((s > 0) & (s < 1) & np.isfinite(s), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.log(-np.log(s))
        var = (se / (s * np.log(s))) ** 2
    g = np.where(inside, g, 0.0)
    var = np.where(inside, var, 1.0)
    pooled = rubin(g, var, alpha=alpha)
    est = np.exp(-np.exp(pooled["estimate"].to_numpy()))
    lower = np.exp(-np.exp(pooled["upper"].to_numpy()))
    upper = np.exp(-np.exp(pooled["lower"].to_numpy()))
    mean_s = np.nanmean(s, axis=0) if np.isfinite(s).any() else np.full(s.shape[1], np.nan)
    nan = np.full(s.shape[1], np.nan)
    return pd.DataFrame({
        "surv": np.where(inside, est, mean_s), "lower": np.where(inside, lower, nan),
        "upper": np.where(inside, upper, nan), "fmi": np.where(inside, pooled["fmi"], nan),
        "riv": np.where(inside, pooled["riv"], nan), "df": np.where(inside, pooled["df"], nan),
        "m": s.shape[0]})

