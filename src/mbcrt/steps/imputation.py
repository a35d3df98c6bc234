"""Step "imputation": the primary estimates of a study whose covariates have gaps, by multiple imputation.

With ``missing: {strategy: multiple_imputation, imputations: m, seed: s}`` the cohort keeps the
patients with missing model covariates. This step imputes the gaps by chained equations
(:func:`mbcrt.stats.imputation.mice_result`; the imputation model holds every model covariate, the
treatment, the event indicator and the Nelson-Aalen cumulative hazard at each patient's time, as
White & Royston 2009 recommend), then in each of the ``m`` completed data sets runs what the usual
steps run: the propensity score and the matching (:func:`mbcrt.steps.matching.run_matching`: the
"within" approach of MatchThem, each data set matched on its own), the Cox models
(:func:`mbcrt.steps.cox.cox_models` and :func:`~mbcrt.steps.cox.matched_treatment_models`) and
landmark survival (:func:`mbcrt.stats.survival.kaplan_meier`). The hazard ratios are pooled by
Rubin's rules on the log scale (Barnard-Rubin degrees of freedom with mice's complete-data df:
events minus coefficients), landmark survival on the complementary log-log scale
(:mod:`mbcrt.stats.pooling`).

The usual steps (matching, Cox) analyse the complete cases under this strategy and say so.
"""

from __future__ import annotations

import warnings as _w
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _stats

from mbcrt.errors import StatisticalWarning
from mbcrt.report import privacy
from mbcrt.stats import survival
from mbcrt.stats.design import term_of
from mbcrt.stats.imputation import MiceResult, mice_result, nelson_aalen_at, one_blas_thread
from mbcrt.stats.pooling import pool_survival, rubin
from mbcrt.steps.common import cox_covariates, group_column, km_survival_kwargs
from mbcrt.study.config import Study

#: Columns of ``mi_cox.csv``: those of the Cox tables, the model, and the pooling's own.
MI_COX_COLUMNS = ["cohort", "model", "term", "label", "hr", "lower", "upper", "p", "n", "events", "estimate", "se",
                  "df", "riv", "fmi", "m"]
#: Columns of ``mi_landmarks.csv``: those of ``landmarks.csv`` plus the fraction of missing information and m.
MI_LANDMARK_COLUMNS = ["endpoint", "cohort", "group", "time", "surv", "lower", "upper", "n_risk", "fmi", "m"]

METHOD_TEXT = {"pmm": "predictive mean matching", "logreg": "logistic regression",
               "polyreg": "multinomial logistic regression"}


def imputation_columns(study: Study) -> list[str]:
    """The variables of the imputation model: every covariate of the propensity and Cox models."""
    from mbcrt.study.validation import incomplete_allowed

    return incomplete_allowed(study)


def impute(study: Study, cohort: pd.DataFrame) -> MiceResult:
    """Impute the cohort's missing model covariates ``missing.imputations`` times (seeded)."""
    miss = study.missing
    columns = imputation_columns(study)
    frame = cohort[list(dict.fromkeys([*columns, "_time", "_event", *(["_treat", "_arm"] if study.two_arm else [])]))]
    frame = frame.assign(_cumhaz=nelson_aalen_at(cohort["_time"], cohort["_event"]))
    predictors = (["_treat"] if study.two_arm else []) + ["_event", "_cumhaz"]
    return mice_result(frame, columns, [c for c in columns if c in study.categorical], m=miss["imputations"],
                       seed=miss["seed"], iterations=miss["iterations"], predictors=predictors, levels=study.levels,
                       methods=miss["methods"], donors=miss["donors"])


def missing_summary(study: Study, cohort: pd.DataFrame, result: MiceResult) -> pd.DataFrame:
    """Per model covariate: patients missing it (n, %) and how its gaps were imputed."""
    from mbcrt.steps.cohort import _blank_small

    rows = []
    for col in imputation_columns(study):
        k = int(cohort[col].isna().sum())
        rows.append({"variable": col, "label": study.label(col), "missing": k, "missing_pct": 100 * k / len(cohort),
                     "method": METHOD_TEXT[result.methods[col]] if col in result.methods else "none (complete)"})
    return _blank_small(pd.DataFrame(rows), study.min_cell_count, "variable")


def _se_from_ci(lower: np.ndarray, upper: np.ndarray, alpha: float) -> np.ndarray:
    """Standard error of a log hazard ratio from its Wald interval (exact: the interval is log HR +/- z se)."""
    return (np.log(upper) - np.log(lower)) / (2 * _stats.norm.ppf(1 - alpha / 2))


def _analyse(study: Study, data: pd.DataFrame) -> tuple[list[pd.DataFrame], list[pd.DataFrame], dict]:
    """Cox rows (with log HR and SE) and landmark rows of one completed data set."""
    from mbcrt.steps.cox import cox_models, matched_treatment_models
    from mbcrt.steps.matching import run_matching

    cohorts = {"all": data}
    info = {}
    if "matching" in study.steps and study.two_arm:
        mr = run_matching(study, data)
        cohorts["matched"] = mr.matched
        info["unmatched"] = int((~mr.is_matched & (mr.treat == 1)).sum())
    alpha = study.survival["alpha"]
    covs = cox_covariates(study)
    treat = study.treatment or "_treat"
    cox_rows, marks = [], []
    for cohort, df in cohorts.items():
        uni, multi, _ = cox_models(study, df, cohort)
        n_coef = len(multi)
        # mice's complete-data df of a Cox model: events minus the model's coefficients.
        var = pd.Series([t if t == treat else term_of(t, covs) for t in uni["term"]])
        uni = uni.assign(model="univariable", dfcom=uni["events"] - var.map(var.value_counts()).to_numpy(float))
        multi = multi.assign(model="multivariable", dfcom=multi["events"] - float(n_coef))
        for part in (uni, multi):
            part["estimate"] = np.log(part["hr"].to_numpy(float))
            part["se"] = _se_from_ci(part["lower"].to_numpy(float), part["upper"].to_numpy(float), alpha)
            cox_rows.append(part)
        if cohort == "matched":
            mt = matched_treatment_models(study, df)
            mt = mt.assign(cohort="matched", label=f"{study.arm_labels['treated']} vs {study.arm_labels['control']}",
                           estimate=np.log(mt["hr"].to_numpy(float)), dfcom=mt["events"] - 1.0)
            cox_rows.append(mt)
        marks.append(_landmarks(study, df, cohort))
    return cox_rows, marks, info


def _landmarks(study: Study, df: pd.DataFrame, cohort: str) -> pd.DataFrame:
    """Survival and its SE at the study's landmarks, overall and per arm, for one cohort."""
    if not study.landmarks:
        return pd.DataFrame()
    by, order = group_column(study)
    t, e = df["_time"].to_numpy(float), df["_event"].to_numpy(int)
    groups = [("All", np.ones(len(df), dtype=bool))]
    if by is not None:
        arm = df[by].to_numpy()
        groups += [(g, arm == g) for g in order]
    parts = []
    for g, mask in groups:
        if not mask.any():
            continue
        at = survival.kaplan_meier(t[mask], e[mask], **km_survival_kwargs(study)).survival_at(study.landmarks)
        parts.append(at.assign(endpoint=study.endpoint["name"], cohort=cohort, group=g, n=int(mask.sum())))
    return pd.concat(parts, ignore_index=True)


def _pool_cox(rows: list[pd.DataFrame], m: int, alpha: float) -> pd.DataFrame:
    """Rubin's rules per (cohort, model, term)."""
    allrows = pd.concat(rows, ignore_index=True)
    keys = ["cohort", "model", "term"]
    out = []
    for key, g in allrows.groupby(keys, sort=False):
        if len(g) != m:  # a term missing from some imputations (an empty level): not poolable
            _w.warn(f"{g['label'].iloc[0]} ({key[0]} cohort, {key[1]} model) is estimable in {len(g)} of {m} "
                          "imputations only (an empty level in the others): not pooled.", StatisticalWarning,
                          stacklevel=2)
            continue
        pooled = rubin(g["estimate"].to_numpy(), g["se"].to_numpy() ** 2, df_complete=float(g["dfcom"].mean()),
                       alpha=alpha).iloc[0]
        out.append({"cohort": key[0], "model": key[1], "term": key[2], "label": g["label"].iloc[0],
                    "hr": np.exp(pooled["estimate"]), "lower": np.exp(pooled["lower"]),
                    "upper": np.exp(pooled["upper"]), "p": pooled["p"], "n": round(float(g["n"].mean())),
                    "events": round(float(g["events"].mean())), "estimate": pooled["estimate"],
                    "se": pooled["se"], "df": pooled["df"], "riv": pooled["riv"], "fmi": pooled["fmi"], "m": m})
    return pd.DataFrame(out, columns=MI_COX_COLUMNS)


def _pool_landmarks(marks: list[pd.DataFrame], m: int, alpha: float) -> pd.DataFrame:
    allmarks = pd.concat([x for x in marks if len(x)], ignore_index=True) if any(len(x) for x in marks) else None
    if allmarks is None:
        return pd.DataFrame(columns=MI_LANDMARK_COLUMNS), None
    out = []
    # Group sizes for small-cell suppression: the smallest over the imputations (the safe side).
    sizes = allmarks.groupby(["endpoint", "cohort", "group"], sort=False)["n"].min().reset_index()
    for key, g in allmarks.groupby(["endpoint", "cohort", "group", "time"], sort=False):
        if len(g) != m:
            _w.warn(f"Survival at {key[3]:g} ({key[2]}, {key[1]} cohort) is estimable in {len(g)} of {m} "
                          "imputations only: not pooled.", StatisticalWarning, stacklevel=2)
            continue
        pooled = pool_survival(g["surv"].to_numpy(), g["std_err"].to_numpy(), alpha=alpha).iloc[0]
        out.append({"endpoint": key[0], "cohort": key[1], "group": key[2], "time": key[3], "surv": pooled["surv"],
                    "lower": pooled["lower"], "upper": pooled["upper"], "n_risk": round(float(g["n_risk"].mean())),
                    "fmi": pooled["fmi"], "m": m})
    return pd.DataFrame(out, columns=MI_LANDMARK_COLUMNS), sizes


@dataclass
class ImputationStep:
    """What the imputation notebook shows and saves.

    Attributes
    ----------
    cox : DataFrame
        Pooled hazard ratios (``mi_cox.csv``, :data:`MI_COX_COLUMNS`).
    landmarks : DataFrame
        Pooled landmark survival (``mi_landmarks.csv``, :data:`MI_LANDMARK_COLUMNS`).
    missing : DataFrame
        Per model covariate: missing n and %, imputation method.
    chain_means : DataFrame
        Mean of the imputed values per imputation and iteration (convergence).
    methods : str
        The methods paragraph of the report.
    warnings : list of str
    """

    cox: pd.DataFrame
    landmarks: pd.DataFrame
    missing: pd.DataFrame
    chain_means: pd.DataFrame
    methods: str
    warnings: list


def imputation_step(study: Study, cohort: pd.DataFrame) -> ImputationStep:
    """Impute, analyse each completed data set as the usual steps do, pool by Rubin's rules.

    A study that does not ask for multiple imputation (the notebook opened with its default study)
    gets empty tables and a sentence saying so.
    """
    from mbcrt.study.validation import missing_strategy

    if missing_strategy(study) != "multiple_imputation":
        empty = pd.DataFrame()
        return ImputationStep(pd.DataFrame(columns=MI_COX_COLUMNS), pd.DataFrame(columns=MI_LANDMARK_COLUMNS), empty,
                              empty, "This study does not impute missing values (the study file's missing.strategy "
                                     "is not multiple_imputation): nothing to pool.", [])
    res = impute(study, cohort)
    m, alpha = res.m, study.survival["alpha"]
    cox_rows, marks, unmatched = [], [], []
    with _w.catch_warnings(record=True) as caught, one_blas_thread():
        _w.simplefilter("always", StatisticalWarning)
        for i in range(m):
            data = res.complete(i)
            rows, lm, info = _analyse(study, data)
            for r in rows:
                r["imputation"] = i + 1
            cox_rows += rows
            marks += lm
            if "unmatched" in info:
                unmatched.append(info["unmatched"])
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, StatisticalWarning)})
    cox = _pool_cox(cox_rows, m, alpha)
    landmarks, sizes = _pool_landmarks(marks, m, alpha)
    if study.min_cell_count > 1 and sizes is not None:
        landmarks = privacy.suppress(landmarks, "landmarks", study.min_cell_count, group_sizes=sizes)
    missing = missing_summary(study, cohort, res)
    if unmatched and max(unmatched):
        notes.append(f"In the imputed data sets {min(unmatched)} to {max(unmatched)} treated patients had no control "
                     f"within the caliper; the matched estimates apply to the matched treated patients.")
    return ImputationStep(cox, landmarks, missing, res.chain_means, methods_text(study, res, cox, cohort), notes)


def methods_text(study: Study, res: MiceResult, cox: pd.DataFrame, cohort: pd.DataFrame) -> str:
    """The report's methods paragraph: method, number of imputations, fraction of missing information."""
    by_method: dict[str, list[str]] = {}
    for col, method in res.methods.items():
        by_method.setdefault(METHOD_TEXT[method], []).append(study.label(col))
    how = "; ".join(f"{k} for {', '.join(v)}" for k, v in by_method.items()) or "none was missing"
    n_incomplete = int(cohort[imputation_columns(study)].isna().any(axis=1).sum())
    treat = cox[(cox["term"] == (study.treatment or "_treat")) & (cox["model"] == "multivariable")
                & (cox["cohort"] == "all")]
    fmi = f" The fraction of missing information for the adjusted treatment hazard ratio was " \
          f"{100 * treat['fmi'].iloc[0]:.0f}%." if len(treat) else ""
    rng = cox["fmi"].dropna()
    fmi_range = f" Across all pooled hazard ratios it ranged from {100 * rng.min():.0f}% to {100 * rng.max():.0f}%." \
        if len(rng) else ""
    matched = (" The propensity score and the matching were repeated within each imputed data set (the \"within\" "
               "approach), and the matched analyses pooled." if "matching" in study.steps and study.two_arm else "")
    return (f"Methods: {n_incomplete:,} of {len(cohort):,} patients ({100 * n_incomplete / len(cohort):.1f}%) had at "
            f"least one model covariate missing. Missing values were imputed {res.m} times by chained equations "
            f"({res.iterations} iterations, seed {res.seed}): {how}. The imputation model held every model covariate, "
            f"the treatment, the event indicator and the Nelson-Aalen cumulative hazard at each patient's time "
            f"(White and Royston 2009).{matched} Log hazard ratios were pooled by Rubin's rules with "
            f"Barnard-Rubin degrees of freedom; landmark survival on the complementary log-log scale."
            f"{fmi}{fmi_range} These pooled estimates are the study's primary ones; the matching and Cox steps show "
            f"the complete cases.")
