"""Step 4, survival curves: Kaplan-Meier, landmark survival, log-rank tests and follow-up for every endpoint and cohort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mbcrt.report import privacy
from mbcrt.report.format import format_hr_label, format_p_label
from mbcrt.stats import survival
from mbcrt.stats.design import category_levels
from mbcrt.steps.common import Endpoint, ci_label, endpoints, group_column, km_survival_kwargs
from mbcrt.study.config import Study

LANDMARK_COLUMNS = ["endpoint", "cohort", "group", "time", "surv", "lower", "upper", "n_risk"]


LOGRANK_COLUMNS = ["endpoint", "cohort", "chisq", "df", "p"]


@dataclass
class KMAnalysis:
    """Kaplan-Meier analysis of one endpoint in one cohort, split by one grouping."""

    curves: dict
    summary: pd.DataFrame
    landmarks: pd.DataFrame
    logrank: pd.DataFrame
    at_risk: pd.DataFrame


def _factorize_as_text(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each row's index into the distinct texts (``str(value)``) of ``values``, -1 where missing.

    Groups are compared as text. Strings and integers are factorized as they are and only the
    distinct values converted; other values (floats, mixed objects), which factorizing could merge
    although their texts differ (``0.0`` and ``-0.0``, ``True`` and ``1``), are converted row by row.
    """
    raw, uniques = pd.factorize(values)
    if values.dtype.kind in "iub" or all(type(u) is str for u in uniques):
        return raw, [str(u) for u in uniques]
    known = raw >= 0
    codes, texts = pd.factorize(values[known].astype(str))
    raw = np.full(len(values), -1, dtype=np.int64)
    raw[known] = codes
    return raw, list(texts)


def km_analysis(study: Study, df: pd.DataFrame, endpoint: Endpoint, cohort: str, by: str | None = None,
                order: list | None = None, at_risk_times=None) -> KMAnalysis:
    """KM curves, medians, landmark survival and log-rank of ``endpoint`` in ``df`` split by ``by``.

    The summary has an "All" row plus one row per group; log-rank is computed when there are two or
    more groups with patients.
    """
    kw = km_survival_kwargs(study)
    t = df[endpoint.time].to_numpy(dtype=float)
    e = df[endpoint.event].to_numpy(dtype=int)
    curves = {}
    if by is not None:
        raw, uniques = _factorize_as_text(df[by])
        listed = [str(o) for o in (order or category_levels(df[by]))]
        position = {label: k for k, label in enumerate(listed)}
        index = np.array([position.get(u, -1) for u in uniques] + [-1], dtype=np.int64)[raw]
        known = raw >= 0  # a patient without a group value is in no group's curve
        t, e, index = t[known], e[known], index[known]
        sizes = np.bincount(index[index >= 0], minlength=len(listed))
        for level in listed:
            if sizes[position[level]] > 0:
                m = index == position[level]
                curves[level] = survival.kaplan_meier(t[m], e[m], **kw)
        texts = np.empty(len(listed), dtype=object)
        texts[:] = listed  # the text of each position in the order
    overall = survival.kaplan_meier(t, e, **kw)
    rows, marks = [], []
    for group, km in [("All", overall), *curves.items()]:
        rows.append({"endpoint": endpoint.name, "cohort": cohort, "group": group, "n": km.n, "events": km.events,
                     "event_pct": 100 * km.events / km.n if km.n else np.nan, "median": km.median,
                     "median_lower": km.median_lower, "median_upper": km.median_upper})
        if study.landmarks:
            lm = km.survival_at(study.landmarks)
            for r in lm.itertuples(index=False):
                marks.append({"endpoint": endpoint.name, "cohort": cohort, "group": group, "time": r.time,
                              "surv": r.surv, "lower": r.lower, "upper": r.upper, "n_risk": r.n_risk})
    lr = pd.DataFrame(columns=LOGRANK_COLUMNS)
    if len(curves) >= 2:
        keep = index >= 0  # the patients of the curves
        res = survival.logrank_test(t[keep], e[keep], texts[index[keep]])
        lr = pd.DataFrame([{"endpoint": endpoint.name, "cohort": cohort, "chisq": res.chisq, "df": res.df,
                            "p": res.p}])
    shown = curves if curves else {"All": overall}
    times = at_risk_times if at_risk_times is not None else study_ticks(study, t)
    if curves:
        # A value outside the order is an error of at_risk_table, which names it.
        groups = texts[index] if (index >= 0).all() else df[by][known].astype(str).to_numpy()
        at_risk = survival.at_risk_table(t, groups, times, order=list(curves))
    else:
        at_risk = survival.at_risk_table(t, np.full(len(t), "All"), times, order=["All"])
    return KMAnalysis(shown, pd.DataFrame(rows), pd.DataFrame(marks, columns=LANDMARK_COLUMNS), lr, at_risk)


def default_ticks(t: np.ndarray, unit: str = "months", step: float | None = None) -> list[float]:
    """Tick times at whole years from 0 to the longest follow-up (for axes and numbers at risk).

    See :func:`mbcrt.report.figures.km.time_ticks`: 0, 12, 24 ... months (24 or 36 on long
    follow-up), 0, 365, 730 ... days, 0, 1, 2 ... years; every ``step`` units when given.
    """
    from mbcrt.report.figures.km import time_ticks

    t = np.asarray(t, dtype=float)
    tmax = float(np.nanmax(t)) if t.size and np.isfinite(t).any() else 0.0
    return time_ticks(tmax, unit, step)


def study_ticks(study: Study, t: np.ndarray) -> list[float]:
    """:func:`default_ticks` in the study's time unit, at its ``survival.time_step`` if it sets one."""
    return default_ticks(t, study.time_unit, study.survival.get("time_step"))


def treatment_hr(study: Study, df: pd.DataFrame, endpoint: Endpoint) -> tuple[float, float, float] | None:
    """Hazard ratio (CI) of the treated arm vs control, univariable Cox as in the Cox step; None if not estimable.

    The same fit as the Cox step's treatment row (``_treat`` alone, the study's ties and alpha), made
    here because the survival step runs first. Its warnings are the Cox step's to report.
    """
    import warnings

    from mbcrt.errors import InputError
    from mbcrt.stats.cox import fit_cox

    if not study.two_arm or "_treat" not in df.columns or df["_treat"].nunique() < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = fit_cox(df[["_treat"]].astype(float), df[endpoint.time].to_numpy(float),
                          df[endpoint.event].to_numpy(int), ties=study.cox["ties"], alpha=study.survival["alpha"])
        except InputError:
            return None
    row = fit.summary.loc["_treat"]
    if not np.isfinite(row["hr"]):
        return None
    return float(row["hr"]), float(row["lower"]), float(row["upper"])


def figure_annotation(study: Study, p: float | None, hr: tuple[float, float, float] | None = None) -> str | None:
    """The label of a Kaplan-Meier figure: "HR 0.62 (95% CI 0.48-0.80)" over "Log-rank p = 0.002"."""
    lines = []
    if hr is not None and np.isfinite(hr[0]):
        lines.append(format_hr_label(*hr, ci=ci_label(study)))
    if p is not None:
        lines.append(f"Log-rank {format_p_label(p)}")
    return "\n".join(lines) or None


def followup(study: Study, df: pd.DataFrame, endpoint: Endpoint, cohort: str) -> dict:
    """Median follow-up by reverse Kaplan-Meier, as one row."""
    km = survival.median_followup(df[endpoint.time].to_numpy(float), df[endpoint.event].to_numpy(int),
                                  **km_survival_kwargs(study))
    return {"endpoint": endpoint.name, "cohort": cohort, "median": km.median, "lower": km.median_lower,
            "upper": km.median_upper}


@dataclass
class SurvivalStep:
    summary: pd.DataFrame
    landmarks: pd.DataFrame
    logrank: pd.DataFrame
    followup: pd.DataFrame
    figures: dict
    captions: dict
    methods: str


def _km_figure(study: Study, km: KMAnalysis, endpoint: Endpoint, annotation: str | None):
    from mbcrt.report.figures.km import plot_km

    m = study.min_cell_count
    curves = {g: c for g, c in km.curves.items() if c.n >= m}  # a tiny group's curve shows single patients
    return plot_km(curves, at_risk=privacy.suppress(km.at_risk.loc[list(curves)], "at_risk", m),
                   xlabel=f"Time ({study.time_unit})",
                   ylabel=f"{endpoint.label} probability", annotation=annotation,
                   xticks=list(km.at_risk.columns), median_lines=bool(study.survival.get("median_lines")))


#: How the median's confidence interval is computed, in words.
MEDIAN_CI_TEXT = {"brookmeyer-crowley": "read off the confidence band (Brookmeyer-Crowley)",
                  "symmetric": "as the median \u00b1 1.96 standard errors (Collett's SE, as SPSS)"}


def survival_step(study: Study, cohorts: dict[str, pd.DataFrame]) -> SurvivalStep:
    """KM, landmarks, log-rank and follow-up for every endpoint and cohort, plus the study's ``km_by``."""
    by, order = group_column(study)
    parts = {k: [] for k in ("summary", "landmarks", "logrank", "followup")}
    figures, captions = {}, {}

    def add(km: KMAnalysis, name: str, caption: str, ep: Endpoint, hr=None):
        parts["summary"].append(km.summary)
        parts["landmarks"].append(km.landmarks)
        parts["logrank"].append(km.logrank)
        p = km.logrank["p"].iloc[0] if len(km.logrank) else None
        if hr is not None and any(c.n < study.min_cell_count for c in km.curves.values()):
            hr = None  # an arm too small to draw: no HR beside its missing curve
        figures[name] = _km_figure(study, km, ep, figure_annotation(study, p, hr))
        captions[name] = " ".join(filter(None, [study.paper_names.get(name), caption]))

    for ep in endpoints(study):
        for cohort, df in cohorts.items():
            km = km_analysis(study, df, ep, cohort, by=by, order=order)
            where = "after matching" if cohort == "matched" else "in the analysis cohort"
            add(km, f"km_{ep.name}_{cohort}", f"{ep.label} {where}" + (" by group" if by else ""), ep,
                treatment_hr(study, df, ep) if by else None)
            parts["followup"].append(pd.DataFrame([followup(study, df, ep, cohort)]))
        for spec in study.km_by:
            df = cohorts["all"]
            sub = df.query(spec["subset"], engine="python") if spec.get("subset") else df
            km = km_analysis(study, sub, ep, spec["name"], by=spec["by"], order=study.levels.get(spec["by"]))
            add(km, f"km_{ep.name}_{spec['name']}", f"{ep.label} {spec.get('label', 'by ' + study.label(spec['by']))}",
                ep)
    s = study.survival
    methods = (f"Methods: Kaplan-Meier with {s['conf_type']} {100 * (1 - s['alpha']):.0f}% confidence intervals "
               f"(Greenwood variance); median CI {MEDIAN_CI_TEXT.get(s['median_ci'], s['median_ci'])}; log-rank test; "
               f"median follow-up by reverse Kaplan-Meier. Time in {study.time_unit}."
               + (f" The figures' hazard ratio is the univariable Cox model's ({study.cox['ties'].capitalize()} ties)."
                  if by else ""))
    # empty parts (a log-rank test of one group) left out of the concat: pandas would guess their dtypes
    frames = {k: (pd.concat([x for x in v if len(x)] or v[:1], ignore_index=True) if v else pd.DataFrame())
              for k, v in parts.items()}
    m = study.min_cell_count
    frames["landmarks"] = privacy.suppress(frames["landmarks"], "landmarks", m, group_sizes=frames["summary"])
    frames["summary"] = privacy.suppress(frames["summary"], "km_summary", m)
    return SurvivalStep(frames["summary"], frames["landmarks"], frames["logrank"], frames["followup"], figures,
                        captions, methods)
