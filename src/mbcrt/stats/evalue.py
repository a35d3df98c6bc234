"""E-values for unmeasured confounding (VanderWeele & Ding, Ann Intern Med 2017;167:268-274).

The E-value is the minimum strength of association, on the risk-ratio scale, that an unmeasured
confounder would need with both the treatment and the outcome, conditional on the measured
covariates, to explain away an observed risk ratio: ``E = RR + sqrt(RR (RR - 1))`` for RR >= 1
(for RR < 1 take 1/RR first). The E-value of a confidence interval is that of the limit closer
to 1, and 1 when the interval covers 1.

A hazard ratio is first converted to an approximate risk ratio. When the outcome is rare (< 15%
by the end of follow-up) HR ~ RR. When it is common, VanderWeele (Biometrics 2020;76:746-752;
and the ``EValue`` R package, ``evalues.HR(rare = FALSE)``) uses
``RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``. Everything here is computed by hand from these
formulas (no package); the tests check the published example (RR 3.9, lower limit 1.8 ->
E-values 7.26 and 3.0).
"""

from __future__ import annotations

import numpy as np


def hr_to_rr(hr, *, rare: bool = False):
    """Approximate risk ratio for a hazard ratio.

    Parameters
    ----------
    hr : float or array-like
        Hazard ratio(s), > 0.
    rare : bool, default False
        True when the outcome is rare at the end of follow-up: RR = HR. False: VanderWeele's
        common-outcome conversion ``(1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))`` (1 maps to 1).

    Returns
    -------
    float or ndarray
    """
    h = np.asarray(hr, dtype=np.float64)
    if np.any(~(h > 0)):
        raise ValueError("hazard ratios must be positive numbers")
    if rare:
        out = h
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(h == 1.0, 1.0, (1.0 - 0.5 ** np.sqrt(h)) / (1.0 - 0.5 ** np.sqrt(1.0 / h)))
    return float(out) if out.ndim == 0 else out


def evalue_rr(rr) -> float:
    """E-value of a risk ratio: ``RR + sqrt(RR (RR - 1))`` after taking 1/RR when RR < 1.

    Parameters
    ----------
    rr : float
        Risk ratio, > 0.

    Returns
    -------
    float
        >= 1; exactly 1 for RR = 1.
    """
    r = float(rr)
    if not r > 0 or not np.isfinite(r):
        raise ValueError(f"risk ratio must be a positive finite number, got {rr!r}")
    if r < 1:
        r = 1.0 / r
    return float(r + np.sqrt(r * (r - 1.0)))


def evalue(hr: float, lower: float | None = None, upper: float | None = None, *,
           rare: bool = False) -> tuple[float, float]:
    """E-value of a hazard ratio and of its confidence interval.

    Parameters
    ----------
    hr : float
        Point estimate of the hazard ratio.
    lower, upper : float, optional
        Confidence limits of the hazard ratio. Without them the CI E-value is NaN.
    rare : bool, default False
        Whether the outcome is rare (then HR ~ RR); False uses the common-outcome conversion
        (see :func:`hr_to_rr`), as R ``EValue::evalues.HR(est, lo, hi, rare = FALSE)``.

    Returns
    -------
    (point, ci) : tuple of float
        E-value of the estimate, and of the confidence limit closer to 1 (1 when the interval
        covers 1).
    """
    if lower is not None and upper is not None and not lower <= hr <= upper:
        raise ValueError(f"the estimate {hr} is not inside its interval ({lower}, {upper})")
    point = evalue_rr(hr_to_rr(hr, rare=rare))
    if lower is None or upper is None:
        return point, float("nan")
    if lower <= 1.0 <= upper:
        return point, 1.0
    limit = lower if hr > 1 else upper  # the limit closer to the null
    return point, evalue_rr(hr_to_rr(limit, rare=rare))
