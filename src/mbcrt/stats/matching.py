"""Propensity scores, greedy 1:1 nearest-neighbour matching and covariate balance.

The matching reproduces R's MatchIt 4.5.5 ``matchit(method = "nearest")`` without replacement,
pair for pair, including which treated units a caliper leaves unmatched:

- the distance is the propensity score (``link = "logit"``) or its logit
  (``link = "linear.logit"``);
- the caliper is ``caliper * sd(distance)``, the SD over all units (treated and control);
- treated units are taken in descending distance (``m.order = "largest"``), ties in data order;
- each takes the nearest still-unused control. As in MatchIt's ``nn_matchC_vec``, all units are
  sorted by distance (ties in data order) and the nearest available control is sought on each
  side of the treated unit in that order; on equal distances the control on the lower side wins.

MatchIt walks the sorted units one by one, which is quadratic when many controls are used up.
Here the controls are sorted once, each treated unit's place among them is found up front, and
the nearest unused control on each side comes from two union-find "next available" structures
with path halving, so the whole match is O(n log n).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
from scipy.special import expit

from mbcrt.errors import InputError, StatisticalWarning, closest
from mbcrt.stats.design import category_codes

CALIPER_SCALES = ("logit", "probability")
ORDERS = ("largest", "smallest", "data", "random")

# R's glm.fit warns of fitted probabilities within this of 0 or 1 (a sign of near-separation).
_FITTED_EPS = 10 * np.finfo(np.float64).eps
_MAX_ITERATIONS = 100
# Newton converges quadratically: a step this small (on standardised covariates) means the next
# one is below rounding, so the fitted values are the maximum-likelihood ones to machine precision.
_STEP_TOLERANCE = 1e-11
# A covariate whose part not explained by the earlier ones has a relative SD below this is collinear
# (from a Gram matrix, residual SDs under ~1e-8 are rounding noise).
_COLLINEAR_TOLERANCE = 1e-6


# --------------------------------------------------------------------------------------------
# Input checks shared by the public functions
# --------------------------------------------------------------------------------------------

def _as_treatment(treat, n: int | None = None, *, name: str = "treatment") -> np.ndarray:
    """``treat`` as a boolean array (True = treated), checking it is 0/1 and of length ``n``."""
    if isinstance(treat, pd.Series) and treat.name is not None:
        name = str(treat.name)
    values = treat.to_numpy() if isinstance(treat, (pd.Series, pd.Index)) else np.asarray(treat)
    values = values.ravel()
    if n is not None and values.size != n:
        raise InputError(f"treatment indicator has {values.size} values for {n} rows", column=name)
    if values.dtype == bool:
        return values.copy()
    numeric = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isin(numeric, (0.0, 1.0))
    if bad.any():
        raise InputError("treatment indicator must be 0/1 (or True/False), with no missing values",
                         column=name, n_rows=int(bad.sum()))
    return numeric == 1.0


def _require_both_arms(is_treated: np.ndarray, name: str = "treatment") -> None:
    n1 = int(is_treated.sum())
    if n1 == 0 or n1 == is_treated.size:
        raise InputError("both arms need at least one unit (treated and control)", column=name)


def _as_probabilities(ps, *, open_interval: bool) -> np.ndarray:
    values = np.asarray(ps.to_numpy() if isinstance(ps, pd.Series) else ps, dtype=np.float64).ravel()
    low_ok = values > 0 if open_interval else values >= 0
    high_ok = values < 1 if open_interval else values <= 1
    bad = ~(low_ok & high_ok)  # also catches NaN
    if bad.any():
        interval = "strictly between 0 and 1 (the logit scale needs it)" if open_interval else "in [0, 1]"
        raise InputError(f"propensity scores must be {interval}", column="ps", n_rows=int(bad.sum()))
    return values


def _check_choice(value, choices: Sequence[str], key: str) -> str:
    if value not in choices:
        raise InputError(f"'{value}' is not one of {list(choices)}.{closest(value, choices)}", column=key)
    return value


# --------------------------------------------------------------------------------------------
# Propensity score
# --------------------------------------------------------------------------------------------

def propensity_score(X: pd.DataFrame, treat) -> np.ndarray:
    """Propensity scores from a logistic regression of treatment on ``X`` (with an intercept).

    Fitted by Newton-Raphson (IRLS) to full convergence, so the values equal R's
    ``glm(treat ~ ..., family = binomial)$fitted.values`` (to 1e-13 relative on GBSG2; R stops
    at a relative deviance change of 1e-8, by then within rounding of the maximum).
    Covariates are centred and scaled internally, which changes no fitted value. As in R, scores
    are held within [2.2e-16, 1 - 2.2e-16] (linear predictor beyond +-30), with a
    :class:`~mbcrt.errors.StatisticalWarning` when any is within 2.2e-15 of 0 or 1.

    Parameters
    ----------
    X : DataFrame
        Design matrix without intercept, e.g. from :func:`mbcrt.stats.design.design_matrix`.
    treat : array-like of bool or 0/1
        Treatment indicator, one per row of ``X``.

    Returns
    -------
    ndarray
        Fitted probability of treatment for each row, in the order of ``X``.

    Raises
    ------
    InputError
        If a covariate is constant or collinear with earlier ones, if a covariate (alone or
        jointly) separates the arms so that no maximum-likelihood estimate exists, or if the
        input has missing values or a single arm. The message names the covariate.
    """
    names = [str(c) for c in X.columns]
    y = _as_treatment(treat, len(X))
    _require_both_arms(y)
    values = np.asfortranarray(X.to_numpy(dtype=np.float64))  # contiguous columns
    bad_rows = ~np.isfinite(values).all(axis=1)
    if bad_rows.any():
        raise InputError("missing or infinite values in the propensity-score covariates",
                         n_rows=int(bad_rows.sum()))
    _check_separable_columns(values, y, names)
    design = _standardised_design(values)
    _check_collinearity(design, names)
    beta, converged = _newton_logistic(design, y.astype(np.float64))
    culprit = names[int(np.argmax(np.abs(beta[1:])))] if names else None
    if not converged:
        raise InputError("the covariates jointly separate treated from control patients, so the "
                         "propensity model has no finite fit (the largest coefficient is on this "
                         "covariate); drop or coarsen it", column=culprit)
    fitted = _r_logit_inverse(_linear_predictor(design, beta))
    extreme = int(((fitted <= _FITTED_EPS) | (fitted >= 1 - _FITTED_EPS)).sum())
    if extreme:
        warnings.warn(f"{extreme} fitted propensity scores are numerically 0 or 1 (as R's glm warns); "
                      f"check the covariate '{culprit}' for near-separation", StatisticalWarning, stacklevel=2)
    return fitted


def _r_logit_inverse(eta: np.ndarray) -> np.ndarray:
    """Inverse logit exactly as R's ``binomial()$linkinv``: exp(eta) / (1 + exp(eta)), with
    exp(eta) held to [DBL_EPSILON, 1/DBL_EPSILON] beyond |eta| > 30, so that no score is 0 or 1
    (R's fitted values are then 2.2e-16 and 1 - 2.2e-16; the logit scale is finite everywhere)."""
    eps = np.finfo(np.float64).eps
    odds = np.exp(np.clip(eta, -30.0, 30.0))
    odds[eta < -30.0] = eps
    odds[eta > 30.0] = 1.0 / eps
    return odds / (1.0 + odds)


def _check_separable_columns(values: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    """Reject constant covariates and covariates that alone (quasi-)separate the arms."""
    control = ~y
    for j, name in enumerate(names):
        x = values[:, j]
        if x.min() == x.max():
            raise InputError("covariate is constant, so its effect cannot be estimated; drop it",
                             column=name)
        x_treated, x_control = x[y], x[control]
        if x_treated.max() <= x_control.min() or x_control.max() <= x_treated.min():
            raise InputError("covariate separates treated from control patients (no overlap), so "
                             "the propensity model has no finite fit; drop or coarsen it", column=name)


def _standardised_design(values: np.ndarray) -> np.ndarray:
    """Intercept plus centred, unit-SD covariates, column-major (fitted values do not change)."""
    n, p = values.shape
    design = np.empty((n, p + 1), order="F")
    design[:, 0] = 1.0
    for j in range(p):
        x = values[:, j]
        centred = x - x.mean()
        design[:, j + 1] = centred / np.sqrt(np.mean(centred * centred))
    return design


def _check_collinearity(design: np.ndarray, names: list[str]) -> None:
    """Name the first covariate that is a linear combination of the intercept and earlier ones.

    The Cholesky factor of the Gram matrix of the standardised columns gives, column by column, the
    SD of the part not explained by the columns before it (R's QR pivoting flags the same column).
    """
    gram = design.T @ design / design.shape[0]
    p = gram.shape[0]
    lower = np.zeros_like(gram)
    for j in range(p):
        residual = gram[j, j] - lower[j, :j] @ lower[j, :j]
        if residual <= _COLLINEAR_TOLERANCE**2:
            raise InputError("covariate is a linear combination of the covariates before it (R would "
                             "give it an NA coefficient); drop it", column=names[j - 1])
        lower[j, j] = np.sqrt(residual)
        lower[j + 1:, j] = (gram[j + 1:, j] - lower[j + 1:, :j] @ lower[j, :j]) / lower[j, j]


def _linear_predictor(design: np.ndarray, beta: np.ndarray) -> np.ndarray:
    # Column by column in a fixed order: the same bits whatever the BLAS threading.
    eta = np.full(design.shape[0], beta[0])
    for j in range(1, design.shape[1]):
        eta += design[:, j] * beta[j]
    return eta


def _log_likelihood(eta: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(y * eta) - np.sum(np.logaddexp(0.0, eta)))


def _newton_logistic(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, bool]:
    """Maximum-likelihood logistic coefficients; returns (beta, converged)."""
    beta = np.zeros(design.shape[1])
    eta = _linear_predictor(design, beta)
    loglik = _log_likelihood(eta, y)
    for _ in range(_MAX_ITERATIONS):
        mu = expit(eta)
        residual = y - mu
        # Pairwise sums column by column: the score, which fixes the solution, is reproducible bit
        # for bit; the information matrix only steers the steps, so BLAS may compute it.
        score = np.array([np.sum(design[:, j] * residual) for j in range(design.shape[1])])
        root_weighted = design * np.sqrt(mu * (1.0 - mu))[:, None]
        information = root_weighted.T @ root_weighted
        del root_weighted
        try:
            step = np.linalg.solve(information, score)
        except np.linalg.LinAlgError:
            return beta, False
        if not np.all(np.isfinite(step)):
            return beta, False
        # Halve the step while the likelihood falls (as glm.fit does when the deviance diverges).
        for _halving in range(30):
            candidate = beta + step
            eta_candidate = _linear_predictor(design, candidate)
            loglik_candidate = _log_likelihood(eta_candidate, y)
            if loglik_candidate >= loglik - 1e-12 * (1.0 + abs(loglik)):
                break
            step = step / 2.0
        beta, eta, loglik = candidate, eta_candidate, loglik_candidate
        if np.max(np.abs(step)) < _STEP_TOLERANCE:
            return beta, True
    return beta, False


# --------------------------------------------------------------------------------------------
# Nearest-neighbour matching
# --------------------------------------------------------------------------------------------

@dataclass(eq=False)
class MatchResult:
    """A 1:1 nearest-neighbour match without replacement.

    Attributes
    ----------
    treated : ndarray of int
        Row positions of the matched treated units, in the order they were matched.
    control : ndarray of int
        Row positions of their controls (same length as ``treated``).
    pair_id : ndarray of int
        One per row: pair number 1..k, 0 for unmatched rows. Pairs are numbered in the row order
        of their treated unit (as MatchIt's ``subclass``).
    distance : ndarray of float
        The distance measure matched on, one per row: the propensity score or its logit.
    caliper_absolute : float or None
        Largest allowed distance difference within a pair (None: no caliper).
    n_treated : int
        Number of treated units.
    n_unmatched_treated : int
        Treated units left without a control (by the caliper or for want of controls).
    summary : DataFrame
        One row per quantity (column ``value``): n_treated, n_control, n_pairs, unmatched treated,
        caliper (sd units), caliper (absolute), scale, order.
    caliper : float or None
        The caliper in SD units of the distance, as requested.
    caliper_scale : str
        ``"logit"`` or ``"probability"``.
    order : str
        Order in which treated units were matched.
    n_control : int
        Number of control units.
    """

    treated: np.ndarray
    control: np.ndarray
    pair_id: np.ndarray
    distance: np.ndarray
    caliper_absolute: float | None
    n_treated: int
    n_unmatched_treated: int
    summary: pd.DataFrame
    caliper: float | None = None
    caliper_scale: str = "logit"
    order: str = "largest"
    n_control: int = 0

    @property
    def n_pairs(self) -> int:
        """Number of matched pairs."""
        return int(self.treated.size)


def match_nearest(ps, treat, *, caliper: float | None = 0.2, caliper_scale: str = "logit",
                  order: str = "largest", seed: int | None = None) -> MatchResult:
    """Greedy 1:1 nearest-neighbour matching without replacement, as R's MatchIt does it.

    Equivalent to ``matchit(..., method = "nearest", distance = ps, caliper = caliper,
    m.order = order)`` in MatchIt 4.5.5, with ``link = "linear.logit"`` for the logit scale.

    Parameters
    ----------
    ps : array-like of float
        Propensity score of every row.
    treat : array-like of bool or 0/1
        Treatment indicator of every row.
    caliper : float or None, default 0.2
        Maximum distance difference within a pair, in SDs of the distance over all units;
        None for no caliper.
    caliper_scale : {"logit", "probability"}, default "logit"
        Match (and apply the caliper) on the logit of the propensity score or on the score itself.
    order : {"largest", "smallest", "data", "random"}, default "largest"
        Order in which treated units choose: by descending or ascending distance (ties in data
        order), in data order, or in a random order drawn with ``seed``.
    seed : int, optional
        Seed for ``order="random"`` (required then: results must be reproducible).

    Returns
    -------
    MatchResult

    Notes
    -----
    Each treated unit in turn takes the unused control nearest in distance; if even that one is
    farther than the caliper, the treated unit stays unmatched. Ties between equidistant controls
    are broken as in MatchIt's C++ code: with all units sorted by distance (ties in data order),
    the nearest available control below the treated unit in that order wins over the one above.
    """
    _check_choice(caliper_scale, CALIPER_SCALES, "caliper_scale")
    _check_choice(order, ORDERS, "order")
    distance = _distance(_as_probabilities(ps, open_interval=caliper_scale == "logit"), caliper_scale)
    is_treated = _as_treatment(treat, distance.size)
    _require_both_arms(is_treated)
    caliper_absolute = _caliper_absolute(distance, caliper)
    chooser_rows = _treated_in_matching_order(distance, is_treated, order, seed)
    treated_rows, control_rows = _greedy_pairs(distance, is_treated, chooser_rows, caliper_absolute)
    pair_id = _pair_ids(distance.size, treated_rows, control_rows)
    n_treated = int(is_treated.sum())
    n_control = distance.size - n_treated
    return MatchResult(
        treated=treated_rows, control=control_rows, pair_id=pair_id, distance=distance,
        caliper_absolute=caliper_absolute, n_treated=n_treated,
        n_unmatched_treated=n_treated - treated_rows.size,
        summary=_match_summary(n_treated, n_control, treated_rows.size, caliper, caliper_absolute,
                               caliper_scale, order),
        caliper=None if caliper is None else float(caliper), caliper_scale=caliper_scale,
        order=order, n_control=n_control)


def _distance(ps: np.ndarray, caliper_scale: str) -> np.ndarray:
    if caliper_scale == "probability":
        return ps.copy()
    return np.log(ps) - np.log1p(-ps)


def _caliper_absolute(distance: np.ndarray, caliper: float | None) -> float | None:
    if caliper is None:
        return None
    if isinstance(caliper, bool) or not np.isfinite(caliper) or caliper <= 0:
        raise InputError(f"caliper must be a positive number of SDs or None, not {caliper!r}",
                         column="caliper")
    # MatchIt: caliper * sd(distance), the sample SD over treated and control units together.
    return float(caliper) * float(np.std(distance, ddof=1))


def _treated_in_matching_order(distance: np.ndarray, is_treated: np.ndarray, order: str,
                               seed: int | None) -> np.ndarray:
    """Row positions of the treated units in the order they choose controls."""
    treated_rows = np.flatnonzero(is_treated)
    if order == "data":
        return treated_rows
    if order == "random":
        if seed is None:
            raise InputError("order 'random' needs a seed, so the match can be reproduced", column="seed")
        return treated_rows[np.random.default_rng(seed).permutation(treated_rows.size)]
    d = distance[treated_rows]
    # Stable sorts keep tied units in data order, as R's order(..., decreasing = TRUE) does.
    by_distance = np.argsort(-d if order == "largest" else d, kind="stable")
    return treated_rows[by_distance]


def _greedy_pairs(distance: np.ndarray, is_treated: np.ndarray, chooser_rows: np.ndarray,
                  caliper_absolute: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Match each treated row in ``chooser_rows`` in turn; returns (treated rows, control rows)."""
    sorted_rows = np.argsort(distance, kind="stable")  # all units, ties in data order (sort.list)
    control_in_sorted = ~is_treated[sorted_rows]
    control_rows_sorted = sorted_rows[control_in_sorted]
    # For a treated unit, the number of controls before it in the sorted order is where it would
    # be inserted among the sorted controls: its nearest neighbours sit at that index and the one before.
    controls_before = np.empty(distance.size, dtype=np.int64)
    controls_before[sorted_rows] = np.cumsum(control_in_sorted)
    chosen = _match_sorted(distance[control_rows_sorted], distance[chooser_rows],
                           controls_before[chooser_rows],
                           np.inf if caliper_absolute is None else caliper_absolute)
    matched = chosen >= 0
    return chooser_rows[matched], control_rows_sorted[chosen[matched]]


@numba.njit(cache=True)  # compiled once per machine, into __pycache__
def _find(parent, x):
    """Representative of ``x`` with path halving: the next available slot in one direction."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)  # compiled once per machine, into __pycache__
def _match_sorted(control_distance, chooser_distance, insertion, caliper):
    """Greedy matching on controls sorted by distance; returns each chooser's control index or -1.

    ``up[j]`` leads to the first unused control at index >= j (``n0``: none);
    ``down[j]`` leads to ``1 +`` the last unused control at index < j (0: none).
    """
    n0 = control_distance.size
    up = np.arange(n0 + 1)
    down = np.arange(n0 + 1)
    chosen = np.full(chooser_distance.size, -1, dtype=np.int64)
    n_left = n0
    for i in range(chooser_distance.size):
        if n_left == 0:
            break
        dt = chooser_distance[i]
        right = _find(up, insertion[i])
        left = _find(down, insertion[i]) - 1
        if left >= 0 and right < n0:
            # MatchIt prefers the lower neighbour on equal distance (<=).
            if abs(control_distance[left] - dt) <= abs(control_distance[right] - dt):
                k = left
            else:
                k = right
        elif left >= 0:
            k = left
        elif right < n0:
            k = right
        else:
            continue
        if abs(control_distance[k] - dt) > caliper:
            continue  # even the nearest unused control is too far: stays unmatched
        chosen[i] = k
        up[k] = k + 1
        down[k + 1] = k
        n_left -= 1
    return chosen


def _pair_ids(n: int, treated_rows: np.ndarray, control_rows: np.ndarray) -> np.ndarray:
    pair_id = np.zeros(n, dtype=np.int64)
    by_treated_row = np.argsort(treated_rows, kind="stable")
    numbers = np.arange(1, treated_rows.size + 1)
    pair_id[treated_rows[by_treated_row]] = numbers
    pair_id[control_rows[by_treated_row]] = numbers
    return pair_id


def _match_summary(n_treated, n_control, n_pairs, caliper, caliper_absolute, caliper_scale,
                   order) -> pd.DataFrame:
    rows = {
        "n_treated": n_treated,
        "n_control": n_control,
        "n_pairs": n_pairs,
        "unmatched treated": n_treated - n_pairs,
        "caliper (sd units)": caliper,
        "caliper (absolute)": caliper_absolute,
        "scale": caliper_scale,
        "order": order,
    }
    frame = pd.DataFrame({"value": pd.Series(rows, dtype=object)})
    frame.index.name = "quantity"
    return frame


def matched_frame(df: pd.DataFrame, result: MatchResult, ps) -> pd.DataFrame:
    """The matched rows of ``df`` in their original order, with ``pair_id`` and ``ps`` added.

    Parameters
    ----------
    df : DataFrame
        The data the match was made on (same rows, same order).
    result : MatchResult
        From :func:`match_nearest`.
    ps : array-like of float
        Propensity score of every row of ``df``.

    Returns
    -------
    DataFrame
        Matched rows only (index kept), columns of ``df`` plus ``pair_id`` and ``ps``.
    """
    n = len(df)
    if result.pair_id.size != n:
        raise InputError(f"the match was made on {result.pair_id.size} rows, the data has {n}")
    scores = np.asarray(ps.to_numpy() if isinstance(ps, pd.Series) else ps, dtype=np.float64).ravel()
    if scores.size != n:
        raise InputError(f"{scores.size} propensity scores for {n} rows", column="ps")
    for column in ("pair_id", "ps"):
        if column in df.columns:
            raise InputError("the data already has this column; rename it before matching", column=column)
    rows = np.flatnonzero(result.pair_id > 0)
    out = df.take(rows)  # a new frame already: no second copy of every column
    out["pair_id"] = result.pair_id[rows]
    out["ps"] = scores[rows]
    return out


# --------------------------------------------------------------------------------------------
# Balance
# --------------------------------------------------------------------------------------------

def standardized_difference(x, treat, *, categorical: bool = False, levels: Sequence | None = None):
    """Standardised mean difference, treated minus control.

    Continuous: ``(mean1 - mean0) / sqrt((var1 + var0) / 2)`` with sample variances (n - 1).
    Categorical: per level, the proportions version
    ``(p1 - p0) / sqrt((p1 (1 - p1) + p0 (1 - p0)) / 2)``.
    Missing values are left out of each group. When both groups have no spread the result is 0
    if their means are equal, else signed infinity.

    Parameters
    ----------
    x : array-like
        The covariate.
    treat : array-like of bool or 0/1
        Treatment indicator.
    categorical : bool, default False
        Treat ``x`` as categorical (one SMD per level).
    levels : sequence, optional
        Level order for a categorical ``x`` (default: sorted values present).

    Returns
    -------
    float or Series
        A float for a continuous covariate; a Series indexed by level for a categorical one.
    """
    values = x if isinstance(x, pd.Series) else pd.Series(np.asarray(x).ravel())
    values = values.reset_index(drop=True)
    is_treated = _as_treatment(treat, len(values))
    if categorical:
        return _smd_by_level(values, is_treated, levels)[1]
    numeric = pd.to_numeric(values, errors="coerce")
    non_numeric = int(numeric.isna().sum() - values.isna().sum())
    if non_numeric:
        raise InputError("non-numeric values in a continuous covariate (declare it categorical?)",
                         column=str(values.name) if values.name is not None else None, n_rows=non_numeric)
    arr = numeric.to_numpy(dtype=np.float64)
    treated, control = arr[is_treated], arr[~is_treated]
    treated, control = treated[~np.isnan(treated)], control[~np.isnan(control)]
    if treated.size < 2 or control.size < 2:
        return float("nan")
    return _ratio(treated.mean() - control.mean(), (treated.var(ddof=1) + control.var(ddof=1)) / 2)


def _smd_by_level(values: pd.Series, is_treated: np.ndarray, levels: Sequence | None) -> tuple[list, pd.Series]:
    """The levels and the SMD of each (see :func:`standardized_difference`), the column factorized once."""
    lv, codes = category_codes(values, levels)  # codes == k is values == lv[k]
    observed = codes != -1
    treated, control = is_treated & observed, ~is_treated & observed
    smd = {}
    for level in lv:
        indicator = (codes == lv.index(level)).astype(np.float64)
        p1 = indicator[treated].mean() if treated.any() else np.nan
        p0 = indicator[control].mean() if control.any() else np.nan
        smd[level] = _ratio(p1 - p0, (p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    return lv, pd.Series(smd, name=values.name, dtype=np.float64)


def _ratio(difference: float, pooled_variance: float) -> float:
    if np.isnan(difference) or np.isnan(pooled_variance):
        return float("nan")
    if pooled_variance == 0:
        return 0.0 if difference == 0 else float(np.copysign(np.inf, difference))
    return float(difference / np.sqrt(pooled_variance))


def balance_table(before: pd.DataFrame, after: pd.DataFrame | None, *, treatment: str,
                  covariates: Iterable[str], categorical: Iterable[str] = (),
                  levels: Mapping[str, Sequence] | None = None,
                  labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Standardised mean differences before and after matching, one row per covariate or level.

    Parameters
    ----------
    before, after : DataFrame
        The cohort before matching and the matched cohort (``after`` may be None).
    treatment : str
        Name of the 0/1 treatment column in both frames.
    covariates : iterable of str
        Covariates, in display order.
    categorical : iterable of str
        Which covariates are categorical (one row per level, every level shown).
    levels : mapping, optional
        Level order per categorical covariate (default: sorted values in ``before``).
    labels : mapping, optional
        Display label per covariate (default: its name).

    Returns
    -------
    DataFrame
        Columns ``variable, label, level, smd_before, smd_after``; ``level`` is "" for continuous
        covariates and ``smd_after`` is NaN when ``after`` is None.
    """
    categorical, covariates = set(categorical), list(covariates)
    levels = dict(levels or {})
    labels = dict(labels or {})
    frames = {"before": before} if after is None else {"before": before, "after": after}
    for which, frame in frames.items():
        missing = [c for c in [treatment, *covariates] if c not in frame.columns]
        if missing:
            raise InputError(f"column missing from the {which}-matching data.{closest(missing[0], frame.columns)}",
                             column=missing[0])
    rows = []
    arms = {id(frame): _as_treatment(frame[treatment], len(frame)) for frame in frames.values()} if covariates else {}
    for variable in covariates:
        label = labels.get(variable, variable)
        if variable in categorical:
            lv, smd_before = _smd_by_level(before[variable], arms[id(before)], levels.get(variable))
            smd_after = (_smd_by_level(after[variable], arms[id(after)], lv)[1]
                         if after is not None else pd.Series(np.nan, index=smd_before.index))
            for level in lv:
                rows.append((variable, label, str(level), smd_before[level], smd_after[level]))
        else:
            smd_after = (standardized_difference(after[variable], after[treatment])
                         if after is not None else np.nan)
            rows.append((variable, label, "", standardized_difference(before[variable], before[treatment]),
                         smd_after))
    table = pd.DataFrame(rows, columns=["variable", "label", "level", "smd_before", "smd_after"])
    table[["smd_before", "smd_after"]] = table[["smd_before", "smd_after"]].astype(np.float64)
    return table
