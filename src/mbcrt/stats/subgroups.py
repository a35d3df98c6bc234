"""Treatment hazard ratios within subgroups, and the test of treatment-by-subgroup interaction.

For each subgroup variable and each of its levels, a Cox model of treatment alone is fitted to the
patients of that level (R: ``coxph(Surv(time, event) ~ treat, data = subset)``). The interaction
p-value is the likelihood-ratio test of ``treat + var`` against ``treat * var`` with ``var``
categorical (R: ``anova(coxph(... ~ treat + var), coxph(... ~ treat * var))``), on the patients
with a known value of ``var``.

Two departures from R, both limits of what R computes: a level with no events is left out of the
interaction test (R's coefficient for it diverges, and its patients then drop out of every risk
set), and an interaction column that cannot be estimated (a level with one arm only) is dropped,
so the test has fewer degrees of freedom (R reports it as NA and does the same).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.stats.cox import (
    MIN_EVENTS_PER_VARIABLE,
    _aliased_columns,
    fit_cox,
    likelihood_ratio,
)
from mbcrt.stats.design import category_codes

COLUMNS = ["variable", "label", "level", "n", "events", "n_treated", "n_control", "events_treated",
           "events_control", "hr", "lower", "upper", "p", "interaction_p", "note"]


def _check_columns(df: pd.DataFrame, time: str, event: str, treatment: str, variables) -> None:
    for col in [time, event, treatment, *variables]:
        if col not in df.columns:
            raise InputError("column not in the data", column=col)
    for col, rule in ((treatment, "treatment must be coded 0 (control) or 1 (treated)"),
                      (event, "event indicator must be 0 (censored) or 1 (event)")):
        bad = int((~df[col].isin([0, 1])).sum())
        if bad:
            raise InputError(rule, column=col, n_rows=bad)
    t = pd.to_numeric(df[time], errors="coerce")
    bad = int((~np.isfinite(t) | (t < 0)).sum())
    if bad:
        raise InputError("survival time missing, negative or non-numeric", column=time, n_rows=bad)


def _level_hazard_ratio(sub: pd.DataFrame, time: str, event: str, treatment: str, ties: str,
                        alpha: float) -> dict:
    """Counts and the treatment HR among the patients of one level (NaN with a note when not estimable)."""
    arm, ev = sub[treatment].to_numpy(), sub[event].to_numpy()
    row = {"n": len(sub), "events": int(ev.sum()), "n_treated": int((arm == 1).sum()),
           "n_control": int((arm == 0).sum()), "events_treated": int(ev[arm == 1].sum()),
           "events_control": int(ev[arm == 0].sum()),
           "hr": np.nan, "lower": np.nan, "upper": np.nan, "p": np.nan, "note": ""}
    if row["n"] == 0:
        row["note"] = "no patients"
    elif row["events"] == 0:
        row["note"] = "no events"
    elif row["n_treated"] == 0 or row["n_control"] == 0:
        row["note"] = "one arm only"
    else:
        X = pd.DataFrame({treatment: arm.astype(np.float64)}, index=sub.index)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)  # reported once, by the caller
                fit = fit_cox(X, sub[time], sub[event], ties=ties, alpha=alpha)
        except InputError as exc:
            row["note"] = f"HR not estimable: {exc.rule}"
        else:
            s = fit.summary.iloc[0]
            row.update(hr=s["hr"], lower=s["lower"], upper=s["upper"], p=s["p"])
            if row["events"] < MIN_EVENTS_PER_VARIABLE:
                row["note"] = f"fewer than {MIN_EVENTS_PER_VARIABLE} events"
    return row


def _interaction_design(data: pd.DataFrame, treatment: str, var: str, levels: list,
                        codes: np.ndarray) -> tuple:
    """Design columns of ``treat + var`` and of the added ``treat:var`` terms (estimable ones only).

    ``codes`` is each row's index into ``levels`` (see :func:`mbcrt.stats.design.category_codes`).
    """
    present = [lv for lv in levels if (codes == levels.index(lv)).any()]
    arm = data[treatment].to_numpy(dtype=np.float64)
    main = pd.DataFrame({treatment: arm}, index=data.index)
    for lv in present[1:]:
        main[f"{var}{lv}"] = (codes == levels.index(lv)).astype(np.float64)
    inter = pd.DataFrame({f"{treatment}:{c}": arm * main[c].to_numpy() for c in main.columns[1:]},
                         index=data.index)
    full = pd.concat([main, inter], axis=1)
    centred = full.to_numpy() - full.to_numpy().mean(axis=0)
    aliased = set(_aliased_columns(centred.T @ centred))
    keep = [c for j, c in enumerate(full.columns) if j not in aliased or c in main.columns]
    return main, full[keep]


def _interaction_p(df: pd.DataFrame, time: str, event: str, treatment: str, var: str, levels: list,
                   codes: np.ndarray, ties: str) -> tuple[float, str]:
    """Likelihood-ratio p of treatment-by-``var`` interaction, and a note when it is not computed.

    ``df`` holds the time, event and treatment columns; ``codes`` each row's index into ``levels``
    (-1 missing).
    """
    known = codes >= 0
    events = np.bincount(codes[known], weights=df[event].to_numpy()[known], minlength=len(levels))
    with_events = [lv for lv in levels if events[levels.index(lv)] > 0]
    if len(with_events) < 2:
        return np.nan, "interaction not tested: fewer than two levels with events"
    rows = np.isin(codes, [levels.index(lv) for lv in with_events])
    data = df[rows]
    renumber = np.full(len(levels), -1, dtype=np.int64)  # codes into with_events (first listings)
    for lv in with_events:
        renumber[levels.index(lv)] = with_events.index(lv)
    main, full = _interaction_design(data, treatment, var, with_events, renumber[codes[rows]])
    if full.shape[1] == main.shape[1]:
        return np.nan, "interaction not tested: no level has both arms"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            reduced_fit = fit_cox(main, data[time], data[event], ties=ties)
            full_fit = fit_cox(full, data[time], data[event], ties=ties)
    except InputError as exc:
        return np.nan, f"interaction not tested: {exc}"
    return likelihood_ratio(full_fit, reduced_fit)[2], ""


def subgroup_hazard_ratios(df: pd.DataFrame, *, time: str, event: str, treatment: str,
                           variables: Sequence[str], levels: Mapping[str, Sequence] | None = None,
                           labels: Mapping[str, str] | None = None, ties: str = "efron",
                           alpha: float = 0.05) -> pd.DataFrame:
    """Treatment hazard ratio (treated vs control) in each level of each subgroup variable.

    Parameters
    ----------
    df : DataFrame
        One row per patient.
    time, event : str
        Follow-up time and event (1) / censored (0) columns.
    treatment : str
        0/1 column; the hazard ratio is of 1 against 0.
    variables : sequence of str
        Subgroup variables, each treated as categorical.
    levels : mapping, optional
        Level order per variable (the first is the reference of the interaction model); else sorted.
    labels : mapping, optional
        Display label per variable (the ``label`` column); else the column name.
    ties : {"efron", "breslow"}
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row per variable and level, in the order given: variable, label, level, n, events,
        n_treated, n_control, events_treated, events_control, hr, lower, upper, p (Wald),
        interaction_p (same on every row of a variable), note (why a value is missing, or a caution).

    Warns
    -----
    StatisticalWarning
        Once, naming the subgroups with fewer than 10 events.
    """
    levels, labels = dict(levels or {}), dict(labels or {})
    _check_columns(df, time, event, treatment, variables)
    data = df[list(dict.fromkeys([time, event, treatment]))]  # the rows of a level: these columns only
    coded = {var: category_codes(df[var], levels.get(var)) for var in variables}
    # Interaction tests first: they usually share one set of rows, so one sort of the data.
    interaction = {var: _interaction_p(data, time, event, treatment, var, *coded[var], ties) for var in variables}
    rows, few = [], []
    for var in variables:
        var_levels, codes = coded[var]
        p_int, int_note = interaction[var]
        for lv in var_levels:
            row = _level_hazard_ratio(data[codes == var_levels.index(lv)], time, event, treatment, ties, alpha)
            if 0 < row["events"] < MIN_EVENTS_PER_VARIABLE:
                few.append(f"{var}={lv} ({row['events']})")
            notes = [n for n in (row["note"], int_note) if n]
            rows.append({"variable": var, "label": labels.get(var, var), "level": lv, **row,
                         "interaction_p": p_int, "note": "; ".join(notes)})
    if few:
        warnings.warn(f"subgroups with fewer than {MIN_EVENTS_PER_VARIABLE} events: {', '.join(few)}",
                      StatisticalWarning, stacklevel=2)
    return pd.DataFrame(rows, columns=COLUMNS)
