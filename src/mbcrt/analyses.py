"""Study-level analyses: the glue between a study file and the statistical modules.

Each function takes the study and a cohort and returns tidy tables in the shapes the reports and the
reproduction ledger read (see the README, "Outputs"). Notebooks call these and narrate the results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mbcrt import cox, privacy, survival
from mbcrt.design import category_levels, design_matrix
from mbcrt.study import Study


@dataclass(frozen=True)
class Endpoint:
    """A time-to-event endpoint: its name in tables, display label, and time/event columns of the cohort."""

    name: str
    label: str
    time: str
    event: str


def endpoints(study: Study) -> list[Endpoint]:
    """The primary endpoint (``_time``/``_event``) then the study's extra ``endpoints``."""
    main = study.endpoint
    out = [Endpoint(main["name"], main["label"], "_time", "_event")]
    for e in study.endpoints:
        out.append(Endpoint(e["name"], e.get("label", e["name"]), e["time"], e["event"]))
    return out


def group_column(study: Study) -> tuple[str | None, list[str] | None]:
    """The column that splits a cohort into the compared groups, and their order (control first)."""
    if study.two_arm:
        return "_arm", study.arms
    return None, None


def ci_label(study: Study) -> str:
    """"95% CI" (or whatever level ``survival.alpha`` sets)."""
    return f"{100 * (1 - study.survival['alpha']):g}% CI"


def km_survival_kwargs(study: Study) -> dict:
    s = study.survival
    return {"conf_type": s["conf_type"], "alpha": s["alpha"], "median_ci": s["median_ci"]}


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
    times = at_risk_times if at_risk_times is not None else default_ticks(t)
    if curves:
        # A value outside the order is an error of at_risk_table, which names it.
        groups = texts[index] if (index >= 0).all() else df[by][known].astype(str).to_numpy()
        at_risk = survival.at_risk_table(t, groups, times, order=list(curves))
    else:
        at_risk = survival.at_risk_table(t, np.full(len(t), "All"), times, order=["All"])
    return KMAnalysis(shown, pd.DataFrame(rows), pd.DataFrame(marks, columns=LANDMARK_COLUMNS), lr, at_risk)


def default_ticks(t: np.ndarray, n: int = 6) -> list[float]:
    """Round tick times from 0 to about the largest follow-up (for axes and numbers at risk)."""
    tmax = float(np.nanmax(t)) if len(t) else 1.0
    raw = tmax / n
    mag = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=10 * mag)
    return [float(x) for x in np.arange(0, tmax + 1e-9, step)]


def followup(study: Study, df: pd.DataFrame, endpoint: Endpoint, cohort: str) -> dict:
    """Median follow-up by reverse Kaplan-Meier, as one row."""
    km = survival.median_followup(df[endpoint.time].to_numpy(float), df[endpoint.event].to_numpy(int),
                                  **km_survival_kwargs(study))
    return {"endpoint": endpoint.name, "cohort": cohort, "median": km.median, "lower": km.median_lower,
            "upper": km.median_upper}


def cox_covariates(study: Study) -> list[str]:
    return list(study.cox["covariates"] or study.covariates)


def _term_label(study: Study, term: str, covariates: list[str]) -> str:
    from mbcrt.design import term_of

    if term == "_treat":
        return f"{study.arm_labels['treated']} vs {study.arm_labels['control']}"
    var = term_of(term, covariates)
    level = term[len(var):]
    return f"{study.label(var)}: {level}" if level else study.label(var)


def _cox_rows(study: Study, fit, covariates: list[str], cohort: str) -> pd.DataFrame:
    s = fit.summary
    treat_name = study.treatment or "_treat"
    return pd.DataFrame({
        "cohort": cohort,
        "term": [treat_name if t == "_treat" else t for t in s.index],
        "label": [_term_label(study, t, covariates) for t in s.index],
        "hr": s["hr"].to_numpy(), "lower": s["lower"].to_numpy(), "upper": s["upper"].to_numpy(),
        "p": s["p"].to_numpy(), "n": fit.n, "events": fit.events,
    })


def cox_models(study: Study, df: pd.DataFrame, cohort: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Univariable Cox for the treatment and each covariate, and the multivariable model.

    Returns
    -------
    univariable, multivariable, ph_test : DataFrame
    """
    covs = cox_covariates(study)
    ties, alpha = study.cox["ties"], study.survival["alpha"]
    t, e = df["_time"].to_numpy(float), df["_event"].to_numpy(int)
    terms = (["_treat"] if study.two_arm else []) + covs
    uni, ph_parts, designs = [], [], []
    for var in terms:
        if var == "_treat":
            X = df[["_treat"]].astype(float)
        else:  # each covariate's columns once: the multivariable design is these side by side
            X = design_matrix(df, [var], study.categorical, study.levels)
            designs.append(X)
        fit = cox.fit_cox(X, t, e, ties=ties, alpha=alpha)
        uni.append(_cox_rows(study, fit, covs, cohort))
        if var == "_treat":
            ph_parts.append(cox.cox_zph(fit).reset_index(names="term").assign(model="univariable"))
    Xm = pd.concat(designs, axis=1) if designs else pd.DataFrame(index=df.index)
    if Xm.columns.has_duplicates:  # a covariate listed twice: one column each, as design_matrix gives
        Xm = Xm.loc[:, ~Xm.columns.duplicated()]
    if study.two_arm:
        Xm.insert(0, "_treat", df["_treat"].astype(float).to_numpy())
    multi = cox.fit_cox(Xm, t, e, ties=ties, alpha=alpha)
    ph_parts.append(cox.cox_zph(multi).reset_index(names="term").assign(model="multivariable"))
    ph = pd.concat(ph_parts, ignore_index=True)
    ph.insert(0, "cohort", cohort)
    ph = ph[["cohort", "model", "term", "chisq", "df", "p"]]
    ph["term"] = ph["term"].replace({"_treat": study.treatment or "_treat"})
    return pd.concat(uni, ignore_index=True), _cox_rows(study, multi, covs, cohort), ph


def matched_treatment_models(study: Study, matched: pd.DataFrame) -> pd.DataFrame:
    """Treatment HR after matching: naive, robust SE clustered on the pair, and pair-stratified."""
    t, e = matched["_time"].to_numpy(float), matched["_event"].to_numpy(int)
    X = matched[["_treat"]].astype(float)
    kw = {"ties": study.cox["ties"], "alpha": study.survival["alpha"]}
    fits = {
        "naive": cox.fit_cox(X, t, e, **kw),
        "cluster_robust": cox.fit_cox(X, t, e, cluster=matched["pair_id"].to_numpy(), **kw),
        "pair_stratified": cox.fit_cox(X, t, e, strata=matched["pair_id"].to_numpy(), **kw),
    }
    rows = []
    for model, fit in fits.items():
        s = fit.summary.iloc[0]
        se = fit.robust_se.iloc[0] if model == "cluster_robust" else fit.se.iloc[0]
        rows.append({"model": model, "term": study.treatment, "hr": s["hr"], "lower": s["lower"],
                     "upper": s["upper"], "se": se, "p": s["p"], "n": fit.n, "events": fit.events})
    return pd.DataFrame(rows)


def format_p(p: float) -> str:
    """A p-value as a clinician reads it on a figure: "p < 0.0001", "p = 0.0496", "p = 0.21"."""
    from mbcrt.context import format_p as plain

    if p is None or np.isnan(p):
        return "p not estimable"
    text = plain(p)
    return "p < 0.0001" if text.startswith("<") else f"p = {text}"


def subgroup_analysis(study: Study, df: pd.DataFrame, cohort: str,
                      endpoint: Endpoint | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Treatment effect within each level of each subgroup variable.

    Returns
    -------
    table : DataFrame
        ``cohort, variable, level, n, events, n_treated, n_control, median_treated, median_control,
        logrank_p, hr, lower, upper, p, interaction_p, note``.
    panels : list of dict
        One Kaplan-Meier panel per (variable, level) for :func:`mbcrt.plots.km.km_panels`.
    """
    from mbcrt import subgroups

    ep = endpoint or endpoints(study)[0]
    hrs = subgroups.subgroup_hazard_ratios(
        df, time=ep.time, event=ep.event, treatment="_treat", variables=study.subgroups,
        levels=study.levels, labels=study.labels, ties=study.cox["ties"], alpha=study.survival["alpha"])
    control, treated = study.arms
    extra, panels = [], []
    needed = df[list(dict.fromkeys([ep.time, ep.event, "_arm"]))]  # a level's rows: these columns only
    ticks = default_ticks(df[ep.time].to_numpy(float))
    as_text = {var: _factorize_as_text(df[var]) for var in hrs["variable"].unique()}
    for r in hrs.itertuples(index=False):
        raw, texts = as_text[r.variable]
        wanted = [j for j, text in enumerate(texts) if text == str(r.level)]
        sub = needed[np.isin(raw, wanted)]
        if sub.empty:
            extra.append({"median_treated": np.nan, "median_control": np.nan, "logrank_p": np.nan})
            continue
        km = km_analysis(study, sub, ep, cohort, by="_arm", order=study.arms, at_risk_times=ticks)
        med = dict(zip(km.summary["group"], km.summary["median"]))
        p = float(km.logrank["p"].iloc[0]) if len(km.logrank) else np.nan
        extra.append({"median_treated": med.get(treated, np.nan), "median_control": med.get(control, np.nan),
                      "logrank_p": p})
        panels.append({"title": f"{study.label(r.variable)}: {r.level}", "level": str(r.level), "curves": km.curves,
                       "at_risk": km.at_risk, "annotation": f"Log-rank {format_p(p)}"})
    table = pd.concat([hrs.reset_index(drop=True), pd.DataFrame(extra)], axis=1)
    table.insert(0, "cohort", cohort)
    cols = ["cohort", "variable", "label", "level", "n", "events", "n_treated", "n_control", "median_treated",
            "median_control", "logrank_p", "hr", "lower", "upper", "p", "interaction_p", "note"]
    return table[[c for c in cols if c in table.columns]], panels


# ---- one function per notebook step ----------------------------------------------------------------

def cohort_overview(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Patients and events of the primary endpoint, overall and per group (counts only)."""
    by, order = group_column(study)
    rows = [("All", np.ones(len(df), dtype=bool))] + ([(g, (df[by] == g).to_numpy()) for g in order] if by else [])
    ep = endpoints(study)[0]
    event = df["_event"].to_numpy()
    table = pd.DataFrame([{"group": g, "patients": int(m.sum()), "events": int(event[m].sum()),
                           "endpoint": ep.label} for g, m in rows])
    return privacy.suppress(table, "cohort_overview", study.min_cell_count)


def baseline_table(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Table 1 of ``df`` by arm (two-arm studies), by ``table1.by``, or overall."""
    from mbcrt import tables

    variables = study.table1["variables"] or study.covariates
    by, order = group_column(study)
    if by is None and study.table1["by"]:
        by = study.table1["by"]
        order = [str(v) for v in category_levels(df[by], study.levels.get(by))]
        df = df.assign(**{by: df[by].astype(str)})
    if by is None:
        by, order = "_all", ["All"]
        df = df.assign(_all="All")
    return tables.table_one(df, group=by, variables=variables, categorical=study.categorical, levels=study.levels,
                            labels=study.labels, group_order=order, min_cell_count=study.min_cell_count)


@dataclass
class MatchingResult:
    matched: pd.DataFrame
    summary: pd.DataFrame
    balance: pd.DataFrame
    ps: np.ndarray
    treat: np.ndarray
    is_matched: np.ndarray
    warnings: list


def run_matching(study: Study, df: pd.DataFrame) -> MatchingResult:
    """Propensity score, 1:1 nearest-neighbour matching and balance, as the study file sets them."""
    from mbcrt import matching

    m = study.matching
    covs = list(m["covariates"] or study.covariates)
    X = design_matrix(df, covs, study.categorical, study.levels)
    treat = df["_treat"].to_numpy(int)
    ps = matching.propensity_score(X, treat)
    res = matching.match_nearest(ps, treat, caliper=m["caliper"], caliper_scale=m["caliper_scale"],
                                 order=m["order"], seed=study.seed)
    matched = matching.matched_frame(df, res, ps)
    balance = matching.balance_table(df, matched, treatment="_treat", covariates=covs,
                                     categorical=study.categorical, levels=study.levels, labels=study.labels)
    notes = []
    if res.n_unmatched_treated:
        notes.append(f"{res.n_unmatched_treated} of {res.n_treated} treated patients had no control within the "
                     f"caliper and are not in the matched cohort; the matched estimate applies to the matched "
                     f"treated patients only.")
    bad = balance[balance["smd_after"].abs() > 0.1]
    if len(bad):
        names = ", ".join(f"{r.label}{' ' + str(r.level) if r.level else ''}" for r in bad.itertuples())
        notes.append(f"Residual imbalance after matching (|SMD| > 0.1): {names}.")
    return MatchingResult(matched, res.summary.reset_index(), balance, ps, treat, res.pair_id > 0, notes)


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
    from mbcrt.plots.km import plot_km

    m = study.min_cell_count
    curves = {g: c for g, c in km.curves.items() if c.n >= m}  # a tiny group's curve shows single patients
    return plot_km(curves, at_risk=privacy.suppress(km.at_risk.loc[list(curves)], "at_risk", m),
                   xlabel=f"Time ({study.time_unit})",
                   ylabel=f"{endpoint.label} probability", annotation=annotation,
                   xticks=list(km.at_risk.columns))


def survival_step(study: Study, cohorts: dict[str, pd.DataFrame]) -> SurvivalStep:
    """KM, landmarks, log-rank and follow-up for every endpoint and cohort, plus the study's ``km_by``."""
    by, order = group_column(study)
    parts = {k: [] for k in ("summary", "landmarks", "logrank", "followup")}
    figures, captions = {}, {}

    def add(km: KMAnalysis, name: str, caption: str, ep: Endpoint):
        parts["summary"].append(km.summary)
        parts["landmarks"].append(km.landmarks)
        parts["logrank"].append(km.logrank)
        p = km.logrank["p"].iloc[0] if len(km.logrank) else None
        figures[name] = _km_figure(study, km, ep, f"Log-rank {format_p(p)}" if p is not None else None)
        captions[name] = " ".join(filter(None, [study.paper_names.get(name), caption]))

    for ep in endpoints(study):
        for cohort, df in cohorts.items():
            km = km_analysis(study, df, ep, cohort, by=by, order=order)
            where = "after matching" if cohort == "matched" else "in the analysis cohort"
            add(km, f"km_{ep.name}_{cohort}", f"{ep.label} {where}" + (" by group" if by else ""), ep)
            parts["followup"].append(pd.DataFrame([followup(study, df, ep, cohort)]))
        for spec in study.km_by:
            df = cohorts["all"]
            sub = df.query(spec["subset"], engine="python") if spec.get("subset") else df
            km = km_analysis(study, sub, ep, spec["name"], by=spec["by"], order=study.levels.get(spec["by"]))
            add(km, f"km_{ep.name}_{spec['name']}", f"{ep.label} {spec.get('label', 'by ' + study.label(spec['by']))}",
                ep)
    s = study.survival
    methods = (f"Methods: Kaplan-Meier with {s['conf_type']} {100 * (1 - s['alpha']):.0f}% confidence intervals "
               f"(Greenwood variance); median CI by the {s['median_ci']} method; log-rank test; "
               f"median follow-up by reverse Kaplan-Meier. Time in {study.time_unit}.")
    frames = {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in parts.items()}
    m = study.min_cell_count
    frames["landmarks"] = privacy.suppress(frames["landmarks"], "landmarks", m, group_sizes=frames["summary"])
    frames["summary"] = privacy.suppress(frames["summary"], "km_summary", m)
    return SurvivalStep(frames["summary"], frames["landmarks"], frames["logrank"], frames["followup"], figures,
                        captions, methods)


@dataclass
class CoxStep:
    univariable: pd.DataFrame
    multivariable: pd.DataFrame
    ph_test: pd.DataFrame
    matched: pd.DataFrame | None
    paper_table: pd.DataFrame | None
    warnings: list
    methods: str


def cox_step(study: Study, cohorts: dict[str, pd.DataFrame]) -> CoxStep:
    """Cox models in every cohort; treatment models robust to the pairing after matching."""
    import warnings as _w

    from mbcrt.errors import StatisticalWarning

    uni, multi, ph, notes = [], [], [], []
    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always", StatisticalWarning)
        for cohort, df in cohorts.items():
            u, m, p = cox_models(study, df, cohort)
            uni.append(u), multi.append(m), ph.append(p)
        matched = matched_treatment_models(study, cohorts["matched"]) if "matched" in cohorts else None
    notes += sorted({str(w.message) for w in caught if issubclass(w.category, StatisticalWarning)})
    ph_all = pd.concat(ph, ignore_index=True)
    viol = ph_all[(ph_all["term"] != "GLOBAL") & (ph_all["p"] < 0.05)]
    for r in viol.itertuples():
        notes.append(f"Proportional hazards may not hold for {r.term} ({r.model} model, {r.cohort} cohort, "
                     f"Schoenfeld test p = {r.p:.3g}): read its hazard ratio as an average over follow-up.")
    uni_df, multi_df = pd.concat(uni, ignore_index=True), pd.concat(multi, ignore_index=True)
    paper = paper_cox_table(uni_df, multi_df)
    methods = (f"Methods: Cox proportional hazards, {study.cox['ties'].capitalize()} ties, Wald {ci_label(study)} and p; "
               f"proportional hazards tested on scaled Schoenfeld residuals (Kaplan-Meier time transform).")
    return CoxStep(uni_df, multi_df, ph_all, matched, paper, notes, methods)


def paper_cox_table(uni: pd.DataFrame, multi: pd.DataFrame) -> pd.DataFrame:
    """Univariable and multivariable HR (95% CI) and p side by side, one row per term and cohort."""
    def fmt(d):
        return d.assign(hr_ci=[f"{h:.3f} ({lo:.3f}-{hi:.3f})" for h, lo, hi in zip(d.hr, d.lower, d.upper)])

    u = fmt(uni)[["cohort", "term", "label", "hr_ci", "p"]].rename(columns={"hr_ci": "univariable HR (95% CI)",
                                                                             "p": "univariable p"})
    m = fmt(multi)[["cohort", "term", "hr_ci", "p"]].rename(columns={"hr_ci": "multivariable HR (95% CI)",
                                                                     "p": "multivariable p"})
    return u.merge(m, on=["cohort", "term"], how="left")


@dataclass
class SubgroupStep:
    table: pd.DataFrame
    figures: dict
    captions: dict
    warnings: list


def subgroup_step(study: Study, cohorts: dict[str, pd.DataFrame]) -> SubgroupStep:
    """Subgroup HRs, interaction tests, forest plot and KM panels for every cohort."""
    from mbcrt.plots.forest import forest_plot
    from mbcrt.plots.km import km_panels

    tables, figures, captions, notes = [], {}, {}, []
    if not study.subgroups:
        return SubgroupStep(pd.DataFrame(), {}, {}, ["The study file lists no subgroup variables."])
    for cohort, df in cohorts.items():
        table, panels = subgroup_analysis(study, df, cohort)
        table = privacy.suppress(table, "subgroups", study.min_cell_count)
        shown = None if study.subgroup_panels is None else {str(v) for v in study.subgroup_panels}
        panels = [p for p in panels if all(c.n >= study.min_cell_count for c in p["curves"].values())
                  and (shown is None or p["level"] in shown)]
        tables.append(table)
        empty = table[table["n"] == 0]
        for r in empty.itertuples():
            notes.append(f"Subgroup {study.label(r.variable)} = {r.level} is empty in the {cohort} cohort.")
        where = "after matching" if cohort == "matched" else "in the analysis cohort"
        rows = table.assign(
            label=[str(lv) for lv in table["level"]],
            group=[f"{study.label(v)} (interaction {format_p(p)})" for v, p in zip(table.variable, table.interaction_p)],
            **{f"HR ({ci_label(study)})": [f"{h:.2f} ({lo:.2f}-{hi:.2f})" if pd.notna(h) else "not estimable"
                               for h, lo, hi in zip(table.hr, table.lower, table.upper)], "n": table["n"]})
        name = f"forest_{cohort}"
        figures[name] = forest_plot(rows, group="group", right_text=["n", f"HR ({ci_label(study)})"],
                                    xlabel=f"Hazard ratio ({ci_label(study)})",
                                    favours=(f"Favours {study.arm_labels['treated']}",
                                             f"Favours {study.arm_labels['control']}"))
        captions[name] = " ".join(filter(None, [study.paper_names.get(name),
                                                f"Treatment hazard ratio by subgroup {where}"]))
        name = f"subgroup_km_{cohort}"
        if not panels:
            continue
        figures[name] = km_panels(panels, xlabel=f"Time ({study.time_unit})")
        captions[name] = " ".join(filter(None, [study.paper_names.get(name),
                                                f"Kaplan-Meier curves by treatment within subgroups {where}"]))
    return SubgroupStep(pd.concat(tables, ignore_index=True), figures, captions, notes)


@dataclass
class ReproductionStep:
    table: pd.DataFrame
    headline: str
    readings: str


def reproduction_step(study: Study, tables_dir) -> ReproductionStep:
    """Score every published number (``published.yaml``) against this run's tables."""
    from mbcrt import ledger

    if study.published_path is None:
        table = pd.DataFrame(columns=ledger.COLUMNS)
        headline = "This study lists no published numbers to check."
    else:
        table = ledger.reproduction_table(study.published_path, tables_dir)
        counts = table["status"].value_counts()
        parts = [f"**{counts.get(s, 0)}** {s}" for s in ledger.STATUSES]
        headline = f"{len(table)} published numbers checked: " + ", ".join(parts) + "."
        missed = table[table["status"] == "not reproduced"]
        if len(missed):
            headline += "\n\nNot reproduced: " + "; ".join(f"{r.claim_id} ({r.quantity}: published {r.published}, "
                                                           f"reproduced {r.reproduced or 'not computed'})"
                                                           for r in missed.itertuples()) + "."
    readings = "\n".join(f"- **{r.get('topic', '')}**: {r.get('reading', '')} {r.get('why', '')}"
                         for r in study.readings) or "No ambiguity recorded for this study."
    return ReproductionStep(table, headline, readings)
