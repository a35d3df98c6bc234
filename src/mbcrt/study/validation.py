"""Validation of a study's data before any analysis: a schema per study, built from its study file.

The cohort step checks the data three times, each time with the rules that make sense at that point:

1. :func:`check_export` — the export as read, before anything is derived: every patient has an id,
   columns meant to hold numbers hold numbers, no date is a spreadsheet placeholder.
2. :func:`check_analysis_cohort` — the rows that will be analysed (after derivations, criteria and
   ``first_row_per_id``): follow-up times present and positive, event codes among the declared ones,
   one treated and one control value, no missing value in a model covariate (unless the study's
   ``missing`` strategy drops or imputes them: :func:`missing_strategy`), categorical values among
   the declared levels, dates in order (``date_order`` and every derived interval), no date after the
   ``data_cutoff``.
3. :func:`check_models` — whether the models the study's steps ask for can be fitted at all: no
   constant covariate, no covariate that on its own separates the arms, enough events.

The first two are :mod:`pandera` schemas (:func:`export_schema`, :func:`cohort_schema`) whose checks
are named by rule, so a failure becomes one :class:`~mbcrt.errors.InputError` naming the file, the
column, the rule and how many rows break it. Pandera's failure cases hold the offending *values*;
only their row count leaves this module, so no patient value reaches a message or a report.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mbcrt import paths
from mbcrt.errors import InputError
from mbcrt.study.config import Study

#: Dates on or before this are what spreadsheets write for an empty date cell (Excel's day 0 and 1,
#: LibreOffice's 1899-12-30), not real dates of care.
PLACEHOLDER_DATE = pd.Timestamp("1900-01-01")


@dataclass(frozen=True)
class Rule:
    """One rule of a schema: the column it is about and what it requires, as the user reads it."""

    column: str
    text: str


class _Rules:
    """Collects rules while a schema is built; each pandera check is named by its rule's key."""

    def __init__(self):
        self.rules: dict[str, Rule] = {}

    def check(self, column: str, text: str, passes) -> pa.Check:
        key = f"rule{len(self.rules):03d}"
        self.rules[key] = Rule(column, text)
        # ignore_na=False: every rule says itself what a missing value means.
        return pa.Check(passes, error=key, ignore_na=False, element_wise=False)


@dataclass
class Schema:
    """A pandera schema and the rules its checks stand for.

    Attributes
    ----------
    schema : pandera.DataFrameSchema
    rules : dict of str to Rule
        Keyed by the pandera check's ``error`` text, in the order the checks were declared.
    """

    schema: pa.DataFrameSchema
    rules: dict[str, Rule]

    def validate(self, df: pd.DataFrame, file: str) -> None:
        """Raise one InputError for the first broken rule (in declaration order), naming the others.

        Raises
        ------
        InputError
            Names ``file``, the column, the rule and the number of rows breaking it.
        """
        try:
            self.schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as exc:
            broken = _broken_rules(exc.failure_cases, self.rules)
        else:
            return
        if not broken:  # a failure pandera reports outside our rules (never expected): still no values
            raise InputError("the data do not match the study's schema", file=file)
        (rule, n_rows), others = broken[0], broken[1:]
        also = ""
        if others:
            also = " Also: " + "; ".join(f"column '{r.column}': {r.text} ({_rows(n)})" for r, n in others) + "."
        raise InputError(rule.text + "." + also, file=file, column=rule.column, n_rows=n_rows)


def _rows(n: int) -> str:
    return f"{n} row{'s' if n != 1 else ''}"


def _broken_rules(failure_cases: pd.DataFrame, rules: dict[str, Rule]) -> list[tuple[Rule, int]]:
    """(rule, number of distinct rows breaking it), in declaration order; values are dropped here."""
    cases = failure_cases[failure_cases["check"].isin(list(rules))]
    counts = cases.groupby("check")["index"].nunique()
    return [(rules[key], int(counts[key])) for key in rules if key in counts.index]


# ---- element tests (vectorised; True = the row passes) ---------------------------------------------

def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _is_number_or_blank(s: pd.Series) -> pd.Series:
    x = _numeric(s)
    return s.isna() | (x.notna() & np.isfinite(x.astype("float64")))


def _same(value, declared) -> bool:
    """Whether one value equals a value declared in YAML (1 matches 1, 1.0 and "1")."""
    if str(value).strip() == str(declared):
        return True
    try:
        return float(value) == float(declared)
    except (TypeError, ValueError):
        return False


def matches(s: pd.Series, declared) -> pd.Series:
    """Whether each value is one of ``declared`` (missing values are not).

    Compares the distinct values only (an export has few distinct codes), then maps back: O(n).
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    member = np.array([any(_same(u, d) for d in declared) for u in uniques], dtype=bool)
    out = np.zeros(len(s), dtype=bool)
    known = codes >= 0
    out[known] = member[codes[known]]
    return pd.Series(out, index=s.index)


def _date(value) -> pd.Timestamp:
    return pd.Timestamp(value.isoformat() if isinstance(value, (_dt.date, _dt.datetime)) else str(value))


# ---- which columns mean what -------------------------------------------------------------------------

def _derived(study: Study) -> set[str]:
    return {d["name"] for d in study.derive}


def model_covariates(study: Study) -> dict[str, list[str]]:
    """Covariates of each model the study's steps fit: ``{"matching": [...], "cox": [...]}``."""
    out = {}
    if "matching" in study.steps and study.two_arm:
        out["matching"] = list(study.matching["covariates"] or study.covariates)
    if "cox" in study.steps or "imputation" in study.steps:  # the imputation step fits the Cox models too
        out["cox"] = list(study.cox["covariates"] or study.covariates)
    return out


def incomplete_allowed(study: Study) -> list[str]:
    """The model covariates, in order, once each: the columns ``missing`` is about."""
    return list(dict.fromkeys(v for covs in model_covariates(study).values() for v in covs))


def missing_strategy(study: Study) -> str:
    """``stop``, ``complete_case`` or ``multiple_imputation`` (the study file's ``missing.strategy``)."""
    miss = study.config.get("missing") or {}
    return miss.get("strategy", "stop") if isinstance(miss, dict) else str(miss)


def _numeric_columns(study: Study) -> list[str]:
    """Columns that must hold numbers: follow-up times and every non-categorical analysis variable."""
    c = study.config
    categorical = set(c["categorical"]) | set(c["subgroups"])
    variables = [*c["covariates"], *(c["table1"]["variables"] or []), *(c["cox"]["covariates"] or []),
                 *(c["matching"]["covariates"] or [])]
    names = [c["time"], *[e["time"] for e in c["endpoints"]], *[v for v in variables if v not in categorical]]
    return list(dict.fromkeys(names))


def _time_columns(study: Study) -> list[tuple[str, str]]:
    """(time, event) of the primary endpoint and of every extra endpoint."""
    c = study.config
    return [(c["time"], c["event"]), *[(e["time"], e["event"]) for e in c["endpoints"]]]


def date_pairs(study: Study) -> list[tuple[str, str, str]]:
    """(earlier, later, why) pairs of date columns that must be in order where both are known.

    The study's ``date_order`` plus, for every derived ``interval``, start before each end (an end
    before its start makes a negative duration).
    """
    pairs = [(a, b, "date_order in the study file") for a, b in study.config.get("date_order", [])]
    dates = set(study.dates)
    for rule in study.derive:
        spec = rule.get("interval")
        if not spec:
            continue
        ends = spec["end"] if isinstance(spec["end"], list) else [spec["end"]]
        pairs += [(spec["start"], end, f"the start of derived interval '{rule['name']}'")
                  for end in ends if spec["start"] in dates and end in dates]
    seen, out = set(), []
    for a, b, why in pairs:
        if (a, b) not in seen:
            seen.add((a, b))
            out.append((a, b, why))
    return out


# ---- the schemas -------------------------------------------------------------------------------------

def export_schema(study: Study) -> Schema:
    """Rules for the export as read (before dates are parsed and variables derived)."""
    c = study.config
    rules = _Rules()
    derived = _derived(study)
    columns: dict[str, list[pa.Check]] = {c["id"]: [rules.check(
        c["id"], "patient id missing (blank rows at the end of the export?)", lambda s: s.notna())]}
    for col in _numeric_columns(study):
        if col not in derived:
            columns.setdefault(col, []).append(rules.check(col, "must be a number (values that are not)",
                                                           _is_number_or_blank))
    return Schema(pa.DataFrameSchema({k: pa.Column(checks=v, nullable=True, required=True)
                                      for k, v in columns.items()}, strict=False), rules.rules)


def cohort_schema(study: Study) -> Schema:
    """Rules for the analysis cohort (dates parsed, variables derived, criteria applied)."""
    c = study.config
    rules = _Rules()
    columns: dict[str, list[pa.Check]] = {}

    def add(col, text, passes):
        columns.setdefault(col, []).append(rules.check(col, text, passes))

    # Date rules first: dates out of order explain the negative times reported after them.
    for col in study.dates:
        add(col, f"date on or before {PLACEHOLDER_DATE.date()} (a spreadsheet's placeholder for a blank cell)",
            lambda s: ~(pd.to_datetime(s) <= PLACEHOLDER_DATE))
        if c.get("data_cutoff") is not None:
            cutoff = _date(c["data_cutoff"])
            add(col, f"date after the data cut-off {cutoff.date()} (data_cutoff)",
                lambda s, cutoff=cutoff: ~(pd.to_datetime(s) > cutoff))
    frame_checks = [rules.check(later, f"date before '{earlier}' ({why})",
                                lambda d, a=earlier, b=later: ~(d[b] < d[a]))
                    for earlier, later, why in date_pairs(study)]
    for time, event in _time_columns(study):
        add(time, "follow-up time missing or not a number", lambda s: _numeric(s).notna())
        add(time, "negative follow-up time", lambda s: ~(_numeric(s) < 0))
        add(time, "zero follow-up time (exclude such patients with a criterion if they are expected)",
            lambda s: ~(_numeric(s) == 0))
        codes = [c["event_value"], c["censored_value"]]
        add(event, f"event code missing or not one of the declared values (event_value {c['event_value']}, "
                   f"censored_value {c['censored_value']})", lambda s, codes=codes: matches(s, codes))
    frame_checks += _treatment_start_checks(study, rules)
    if study.two_arm:
        add(c["treatment"], "treatment missing", lambda s: s.notna())
        add(c["treatment"], f"more than two treatment values: one must be the treated_value "
                            f"({c['treated_value']}) and all others one control value (rows with a third value)",
            lambda s: _two_arms(s, c["treated_value"]))
    if missing_strategy(study) == "stop":  # complete_case drops such rows, multiple_imputation fills them
        for cov in incomplete_allowed(study):
            add(cov, "missing value in a model covariate (the models need complete data: exclude these "
                     "patients with a criterion, complete the data, or set missing: {strategy: complete_case} "
                     "or {strategy: multiple_imputation})", lambda s: s.notna())
    for col, levels in c["levels"].items():
        used = set(c["categorical"]) | set(c["subgroups"]) | set(c["table1"]["variables"] or [])
        if col in used:
            add(col, f"value not among the declared levels of '{col}'",
                lambda s, levels=levels: s.isna() | matches(s, levels))
    return Schema(pa.DataFrameSchema({k: pa.Column(checks=v, nullable=True, required=True)
                                      for k, v in columns.items()}, checks=frame_checks, strict=False),
                  rules.rules)


# ---- when treatment started (treatment_start) ----------------------------------------------------------

def time_origin(study: Study) -> tuple[str, str] | None:
    """(date column, unit) the study's ``time`` is counted from: the start of the derived ``interval``
    that defines it; None when ``time`` is a column of the export."""
    for rule in study.derive:
        if rule.get("name") == study.time and rule.get("interval"):
            return rule["interval"]["start"], rule["interval"].get("unit", "days")
    return None


def treatment_start_time(df: pd.DataFrame, study: Study) -> np.ndarray:
    """Time from the origin to the start of treatment, in the unit of ``time``; NaN where empty.

    ``treatment_start`` is a date column (listed under ``dates``: its days from the origin date,
    converted as the ``time`` interval is) or already a time from the origin.

    Raises
    ------
    InputError
        A date column while ``time`` is not derived from a date, or a column of neither dates nor numbers.
    """
    from mbcrt.study.cohort import DAYS_PER  # the cohort build imports this module

    col, shown = study.treatment_start, paths.relative(study.data_path)
    values = df[col]
    if col in study.dates or pd.api.types.is_datetime64_any_dtype(values):
        origin = time_origin(study)
        if origin is None:
            raise InputError(f"treatment_start is a date, but the time '{study.time}' is not derived from a date "
                             "(derive it as an interval from the origin date, or give treatment_start as a time "
                             "from the origin)", file=shown, column=col)
        start, unit = origin
        days = (pd.to_datetime(values) - pd.to_datetime(df[start])).dt.days
        return days.to_numpy("float64", na_value=np.nan) / DAYS_PER[unit]
    number = _numeric(values)
    bad = int((number.isna() & values.notna()).sum())
    if bad:
        raise InputError(f"treatment_start must be a time from the origin in {study.time_unit}, or a date column "
                         "listed under dates (values that are neither)", file=shown, column=col, n_rows=bad)
    return number.to_numpy("float64", na_value=np.nan)


def _treatment_start_checks(study: Study, rules: _Rules) -> list[pa.Check]:
    """Rules of ``treatment_start``: given exactly for the treated, between the origin and the end of
    follow-up (a start after death or last contact, or before the origin, is a data error)."""
    c = study.config
    col = c["treatment_start"]
    if not col or not study.two_arm:
        return []

    def treated(d):
        return matches(d[c["treatment"]], [c["treated_value"]])

    def when(d):
        return pd.Series(treatment_start_time(d, study), index=d.index)

    origin = time_origin(study)
    before = f"before the time origin '{origin[0]}'" if origin else "before the time origin (a negative time)"
    return [
        rules.check(col, f"treatment start missing for a treated patient ({c['treatment']} = "
                         f"{c['treated_value']})", lambda d: ~(treated(d) & d[col].isna())),
        rules.check(col, "treatment start given for an untreated patient (it must be empty for the control arm)",
                    lambda d: ~(~treated(d) & d[col].notna())),
        rules.check(col, f"treatment start {before}", lambda d: ~(when(d) < 0)),
        rules.check(col, f"treatment start after the end of follow-up ('{c['time']}': death or last contact)",
                    lambda d: ~(when(d) > _numeric(d[c["time"]]))),
    ]


def _two_arms(s: pd.Series, treated_value) -> pd.Series:
    """Rows whose value is neither the treated value nor the most frequent other value fail."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    treated = np.array([_same(u, treated_value) for u in uniques], dtype=bool)
    allowed = treated.copy()
    others = np.flatnonzero(~treated)
    if others.size:
        allowed[others[np.argmax(counts[others])]] = True  # the control value; ties: first seen
    ok = np.ones(len(s), dtype=bool)
    known = codes >= 0
    ok[known] = allowed[codes[known]]
    return pd.Series(ok, index=s.index)


# ---- the checks the cohort step calls ----------------------------------------------------------------

def check_export(df: pd.DataFrame, study: Study) -> None:
    """Check the export as read: ids present, numeric columns numeric.

    Raises
    ------
    InputError
        Naming the data file, the column, the rule and the number of rows breaking it.
    """
    export_schema(study).validate(df, paths.relative(study.data_path))


def check_analysis_cohort(df: pd.DataFrame, study: Study) -> None:
    """Check the rows to be analysed (dates parsed, variables derived, criteria applied).

    Raises
    ------
    InputError
        Naming the data file, the column, the rule and the number of rows breaking it.
    """
    if study.treatment_start and study.two_arm:
        treatment_start_time(df, study)  # a column of neither dates nor times stops here, with its own message
    cohort_schema(study).validate(df, paths.relative(study.data_path))


def check_models(cohort: pd.DataFrame, study: Study) -> None:
    """Check that the models the study's steps ask for can be fitted on the analysis cohort.

    ``cohort`` has the standard columns (``_time``, ``_event``, ``_treat``). Rules: no model covariate
    is constant; no design column of the propensity model separates the arms on its own (so the
    logistic fit has a finite maximum); a Cox model has at least one event more than coefficients
    and, in a two-arm study, an event in each arm.

    Raises
    ------
    InputError
        Naming the data file, the column and the rule.
    """
    from mbcrt.stats.design import design_matrix, term_of

    shown = paths.relative(study.data_path)
    designs: dict[tuple, pd.DataFrame] = {}  # models on the same covariates share one design matrix
    coded: dict[str, tuple] = {}  # each categorical covariate's levels and codes, factorized once
    for model, covs in model_covariates(study).items():
        _check_empty_levels(cohort, covs, study, shown, coded)
        X = designs.get(tuple(covs))
        if X is None:
            X = designs[tuple(covs)] = design_matrix(cohort, covs, study.categorical, study.levels)
        for col in X.columns:
            x = X[col].to_numpy()
            var = term_of(col, covs)
            level = col[len(var):]
            what = f"level '{level}' of the " if level else ""
            if x.min() == x.max():
                fix = "merge or drop the level (levels)" if level else "drop it"
                raise InputError(f"{what}covariate is the same for every patient of the analysis cohort, so "
                                 f"its effect cannot be estimated ({model} model): {fix}", file=shown, column=var)
        if model == "matching":
            _check_separation(cohort, covs, study, shown, coded)
        if model == "cox":
            _check_events(cohort, study, X.shape[1], shown)


def _codes(cohort: pd.DataFrame, var: str, study: Study, coded: dict) -> tuple[list, np.ndarray]:
    """Levels and integer codes of a categorical covariate (see :func:`mbcrt.stats.design.category_codes`)."""
    from mbcrt.stats.design import category_codes

    if var not in coded:
        coded[var] = category_codes(cohort[var], study.levels.get(var))
    return coded[var]


def _check_empty_levels(cohort: pd.DataFrame, covs: list[str], study: Study, file: str, coded: dict) -> None:
    """A declared level nobody has would be an empty dummy, or a reference group of no one."""
    for var in (v for v in covs if v in study.categorical):
        levels, codes = _codes(cohort, var, study, coded)
        counts = np.bincount(codes[codes >= 0], minlength=len(levels))
        for level in levels:
            if counts[levels.index(level)] == 0:  # a level listed twice has the rows of its first listing
                raise InputError(f"no patient of the analysis cohort has level '{level}' of this model covariate: "
                                 f"remove it from levels (or merge it with another)", file=file, column=var)


def _check_separation(cohort: pd.DataFrame, covs: list[str], study: Study, file: str, coded: dict) -> None:
    """No covariate, and no level of a categorical one (the reference included), may on its own
    separate the arms (quasi-completely): the propensity model would have no finite fit."""
    treated = cohort["_treat"].to_numpy() == 1
    for var in covs:
        if var in study.categorical:
            levels, codes = _codes(cohort, var, study, coded)
            columns = {f"level '{lv}' of the ": (codes == levels.index(lv)).astype(float) for lv in levels}
        else:
            columns = {"": pd.to_numeric(cohort[var]).to_numpy(float)}
        for what, x in columns.items():
            xt, xc = x[treated], x[~treated]
            if xt.max() <= xc.min() or xc.max() <= xt.min():
                raise InputError(f"{what}covariate separates treated from control patients (no overlap), so the "
                                 f"propensity model has no finite fit: drop or coarsen it", file=file, column=var)


def _check_events(cohort: pd.DataFrame, study: Study, n_covariate_terms: int, file: str) -> None:
    coefficients = n_covariate_terms + (1 if study.two_arm else 0)
    events = int(cohort["_event"].sum())
    if events <= coefficients:
        raise InputError(f"too few events for the Cox model asked for: {events} event(s) for {coefficients} "
                         f"coefficient(s); a model needs more events than coefficients (10 per coefficient "
                         f"is the usual minimum): use fewer covariates (cox.covariates)",
                         file=file, column=study.event)
    if study.two_arm:
        per_arm = cohort.groupby("_treat")["_event"].sum()
        for code, label in ((1, study.arm_labels["treated"]), (0, study.arm_labels["control"])):
            if int(per_arm.get(code, 0)) == 0:
                raise InputError(f"no event in the {label} arm: the treatment hazard ratio is not estimable",
                                 file=file, column=study.event)
