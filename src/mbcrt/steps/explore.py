"""Interactive exploration: the matched treatment effect of one study redone for chosen parameters.

:func:`explore` reruns the study's own steps (propensity matching, Kaplan-Meier, Cox) with another
caliper, endpoint, subgroup or landmark time and returns the figure and tidy tables; the widget
panel of :mod:`mbcrt.run.explore` formats and shows them. Nothing here is written to disk.

Matching is always done on the whole analysis cohort, as the study does it; a subgroup restricts
the cohort and the matched cohort afterwards (so a pair may be split). Matching within a subgroup
would need a propensity model without the subgroup variable, a different design.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mbcrt import paths
from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.report import privacy
from mbcrt.report.format import format_hr, format_p_label
from mbcrt.stats import cox
from mbcrt.stats.design import category_levels
from mbcrt.stats.matching import balance_table
from mbcrt.steps.common import Endpoint, ci_label, endpoints
from mbcrt.steps.cox import matched_treatment_models
from mbcrt.steps.matching import MatchingResult, run_matching
from mbcrt.steps.survival import KMAnalysis, _factorize_as_text, _km_figure, km_analysis
from mbcrt.study.config import CHOICES, Study

COHORTS = ("matched", "all")
HR_COLUMNS = ["cohort", "model", "n", "events", "hr", "lower", "upper", "p"]
LANDMARK_COLUMNS = ["endpoint", "cohort", "group", "time", "surv", "lower", "upper", "n_risk"]


@dataclass
class ExploreResult:
    """The treatment effect of one study for one choice of parameters.

    Attributes
    ----------
    parameters : dict
        The parameters as used (caliper, caliper_scale, endpoint, subgroup, landmark, cohort).
    figure : matplotlib.figure.Figure
        Kaplan-Meier curves by arm of ``parameters["cohort"]`` (restricted to the subgroup), the
        landmark time marked by a dotted line.
    hr : DataFrame
        Treatment hazard ratio, columns :data:`HR_COLUMNS`: ``all`` cohort ``naive``; ``matched``
        cohort ``naive``, ``cluster_robust`` (SE clustered on the pair) and ``pair_stratified``.
        A model that cannot be fitted (e.g. no event in a small subgroup) has NaN estimates and
        its reason in ``warnings``.
    balance : DataFrame
        ``variable, label, level, smd_before, smd_after`` (before: the cohort; after: the matched
        cohort; both restricted to the subgroup, whose own variable is left out).
    landmarks : DataFrame
        Survival at the landmark time per arm in both cohorts, columns :data:`LANDMARK_COLUMNS`.
    km : dict of str to KMAnalysis
        The Kaplan-Meier analyses by arm of each cohort (``"all"``, ``"matched"``).
    matching : MatchingResult
        The match of the whole cohort with this caliper (from :func:`mbcrt.steps.matching.run_matching`).
    n : dict of str to int
        Patients of each cohort after the subgroup restriction.
    warnings : list of str
        Notes of the matching step and statistical warnings raised on the way.
    """

    parameters: dict
    figure: object
    hr: pd.DataFrame
    balance: pd.DataFrame
    landmarks: pd.DataFrame
    km: dict
    matching: MatchingResult
    n: dict
    warnings: list

    @property
    def n_pairs(self) -> int:
        """Matched pairs in the whole cohort (before any subgroup restriction)."""
        return int(self.matching.is_matched.sum() // 2)


def check_explorable(study: Study) -> None:
    """Raise InputError unless ``study`` compares two arms (exploration is of the treatment effect)."""
    if not study.two_arm:
        raise InputError("interactive exploration compares the two arms of a study: this study has no "
                         "'treatment'", file=paths.relative(study.path), column="treatment")


def subgroup_choices(study: Study, cohort: pd.DataFrame) -> dict[str, list[str]]:
    """Each subgroup variable's levels as text, in the study's order (those with patients only)."""
    out = {}
    for var in study.subgroups:
        _, texts = _factorize_as_text(cohort[var])
        listed = [str(v) for v in category_levels(cohort[var], study.levels.get(var))]
        out[var] = [t for t in listed if t in set(texts)]
    return out


def default_landmark(study: Study, cohort: pd.DataFrame) -> float:
    """The study's first landmark time, else the median follow-up time of the cohort."""
    if study.landmarks:
        return float(study.landmarks[0])
    return float(np.median(cohort["_time"].to_numpy(float)))


def with_caliper(study: Study, caliper: float | None, caliper_scale: str) -> Study:
    """A copy of ``study`` matching with another caliper (None: no caliper) on another scale."""
    if caliper is not None and not caliper > 0:
        raise InputError("caliper must be a positive number or None", column="matching.caliper")
    allowed = CHOICES[("matching", "caliper_scale")]
    if caliper_scale not in allowed:
        raise InputError(f"must be one of {', '.join(allowed)} (got '{caliper_scale}')",
                         column="matching.caliper_scale")
    config = dict(study.config, matching=dict(study.matching, caliper=caliper, caliper_scale=caliper_scale))
    return dataclasses.replace(study, config=config)


def _endpoint(study: Study, name: str | None) -> Endpoint:
    eps = endpoints(study)
    if name is None:
        return eps[0]
    for ep in eps:
        if ep.name == name:
            return ep
    raise InputError(f"unknown endpoint '{name}' (one of {', '.join(e.name for e in eps)})", column="endpoint")


def _in_subgroup(df: pd.DataFrame, var: str, level: str) -> pd.DataFrame:
    """Rows of ``df`` whose ``var`` reads ``level`` (compared as text, as the subgroup step does)."""
    raw, texts = _factorize_as_text(df[var])
    wanted = [j for j, text in enumerate(texts) if text == str(level)]
    return df[np.isin(raw, wanted)]


def _as_primary(df: pd.DataFrame, ep: Endpoint) -> pd.DataFrame:
    """``df`` with ``_time``/``_event`` set to ``ep``'s columns (the Cox step models those)."""
    if (ep.time, ep.event) == ("_time", "_event"):
        return df
    return df.assign(_time=df[ep.time].to_numpy(float), _event=df[ep.event].to_numpy(int))


def _treatment_models(study: Study, cohorts: dict[str, pd.DataFrame], ep: Endpoint, notes: list) -> pd.DataFrame:
    """The rows of :data:`HR_COLUMNS`; a model that cannot be fitted gets NaN and a note."""
    rows = []
    kw = {"ties": study.cox["ties"], "alpha": study.survival["alpha"]}
    for cohort in ("all", "matched"):
        df = _as_primary(cohorts[cohort], ep)
        try:
            if cohort == "all":
                fit = cox.fit_cox(df[["_treat"]].astype(float), df["_time"].to_numpy(float),
                                  df["_event"].to_numpy(int), **kw)
                s = fit.summary.iloc[0]
                rows.append({"cohort": cohort, "model": "naive", "n": fit.n, "events": fit.events,
                             "hr": s["hr"], "lower": s["lower"], "upper": s["upper"], "p": s["p"]})
            else:
                m = matched_treatment_models(study, df)
                rows += [dict(cohort=cohort, **r) for r in m[HR_COLUMNS[1:]].to_dict("records")]
        except InputError as exc:
            which = "the whole cohort" if cohort == "all" else "the matched cohort"
            notes.append(f"No hazard ratio in {which}: {exc.rule}")
            models = ["naive"] if cohort == "all" else ["naive", "cluster_robust", "pair_stratified"]
            rows += [{"cohort": cohort, "model": model, "n": len(df), "events": int(df["_event"].sum())}
                     for model in models]
    return pd.DataFrame(rows, columns=HR_COLUMNS)


def _landmarks(study: Study, km: KMAnalysis, ep: Endpoint, cohort: str, landmark: float) -> pd.DataFrame:
    """Survival per arm at ``landmark`` (estimates of groups under ``min_cell_count`` blanked)."""
    parts = [curve.survival_at([landmark]).assign(endpoint=ep.name, cohort=cohort, group=group)
             for group, curve in km.curves.items()]
    table = pd.concat(parts, ignore_index=True)[LANDMARK_COLUMNS]
    return privacy.suppress(table, "landmarks", study.min_cell_count, group_sizes=km.summary)


def _annotation(km: KMAnalysis, hr: pd.DataFrame, cohort: str, ci: str) -> str | None:
    """Log-rank p, and the HR of the cohort drawn (pair-clustered CI after matching)."""
    lines = []
    if len(km.logrank):
        lines.append(f"Log-rank {format_p_label(float(km.logrank['p'].iloc[0]))}")
    model = "cluster_robust" if cohort == "matched" else "naive"
    row = hr[(hr["cohort"] == cohort) & (hr["model"] == model)]
    if len(row) and pd.notna(row["hr"].iloc[0]):
        r = row.iloc[0]
        lines.append(f"HR ({ci}) {format_hr(r['hr'], r['lower'], r['upper'])}")
    return "\n".join(lines) or None


def explore(study: Study, cohort: pd.DataFrame, caliper: float | str | None = "study", caliper_scale: str | None = None,
            endpoint: str | None = None, subgroup: tuple[str, str] | None = None, landmark: float | None = None,
            show: str = "matched", matching: MatchingResult | None = None) -> ExploreResult:
    """Match, draw and estimate the treatment effect of ``study`` for the given parameters.

    Parameters
    ----------
    study : Study
        A two-arm study.
    cohort : DataFrame
        Its analysis cohort (``build/<study>/cohort.csv``, or :func:`mbcrt.study.cohort.build_cohort`).
    caliper : float, None or "study"
        Caliper in SDs of the distance; None for no caliper; "study" (default) for the study's.
    caliper_scale : {"logit", "probability"}, optional
        Scale of the distance (default: the study's).
    endpoint : str, optional
        Name of one of the study's endpoints (default: the primary one).
    subgroup : (str, str) or None
        A subgroup variable of the study and one of its levels (as text); None for all patients.
    landmark : float, optional
        Time at which survival is read per arm (default: the study's first landmark).
    show : {"matched", "all"}
        The cohort whose curves are drawn.
    matching : MatchingResult, optional
        A match already made with these caliper settings (the panel caches them; must come from
        :func:`mbcrt.steps.matching.run_matching` on ``cohort``).

    Returns
    -------
    ExploreResult
    """
    check_explorable(study)
    if show not in COHORTS:
        raise InputError(f"show must be one of {', '.join(COHORTS)} (got '{show}')")
    if isinstance(caliper, str) and caliper == "study":
        caliper = study.matching["caliper"]
    caliper_scale = caliper_scale or study.matching["caliper_scale"]
    if subgroup is not None and subgroup[0] not in study.subgroups:
        raise InputError(f"'{subgroup[0]}' is not one of the study's subgroups ({', '.join(study.subgroups)})",
                         column="subgroup")
    ep = _endpoint(study, endpoint)
    landmark = default_landmark(study, cohort) if landmark is None else float(landmark)
    if not (np.isfinite(landmark) and landmark >= 0):
        raise InputError("landmark must be a time >= 0", column="landmark")
    s = with_caliper(study, caliper, caliper_scale)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticalWarning)
        if matching is None:
            matching = run_matching(s, cohort)
        # The match is of the whole cohort, also when a subgroup is shown.
        notes += [f"Whole-cohort match: {w}" if subgroup is not None else w for w in matching.warnings]
        cohorts = {"all": cohort, "matched": matching.matched}
        balance = matching.balance
        if subgroup is not None:
            var, level = subgroup
            cohorts = {k: _in_subgroup(df, var, level) for k, df in cohorts.items()}
            if cohorts["all"].empty:
                raise InputError(f"no patient has {study.label(var)} = {level}", column=var)
            covs = [c for c in (s.matching["covariates"] or s.covariates) if c != var]
            balance = balance_table(cohorts["all"], cohorts["matched"], treatment="_treat", covariates=covs,
                                    categorical=s.categorical, levels=s.levels, labels=s.labels)
        hr = _treatment_models(s, cohorts, ep, notes)
        kms, marks = {}, []
        for name in ("all", "matched"):
            if cohorts[name].empty:
                continue
            kms[name] = km_analysis(s, cohorts[name], ep, name, by="_arm", order=s.arms)
            marks.append(_landmarks(s, kms[name], ep, name, landmark))
    notes += list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, StatisticalWarning)))
    for w in caught:  # other warnings are not the reader's: passed on as they came
        if not issubclass(w.category, StatisticalWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if show not in kms:
        raise InputError("no matched pair in this subgroup: choose the whole cohort or another caliper")
    figure = _km_figure(s, kms[show], ep, _annotation(kms[show], hr, show, ci_label(s)))
    ax = figure.axes[0]
    if landmark <= ax.get_xlim()[1]:
        ax.axvline(landmark, color="0.45", linestyle=":", linewidth=1.0, zorder=1)
    params = {"caliper": caliper, "caliper_scale": caliper_scale, "endpoint": ep.name, "subgroup": subgroup,
              "landmark": landmark, "cohort": show}
    return ExploreResult(params, figure, hr, balance, pd.concat(marks, ignore_index=True), kms, matching,
                         {k: len(v) for k, v in cohorts.items()}, notes)
