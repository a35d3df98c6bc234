"""Step 5, Cox regression: univariable and multivariable models, proportional-hazards tests, the matched treatment effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mbcrt.stats import cox
from mbcrt.stats.design import design_matrix
from mbcrt.steps.common import COHORT_WORDS, ci_label, complete_cases_under_imputation, cox_covariates
from mbcrt.study.config import Study


def _term_label(study: Study, term: str, covariates: list[str]) -> str:
    from mbcrt.stats.design import term_of

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
            df, cc_note = complete_cases_under_imputation(study, df, "Cox models")
            if cc_note:
                notes.append(cc_note)
            u, m, p = cox_models(study, df, cohort)
            uni.append(u), multi.append(m), ph.append(p)
        matched = matched_treatment_models(study, cohorts["matched"]) if "matched" in cohorts else None
    notes += sorted({str(w.message) for w in caught if issubclass(w.category, StatisticalWarning)})
    from mbcrt.report.format import format_p_label

    ph_all = pd.concat(ph, ignore_index=True)
    uni_df, multi_df = pd.concat(uni, ignore_index=True), pd.concat(multi, ignore_index=True)
    labels = dict(zip(pd.concat([uni_df, multi_df])["term"], pd.concat([uni_df, multi_df])["label"]))
    viol = ph_all[(ph_all["term"] != "GLOBAL") & (ph_all["p"] < 0.05)]
    for r in viol.itertuples():  # for people: the term's label, p as the report prints it
        notes.append(f"Proportional hazards may not hold for {labels.get(r.term, r.term)} ({r.model} model, "
                     f"{COHORT_WORDS.get(r.cohort, r.cohort + ' cohort')}, Schoenfeld test "
                     f"{format_p_label(r.p, smallest=0.001)}): read its hazard ratio as an average over follow-up.")
    paper = paper_cox_table(uni_df, multi_df)
    methods = (f"Methods: Cox proportional hazards, {study.cox['ties'].capitalize()} ties, Wald {ci_label(study)} and p; "
               f"proportional hazards tested on scaled Schoenfeld residuals (Kaplan-Meier time transform).")
    return CoxStep(uni_df, multi_df, ph_all, matched, paper, notes, methods)


def paper_cox_table(uni: pd.DataFrame, multi: pd.DataFrame) -> pd.DataFrame:
    """Univariable and multivariable HR (95% CI) and p side by side, one row per term and cohort."""
    from mbcrt.report.format import format_ci

    def fmt(d):  # CSV text: 3 decimals and a hyphen, as committed (the report shows report.tables.cox_table)
        return d.assign(hr_ci=[format_ci(h, lo, hi, 3, dash="-", thousands=False, missing_bound="nan")
                               for h, lo, hi in zip(d.hr, d.lower, d.upper)])

    u = fmt(uni)[["cohort", "term", "label", "hr_ci", "p"]].rename(columns={"hr_ci": "univariable HR (95% CI)",
                                                                             "p": "univariable p"})
    m = fmt(multi)[["cohort", "term", "hr_ci", "p"]].rename(columns={"hr_ci": "multivariable HR (95% CI)",
                                                                     "p": "multivariable p"})
    return u.merge(m, on=["cohort", "term"], how="left")
