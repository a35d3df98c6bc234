"""Start-stop (counting-process) data for a treatment that starts during follow-up.

:func:`start_stop` splits each treated patient's follow-up at the start of treatment, as R's
``survival::tmerge`` does with a time-dependent covariate::

    base <- tmerge(d, d, id = id, tstop = time, event = event(time, event))
    tv   <- tmerge(base, d, id = id, treated = tdc(treat_time))

so that ``coxph(Surv(tstart, tstop, event) ~ treated, data = tv, cluster = id)`` compares the hazard
while treated with the hazard while not yet (or never) treated: patients contribute untreated
person-time until they start treatment, which removes the immortal-time bias of an ever/never
comparison. Vectorised (``np.repeat``), no loop over patients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mbcrt.errors import InputError

START_STOP_COLUMNS = ["id", "tstart", "tstop", "event", "treated"]


def _as_float(values, name: str, n: int | None = None) -> np.ndarray:
    arr = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce").to_numpy(np.float64)
    if n is not None and arr.size != n:
        raise InputError(f"expected one value per patient ({n}), got {arr.size}", column=name)
    return arr


def start_stop(time, event, treat_time, *, id=None) -> pd.DataFrame:
    """Counting-process rows with a time-dependent treatment indicator (R ``tmerge(..., tdc())``).

    Parameters
    ----------
    time : array-like
        End of follow-up (event or censoring), > 0, from the time origin (e.g. start of systemic
        treatment).
    event : array-like
        1 = event at ``time``, 0 = censored.
    treat_time : array-like
        Time treatment started, on the same scale; NaN = never treated. As in ``tmerge``: a start
        at or before 0 makes the whole follow-up treated; a start at or after ``time`` is outside
        follow-up, so the patient is untreated throughout; otherwise the follow-up is split into
        ``(0, treat_time]`` untreated and ``(treat_time, time]`` treated, the event on the last row.
    id : array-like, optional
        Patient identifiers for the ``id`` column (default: 0..n-1, the patient's position).

    Returns
    -------
    DataFrame
        Columns ``id, tstart, tstop, event, treated`` (event and treated int), rows ordered by
        patient then time; ``id`` is the cluster for robust standard errors.

    Raises
    ------
    InputError
        Missing, negative or zero follow-up times, or events other than 0/1.
    """
    t = _as_float(time, "time")
    n = t.size
    e = _as_float(event, "event", n)
    tt = _as_float(treat_time, "treat_time", n)
    bad = int((~np.isfinite(t) | (t <= 0)).sum())
    if bad:
        raise InputError("follow-up time must be a positive number for start-stop rows "
                         "(a patient followed for 0 days has no person-time)", column="time", n_rows=bad)
    bad = int((~np.isin(e, (0.0, 1.0))).sum())
    if bad:
        raise InputError("event indicator must be 0 (censored) or 1 (event)", column="event", n_rows=bad)
    ids = np.arange(n) if id is None else np.asarray(id).ravel()
    if ids.size != n:
        raise InputError(f"expected one id per patient ({n}), got {ids.size}", column="id")
    split = np.isfinite(tt) & (tt > 0) & (tt < t)
    treated_from_start = np.isfinite(tt) & (tt <= 0)
    reps = 1 + split.astype(np.int64)
    rows = np.repeat(np.arange(n), reps)
    second = np.zeros(rows.size, dtype=bool)  # the treated row of a split patient
    second[np.cumsum(reps)[split] - 1] = True
    first_of_split = np.repeat(split, reps) & ~second
    tstart = np.where(second, tt[rows], 0.0)
    tstop = np.where(first_of_split, tt[rows], t[rows])
    ev = np.where(first_of_split, 0, e[rows]).astype(np.int64)
    treated = (second | treated_from_start[rows]).astype(np.int64)
    return pd.DataFrame({"id": ids[rows], "tstart": tstart, "tstop": tstop, "event": ev,
                         "treated": treated}, columns=START_STOP_COLUMNS)
