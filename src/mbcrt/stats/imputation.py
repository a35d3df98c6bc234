"""Multiple imputation of missing covariates by chained equations (van Buuren's MICE), vectorised.

Each incomplete variable is imputed in turn from all the others (and from complete predictors such
as the outcome), cycling ``iterations`` times; ``m`` independent chains give ``m`` completed data
sets. The methods are those of R's ``mice``:

- numbers: predictive mean matching (``pmm``; type-1 matching, 5 donors): a linear regression on the
  rows where the variable is observed, coefficients drawn from their posterior (``.norm.draw``: ridge
  1e-5 times the diagonal, scale drawn from its scaled inverse chi-square), predictions of the missing
  rows from the drawn coefficients matched to predictions of the observed rows from the estimated
  ones; each missing value is taken from one of the 5 nearest donors at random. Imputed values are
  therefore always values somebody has. The nearest donors are found by a sorted search
  (``np.searchsorted`` on the donors' sorted predictions, then the 5 nearest within the 10 around that
  position): O(n log n), no n x n distance matrix.
- two categories: logistic regression (``logreg``), coefficients drawn from the normal approximation
  of their posterior, each missing value drawn from its predicted probability.
- more categories: multinomial logistic regression (``polyreg``), coefficients drawn likewise (mice
  itself does not draw them; drawing makes the imputation proper), each value drawn from its
  predicted probabilities. ``methods={col: "pmm"}`` imputes an ordered category by pmm on its codes.

The logistic fits carry a weak ridge penalty (0.1 on standardised predictors, not on the intercept):
it keeps them finite when a predictor separates the categories, the purpose mice's data
augmentation serves. With a time-to-event outcome, put the Nelson-Aalen cumulative hazard at each
patient's time and the event indicator among the predictors (White & Royston, Stat Med 2009;
:func:`nelson_aalen_at`).

Chains are seeded from one :class:`numpy.random.SeedSequence`: the same ``seed`` gives the same
imputations, whatever else runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg

from mbcrt.errors import InputError
from mbcrt.stats.design import category_codes

#: Donors per missing value in predictive mean matching (mice's default).
DONORS = 5
#: Ridge of the linear regressions, times the diagonal of X'X (mice's ``ridge``).
RIDGE_LINEAR = 1e-5
#: Ridge of the logistic and multinomial fits on standardised predictors (see the module's text).
RIDGE_LOGISTIC = 0.1
METHODS = ("pmm", "logreg", "polyreg")


def nelson_aalen_at(time, event) -> np.ndarray:
    """Nelson-Aalen cumulative hazard at each patient's own time (events at that time included).

    Parameters
    ----------
    time, event : array-like
        Follow-up times and 0/1 event indicators.

    Returns
    -------
    ndarray
        :math:`H(T_i) = \\sum_{t_j \\le T_i} d_j / n_j` (R: ``mice::nelsonaalen``).
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    times, index = np.unique(t, return_inverse=True)
    d = np.bincount(index, weights=e, minlength=times.size)
    leaving = np.bincount(index, minlength=times.size)
    at_risk = leaving[::-1].cumsum()[::-1]
    return np.cumsum(d / at_risk)[index]


# ---- draws (each a pure function of its inputs and the generator) ------------------------------------

def _norm_draw(X: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    """Least squares with mice's ridge, and one draw of (beta, sigma) from the posterior."""
    xtx = X.T @ X
    pen = RIDGE_LINEAR * np.diag(xtx)
    v = linalg.inv(xtx + np.diag(pen), assume_a="pos")
    v = (v + v.T) / 2
    coef = v @ (X.T @ y)
    resid = y - X @ coef
    df = max(len(y) - X.shape[1], 1)
    sigma = np.sqrt(resid @ resid / rng.chisquare(df))
    beta = coef + linalg.cholesky(v, lower=True) @ rng.standard_normal(X.shape[1]) * sigma
    return coef, beta


def nearest_donors(donor_pred: np.ndarray, target_pred: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """For each target, the index of one of its ``k`` nearest donors (by prediction), chosen at random.

    Sorted search: the k nearest of sorted values lie among the 2k around the insertion point, so
    only that window is compared (ties broken by the donors' order). O((n_donors + n_targets) log n).
    """
    n = donor_pred.size
    k = max(1, min(k, n))
    order = np.argsort(donor_pred, kind="stable")
    sorted_pred = donor_pred[order]
    width = min(2 * k, n)
    pos = np.searchsorted(sorted_pred, target_pred)
    start = np.clip(pos - k, 0, n - width)
    window = start[:, None] + np.arange(width)
    dist = np.abs(sorted_pred[window] - target_pred[:, None])
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    pick = nearest[np.arange(target_pred.size), rng.integers(0, k, size=target_pred.size)]
    return order[window[np.arange(target_pred.size), pick]]


def impute_pmm(X_obs, y_obs, X_mis, rng: np.random.Generator, donors: int = DONORS) -> np.ndarray:
    """Predictive mean matching draws for the rows ``X_mis`` (mice's ``pmm``, type-1 matching).

    ``X_obs``, ``X_mis`` include the intercept column. Returns values of ``y_obs``.
    """
    coef, beta = _norm_draw(X_obs, y_obs, rng)
    return y_obs[nearest_donors(X_obs @ coef, X_mis @ beta, donors, rng)]


def _probabilities(eta: np.ndarray) -> np.ndarray:
    """Category probabilities (n, q + 1) from the linear predictors of categories 1..q against 0
    (a softmax with the reference's 0 column, shifted by the row maximum for stability)."""
    top = np.maximum(eta.max(axis=1, keepdims=True), 0.0)
    e = np.exp(eta - top)
    ref = np.exp(-top)
    total = ref + e.sum(axis=1, keepdims=True)
    return np.hstack([ref, e]) / total


def _information(X: np.ndarray, P: np.ndarray, pen: np.ndarray) -> np.ndarray:
    """Penalised information matrix of the multinomial model at probabilities ``P`` (n, q), blocks by category."""
    p, q = X.shape[1], P.shape[1]
    H = np.empty((p * q, p * q))
    for a in range(q):
        for b in range(a, q):
            w = P[:, a] * ((a == b) - P[:, b])
            block = (X * w[:, None]).T @ X
            if a == b:
                block = block + np.diag(pen)
            H[a * p:(a + 1) * p, b * p:(b + 1) * p] = block
            H[b * p:(b + 1) * p, a * p:(a + 1) * p] = block.T
    return H


def _multinomial_fit(X: np.ndarray, codes: np.ndarray, k: int, start=None, max_iter: int = 50):
    """Penalised multinomial (k = 2: logistic) regression.

    Newton-Raphson from zero; from a ``start`` (coefficients and information of the previous fit of
    the same variable, on data that changed only in the imputed rows) the iterations reuse that
    information matrix and only the score is recomputed, until the step is below 1e-7 (far below the
    posterior's spread, which the draw adds). The information is then computed once at the estimate.

    Returns
    -------
    B : ndarray (p, k - 1)
        Coefficients against the first category.
    cov : ndarray
        Inverse of the penalised information at ``B`` (the covariance of the normal approximation to
        the posterior).
    H : ndarray
        That information (the next fit's start).
    """
    n, p = X.shape
    q = k - 1
    Y = np.zeros((n, q))
    rows = codes > 0
    Y[np.flatnonzero(rows), codes[rows] - 1] = 1.0
    pen = np.full(p, RIDGE_LOGISTIC)
    pen[0] = 0.0  # not the intercept
    if start is None:
        B, H = np.zeros((p, q)), None
    else:
        B, H = start[0].copy(), start[1]
    fixed = H is not None
    for _ in range(max_iter):
        P = _probabilities(X @ B)[:, 1:]
        grad = (X.T @ (Y - P)) - pen[:, None] * B
        if not fixed:
            H = _information(X, P, pen)
        step = linalg.solve(H, grad.T.reshape(-1), assume_a="pos").reshape(q, p).T
        B = B + step
        if np.max(np.abs(step)) < 1e-7:
            break
    H = _information(X, _probabilities(X @ B)[:, 1:], pen)
    cov = linalg.inv(H, assume_a="pos")
    return B, (cov + cov.T) / 2, H


def impute_categorical(X_obs, codes_obs, X_mis, k: int, rng: np.random.Generator, start=None):
    """Draw category codes (0..k-1) for the rows ``X_mis``: logistic (k = 2) or multinomial regression
    with coefficients drawn from the normal approximation of their posterior.

    Returns
    -------
    codes : ndarray of int
    fit : tuple
        The fitted coefficients and information (a warm start for the next fit of this variable).
    """
    B, cov, H = _multinomial_fit(X_obs, codes_obs, k, start)
    p, q = B.shape
    draw = B + (linalg.cholesky(cov, lower=True) @ rng.standard_normal(p * q)).reshape(q, p).T
    probs = _probabilities(X_mis @ draw)
    u = rng.random(len(X_mis))
    codes = (u[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
    return codes, (B, H)


# ---- chained equations ------------------------------------------------------------------------------

@contextlib.contextmanager
def one_blas_thread():
    """Run the enclosed code with one BLAS thread, when ``threadpoolctl`` is installed (else unchanged).

    The chained equations and the per-imputation analyses make thousands of small matrix products
    (tens of columns); a multi-threaded BLAS spends more time waking its threads than computing them,
    several-fold more on a busy machine (see benchmarks/README.md).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclass
class _Variable:
    name: str
    method: str
    levels: list | None  # categorical: the levels (codes index them); None for numbers
    values: np.ndarray  # float (numbers, NaN missing) or int codes (-1 missing)
    missing: np.ndarray  # bool
    columns: slice = field(default_factory=lambda: slice(0, 0))  # its block in the design
    center: float = 0.0
    scale: float = 1.0


@dataclass
class MiceResult:
    """Imputations of the missing values of each variable.

    Attributes
    ----------
    data : DataFrame
        The incomplete data as given.
    imputed : dict of str to list of ndarray
        Per variable with missing values, one array per imputation: the imputed values of its
        missing rows (in row order), in the data's own values (levels for categories).
    methods : dict of str to str
        The method of each imputed variable.
    chain_means : DataFrame
        ``imputation, iteration, variable, mean`` of the imputed values (for categories: the mean code)
        after each iteration: flat, interleaving chains mean convergence.
    m, iterations, seed : int
    """

    data: pd.DataFrame
    imputed: dict
    methods: dict
    chain_means: pd.DataFrame
    m: int
    iterations: int
    seed: int

    def complete(self, i: int) -> pd.DataFrame:
        """The ``i``-th completed data set (0-based): a copy of the data with its gaps filled."""
        out = self.data.copy()
        for name, draws in self.imputed.items():
            col = out[name]
            miss = col.isna().to_numpy()
            values = col.to_numpy(dtype=object if col.dtype == object else None, copy=True)
            values[miss] = draws[i]
            out[name] = values if col.dtype == object else values.astype(np.float64)
        return out


def _prepare(df: pd.DataFrame, columns, categorical, levels, methods) -> list[_Variable]:
    out = []
    for name in columns:
        if name not in df.columns:
            raise InputError("variable to impute is not in the data", column=name)
        s = df[name]
        if name in categorical:
            lv, codes = category_codes(s, levels.get(name))
            if (codes == -2).any():
                raise InputError("value not among the levels", column=name)
            method = methods.get(name) or ("logreg" if len(lv) == 2 else "polyreg")
            out.append(_Variable(name, method, lv, codes.astype(np.int64), codes < 0))
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
            if (np.isnan(x) & s.notna().to_numpy()).any():
                raise InputError("non-numeric values in a numeric variable", column=name)
            out.append(_Variable(name, methods.get(name) or "pmm", None, x, np.isnan(x)))
        v = out[-1]
        if v.method not in METHODS:
            raise InputError(f"imputation method must be one of {', '.join(METHODS)}", column=name)
        if v.method != "pmm" and v.levels is None:
            raise InputError(f"method {v.method} is for categorical variables", column=name)
        if v.missing.all():
            raise InputError("every value is missing: nothing to impute from", column=name)
    return out


def _block(v: _Variable, current: np.ndarray) -> np.ndarray:
    """Design columns of a variable from its current (completed) values."""
    if v.levels is None:
        return ((current - v.center) / v.scale)[:, None]
    return (current[:, None] == np.arange(1, len(v.levels))[None, :]).astype(np.float64)


def mice(df: pd.DataFrame, columns: Sequence[str], categorical: Iterable[str] = (), *, m: int = 20, seed: int = 1,
         iterations: int = 10, predictors: Sequence[str] = (), levels: Mapping[str, Sequence] | None = None,
         methods: Mapping[str, str] | None = None, donors: int = DONORS) -> list[pd.DataFrame]:
    """Multiply impute the missing values of ``columns`` by chained equations.

    Parameters
    ----------
    df : DataFrame
        The data (one row per patient).
    columns : sequence of str
        Variables of the imputation model; those with missing values are imputed (in this order
        within each iteration), the complete ones are predictors.
    categorical : iterable of str
        Which of ``columns`` are categorical.
    m : int
        Number of imputations (completed data sets).
    seed : int
        Seed of every random draw: the same seed gives the same data sets.
    iterations : int
        Cycles through the incomplete variables per chain (mice's ``maxit``; default 10).
    predictors : sequence of str
        Further complete numeric columns used as predictors only (e.g. the treatment, the event
        indicator and the Nelson-Aalen cumulative hazard).
    levels : mapping, optional
        Level order per categorical variable.
    methods : mapping, optional
        ``pmm``, ``logreg`` or ``polyreg`` per variable (defaults: pmm for numbers, logreg for two
        categories, polyreg for more).
    donors : int
        Donors of predictive mean matching.

    Returns
    -------
    list of DataFrame
        ``m`` completed copies of ``df``. See :func:`mice_result` for the imputations themselves.
    """
    res = mice_result(df, columns, categorical, m=m, seed=seed, iterations=iterations, predictors=predictors,
                      levels=levels, methods=methods, donors=donors)
    return [res.complete(i) for i in range(m)]


def mice_result(df: pd.DataFrame, columns: Sequence[str], categorical: Iterable[str] = (), *, m: int = 20,
                seed: int = 1, iterations: int = 10, predictors: Sequence[str] = (),
                levels: Mapping[str, Sequence] | None = None, methods: Mapping[str, str] | None = None,
                donors: int = DONORS) -> MiceResult:
    """:func:`mice`, returning the imputed values (a :class:`MiceResult`) instead of ``m`` full copies."""
    if m < 1 or iterations < 1:
        raise ValueError("m and iterations must be at least 1")
    with one_blas_thread():
        return _mice_result(df, columns, categorical, m=m, seed=seed, iterations=iterations, predictors=predictors,
                            levels=levels, methods=methods, donors=donors)


def _mice_result(df, columns, categorical, *, m, seed, iterations, predictors, levels, methods, donors) -> MiceResult:
    categorical = set(categorical)
    variables = _prepare(df, list(dict.fromkeys(columns)), categorical, dict(levels or {}), dict(methods or {}))
    extra = []
    for name in predictors:
        x = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(x).any():
            raise InputError("a predictor of the imputation model has missing values", column=name)
        sd = x.std()
        extra.append((x - x.mean()) / (sd if sd > 0 else 1.0))
    # Design layout: intercept, predictors, then each variable's block.
    width = 1 + len(extra)
    for v in variables:
        n_cols = 1 if v.levels is None else len(v.levels) - 1
        v.columns = slice(width, width + n_cols)
        width += n_cols
        if v.levels is None:
            obs = v.values[~v.missing]
            v.center, v.scale = float(obs.mean()), float(obs.std()) or 1.0
    n = len(df)
    base = np.empty((n, width))
    base[:, 0] = 1.0
    for j, x in enumerate(extra):
        base[:, 1 + j] = x
    incomplete = [v for v in variables if v.missing.any()]
    chains = np.random.SeedSequence(seed).spawn(m)
    starts: dict[str, tuple] = {}  # each categorical fit starts from the previous one (any chain): same estimate, fewer steps
    imputed = {v.name: [] for v in incomplete}
    trace = []
    for i, child in enumerate(chains):
        rng = np.random.default_rng(child)
        Z = base.copy()
        current = {}
        for v in variables:  # start: a random observed value for each missing one (mice's default)
            values = v.values.copy()
            if v.missing.any():
                obs = values[~v.missing]
                values[v.missing] = obs[rng.integers(0, obs.size, size=int(v.missing.sum()))]
            current[v.name] = values
            Z[:, v.columns] = _block(v, values)
        for it in range(iterations):
            for v in incomplete:
                keep = np.ones(width, dtype=bool)
                keep[v.columns] = False
                obs, mis = ~v.missing, v.missing
                cols = np.flatnonzero(keep)
                X_obs, X_mis = Z[np.ix_(obs, cols)], Z[np.ix_(mis, cols)]  # one copy each
                if v.method == "pmm":
                    y = v.values[obs].astype(np.float64)
                    draw = impute_pmm(X_obs, y, X_mis, rng, donors)
                    if v.levels is not None:
                        draw = draw.astype(np.int64)
                else:
                    draw, starts[v.name] = impute_categorical(X_obs, v.values[obs], X_mis, len(v.levels), rng,
                                                              starts.get(v.name))
                values = current[v.name]
                values[mis] = draw
                Z[:, v.columns] = _block(v, values)
                trace.append((i + 1, it + 1, v.name, float(np.mean(draw))))
        for v in incomplete:
            drawn = current[v.name][v.missing]
            if v.levels is not None:
                lv = np.empty(len(v.levels), dtype=object)
                lv[:] = v.levels
                drawn = lv[drawn]
            imputed[v.name].append(drawn)
    return MiceResult(df, imputed, {v.name: v.method for v in incomplete},
                      pd.DataFrame(trace, columns=["imputation", "iteration", "variable", "mean"]), m, iterations,
                      seed)
