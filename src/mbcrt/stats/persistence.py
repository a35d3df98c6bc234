"""Persistence on the same systemic therapy at a landmark time after a local treatment.

The primary endpoint of single-arm studies of metastasis-directed radiotherapy (MDRT) for
oligoprogression: the proportion of patients still on the systemic therapy they had at MDRT a
given time (the *horizon*, e.g. 6 months) later, among the patients whose status at that time can
be assessed, overall and by group, with Wilson and exact (Clopper-Pearson) 95% confidence
intervals and a test of equal proportions across groups (Pearson chi-square and the
Fisher-Freeman-Halton exact test, both reported because papers rarely say which they used).

Time on the same therapy is the time-to-next-therapy variable of the study: ``time`` runs from MDRT
to the start of the next systemic therapy (or death, when death ends the therapy) with ``event`` = 1,
or to the end of follow-up with ``event`` = 0. Which patients count in the denominator is a reading
of the paper (see :data:`EVALUABLE_RULES`).

The module also builds the persistence-by-subgroup table behind the forest plot and the anonymous
lanes of the swimmer plot, and (:func:`persistence_step`) everything the persistence notebook shows.
All counts are vectorised (``np.bincount``): a million patients take well under a second.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mbcrt.errors import InputError, StatisticalWarning, closest
from mbcrt.stats import contingency

#: Who is evaluable at horizon ``h``:
#: "followed": followed for at least ``h`` (follow-up to death or last contact >= h) -- the literal
#: reading of "patients with a follow-up time of at least 1 year";
#: "status_known": followed for at least ``h`` or off the therapy (event) before ``h``, so that early
#: failures lost to follow-up afterwards still count as failures.
EVALUABLE_RULES = ("followed", "status_known")
#: The between-group tests, by key: what the ``tests`` tables call them.
TESTS = {"chisq": "Pearson chi-square", "fisher": "Fisher-Freeman-Halton exact"}
SUMMARY_COLUMNS = ["group", "n_patients", "share", "n_evaluable", "n_persisting", "proportion",
                   "wilson_lower", "wilson_upper", "exact_lower", "exact_upper"]
TEST_COLUMNS = ["test", "method", "statistic", "df", "p", "min_expected"]
LANE_COLUMNS = ["lane", "group", "end", "progression", "next_therapy", "death", "censored"]
ALL = "All"
#: Times closer than this are equal (a marker at the end of a lane belongs to it).
_TIME_TOLERANCE = 1e-9


# ------------------------------------------------------------------------------------------------
# Evaluable and persisting patients
# ------------------------------------------------------------------------------------------------

def _arrays(time, event, followup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check and convert the three per-patient inputs."""
    t = np.asarray(time, dtype=np.float64).ravel()
    e = np.asarray(event, dtype=np.float64).ravel()
    f = np.asarray(followup, dtype=np.float64).ravel()
    if not (t.size == e.size == f.size):
        raise InputError(f"time, event and followup differ in length ({t.size}, {e.size}, {f.size})")
    for name, x in (("time", t), ("followup", f)):
        bad = int((~np.isfinite(x) | (x < 0)).sum())
        if bad:
            raise InputError(f"{name} must be a finite time >= 0", column=name, n_rows=bad)
    bad = int((~np.isin(e, (0.0, 1.0))).sum())
    if bad:
        raise InputError("event must be 0 or 1", column="event", n_rows=bad)
    # Time on therapy is observed within follow-up; more would mean mismatched columns.
    bad = int((t > f + 1e-6 * np.maximum(1.0, f)).sum())
    if bad:
        raise InputError("time on therapy exceeds follow-up (are time and followup from the same dates?)",
                         column="followup", n_rows=bad)
    return t, e.astype(np.int64), f


def evaluable_at(time, event, followup, horizon: float, rule: str = "followed") -> np.ndarray:
    """Which patients are evaluable for persistence at ``horizon``.

    Parameters
    ----------
    time : array-like
        Time on the same therapy (to next therapy or death if ``event``, else to end of follow-up).
    event : array-like of {0, 1}
        1 if the therapy ended (next therapy or death).
    followup : array-like
        Time from the start (MDRT) to death or last contact.
    horizon : float
        Landmark time, same unit.
    rule : {"followed", "status_known"}
        See :data:`EVALUABLE_RULES`.

    Returns
    -------
    ndarray of bool
    """
    if rule not in EVALUABLE_RULES:
        raise InputError(f"evaluable rule must be one of {', '.join(EVALUABLE_RULES)} (got '{rule}')."
                         f"{closest(rule, EVALUABLE_RULES)}", column="persistence.evaluable")
    t, e, f = _arrays(time, event, followup)
    followed = f >= horizon
    if rule == "followed":
        return followed
    return followed | ((t < horizon) & (e == 1))


def persisting_at(time, horizon: float) -> np.ndarray:
    """Still on the same therapy at ``horizon`` (time on therapy >= horizon); meaningful where evaluable."""
    return np.asarray(time, dtype=np.float64) >= horizon


# ------------------------------------------------------------------------------------------------
# Proportion persisting, overall and by group
# ------------------------------------------------------------------------------------------------

@dataclass
class PersistenceResult:
    """Persistence at one horizon, overall and by group.

    Attributes
    ----------
    horizon : float
        Landmark time.
    rule : str
        Evaluability rule (:data:`EVALUABLE_RULES`).
    alpha : float
        1 - confidence level of the intervals.
    summary : DataFrame
        One row for all patients ("All") then one per group: ``group, n_patients, share`` (of all
        patients), ``n_evaluable, n_persisting, proportion`` (0-1), ``wilson_lower, wilson_upper``
        (R's ``prop.test(k, n, correct = FALSE)``) and ``exact_lower, exact_upper`` (``binom.test``).
    tests : DataFrame
        ``test, method, statistic, df, p, min_expected`` for the groups x (persisting, not) table: Pearson
        chi-square (``chisq.test(tb, correct = FALSE)``) and Fisher-Freeman-Halton
        (``fisher.test(tb)``). Empty without at least two groups.
    table : DataFrame
        The contingency table tested: groups x ``persisting, not_persisting`` (evaluable patients).
    """

    horizon: float
    rule: str
    alpha: float
    summary: pd.DataFrame
    tests: pd.DataFrame
    table: pd.DataFrame

    def p(self, test: str = "chisq") -> float:
        """The p-value of ``test`` ("chisq" or "fisher"); NaN when not computed."""
        row = self.tests[self.tests["test"] == test]
        return float(row["p"].iloc[0]) if len(row) else float("nan")


def _group_codes(group, order: Sequence | None, n: int) -> tuple[np.ndarray, list[str]]:
    """Integer code per patient (-1 for a missing group) and the group labels, as strings."""
    if group is None:
        return np.zeros(n, dtype=np.int64), []
    values = pd.Series(np.asarray(group, dtype=object)).reset_index(drop=True)
    if len(values) != n:
        raise InputError(f"group has {len(values)} values for {n} patients", column="group")
    text = values.astype(str).where(values.notna(), None)
    if order is None:
        if isinstance(getattr(group, "dtype", None), pd.CategoricalDtype):
            order = list(group.cat.categories)
        else:
            order = sorted(text.dropna().unique())
    labels = [str(o) for o in order]
    unknown = sorted(set(text.dropna()) - set(labels))
    if unknown:
        raise InputError(f"group values {unknown} are not in the given order {labels}", column="group",
                         n_rows=int(text.isin(unknown).sum()))
    codes = pd.Categorical(text, categories=labels).codes.astype(np.int64)
    return codes, labels


def _proportion_rows(labels, n_patients, n_evaluable, n_persisting, total, alpha) -> pd.DataFrame:
    with np.errstate(invalid="ignore", divide="ignore"):
        proportion = np.where(n_evaluable > 0, n_persisting / np.maximum(n_evaluable, 1), np.nan)
        share = n_patients / total if total else np.full(len(labels), np.nan)
    w_lo, w_hi = contingency.proportion_ci(n_persisting, n_evaluable, method="wilson", alpha=alpha)
    e_lo, e_hi = contingency.proportion_ci(n_persisting, n_evaluable, method="exact", alpha=alpha)
    return pd.DataFrame({"group": labels, "n_patients": n_patients, "share": share,
                         "n_evaluable": n_evaluable, "n_persisting": n_persisting, "proportion": proportion,
                         "wilson_lower": w_lo, "wilson_upper": w_hi, "exact_lower": e_lo, "exact_upper": e_hi},
                        columns=SUMMARY_COLUMNS)


def between_group_tests(table) -> pd.DataFrame:
    """Pearson chi-square and Fisher-Freeman-Halton tests of a groups x 2 table of counts.

    Groups with no evaluable patient are dropped (they carry no information). When the exact test
    is too large to enumerate, its p is NaN and a :class:`StatisticalWarning` says so.

    Returns
    -------
    DataFrame
        ``test, method, statistic, df, p, min_expected`` (the smallest expected count, below 5 the
        chi-square p is only approximate); empty when fewer than two groups have evaluable patients.
    """
    counts = np.asarray(table, dtype=np.int64)
    counts = counts[counts.sum(axis=1) > 0]
    if counts.shape[0] < 2:
        return pd.DataFrame(columns=TEST_COLUMNS)
    statistic, dof, p_chisq = contingency.chi_square_test(counts)
    try:
        p_fisher = contingency.fisher_exact_test(counts)
    except contingency.ExactTestTooLarge as err:
        warnings.warn(f"{err}; the exact p is not reported", StatisticalWarning, stacklevel=2)
        p_fisher = float("nan")
    # The chi-square approximation is doubtful below 5 expected; the caller decides how to say so.
    min_expected = float(contingency.expected_counts(counts).min())
    return pd.DataFrame([
        {"test": "chisq", "method": TESTS["chisq"], "statistic": statistic, "df": dof, "p": p_chisq,
         "min_expected": min_expected},
        {"test": "fisher", "method": TESTS["fisher"], "statistic": np.nan, "df": np.nan, "p": p_fisher,
         "min_expected": min_expected},
    ], columns=TEST_COLUMNS)


def persistence_at(time, event, followup, horizon: float, *, group=None, order: Sequence | None = None,
                   rule: str = "followed", alpha: float = 0.05) -> PersistenceResult:
    """Proportion still on the same therapy at ``horizon`` among evaluable patients, overall and by group.

    Parameters
    ----------
    time, event, followup : array-like
        See :func:`evaluable_at`.
    horizon : float
        Landmark time (e.g. 6 for 6 months when times are in months).
    group : array-like, optional
        Group of each patient (e.g. subtype); patients with a missing group count in "All" only.
    order : sequence, optional
        Order of the groups (default: categorical order, else sorted).
    rule : {"followed", "status_known"}
        Who is evaluable (:data:`EVALUABLE_RULES`).
    alpha : float
        1 - confidence level.

    Returns
    -------
    PersistenceResult
    """
    t, e, f = _arrays(time, event, followup)
    ok = evaluable_at(t, e, f, horizon, rule)
    keep = persisting_at(t, horizon) & ok
    codes, labels = _group_codes(group, order, t.size)
    total = t.size
    rows = [_proportion_rows([ALL], np.array([total]), np.array([ok.sum()]), np.array([keep.sum()]), total,
                             alpha)]
    table = pd.DataFrame(columns=["group", "persisting", "not_persisting"])
    tests = pd.DataFrame(columns=TEST_COLUMNS)
    if labels:
        k = len(labels)
        known = codes >= 0
        n_patients = np.bincount(codes[known], minlength=k)
        n_evaluable = np.bincount(codes[known & ok], minlength=k)
        n_persisting = np.bincount(codes[known & keep], minlength=k)
        rows.append(_proportion_rows(labels, n_patients, n_evaluable, n_persisting, total, alpha))
        table = pd.DataFrame({"group": labels, "persisting": n_persisting,
                              "not_persisting": n_evaluable - n_persisting})
        tests = between_group_tests(table[["persisting", "not_persisting"]].to_numpy())
    summary = pd.concat(rows, ignore_index=True)
    return PersistenceResult(horizon=horizon, rule=rule, alpha=alpha, summary=summary, tests=tests, table=table)


# ------------------------------------------------------------------------------------------------
# Subgroups (forest plot)
# ------------------------------------------------------------------------------------------------

def subgroup_levels(values: pd.Series, spec: Mapping) -> tuple[pd.Series, list[str]]:
    """Recode a column into the levels of one subgroup of the forest plot.

    Parameters
    ----------
    values : Series
        The column.
    spec : mapping
        ``variable`` and optionally one of:
        ``groups`` ({level label: [values]}, e.g. ``{Visceral: [lung, liver]}``),
        ``breaks`` with ``labels`` (numeric cut points, left-closed: ``breaks: [2, 3]`` gives
        x < 2, 2 <= x < 3, x >= 3, labelled by ``labels``), or ``levels`` (the order of the values).

    Returns
    -------
    (Series of str or None, list of str)
        Each patient's level (None when not assigned) and the levels in display order.
    """
    name = spec.get("variable", values.name)
    if "groups" in spec:
        order = [str(k) for k in spec["groups"]]
        lookup = {str(v): str(label) for label, members in spec["groups"].items() for v in members}
        text = values.astype(str).where(values.notna(), None)
        clash = [v for label, members in spec["groups"].items() for v in members]
        if len(clash) != len(set(map(str, clash))):
            raise InputError("a value is listed under two subgroup levels", column=f"{name}.groups")
        mapped = text.map(lookup).astype(object)
        return mapped.where(mapped.notna(), None), order
    if "breaks" in spec:
        breaks = [float(b) for b in spec["breaks"]]
        labels = [str(x) for x in spec.get("labels") or []]
        if len(labels) != len(breaks) + 1:
            raise InputError(f"breaks {breaks} need {len(breaks) + 1} labels", column=f"{name}.labels")
        if breaks != sorted(breaks):
            raise InputError("breaks must increase", column=f"{name}.breaks")
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        idx = np.searchsorted(np.asarray(breaks), x, side="right")
        out = np.where(np.isnan(x), None, np.asarray(labels, dtype=object)[np.clip(idx, 0, len(labels) - 1)])
        return pd.Series(out, index=values.index, dtype=object), labels
    text = values.astype(str).where(values.notna(), None)
    order = [str(v) for v in spec["levels"]] if "levels" in spec else sorted(text.dropna().unique())
    return text.where(text.isin(order), None), order


def persistence_by_subgroup(df: pd.DataFrame, subgroups: Sequence[Mapping], horizon: float, *, time: str,
                            event: str, followup: str, rule: str = "followed",
                            alpha: float = 0.05) -> pd.DataFrame:
    """Persistence at ``horizon`` within the levels of each subgroup variable (the forest plot's rows).

    Parameters
    ----------
    df : DataFrame
        The cohort.
    subgroups : sequence of mapping
        ``{variable, label, groups | breaks + labels | levels}`` (see :func:`subgroup_levels`).
    horizon : float
    time, event, followup : str
        Columns of ``df`` (see :func:`evaluable_at`).
    rule, alpha
        As for :func:`persistence_at`.

    Returns
    -------
    DataFrame
        One row per variable and level: ``horizon, variable, label, level`` and the columns of
        :attr:`PersistenceResult.summary` (``share`` within the variable), plus the variable's
        ``chisq_p`` and ``fisher_p``. A level nobody has stays, with NaN proportion.
    """
    out = []
    for spec in subgroups:
        variable = spec["variable"]
        if variable not in df.columns:
            raise InputError(f"subgroup variable not in the cohort.{closest(variable, df.columns)}",
                             column=variable)
        levels, order = subgroup_levels(df[variable], spec)
        res = persistence_at(df[time], df[event], df[followup], horizon, group=levels, order=order, rule=rule,
                             alpha=alpha)
        rows = res.summary[res.summary["group"] != ALL].rename(columns={"group": "level"})
        rows.insert(0, "label", spec.get("label", variable))
        rows.insert(0, "variable", variable)
        rows.insert(0, "horizon", horizon)
        rows["chisq_p"], rows["fisher_p"] = res.p("chisq"), res.p("fisher")
        out.append(rows)
    if not out:
        return pd.DataFrame(columns=["horizon", "variable", "label", "level", *SUMMARY_COLUMNS[1:], "chisq_p",
                                     "fisher_p"])
    return pd.concat(out, ignore_index=True)


# ------------------------------------------------------------------------------------------------
# Swimmer lanes
# ------------------------------------------------------------------------------------------------

def swimmer_lanes(time, event, *, group=None, progression=None, next_therapy=None, death=None) -> pd.DataFrame:
    """One anonymous lane per patient: time on the same therapy and what ended it.

    Parameters
    ----------
    time, event : array-like
        Time on the same therapy and whether it ended (next therapy or death).
    group : array-like, optional
        Colour of the lane (e.g. subtype).
    progression, next_therapy, death : array-like, optional
        Time from the start to each event (NaN when it did not happen). Only events within the
        lane (at or before its end) are kept: a progression after the switch is not part of the
        time on this therapy.

    Returns
    -------
    DataFrame
        ``lane`` (1 = longest; ties keep the input order), ``group, end, progression, next_therapy,
        death, censored`` (``censored`` = end for patients still on therapy at last contact). No
        identifier of any kind.
    """
    end = np.asarray(time, dtype=np.float64).ravel()
    ev = np.asarray(event, dtype=np.int64).ravel()
    n = end.size

    def within(values):
        if values is None:
            return np.full(n, np.nan)
        x = np.asarray(values, dtype=np.float64).ravel()
        return np.where(x <= end + _TIME_TOLERANCE, x, np.nan)

    nxt = within(next_therapy)
    dth = within(death)
    # The marker that ended the lane: a switch at the end, else a death at the end.
    switch_ended = np.abs(nxt - end) <= _TIME_TOLERANCE
    dth = np.where(switch_ended, np.nan, dth)
    lanes = pd.DataFrame({
        "group": np.asarray(group, dtype=object).ravel() if group is not None else np.full(n, ALL, dtype=object),
        "end": end, "progression": within(progression), "next_therapy": nxt, "death": dth,
        "censored": np.where(ev == 0, end, np.nan)})
    order = np.lexsort((np.arange(n), -end))
    lanes = lanes.iloc[order].reset_index(drop=True)
    lanes.insert(0, "lane", np.arange(1, n + 1))
    return lanes[LANE_COLUMNS]
