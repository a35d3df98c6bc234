"""What every step of a study shares: its endpoints, the compared groups, CI labels and Cox covariates.
"""

from __future__ import annotations

from dataclasses import dataclass

from mbcrt.study.config import Study


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


def cox_covariates(study: Study) -> list[str]:
    return list(study.cox["covariates"] or study.covariates)


def complete_cases_under_imputation(study: Study, df, what: str):
    """Under ``missing: multiple_imputation`` the cohort keeps its gaps: the usual steps, which need
    complete data, analyse its complete cases and say so; the imputation step gives the primary,
    pooled estimates. Other strategies: ``df`` as it is.

    Returns
    -------
    df : DataFrame
        The rows to analyse.
    note : str or None
        What the report must say (None when no row was left out).
    """
    from mbcrt.study.cohort import complete_cases
    from mbcrt.study.validation import missing_strategy

    if missing_strategy(study) != "multiple_imputation":
        return df, None
    kept = complete_cases(df, study)
    if len(kept) == len(df):
        return df, None
    m = study.missing["imputations"]
    return kept, (f"Complete cases: the {what} here use{'s' if what.endswith('model') else ''} the {len(kept):,} of "
                  f"{len(df):,} patients with every model covariate recorded. The primary estimates, with the "
                  f"missing values multiply imputed ({m} imputations, chained equations) and the results "
                  f"pooled by Rubin's rules, are in the imputation step.")


#: A cohort in a sentence: "in the {words}" reads "in the analysis cohort", "in the matched cohort".
COHORT_WORDS = {"all": "analysis cohort", "matched": "propensity-matched cohort"}
