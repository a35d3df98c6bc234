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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mbcrt import contingency
from mbcrt.errors import InputError, StatisticalWarning, closest

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


# ------------------------------------------------------------------------------------------------
# The persistence step of a study
# ------------------------------------------------------------------------------------------------

#: Keys of the study file's ``persistence`` section, with their defaults.
STEP_DEFAULTS = {
    "time": None,  # time on the same therapy; default: the primary endpoint's _time
    "event": None,  # default: _event
    "followup": None,  # follow-up to death or last contact (required)
    "horizons": [6, 12],
    "evaluable": "followed",
    "by": None,  # the group of the primary table (e.g. subtype)
    "subgroups": [],
    "forest_horizon": None,  # default: the first horizon
    "progression": None,  # times from the start for the swimmer markers
    "next_therapy": None,
    "death": None,
    "max_lanes": 200,
    "median_ci_table": True,  # also tabulate the medians of every endpoint under each CI option
}


def step_settings(study) -> dict:
    """The study's ``persistence`` section with defaults, checked (unknown keys name the closest)."""
    given = dict(study.persistence or {})
    unknown = [k for k in given if k not in STEP_DEFAULTS]
    if unknown:
        raise InputError(f"unknown key 'persistence.{unknown[0]}'.{closest(unknown[0], STEP_DEFAULTS)}",
                         file=study.path.name)
    s = {**STEP_DEFAULTS, **given}
    if not s["followup"]:
        raise InputError("the persistence step needs 'persistence.followup' (time to death or last contact)",
                         file=study.path.name, column="persistence.followup")
    if s["evaluable"] not in EVALUABLE_RULES:
        raise InputError(f"must be one of {', '.join(EVALUABLE_RULES)}", file=study.path.name,
                         column="persistence.evaluable")
    s["time"] = s["time"] or "_time"
    s["event"] = s["event"] or "_event"
    s["horizons"] = [_plain_number(h) for h in s["horizons"]]
    s["forest_horizon"] = _plain_number(s["forest_horizon"]) if s["forest_horizon"] is not None \
        else s["horizons"][0]
    return s


def _plain_number(x):
    """6.0 -> 6 (so tables print "6" and locators can say ``horizon=6``)."""
    x = float(x)
    return int(x) if x.is_integer() else x


@dataclass
class PersistenceStep:
    """Everything the persistence notebook shows and saves.

    Attributes
    ----------
    summary : DataFrame
        ``horizon, by`` + :attr:`PersistenceResult.summary` columns, every horizon (saved as ``persistence``).
    tests : DataFrame
        ``horizon, by`` + test columns (``persistence_tests``).
    sensitivity : DataFrame
        Overall persistence under each evaluability rule (``persistence_sensitivity``).
    subgroups : DataFrame
        :func:`persistence_by_subgroup` at the forest horizon (``persistence_subgroups``).
    median_ci : DataFrame
        Median (95% CI) of each time-to-event endpoint under every CI option (``median_ci_options``).
    lanes : DataFrame
        Swimmer lanes (patient-level: shown as a figure only, never saved as a table).
    figures, captions : dict
        ``forest_persistence`` and ``swimmer`` figures with their captions.
    notes : list of str
        Sentences for the reader (both p-values, small expected counts).
    warnings : list of str
        Statistical warnings raised on the way (e.g. an exact test too large to enumerate).
    """

    summary: pd.DataFrame
    tests: pd.DataFrame
    sensitivity: pd.DataFrame
    subgroups: pd.DataFrame
    median_ci: pd.DataFrame
    lanes: pd.DataFrame
    figures: dict = field(default_factory=dict)
    captions: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def _by_order(study, df: pd.DataFrame, by: str | None) -> list[str] | None:
    if by is None:
        return None
    levels = study.levels.get(by)
    return [str(v) for v in levels] if levels else sorted(df[by].dropna().astype(str).unique())


def persistence_tables(study, df: pd.DataFrame, settings: dict) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                          pd.DataFrame]:
    """Summary, tests and sensitivity tables over every horizon."""
    s, alpha = settings, study.survival["alpha"]
    by = s["by"]
    group = df[by] if by else None
    order = _by_order(study, df, by)
    summaries, tests, sensitivity = [], [], []
    for h in s["horizons"]:
        res = persistence_at(df[s["time"]], df[s["event"]], df[s["followup"]], h, group=group, order=order,
                             rule=s["evaluable"], alpha=alpha)
        summaries.append(res.summary.assign(horizon=h, by=by or "none"))
        tests.append(res.tests.assign(horizon=h, by=by or "none"))
        for rule in EVALUABLE_RULES:
            alt = persistence_at(df[s["time"]], df[s["event"]], df[s["followup"]], h, rule=rule, alpha=alpha)
            row = alt.summary.iloc[0]
            sensitivity.append({"horizon": h, "rule": rule, "used": rule == s["evaluable"],
                                "n_evaluable": int(row.n_evaluable), "n_persisting": int(row.n_persisting),
                                "proportion": row.proportion, "wilson_lower": row.wilson_lower,
                                "wilson_upper": row.wilson_upper})
    front = ["horizon", "by"]
    summary = pd.concat(summaries, ignore_index=True)
    summary = summary[front + [c for c in summary.columns if c not in front]]
    test_table = pd.concat(tests, ignore_index=True)
    test_table = test_table[front + TEST_COLUMNS] if len(test_table) else pd.DataFrame(columns=front + TEST_COLUMNS)
    return summary, test_table, pd.DataFrame(sensitivity)


def median_ci_options(study, df: pd.DataFrame) -> pd.DataFrame:
    """Median and 95% CI of every time-to-event endpoint under each CI option (for the readings).

    Papers seldom say how the interval of a median was computed; the table shows how much the
    choice matters. The option the study uses is flagged ``used``.
    """
    from mbcrt import survival
    from mbcrt.analyses import endpoints

    rows = []
    chosen = (study.survival["conf_type"], study.survival["median_ci"])
    for ep in endpoints(study):
        t, e = df[ep.time].to_numpy(float), df[ep.event].to_numpy(int)
        for median_ci in survival.MEDIAN_CI_METHODS:
            for conf_type in survival.CONF_TYPES if median_ci == "brookmeyer-crowley" else ("log-log",):
                km = survival.kaplan_meier(t, e, conf_type=conf_type, alpha=study.survival["alpha"],
                                           median_ci=median_ci)
                shown = conf_type if median_ci == "brookmeyer-crowley" else "(Collett SE)"
                rows.append({"endpoint": ep.name, "median_ci": median_ci, "conf_type": shown,
                             "median": km.median, "lower": km.median_lower, "upper": km.median_upper,
                             "used": (conf_type, median_ci) == chosen or
                             (median_ci == "symmetric" and chosen[1] == "symmetric")})
    return pd.DataFrame(rows)


def _pct(x: float) -> str:
    return "" if pd.isna(x) else f"{100 * x:.0f}%"


def forest_figure(study, subgroups: pd.DataFrame, overall: pd.Series, horizon, test: str = "chisq"):
    """Forest plot of persistence (%, Wilson 95% CI) by subgroup, the overall proportion as reference."""
    from mbcrt.analyses import format_p
    from mbcrt.plots.forest import forest_plot

    head = pd.DataFrame([{**overall.to_dict(), "label": "All patients", "group": None}])
    body = subgroups.assign(label=subgroups["level"].astype(str),
                            group=[f"{lab} (chi-square {format_p(p)}; exact {format_p(q)})"
                                   for lab, p, q in zip(subgroups["label"], subgroups["chisq_p"],
                                                        subgroups["fisher_p"])])
    rows = pd.concat([head, body], ignore_index=True)
    rows = rows.assign(pct=100 * rows["proportion"], lo=100 * rows["wilson_lower"], hi=100 * rows["wilson_upper"],
                       **{"n/N": [f"{k:.0f}/{n:.0f}" if pd.notna(k) and pd.notna(n) else "suppressed"
                                  for k, n in zip(rows.n_persisting, rows.n_evaluable)],
                          "% (95% CI)": [f"{p:.0f} ({lo:.0f}-{hi:.0f})" if pd.notna(p) else "not estimable"
                                         for p, lo, hi in zip(100 * rows.proportion, 100 * rows.wilson_lower,
                                                              100 * rows.wilson_upper)]})
    unit = study.time_unit
    reference = 100 * float(overall["proportion"]) if pd.notna(overall["proportion"]) else None
    return forest_plot(rows, estimate="pct", lower="lo", upper="hi", label="label", group="group",
                       right_text=["n/N", "% (95% CI)"], reference=reference,
                       log_scale=False, favours=None, xlim=(0.0, 100.0),
                       xlabel=f"On the same therapy at {horizon} {unit} (%, 95% CI)")


#: Columns computed from the counts of a row (blanked with them when a count is suppressed).
_DERIVED = ["share", "proportion", "wilson_lower", "wilson_upper", "exact_lower", "exact_upper"]


def suppress_small_cells(table: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Blank every row that would reveal a count of 1 to ``min_cell_count - 1`` patients.

    A row's counts (patients, evaluable, persisting, and evaluable minus persisting) and everything
    computed from them (share, proportion, CIs) are set to NaN, and ``suppressed`` is True. Zero
    counts are shown (they identify nobody). ``min_cell_count`` 0 or 1 changes nothing.
    """
    out = table.copy()
    out["suppressed"] = False
    if min_cell_count <= 1:
        return out
    counts = [c for c in ("n_patients", "n_evaluable", "n_persisting") if c in out.columns]
    values = out[counts].astype(float)
    if {"n_evaluable", "n_persisting"} <= set(counts):
        values = values.assign(_not=values["n_evaluable"] - values["n_persisting"])
    small = ((values > 0) & (values < min_cell_count)).any(axis=1)
    blank = counts + [c for c in _DERIVED if c in out.columns]
    out[blank] = out[blank].astype(float)
    out.loc[small, blank] = np.nan
    out["suppressed"] = small
    return out


def test_notes(tests: pd.DataFrame, unit: str, by_label: str) -> list[str]:
    """One sentence per horizon: both p-values, and a caution when an expected count is below 5."""
    notes = []
    for horizon, rows in tests.groupby("horizon", sort=False):
        p = dict(zip(rows["test"], rows["p"]))
        smallest = float(rows["min_expected"].min())
        text = (f"{by_label} at {horizon} {unit}: Pearson chi-square p = {p.get('chisq', np.nan):.3f}, "
                f"Fisher-Freeman-Halton exact p = {p.get('fisher', np.nan):.3f}.")
        if smallest < contingency.MIN_EXPECTED_COUNT:
            text += (f" The smallest expected count is {smallest:.1f} (below {contingency.MIN_EXPECTED_COUNT:g}), "
                     f"so the chi-square p is only approximate; the exact p is the safer reading.")
        notes.append(text)
    return notes


def persistence_step(study, df: pd.DataFrame) -> PersistenceStep:
    """Run the persistence analyses the study file's ``persistence`` section asks for.

    Parameters
    ----------
    study : mbcrt.study.Study
    df : DataFrame
        The analysis cohort (``build/<study>/cohort.csv``).

    Returns
    -------
    PersistenceStep
    """
    from mbcrt.plots.swimmer import swimmer_plot

    s = step_settings(study)
    missing = [c for c in (s["time"], s["event"], s["followup"], s["by"], s["progression"], s["next_therapy"],
                           s["death"]) if c and c not in df.columns]
    if missing:
        raise InputError(f"persistence columns not in the cohort.{closest(missing[0], df.columns)}",
                         column=missing[0])
    alpha = study.survival["alpha"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticalWarning)
        summary, tests, sensitivity = persistence_tables(study, df, s)
        subgroups = persistence_by_subgroup(df, s["subgroups"], s["forest_horizon"], time=s["time"],
                                            event=s["event"], followup=s["followup"], rule=s["evaluable"],
                                            alpha=alpha)
    raised = sorted({str(w.message) for w in caught if issubclass(w.category, StatisticalWarning)})
    notes = test_notes(tests, study.time_unit, study.label(s["by"]) if s["by"] else "")
    if study.min_cell_count > 1:
        summary, subgroups = (suppress_small_cells(t, study.min_cell_count) for t in (summary, subgroups))
        sensitivity = suppress_small_cells(sensitivity, study.min_cell_count)
        notes.append(f"Counts of 1 to {study.min_cell_count - 1} patients are suppressed (min_cell_count); "
                     f"the swimmer plot, which shows single patients, is not drawn.")
    def column(name):
        return df[name] if name else None

    lanes = swimmer_lanes(df[s["time"]], df[s["event"]], group=column(s["by"]),
                          progression=column(s["progression"]), next_therapy=column(s["next_therapy"]),
                          death=column(s["death"]))
    if s["by"]:
        order = _by_order(study, df, s["by"])
        lanes["group"] = pd.Categorical(lanes["group"].astype(str), categories=order)
    unit = study.time_unit
    figures, captions = {}, {}
    overall = summary[(summary["horizon"] == s["forest_horizon"]) & (summary["group"] == ALL)].iloc[0]
    if len(subgroups):
        figures["forest_persistence"] = forest_figure(study, subgroups, overall, s["forest_horizon"])
        captions["forest_persistence"] = (f"Proportion on the same systemic therapy {s['forest_horizon']} {unit} "
                                          f"after MDRT by subgroup (Wilson 95% CI; dashed line: all patients)")
    if study.min_cell_count <= 1:
        figures["swimmer"] = swimmer_plot(lanes, xlabel=f"{unit.capitalize()} since MDRT",
                                          max_lanes=s["max_lanes"], reference_lines=s["horizons"])
        captions["swimmer"] = ("Time on the same systemic therapy after MDRT, one lane per patient (anonymous), "
                               "with progression, change of therapy, death and censoring")
    median_ci = median_ci_options(study, df) if s["median_ci_table"] else pd.DataFrame()
    return PersistenceStep(summary, tests, sensitivity, subgroups, median_ci, lanes, figures, captions, notes,
                           raised)


def _ci_text(p, lo, hi) -> str:
    return "not estimable" if pd.isna(p) else f"{100 * p:.0f}% ({100 * lo:.0f}-{100 * hi:.0f})"


def readable_summary(summary: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The summary table as a clinician reads it: counts and % (95% CI) as text."""
    shown = pd.DataFrame({
        "Time after MDRT": [f"{h} {unit}" for h in summary["horizon"]],
        "Group": summary["group"],
        "Patients": summary["n_patients"],
        "Evaluable": summary["n_evaluable"],
        "On the same therapy": summary["n_persisting"],
        "% (95% CI, Wilson)": [_ci_text(*r) for r in
                               summary[["proportion", "wilson_lower", "wilson_upper"]].itertuples(index=False)],
        "% (95% CI, exact)": [_ci_text(*r) for r in
                              summary[["proportion", "exact_lower", "exact_upper"]].itertuples(index=False)],
    })
    if "suppressed" in summary.columns:
        hidden = summary["suppressed"].to_numpy(dtype=bool)
        shown.loc[hidden, ["% (95% CI, Wilson)", "% (95% CI, exact)"]] = "suppressed (small cell)"
    return shown


def definitions(study, settings: dict | None = None) -> str:
    """Markdown stating how the step reads the endpoint: what ends the therapy, who is evaluable."""
    s = settings or step_settings(study)
    unit = study.time_unit
    rule = {"followed": "followed (from MDRT to death or last contact) for at least that long",
            "status_known": "followed for at least that long, or off the therapy before it"}[s["evaluable"]]
    return (f"**Definitions used.** Time on the same systemic therapy is `{s['time']}` (event `{s['event']}`): "
            f"it ends at the next systemic therapy or at death, as the study file derives it. A patient is "
            f"*evaluable* at a horizon ({', '.join(f'{h} {unit}' for h in s['horizons'])}) when {rule}; an "
            f"evaluable patient is *on the same therapy* when that time is at least the horizon. Proportions "
            f"have Wilson (score) and exact (Clopper-Pearson) {100 * (1 - study.survival['alpha']):.0f}% "
            f"confidence intervals; groups are compared by Pearson's chi-square test (no continuity "
            f"correction) and the Fisher-Freeman-Halton exact test.")
