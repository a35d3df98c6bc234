"""Step 9, sensitivity of the treatment effect to immortal time and to confounding: the paper's ever/never
estimate beside the analyses that handle when treatment started, and beside weighted and matched ones.

A two-arm study whose data say when treatment started (``treatment_start``) compares patients who ever
received the treatment with those who never did, with time counted from an origin before treatment.
The treated patients had to survive until their treatment started: that time ("immortal time") is
credited to the treated arm, and makes the treatment look better than it is. Propensity matching or
weighting balances the covariates and does nothing about it. This step sets side by side:

``naive``
    the fixed ever/never exposure, adjusted for the study's covariates (as the Cox step computes it);
``exclude_immortal``
    the treated patients' time counted from the start of treatment (shown because it is often done;
    still biased: the untreated keep the time the treated lose);
``time_varying``
    treatment as a time-dependent covariate (a counting-process Cox model on start-stop rows: each
    treated patient is untreated until treatment starts); the reference method;
``landmark``
    at each landmark L, the patients alive and followed at L, exposed if treated by L, followed from L;
``clone_censor_weight``
    the target-trial emulation of "treat within the grace period" against "do not treat within it":
    every patient cloned into both strategies, censored when the clone deviates, inverse-probability-of-
    censoring weights, weighted Kaplan-Meier and Cox, bootstrap CI;
``iptw_ate``, ``iptw_att``, ``overlap``
    the ever/never exposure weighted by the propensity model of the matching step (stabilised weights);
``matched``
    the pair-clustered matched estimate of the Cox step.

It adds the E-value of each estimate and the difference in restricted mean survival time. Statistics
live in :mod:`mbcrt.stats`; this module only orchestrates them and words the results.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _sp

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.report.tables import ANALYSIS_LABELS
from mbcrt.report.format import format_count, format_hr, format_p, format_time
from mbcrt.stats.design import design_matrix
from mbcrt.stats.survival import kaplan_meier
from mbcrt.steps.common import ci_label, cox_covariates
from mbcrt.study.config import SENSITIVITY_ANALYSES, Study
from mbcrt.study.validation import treatment_start_time

#: Columns of ``tables/<study>/sensitivity.csv``.
COLUMNS = ["analysis", "landmark", "hr", "lower", "upper", "p", "n", "events", "note"]
#: Columns of ``tables/<study>/rmst.csv``.
RMST_COLUMNS = ["analysis", "landmark", "horizon", "rmst_treated", "rmst_control", "difference", "lower",
                "upper", "p", "n", "note"]
#: Columns of ``tables/<study>/evalue.csv``.
EVALUE_COLUMNS = ["analysis", "landmark", "hr", "lower", "upper", "evalue", "evalue_ci", "chosen", "note"]
#: The estimate the E-value paragraph is about: the reference method for a time-dependent treatment.
CHOSEN = "time_varying"

#: Display names of the analyses (figure rows and the paragraph).
LABELS = ANALYSIS_LABELS  # the analyses in words: one list, shared with the publication tables
#: Analyses that keep the ever/never exposure fixed from the origin: they inherit its immortal time.
FIXED_EXPOSURE = ("naive", "iptw_ate", "iptw_att", "overlap", "matched")
#: Analyses that handle when treatment started.
TIME_AWARE = ("time_varying", "landmark", "clone_censor_weight")
#: Weighting analyses and the estimand each asks of the propensity weights.
ESTIMANDS = {"iptw_ate": "ate", "iptw_att": "att", "overlap": "overlap"}

#: Up to this many patients the clone-censor-weight interval is bootstrapped; above it, the robust SE (the
#: bootstrap refits the censoring models on every clone row per replicate: 200 replicates take about a minute at
#: 5,000 patients and grow with n, for an interval that is by then narrow).
BOOTSTRAP_MAX_PATIENTS = 5_000
#: The two strategies of the clone-censor-weight analysis (arm 0, arm 1).
LABELS_CCW = {0: "Not within {grace}", 1: "{treated} within {grace}"}
#: A landmark is "after most follow-up" when fewer than this share of the cohort is still followed at it.
MIN_SHARE_FOLLOWED = 0.5
#: Censoring weights "explode" when one clone counts as more than this many ...
MAX_WEIGHT_RATIO = 20.0
#: ... and propensity weights when the effective sample size of an arm is below this share of its patients
#: (besides the checks of :func:`mbcrt.stats.weighting.check_weights`).
MIN_ESS_SHARE = 0.1


# ---- settings -----------------------------------------------------------------------------------

@dataclass
class Settings:
    """The step's settings with the defaults filled in, and how each was chosen (for the report).

    Attributes
    ----------
    landmarks : list of float
        Landmark times, in the study's time unit.
    grace : float
        Grace period of the clone-censor-weight analysis.
    bootstrap : int
        Bootstrap replicates of the clone-censor-weight CI (0: none).
    rmst_horizon : float
        Horizon of the restricted mean survival times.
    analyses : list of str
        Analyses to run, in report order.
    stated : list of str
        One sentence per setting saying its value and where it came from.
    """

    landmarks: list[float]
    grace: float
    bootstrap: int
    rmst_horizon: float
    analyses: list[str]
    stated: list[str] = field(default_factory=list)


def _plain(x: float):
    x = float(x)
    return int(x) if x.is_integer() else x


def _nice_up(x: float) -> float:
    """The smallest of 1, 2, 2.5, 3, 5 times a power of ten at or above ``x`` (a readable default time)."""
    if not x > 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(x))
    return float(min(m * mag for m in (1, 2, 2.5, 3, 5, 10) if m * mag >= x * (1 - 1e-12)))


def step_settings(study: Study, time: np.ndarray, treat_time: np.ndarray) -> Settings:
    """Fill in the defaults of the ``sensitivity`` section.

    Defaults: landmarks, the study's first landmark and its half (without study landmarks: the time by
    which three quarters of the treated had started treatment, rounded up, and its half); grace period,
    the last of these landmarks (so the landmark and clone-censor-weight analyses compare the same
    strategies: treated by then, or not); RMST horizon, the study's last landmark (without study
    landmarks: twice the last sensitivity landmark), and never before the last sensitivity landmark.
    """
    s = study.sensitivity
    unit = study.time_unit
    stated = []
    if s["landmarks"]:
        marks = sorted({float(v) for v in s["landmarks"]})
        stated.append(f"Landmarks: {', '.join(format_time(m, unit) for m in marks)} (study file).")
    else:
        if study.landmarks:
            first = float(min(study.landmarks))
            why = "the study's first landmark and its half"
        else:
            started = treat_time[np.isfinite(treat_time)]
            first = _nice_up(float(np.quantile(started, 0.75))) if started.size else _nice_up(
                float(np.median(time)) / 2)
            why = "the time by which three quarters of the treated had started treatment (rounded up) and its half"
        marks = [first / 2, first]
        stated.append(f"Landmarks: {' and '.join(format_time(m, unit) for m in marks)} (default: {why}).")
    if s["grace"] is not None:
        grace = float(s["grace"])
        stated.append(f"Grace period of the clone-censor-weight analysis: {format_time(grace, unit)} (study file).")
    else:
        grace = marks[-1]
        stated.append(f"Grace period of the clone-censor-weight analysis: {format_time(grace, unit)} (default: the "
                      f"last landmark, so both analyses compare treatment started by then with no treatment by then).")
    if s["rmst_horizon"] is not None:
        horizon = float(s["rmst_horizon"])
        stated.append(f"Horizon of the restricted mean survival time: {format_time(horizon, unit)} (study file).")
    else:
        candidates = [float(v) for v in study.landmarks if float(v) > marks[-1]]
        horizon = max(candidates) if candidates else 2 * marks[-1]
        why = "the study's last landmark" if candidates else "twice the last landmark"
        stated.append(f"Horizon of the restricted mean survival time: {format_time(horizon, unit)} (default: {why}).")
    bootstrap = int(s["bootstrap"])
    if bootstrap and len(time) > BOOTSTRAP_MAX_PATIENTS:
        stated.append(f"Clone-censor-weight interval from the robust standard error clustered on the patient: above "
                      f"{format_count(BOOTSTRAP_MAX_PATIENTS)} patients the bootstrap ({bootstrap} replicates asked) "
                      f"is not run, since each replicate refits the censoring models on every clone (hours at this "
                      f"size, for an interval that is by then narrow); this interval ignores that the weights are "
                      f"estimated.")
        bootstrap = 0
    elif bootstrap:
        stated.append(f"Bootstrap replicates of the clone-censor-weight interval: {bootstrap} (seed {study.seed}).")
    else:
        stated.append("Clone-censor-weight interval from the robust standard error clustered on the patient "
                      "(bootstrap: 0).")
    wanted = s["analyses"]
    analyses = list(SENSITIVITY_ANALYSES) if "all" in wanted else [a for a in SENSITIVITY_ANALYSES if a in wanted]
    return Settings([_plain(m) for m in marks], _plain(grace), bootstrap, _plain(horizon), analyses, stated)


# ---- inputs ---------------------------------------------------------------------------------------

@dataclass
class _Data:
    """Arrays every analysis uses, prepared once."""

    time: np.ndarray
    event: np.ndarray
    treat: np.ndarray
    treat_time: np.ndarray  # NaN for the untreated
    X: pd.DataFrame  # covariate design of the Cox models (no treatment column)
    covariates: list[str]


def _data(study: Study, df: pd.DataFrame) -> _Data:
    covs = cox_covariates(study)
    X = design_matrix(df, covs, study.categorical, study.levels).reset_index(drop=True)
    if X.columns.has_duplicates:
        X = X.loc[:, ~X.columns.duplicated()]
    tt = treatment_start_time(df, study)
    treat = df["_treat"].to_numpy(np.int64)
    # Snapped together, so a treatment time read from a CSV ties with the follow-up times it equals.
    time, tt = _snap_ties(df["_time"].to_numpy(float), np.where(treat == 1, tt, np.nan))
    return _Data(time, df["_event"].to_numpy(np.int64), treat, tt, X, covs)


# ---- the result ---------------------------------------------------------------------------------

@dataclass
class SensitivityStep:
    """Everything the sensitivity notebook shows and saves.

    Attributes
    ----------
    estimates : DataFrame
        :data:`COLUMNS`, one row per analysis (one per landmark for ``landmark``).
    rmst : DataFrame
        :data:`RMST_COLUMNS`.
    evalue : DataFrame
        :data:`EVALUE_COLUMNS`.
    weights : DataFrame
        ``weighting, arm, n, ess, max_weight``: effective sample size of each weighting.
    balance : DataFrame
        Standardized mean differences of the propensity covariates, unweighted and under each weighting.
    panels : list of dict
        Kaplan-Meier panels (curves, numbers at risk) for :func:`km_figure`.
    settings : Settings
    warnings : list of str
    methods : str
    """

    estimates: pd.DataFrame
    rmst: pd.DataFrame
    evalue: pd.DataFrame
    weights: pd.DataFrame
    balance: pd.DataFrame
    panels: list
    settings: Settings
    warnings: list
    methods: str


# ---- the analyses ---------------------------------------------------------------------------------

def _row(analysis: str, fit=None, *, landmark=None, n=None, events=None, note: str = "", term: str = "_treat",
         hr=None, lower=None, upper=None, p=None) -> dict:
    """One row of the estimates table, from a fitted Cox model (its ``term``) or given numbers."""
    if fit is not None:
        s = fit.summary.loc[term]
        hr, lower, upper, p = s["hr"], s["lower"], s["upper"], s["p"]
        n = fit.n if n is None else n
        events = fit.events if events is None else events
    nan = float("nan")
    return {"analysis": analysis, "landmark": nan if landmark is None else float(landmark),
            "hr": nan if hr is None else float(hr), "lower": nan if lower is None else float(lower),
            "upper": nan if upper is None else float(upper), "p": nan if p is None else float(p),
            "n": n, "events": events, "note": note}


def _with_treatment(treat: np.ndarray, X: pd.DataFrame) -> pd.DataFrame:
    out = X.copy()
    out.insert(0, "_treat", treat.astype(float))
    return out


def _adjusted(d: _Data) -> str:
    return f"adjusted for {len(d.covariates)} covariate{'s' if len(d.covariates) != 1 else ''}"


def _snap_ties(*times: np.ndarray):
    """Times with floating-point noise removed, so equal day counts tie again: values closer than 1e-8
    (relative) become the smallest of them, over all the arrays together (``7/30.4375 - 3/30.4375`` and
    ``4/30.4375`` differ in the last bit; R's ``coxph`` ties them by its ``timefix``). NaN stays NaN. A Cox
    model depends on the order of the times only: this changes no estimate but those near-ties."""
    flat = np.concatenate([np.ravel(t) for t in times])
    known = np.isfinite(flat)
    values = np.unique(flat[known])
    if values.size > 1:
        new_group = np.diff(values) > 1e-8 * np.maximum(1.0, np.abs(values[1:]))
        first = values[np.flatnonzero(np.concatenate(([True], new_group)))]
        flat[known] = first[np.cumsum(np.concatenate(([True], new_group)))[np.searchsorted(values, flat[known])] - 1]
    out, at = [], 0
    for t in times:
        out.append(flat[at:at + np.size(t)].reshape(np.shape(t)))
        at += np.size(t)
    return out[0] if len(out) == 1 else tuple(out)


def _fit(study: Study, X: pd.DataFrame, time, event, **kw):
    from mbcrt.stats import cox

    return cox.fit_cox(X, time, event, ties=study.cox["ties"], alpha=study.survival["alpha"], **kw)


def naive(study: Study, d: _Data) -> dict:
    """Ever vs never treated from the origin, adjusted: the multivariable model of the Cox step."""
    fit = _fit(study, _with_treatment(d.treat, d.X), d.time, d.event)
    return _row("naive", fit, note=f"Ever vs never treated, time from the origin; {_adjusted(d)}; biased by "
                                   "immortal time")


def exclude_immortal(study: Study, d: _Data) -> dict:
    """The treated patients' time counted from the start of treatment (their time before it dropped)."""
    time = _snap_ties(np.where(d.treat == 1, d.time - np.nan_to_num(d.treat_time), d.time))
    fit = _fit(study, _with_treatment(d.treat, d.X), time, d.event)
    return _row("exclude_immortal", fit, note=f"Treated patients' time from the start of treatment; {_adjusted(d)}; "
                                              "still biased (the untreated keep the time the treated lose)")


def time_varying(study: Study, d: _Data) -> dict:
    """Treatment as a time-dependent covariate: counting-process Cox model on start-stop rows."""
    from mbcrt.stats.timevarying import start_stop

    rows = start_stop(d.time, d.event, d.treat_time)
    patient = rows["id"].to_numpy()
    X = d.X.iloc[patient].reset_index(drop=True)
    fit = _fit(study, _with_treatment(rows["treated"].to_numpy(), X), rows["tstop"].to_numpy(),
               rows["event"].to_numpy(), entry=rows["tstart"].to_numpy())
    return _row("time_varying", fit, n=len(d.time), events=int(d.event.sum()),
                note=f"Treatment as a time-varying covariate (untreated until it starts; counting-process Cox, "
                     f"{len(rows):,} start-stop rows); {_adjusted(d)}; the reference method")


@dataclass
class _Landmark:
    """The patients alive and followed at a landmark, with their exposure by then."""

    landmark: float
    keep: np.ndarray  # rows of the cohort
    exposed: np.ndarray  # treated by the landmark (of the kept rows)
    time: np.ndarray  # time since the landmark
    event: np.ndarray


def _landmark_cohort(d: _Data, landmark: float) -> _Landmark:
    keep = np.flatnonzero(d.time > landmark)
    exposed = (d.treat[keep] == 1) & (d.treat_time[keep] <= landmark)
    return _Landmark(landmark, keep, exposed.astype(np.int64), _snap_ties(d.time[keep] - landmark), d.event[keep])


def landmark(study: Study, d: _Data, lm: _Landmark) -> dict:
    """Cox model from the landmark: exposed if treated by then (later treatment counts as unexposed)."""
    unit = study.time_unit
    where = f"landmark at {format_time(lm.landmark, unit)}"
    exposed = int(lm.exposed.sum())
    n, events = len(lm.keep), int(lm.event.sum())
    if exposed == 0 or exposed == n or events == 0:
        why = "no patient treated by then" if exposed == 0 else ("every patient treated by then" if exposed == n
                                                                 else "no event after it")
        warnings.warn(f"The {where} has {why}: no hazard ratio there.", StatisticalWarning, stacklevel=2)
        return _row("landmark", landmark=lm.landmark, n=n, events=events, note=f"Not estimable: {why}")
    fit = _fit(study, _with_treatment(lm.exposed, d.X.iloc[lm.keep].reset_index(drop=True)), lm.time, lm.event)
    later = int(((d.treat[lm.keep] == 1) & ~lm.exposed.astype(bool)).sum())
    return _row("landmark", fit, landmark=lm.landmark,
                note=f"Patients alive and followed at {format_time(lm.landmark, unit)}, treated by then "
                     f"({format_count(exposed)}) vs not ({format_count(n - exposed)}, of whom {format_count(later)} "
                     f"treated later); time from the landmark; {_adjusted(d)}")


@dataclass
class _Weighting:
    """Propensity weights of one estimand, with what the report says about them."""

    analysis: str
    weights: np.ndarray
    ess: dict  # arm label -> effective sample size


def _propensity(study: Study, df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The propensity score of the matching step's model (logistic regression on its covariates)."""
    from mbcrt.stats import matching

    covs = list(study.matching["covariates"] or study.covariates)
    X = design_matrix(df, covs, study.categorical, study.levels)
    return matching.propensity_score(X, df["_treat"].to_numpy(np.int64)), covs


def weightings(study: Study, d: _Data, ps: np.ndarray, analyses: list[str]) -> dict[str, _Weighting]:
    """Stabilised propensity weights of each weighting analysis asked for, with each arm's effective size."""
    from mbcrt.stats.weighting import effective_sample_size, propensity_weights

    out = {}
    control, treated = study.arms
    for analysis in (a for a in ESTIMANDS if a in analyses):
        with warnings.catch_warnings(record=True) as caught:  # said again below, naming the weighting
            warnings.simplefilter("always", StatisticalWarning)
            w = propensity_weights(ps, d.treat, ESTIMANDS[analysis], stabilize=True)
        for message in dict.fromkeys(str(c.message) for c in caught if issubclass(c.category, StatisticalWarning)):
            warnings.warn(f"{LABELS[analysis]}: {message}", StatisticalWarning, stacklevel=2)
        ess = {treated: effective_sample_size(w[d.treat == 1]), control: effective_sample_size(w[d.treat == 0])}
        for arm, size in ess.items():
            n_arm = int((d.treat == (1 if arm == treated else 0)).sum())
            if size < MIN_ESS_SHARE * n_arm:
                warnings.warn(f"{LABELS[analysis]}: the {arm} arm's {format_count(n_arm)} patients weigh as "
                              f"{format_count(round(size))} (effective sample size under {MIN_ESS_SHARE:.0%}); a "
                              f"few patients carry the weighted estimate.", StatisticalWarning, stacklevel=2)
        out[analysis] = _Weighting(analysis, w, ess)
    return out


def weighted(study: Study, d: _Data, wt: _Weighting) -> dict:
    """Weighted Cox model of the ever/never exposure (treatment only: the weights do the adjusting)."""
    n = len(d.time)
    fit = _fit(study, pd.DataFrame({"_treat": d.treat.astype(float)}), d.time, d.event, weights=wt.weights,
               cluster=np.arange(n))
    ess = "; ".join(f"{arm} {format_count(round(v))}" for arm, v in wt.ess.items())
    return _row(wt.analysis, fit, n=n, events=int(d.event.sum()),
                note=f"{LABELS[wt.analysis]}: stabilised weights from the matching step's propensity model; "
                     f"treatment only (the weights adjust); robust SE; effective sample size {ess}; still ever vs "
                     f"never treated from the origin")


def matched(study: Study, matched_df: pd.DataFrame | None) -> dict:
    """The matched estimate of the Cox step: robust SE clustered on the pair."""
    from mbcrt.steps.cox import matched_treatment_models

    if matched_df is None or matched_df.empty:
        return _row("matched", note="Not estimable: no matched cohort (the study has no matching step)")
    r = matched_treatment_models(study, matched_df).set_index("model").loc["cluster_robust"]
    return _row("matched", hr=r["hr"], lower=r["lower"], upper=r["upper"], p=r["p"], n=int(r["n"]),
                events=int(r["events"]),
                note=f"{format_count(int(r['n']) // 2)} propensity-matched pairs (matching step); treatment only; "
                     f"robust SE clustered on the pair; still ever vs never treated from the origin")


# ---- restricted mean survival time and E-values -----------------------------------------------------

def _rmst_row(study: Study, analysis: str, time, event, group, horizon: float, *, weights=None, entry=None,
              landmark=None, note: str = "") -> dict:
    """RMST of the treated (group 1) minus the control (group 0) up to ``horizon``."""
    from mbcrt.stats.survival import rmst_difference

    nan = float("nan")
    row = {"analysis": analysis, "landmark": nan if landmark is None else float(landmark), "horizon": float(horizon),
           "n": int(len(time)), "note": note}
    group = np.asarray(group)
    if not horizon > 0 or group.min() == group.max():
        return {**row, **dict.fromkeys(["rmst_treated", "rmst_control", "difference", "lower", "upper", "p"], nan),
                "note": "Not estimable: " + ("the horizon is not after the landmark" if not horizon > 0
                                              else "one group is empty")}
    with warnings.catch_warnings(record=True) as caught:  # said again below, naming the analysis
        warnings.simplefilter("always", StatisticalWarning)
        r = rmst_difference(time, event, group, horizon, weights=weights, entry=entry, alpha=study.survival["alpha"])
    where = LABELS[analysis] + (f" at {format_time(landmark, study.time_unit)}" if landmark is not None else "")
    for message in dict.fromkeys(str(c.message) for c in caught if issubclass(c.category, StatisticalWarning)):
        warnings.warn(f"Restricted mean survival time, {where.lower()}: {message}.", StatisticalWarning, stacklevel=2)
    return {**row, "rmst_treated": r.rmst1, "rmst_control": r.rmst0, "difference": r.difference, "lower": r.lower,
            "upper": r.upper, "p": r.p}


def evalues(estimates: pd.DataFrame, *, rare: bool) -> pd.DataFrame:
    """E-value of each estimate and of its CI limit nearer 1 (common-outcome conversion unless ``rare``)."""
    from mbcrt.stats.evalue import evalue

    rows = []
    how = "outcome rare: HR taken as the risk ratio" if rare else "common outcome: HR converted to a risk ratio"
    for r in estimates.itertuples(index=False):
        point = ci = float("nan")
        if np.isfinite(r.hr) and r.hr > 0:
            limits = (r.lower, r.upper) if np.isfinite(r.lower) and np.isfinite(r.upper) else (None, None)
            point, ci = evalue(r.hr, *limits, rare=rare)
        rows.append({"analysis": r.analysis, "landmark": r.landmark, "hr": r.hr, "lower": r.lower, "upper": r.upper,
                     "evalue": point, "evalue_ci": ci, "chosen": r.analysis == CHOSEN, "note": how})
    return pd.DataFrame(rows, columns=EVALUE_COLUMNS)


# ---- the step -------------------------------------------------------------------------------------

def _check_settings(study: Study, d: _Data, st: Settings) -> None:
    """Warn (not fail) about settings the data cannot support well."""
    unit, n = study.time_unit, len(d.time)
    for mark in st.landmarks:
        share = float(np.mean(d.time > mark))
        if share < MIN_SHARE_FOLLOWED:
            warnings.warn(f"The landmark at {format_time(mark, unit)} comes after most follow-up: {share:.0%} of the "
                          f"{format_count(n)} patients are still followed then, so its estimate rests on few "
                          f"patients.", StatisticalWarning, stacklevel=2)
    if "clone_censor_weight" in st.analyses and not np.any(d.treat_time <= st.grace):
        warnings.warn(f"No patient started treatment within the grace period of {format_time(st.grace, unit)}: the "
                      f"clone-censor-weight analysis has no one following the treatment strategy (set "
                      f"sensitivity.grace).", StatisticalWarning, stacklevel=2)
    share = float(np.mean(d.time >= st.rmst_horizon))
    if share < 0.1:
        warnings.warn(f"The horizon of the restricted mean survival time, {format_time(st.rmst_horizon, unit)}, comes "
                      f"after most follow-up ({share:.0%} of the patients are followed that long): the curves are "
                      f"poorly known near it (the study file can set another horizon).", StatisticalWarning, stacklevel=2)


def sensitivity_step(study: Study, cohort: pd.DataFrame, matched_df: pd.DataFrame | None = None) -> SensitivityStep:
    """Every analysis of the step on the analysis cohort (and the matched one).

    Parameters
    ----------
    study : Study
        A two-arm study with ``treatment_start``.
    cohort : DataFrame
        The analysis cohort (``_time``, ``_event``, ``_treat`` and the study's columns).
    matched_df : DataFrame, optional
        The matched cohort of the matching step (``pair_id``), for the ``matched`` analysis.

    Returns
    -------
    SensitivityStep
    """
    from mbcrt.steps.common import complete_cases_under_imputation

    notes = []
    df, cc_note = complete_cases_under_imputation(study, cohort, "sensitivity analyses")
    if cc_note:
        notes.append(cc_note)
    df = df.reset_index(drop=True)
    d = _data(study, df)
    st = step_settings(study, d.time, d.treat_time)
    rows, rmst_rows, panels = [], [], []
    weights_rows, balance = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticalWarning)
        _check_settings(study, d, st)
        need_ps = any(a in st.analyses for a in ESTIMANDS)
        ps, ps_covs = _propensity(study, df) if need_ps else (None, [])
        wts = weightings(study, d, ps, st.analyses) if need_ps else {}
        marks = {m: _landmark_cohort(d, m) for m in st.landmarks} if "landmark" in st.analyses else {}
        ccw = None
        for analysis in st.analyses:
            if analysis == "naive":
                rows.append(_guarded(analysis, naive, study, d))
            elif analysis == "exclude_immortal":
                rows.append(_guarded(analysis, exclude_immortal, study, d))
            elif analysis == "time_varying":
                rows.append(_guarded(analysis, time_varying, study, d))
            elif analysis == "landmark":
                rows += [_guarded(analysis, landmark, study, d, lm, at=lm.landmark, unit=study.time_unit)
                         for lm in marks.values()]
            elif analysis == "clone_censor_weight":
                ccw = _guarded(analysis, clone_censor_weight, study, d, st)
                rows.append(ccw.row)
            elif analysis in ESTIMANDS:
                rows.append(_guarded(analysis, weighted, study, d, wts[analysis]))
            elif analysis == "matched":
                rows.append(_guarded(analysis, matched, study, matched_df))
        rmst_rows = _rmst_rows(study, d, st, wts, marks, ccw, matched_df if "matched" in st.analyses else None)
        for analysis, wt in wts.items():
            for code, arm in ((1, study.arms[1]), (0, study.arms[0])):
                in_arm = d.treat == code
                weights_rows.append({"weighting": analysis, "arm": arm, "n": int(in_arm.sum()), "ess": wt.ess[arm],
                                     "max_weight": float(wt.weights[in_arm].max())})
            balance.append(_balance(study, df, ps_covs, wt))
        panels = _panels(study, d, wts, marks, ccw)
    notes += list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, StatisticalWarning)))
    estimates = _suppress(pd.DataFrame(rows, columns=COLUMNS), study.min_cell_count)
    # "Rare" as VanderWeele and Ding define it: under 15% by the end of follow-up, read off the Kaplan-Meier
    # curve (the crude share of patients with an event understates it under censoring).
    rare = 1.0 - float(kaplan_meier(d.time, d.event).table["surv"].iloc[-1]) < 0.15
    bal = pd.concat(balance, ignore_index=True) if balance else pd.DataFrame(
        columns=["weighting", "variable", "label", "level", "smd_before", "smd_after"])
    m = study.min_cell_count
    rmst = _suppress(pd.DataFrame(rmst_rows, columns=RMST_COLUMNS), m)
    weights = _suppress(pd.DataFrame(weights_rows, columns=["weighting", "arm", "n", "ess", "max_weight"]), m)
    return SensitivityStep(estimates, rmst, evalues(estimates, rare=rare), weights, bal, panels, st, notes,
                           methods(study, st, rare))


def _guarded(analysis: str, run, *args, at=None, unit: str = ""):
    """``run(*args)``; a model the data cannot support (a diverging coefficient, a constant covariate in a
    small landmark cohort) gives a "not estimable" row and a warning, not a failed report."""
    try:
        return run(*args)
    except InputError as exc:
        where = LABELS[analysis] + (f" at {format_time(at, unit)}" if at is not None else "")
        warnings.warn(f"{where}: not estimable ({exc.rule}).", StatisticalWarning, stacklevel=2)
        row = _row(analysis, landmark=at, note=f"Not estimable: {exc.rule}")
        return _CCW(row, None, None) if analysis == "clone_censor_weight" else row


def _suppress(table: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Blank counts of 1 to ``min_cell_count - 1`` patients or events (small-cell suppression)."""
    if min_cell_count <= 1:
        return table
    out = table.copy()
    for col in [c for c in ("n", "events") if c in out.columns]:
        values = pd.to_numeric(out[col], errors="coerce")
        out[col] = values.where(~((values > 0) & (values < min_cell_count)))
    return out


def _balance(study: Study, df: pd.DataFrame, covs: list[str], wt: _Weighting) -> pd.DataFrame:
    from mbcrt.stats.weighting import weighted_balance_table

    table = weighted_balance_table(df, treatment="_treat", covariates=covs, weights=wt.weights,
                                   categorical=study.categorical, levels=study.levels, labels=study.labels)
    table.insert(0, "weighting", wt.analysis)
    return table


def _rmst_rows(study: Study, d: _Data, st: Settings, wts: dict, marks: dict, ccw, matched_df) -> list[dict]:
    """RMST differences of the naive, landmark, clone-censor-weight, weighted and matched cohorts."""
    tau, unit = st.rmst_horizon, study.time_unit
    out = []
    if "naive" in st.analyses:
        out.append(_rmst_row(study, "naive", d.time, d.event, d.treat, tau,
                             note="Ever vs never treated, from the origin (biased by immortal time)"))
    for lm in marks.values():
        out.append({**_rmst_row(study, "landmark", lm.time, lm.event, lm.exposed, tau - lm.landmark,
                                landmark=lm.landmark,
                                note=f"From the landmark at {format_time(lm.landmark, unit)} to the horizon, treated "
                                     f"by the landmark vs not"), "horizon": float(tau)})
    if ccw is not None and ccw.rmst is not None:
        out.append(ccw.rmst)
    for analysis, wt in wts.items():
        # Each arm's weights scaled to sum to its patients: the weighted-count SE then does not depend on the
        # weights' overall size (overlap weights sum to about half the patients), only on how they vary.
        w = wt.weights.astype(float).copy()
        for arm in (0, 1):
            in_arm = d.treat == arm
            if w[in_arm].sum() > 0:
                w[in_arm] *= in_arm.sum() / w[in_arm].sum()
        out.append(_rmst_row(study, analysis, d.time, d.event, d.treat, tau, weights=w,
                             note=f"{LABELS[analysis]}; standard error from the weighted counts, each arm's weights "
                                  f"scaled to its number of patients (approximate: ignores that the weights are "
                                  f"estimated)"))
    if matched_df is not None and not matched_df.empty:
        out.append(_rmst_row(study, "matched", matched_df["_time"].to_numpy(float),
                             matched_df["_event"].to_numpy(np.int64), matched_df["_treat"].to_numpy(np.int64), tau,
                             note="Propensity-matched pairs; standard error ignores the pairing"))
    order = {a: i for i, a in enumerate(SENSITIVITY_ANALYSES)}
    return sorted(out, key=lambda r: (order[r["analysis"]], r["landmark"] if np.isfinite(r["landmark"]) else 0))


class _Curve:
    """A survival table in the form the Kaplan-Meier figure draws (anything with ``.table``)."""

    def __init__(self, table: pd.DataFrame):
        self.table = table


def _km_by(time, event, group, labels: list[str], weights=None, ticks=None, min_cell_count: int = 0) -> dict:
    """One panel: a (weighted) Kaplan-Meier curve per group, unweighted numbers at risk under it."""
    from mbcrt.report import privacy
    from mbcrt.stats.survival import at_risk_table, weighted_km

    curves = {}
    for code, label in enumerate(labels):
        m = group == code
        if m.any():
            curves[label] = _Curve(weighted_km(time[m], event[m], weights=None if weights is None else weights[m]))
    names = np.asarray(labels, dtype=object)[group]
    at_risk = at_risk_table(time, names, ticks, order=[lab for lab in labels if lab in curves])
    return {"curves": curves, "at_risk": privacy.suppress(at_risk, "at_risk", min_cell_count)}


def _panels(study: Study, d: _Data, wts: dict, marks: dict, ccw) -> list[dict]:
    """Kaplan-Meier panels: ever vs never; weighted (ATE, else the first weighting); the last landmark; CCW."""
    from mbcrt.steps.survival import study_ticks

    arms, m, unit = study.arms, study.min_cell_count, study.time_unit
    ticks = study_ticks(study, d.time)
    panels = [{"title": "Ever vs never treated, from the origin",
               **_km_by(d.time, d.event, d.treat, arms, ticks=ticks, min_cell_count=m)}]
    if wts:
        wt = wts.get("iptw_ate") or next(iter(wts.values()))
        panels.append({"title": f"{LABELS[wt.analysis]}",
                       **_km_by(d.time, d.event, d.treat, arms, weights=wt.weights, ticks=ticks, min_cell_count=m)})
    if marks:
        lm = list(marks.values())[-1]
        if 0 < lm.exposed.sum() < len(lm.exposed):
            labels = [f"{arm} by {format_time(lm.landmark, unit)}" for arm in arms]  # exposure at the landmark
            panels.append({"title": f"From the landmark at {format_time(lm.landmark, unit)}",
                           **_km_by(lm.time, lm.event, lm.exposed, labels, ticks=[t for t in ticks
                                                                                  if t <= lm.time.max()] or ticks,
                                    min_cell_count=m)})
    if ccw is not None and ccw.panel is not None:
        panels.append(ccw.panel)
    return panels


# ---- words and figures ----------------------------------------------------------------------------

def methods(study: Study, st: Settings, rare: bool) -> str:
    """What each analysis does and the settings used (with where each default came from)."""
    ci = ci_label(study)
    return (
        f"Methods: Cox models ({study.cox['ties'].capitalize()} ties, Wald {ci}), adjusted for the study's "
        f"covariates where the analysis does not adjust by weights or matching. *Ever vs never* is the fixed "
        f"exposure from the origin. *Treated counted from treatment start* drops the treated patients' time "
        f"before treatment. *Time-varying*: each treated patient is untreated until treatment starts (start-stop "
        f"rows, counting-process Cox model). *Landmark*: patients alive and followed at the landmark, exposed if "
        f"treated by then, followed from it. *Clone-censor-weight*: each patient is cloned into \"treat within the "
        f"grace period\" and \"do not treat within it\"; a clone is censored when it deviates; inverse-probability-"
        f"of-censoring weights from the covariates; weighted Kaplan-Meier and Cox. *IPTW and overlap*: stabilised "
        f"weights from the propensity model of the matching step; weighted Kaplan-Meier and Cox with robust "
        f"standard errors. *Matched*: the pair-clustered estimate of the matched cohort. E-values "
        f"({'rare outcome: HR as risk ratio' if rare else 'common outcome: HR converted to a risk ratio'}, "
        f"VanderWeele 2020) and restricted mean survival time (RMST) differences with normal {ci}s. "
        + " ".join(st.stated))


def data_note(study: Study) -> str:
    """What the reader must know beside the numbers: for synthetic data, that the bias is built in."""
    parts = []
    if study.synthetic:
        parts.append("**Synthetic cohort.** On a synthetic cohort the size of the differences between these "
                     "analyses follows from how the synthetic treatment start dates were drawn. The step shows the "
                     "method, and what a hospital with the real data would see; it is not a finding about the "
                     "paper's patients.")
    if study.sensitivity.get("note"):
        parts.append(str(study.sensitivity["note"]).strip())
    return " ".join(parts) or "Treatment start as recorded in the data."


def _hr_text(r) -> str:
    return f"HR {format_hr(r.hr, r.lower, r.upper)}" if np.isfinite(r.hr) else "not estimable"


def _label(r, unit: str) -> str:
    if r.analysis == "landmark":
        return f"Landmark at {format_time(r.landmark, unit)}"
    return LABELS[r.analysis]


def interpretation(study: Study, res: SensitivityStep) -> str:
    """A plain-language paragraph, generated from the numbers: which estimates move away from the
    ever/never estimate, in which direction, and why."""
    est = res.estimates
    unit = study.time_unit
    treated, control = study.arm_labels["treated"], study.arm_labels["control"]
    by = {a: list(est[est["analysis"] == a].itertuples(index=False)) for a in est["analysis"].unique()}
    out = []
    base = by.get("naive", [None])[0]
    if base is not None and np.isfinite(base.hr):
        out.append(f"Comparing patients who ever received {treated} with those who never did ({control}), with "
                   f"time counted from the origin, gives {_hr_text(base)}.")
        moved = [(r, _move(base.hr, r.hr, treated)) for a in TIME_AWARE for r in by.get(a, []) if np.isfinite(r.hr)]
        if moved:
            parts = [f"{_label(r, unit).lower()}, {_hr_text(r)} ({how})" for r, (how, _) in moved]
            out.append("The analyses that count each patient as untreated until treatment starts give: "
                       + "; ".join(parts) + ".")
            up = sum(direction > 0 for _, (_, direction) in moved)
            if up == len(moved):
                out.append(f"Every one of them gives the {treated} arm less benefit than the ever/never comparison, "
                           f"which credits the {treated} arm with the time its patients had to survive before "
                           "treatment started (immortal time) and so makes the treatment look better than it is.")
            elif up:
                rest = len(moved) - up
                out.append(f"{up} of {len(moved)} give the {treated} arm less benefit, as removing immortal time "
                           f"should; {'the other does' if rest == 1 else f'the other {rest} do'} not, so the "
                           "ever/never estimate is not immortal time alone.")
            else:
                out.append(f"None gives the {treated} arm less benefit: immortal time does not explain the ever/never "
                           "estimate here.")
            below = sum(r.upper < 1 for r, _ in moved)
            above = sum(r.lower > 1 for r, _ in moved)
            if below == len(moved):
                out.append(f"Each still favours {treated} with a confidence interval below 1: removing immortal time "
                           "changes the size of the estimated benefit, not its direction.")
            elif above == len(moved):
                out.append(f"Each favours {control} with a confidence interval above 1.")
            elif below + above == 0:
                out.append(f"Each confidence interval includes 1: once immortal time is removed these data show no "
                           f"clear difference between {treated} and {control}.")
            else:
                out.append("Some of their confidence intervals include 1 and some do not: the conclusion depends on "
                           "the analysis.")
        for r in by.get("exclude_immortal", []):
            if np.isfinite(r.hr):
                out.append(f"Counting the treated patients' time from the start of treatment gives {_hr_text(r)}; "
                           "this is biased too (the untreated keep time the treated lose), so it is shown, not used.")
        fixed = [r for a in FIXED_EXPOSURE if a != "naive" for r in by.get(a, []) if np.isfinite(r.hr)]
        if fixed:
            lo, hi = min(r.hr for r in fixed), max(r.hr for r in fixed)
            span = f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f} to {hi:.2f}"
            out.append(f"Propensity weighting and matching give hazard ratios of {span}: they balance the measured "
                       "covariates but keep the ever/never exposure from the origin, so they carry the same "
                       "immortal-time bias as the unweighted comparison; agreeing with it does not confirm it.")
    ev = res.evalue[res.evalue["chosen"]]
    if len(ev) and np.isfinite(ev["evalue"].iloc[0]):
        r = ev.iloc[0]
        ci_part = ("its confidence interval already includes 1" if r["evalue_ci"] <= 1 else
                   f"one of {r['evalue_ci']:.2f} could move its confidence interval to include 1")
        out.append(f"For the time-varying estimate, an unmeasured confounder associated with both the treatment and "
                   f"the outcome by a risk ratio of {r['evalue']:.2f} each could explain the estimate away, and "
                   f"{ci_part} (E-values).")
    if study.synthetic:
        out.append("On this synthetic cohort these differences show the method, not a finding (see the note on how "
                   "the treatment dates were drawn).")
    return " ".join(out)


def _move(base: float, hr: float, treated: str) -> tuple[str, int]:
    """How an estimate sits relative to the ever/never one: words, and +1 (less benefit for the treated, the
    way removing immortal time moves it), -1 (more) or 0 (within 5%: no real move)."""
    if abs(math.log(hr) - math.log(base)) < math.log(1.05):
        return "about the same as ever/never", 0
    if hr > base:
        return f"less benefit for {treated}" + ("; crosses 1" if hr > 1 > base else ""), 1
    return f"more benefit for {treated}" + ("; crosses 1" if hr < 1 < base else ""), -1


def forest_figure(study: Study, res: SensitivityStep):
    """Every analysis's HR (95% CI) on one log axis (the report's forest plot)."""
    from mbcrt.report.figures.forest import forest_plot

    est = res.estimates
    unit = study.time_unit
    rows = pd.DataFrame({
        "label": [_label(r, unit) for r in est.itertuples(index=False)],
        "hr": est["hr"], "lower": est["lower"], "upper": est["upper"],
        "HR (95% CI)": [format_hr(r.hr, r.lower, r.upper) if np.isfinite(r.hr) else "" for r in
                        est.itertuples(index=False)],
        "p": [format_p(p) if np.isfinite(p) else "" for p in est["p"]],
    })
    treated, control = study.arm_labels["treated"], study.arm_labels["control"]
    return forest_plot(rows, right_text=["HR (95% CI)", "p"], label_header="Analysis",
                       favours=(f"Favours {treated}", f"Favours {control}"),
                       xlabel=f"Hazard ratio, {treated} vs {control} ({ci_label(study)})")


def km_caption(study: Study, res: SensitivityStep) -> str:
    """The caption of :func:`km_figure`, panel by panel."""
    parts = [f"({chr(65 + i)}) {p['title']}" for i, p in enumerate(res.panels)]
    return ("Survival by arm: " + "; ".join(parts) + ". Weighted curves use the weights of their analysis; the "
            "landmark panel counts time from the landmark. Numbers at risk are patients (clones in the "
            "clone-censor-weight panel), unweighted.")


def km_figure(study: Study, res: SensitivityStep):
    """Kaplan-Meier panels: ever vs never, propensity-weighted, from a landmark, clone-censor-weight."""
    from mbcrt.report.figures.km import km_panels

    return km_panels(res.panels, ncols=2, xlabel=f"Time ({study.time_unit})")


# ---- clone-censor-weight ------------------------------------------------------------------------------

@dataclass
class _CCW:
    """The clone-censor-weight analysis: its estimates row, RMST row and Kaplan-Meier panel."""

    row: dict
    rmst: dict | None
    panel: dict | None


def clone_censor_weight(study: Study, d: _Data, st: Settings) -> _CCW:
    """Target-trial emulation of "treat within the grace period" vs "do not treat within it": clones,
    censoring at deviation, inverse-probability-of-censoring weights on the Cox covariates, weighted
    Kaplan-Meier and Cox. The interval is a percentile bootstrap (patients resampled with both clones,
    weights refitted) up to :data:`BOOTSTRAP_MAX_PATIENTS` patients; above, the robust standard error
    clustered on the patient (which ignores that the weights are estimated)."""
    from mbcrt.report import privacy
    from mbcrt.stats.clone_censor import ccw_estimate, clone_censor
    from mbcrt.stats.survival import at_risk_table
    from mbcrt.steps.survival import study_ticks

    unit, n = study.time_unit, len(d.time)
    grace = format_time(st.grace, unit)
    if not np.any(d.treat_time <= st.grace):
        return _CCW(_row("clone_censor_weight", n=n, events=int(d.event.sum()),
                         note=f"Not estimable: no patient started treatment within the grace period ({grace})"),
                    None, None)
    boot = st.bootstrap  # 0 above BOOTSTRAP_MAX_PATIENTS (step_settings)
    res = ccw_estimate(d.time, d.event, d.treat_time, d.X, st.grace, bootstrap=boot, seed=study.seed,
                       alpha=study.survival["alpha"], ties=study.cox["ties"])
    if res.max_weight > MAX_WEIGHT_RATIO:
        warnings.warn(f"Clone-censor-weight: the largest censoring weight is {res.max_weight:.0f} (one clone counts "
                      f"as that many); its estimate rests on few patients who followed a strategy rarely followed.",
                      StatisticalWarning, stacklevel=2)
    s = res.cox.summary.iloc[0]
    if boot:
        good = res.boot_log_hr[np.isfinite(res.boot_log_hr)]
        se = float(np.std(good, ddof=1)) if good.size > 1 else float("nan")
        p = float(2 * _sp.norm.sf(abs(math.log(res.hr)) / se)) if se > 0 else float("nan")
        lower, upper = res.lower, res.upper
        how = f"percentile bootstrap {ci_label(study)} ({boot} replicates, seed {study.seed}; p from the bootstrap SE)"
    else:
        lower, upper, p = float(s["lower"]), float(s["upper"]), float(s["p"])
        how = (f"robust SE clustered on the patient (no bootstrap above {format_count(BOOTSTRAP_MAX_PATIENTS)} "
               "patients)" if n > BOOTSTRAP_MAX_PATIENTS and study.sensitivity["bootstrap"]
               else "robust SE clustered on the patient (bootstrap: 0)")
    treated_in_grace = int(np.sum(d.treat_time <= st.grace))
    row = _row("clone_censor_weight", hr=res.hr, lower=lower, upper=upper, p=p, n=n, events=int(d.event.sum()),
               note=f"Emulated trial: {LABELS_CCW[1].format(treated=study.arm_labels['treated'], grace=grace)} vs "
                    f"{LABELS_CCW[0].format(treated=study.arm_labels['treated'], grace=grace).lower()} "
                    f"({format_count(treated_in_grace)} patients treated within it); clones censored at deviation; "
                    f"censoring weights from {len(d.covariates)} covariates (largest {res.max_weight:.1f}); "
                    f"weighted Cox; {how}")
    rows = res.rows
    rmst = _rmst_row(study, "clone_censor_weight", rows["tstop"].to_numpy(), rows["event"].to_numpy(),
                     rows["arm"].to_numpy(), st.rmst_horizon, weights=rows["weight"].to_numpy(),
                     entry=rows["tstart"].to_numpy(),
                     note="Weighted clones of the two strategies; standard error from the weighted counts "
                          "(approximate: ignores the cloning and the estimated weights)")
    rmst["n"] = n
    clones = clone_censor(d.time, d.event, d.treat_time, st.grace)
    labels = [LABELS_CCW[a].format(treated=study.arm_labels["treated"], grace=grace) for a in (0, 1)]
    ticks = study_ticks(study, d.time)
    names = np.asarray(labels, dtype=object)[clones["arm"].to_numpy()]
    at_risk = at_risk_table(clones["time"].to_numpy(), names, ticks, order=labels)
    panel = {"title": "Clone-censor-weight",  # the grace period is in the strategies' labels
             "curves": {labels[a]: _Curve(res.km[a]) for a in (0, 1)},
             "at_risk": privacy.suppress(at_risk, "at_risk", study.min_cell_count)}
    return _CCW(row, rmst, panel)
