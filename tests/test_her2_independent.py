"""Independent recomputation of paper 004's numbers from the shipped synthetic CSV alone.

Nothing here uses mbcrt's statistics or cohort build: the cohort is built with plain pandas from
``data/synthetic/her2_rt.csv`` (section 2.1's criteria written out again), Kaplan-Meier estimates and
log-rank tests come from lifelines, the propensity score and the Breslow Cox models from statsmodels,
Table 1's tests from scipy, and the 1:1 caliper matching is a plain O(n^2) loop written here. Each
number of ``studies/her2_rt/published.yaml`` is then checked

- against the paper, with the claim's own tolerance (or, where the paper contradicts itself, against
  the value the claim infers), and
- against the package's ``tables/her2_rt/reproduction.csv`` (when the pipeline has been run), which
  must hold the same number: two implementations, one answer.

SPSS conventions, as the study file reads the paper: median CI = median +/- 1.96 SE with Collett's SE
(Greenwood SE of S at the median over the slope of S between 0.55 and 0.45); Cox ties by Breslow.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg

from mbcrt import paths

DATA = paths.SYNTHETIC_DIR / "her2_rt.csv"
PUBLISHED = paths.STUDIES_DIR / "her2_rt" / "published.yaml"
REPRODUCTION = paths.PROJECT_ROOT / "tables" / "her2_rt" / "reproduction.csv"
DAYS_PER_MONTH = 30.4375
Z = stats.norm.ppf(0.975)

# The matching variables of section 2.2.5 with their reference (first) levels, as the study reads them.
CATEGORICAL = {
    "pathological_type": ["Invasive ductal carcinoma", "Invasive lobular carcinoma", "Other"],
    "hr_status": ["Negative", "Positive"], "t_stage": ["T1", "T2", "T3", "T4"], "n_stage": ["N0", "N1", "N2", "N3"],
    "met_bone": ["No", "Yes"], "met_brain": ["No", "Yes"], "met_liver": ["No", "Yes"], "met_lung": ["No", "Yes"],
    "met_other": ["No", "Yes"], "chemotherapy": ["No chemotherapy", "Taxane-based", "Anthracycline-based", "Other"],
    "hormone_therapy": ["No", "Yes"], "pertuzumab": ["No", "Yes"], "her2_tki": [0, 1],
}
COVARIATES = ["age", "pathological_type", "hr_status", "ki67", "t_stage", "n_stage", "met_bone", "met_brain",
              "met_liver", "met_lung", "met_other", "chemotherapy", "hormone_therapy", "pertuzumab", "her2_tki"]


# ---- cohort (section 2.1), written out again in pandas -------------------------------------------------

def analysis_cohort() -> pd.DataFrame:
    raw = pd.read_csv(DATA)
    for col in [c for c in raw.columns if c.startswith("date_")]:
        raw[col] = pd.to_datetime(raw[col], format="%Y-%m-%d")
    her2_positive = (raw.her2_ihc == "3+") | ((raw.her2_ihc == "2+") & (raw.her2_fish == "Amplified"))
    any_anti_her2 = (raw[["trastuzumab", "pertuzumab", "lapatinib", "pyrotinib", "tdm1"]] == "Yes").any(axis=1)
    keep = (raw.date_treatment_start.between("2006-03-01", "2021-09-30") & (raw.breast_primary_confirmed == "Yes")
            & (raw.stage == "IV") & her2_positive & any_anti_her2 & (raw.measurable_disease == "Yes")
            & raw.age.between(18, 80) & (raw.sex == "Female") & (raw.vital_status != "Lost to follow-up")
            & (raw.predicted_survival_lt_3_months == "No") & (raw.severe_comorbidity == "No"))
    df = raw[keep].copy()
    end = df.date_death.fillna(df.date_last_contact)
    df["months"] = (end - df.date_treatment_start).dt.days / DAYS_PER_MONTH
    df["dead"] = df.date_death.notna().astype(int)
    df["treat"] = (df.rt == "Yes").astype(int)
    df["her2_tki"] = ((df.lapatinib == "Yes") | (df.pyrotinib == "Yes")).astype(int)
    return df.reset_index(drop=True)


def design(df: pd.DataFrame, columns) -> pd.DataFrame:
    """Numeric columns as they are; categorical ones as 0/1 columns for every non-reference level."""
    parts = {}
    for col in columns:
        if col in CATEGORICAL:
            for level in CATEGORICAL[col][1:]:
                parts[f"{col}{level}"] = (df[col] == level).astype(float).to_numpy()
        else:
            parts[col] = df[col].astype(float).to_numpy()
    return pd.DataFrame(parts, index=df.index)


# ---- matching: logistic propensity (statsmodels) and a plain greedy loop --------------------------------

def greedy_match(df: pd.DataFrame, caliper_sd: float = 0.2) -> pd.DataFrame:
    """1:1 nearest neighbour on the logit of the propensity score without replacement; treated patients
    in descending score (ties in row order); caliper 0.2 SD of the logit over all patients."""
    fit = sm.Logit(df.treat.to_numpy(), sm.add_constant(design(df, COVARIATES))).fit(disp=0, method="newton",
                                                                                     maxiter=100, tol=1e-12)
    logit = np.log(fit.predict() / (1 - fit.predict()))
    caliper = caliper_sd * np.std(logit, ddof=1)
    treated = np.flatnonzero(df.treat == 1)
    treated = treated[np.argsort(-logit[treated], kind="stable")]
    controls = np.flatnonzero(df.treat == 0)
    used = np.zeros(controls.size, bool)
    pairs = []
    for i in treated:
        distance = np.abs(logit[controls] - logit[i])
        distance[used] = np.inf
        j = int(np.argmin(distance))
        if distance[j] <= caliper:
            used[j] = True
            pairs += [i, controls[j]]
    return df.iloc[sorted(pairs)].reset_index(drop=True)


# ---- Kaplan-Meier (lifelines) with SPSS's symmetric median CI ------------------------------------------

def km(t, e) -> pd.DataFrame:
    """Event times with S(t) (lifelines) and Greenwood's SE of S."""
    fit = KaplanMeierFitter().fit(np.asarray(t, float), np.asarray(e, int))
    table = fit.event_table
    table = table[table.observed > 0]
    d, n = table.observed.to_numpy(float), table.at_risk.to_numpy(float)
    surv = fit.survival_function_.loc[table.index].iloc[:, 0].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        se = surv * np.sqrt(np.cumsum(d / (n * (n - d))))
    return pd.DataFrame({"time": table.index.to_numpy(float), "surv": surv, "se": se})


def median_ci(curve: pd.DataFrame) -> tuple[float, float, float]:
    """Median (first time S <= 0.5) and median +/- 1.96 SE (Collett: SE(S) / slope between 0.55 and 0.45)."""
    t, s, se = curve.time.to_numpy(), curve.surv.to_numpy(), curve.se.to_numpy()
    at = int(np.flatnonzero(s <= 0.5 + 1e-12)[0])
    median = (t[at] + t[at + 1]) / 2 if abs(s[at] - 0.5) < 1e-12 else t[at]
    tt, ss = np.r_[0.0, t], np.r_[1.0, s]
    u = np.flatnonzero(ss >= 0.55 - 1e-12)[-1]
    l = np.flatnonzero(ss <= 0.45 + 1e-12)[0]
    half = Z * se[at] / ((ss[u] - ss[l]) / (tt[l] - tt[u]))
    return median, median - half, median + half


def surv_at(curve: pd.DataFrame, month: float) -> float:
    before = curve[curve.time <= month]
    return 1.0 if before.empty else float(before.surv.iloc[-1])


def cox(df: pd.DataFrame, columns) -> pd.DataFrame:
    """Breslow Cox model (statsmodels) of the design of ``columns``: HR, CI and Wald p per design column."""
    X = design(df, columns)
    fit = PHReg(df.months.to_numpy(), X.to_numpy(), status=df.dead.to_numpy(), ties="breslow").fit()
    ci = np.exp(fit.conf_int())
    return pd.DataFrame({"hr": np.exp(fit.params), "lower": ci[:, 0], "upper": ci[:, 1], "p": fit.pvalues},
                        index=X.columns)


def table1_p(df: pd.DataFrame, var: str) -> float:
    if var in CATEGORICAL:
        table = pd.crosstab(df[var], df.treat).to_numpy()
        _, p, _, expected = stats.chi2_contingency(table, correction=False)
        assert expected.min() >= 5, f"{var}: an expected count < 5 would call for Fisher's test"
        return float(p)
    return float(stats.mannwhitneyu(df.loc[df.treat == 1, var], df.loc[df.treat == 0, var],
                                    alternative="two-sided", use_continuity=True, method="asymptotic").pvalue)


# ---- every claim recomputed -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def independent() -> dict[str, float]:
    df = analysis_cohort()
    matched = greedy_match(df)
    out: dict[str, float] = {}
    arms = {"rt": 1, "no_rt": 0}
    for name, d in (("all", df), ("matched", matched)):
        deaths = int(d.dead.sum())
        if name == "all":
            out.update(n_analysed=len(d), n_rt=int(d.treat.sum()), n_no_rt=int((d.treat == 0).sum()),
                       deaths_all=deaths, deaths_all_pct=100 * deaths / len(d))
        else:
            out.update(pairs=len(d) // 2, n_matched_rt=int(d.treat.sum()), n_matched_no_rt=int((d.treat == 0).sum()),
                       n_matched=len(d), deaths_matched=deaths, deaths_matched_pct=100 * deaths / len(d))
        fu = median_ci(km(d.months, 1 - d.dead))  # reverse Kaplan-Meier
        out[f"followup_{name}"], out[f"followup_{name}_lower"], out[f"followup_{name}_upper"] = fu
        for arm, code in arms.items():
            curve = km(d.months[d.treat == code], d.dead[d.treat == code])
            key = f"median_{name}_{arm}"
            out[key], out[key + "_lower"], out[key + "_upper"] = median_ci(curve)
            for year in (1, 3, 5):
                out[f"os{year}y_{name}_{arm}"] = surv_at(curve, 12 * year)
        out[f"logrank_{name}"] = logrank_test(d.months[d.treat == 1], d.months[d.treat == 0],
                                              d.dead[d.treat == 1], d.dead[d.treat == 0]).p_value
    for var in COVARIATES:
        out[f"table1_{var}_p"] = table1_p(df, var)
        out[f"table1_matched_{var}_p"] = table1_p(matched, var)
    uni_brain = cox(matched, ["met_brain"]).iloc[0]
    uni_rt = cox(matched, ["treat"]).iloc[0]
    for key, row in (("brain", uni_brain), ("rt", uni_rt)):
        out.update({f"cox_uni_{key}_hr": row.hr, f"cox_uni_{key}_lower": row.lower,
                    f"cox_uni_{key}_upper": row.upper, f"cox_uni_{key}_p": row.p})
    for site in ("met_bone", "met_liver", "met_lung", "met_other"):
        out[f"cox_uni_{site}_significance"] = cox(matched, [site]).iloc[0].p
    multi = cox(matched, ["treat", *COVARIATES])
    out["cox_multi_brain_significance"] = multi.loc["met_brainYes", "p"]
    out["cox_multi_rt_significance"] = multi.loc["treat", "p"]
    out["cox_multi_liver_significance"] = multi.loc["met_liverYes", "p"]
    for site, lab in (("met_bone", "bone"), ("met_brain", "brain"), ("met_liver", "liver"), ("met_lung", "lung")):
        d = df[df[site] == "Yes"]
        for arm, code in arms.items():
            out[f"subgroup_{lab}_median_{arm}"] = median_ci(km(d.months[d.treat == code], d.dead[d.treat == code]))[0]
        out[f"subgroup_{lab}_p"] = logrank_test(d.months[d.treat == 1], d.months[d.treat == 0],
                                                d.dead[d.treat == 1], d.dead[d.treat == 0]).p_value
    rt = df[df.treat == 1]
    for modality in ("3D-CRT", "IMRT", "SBRT"):
        d = rt[rt.rt_modality == modality]
        out[f"modality_{modality.lower().replace('-', '')}_median"] = median_ci(km(d.months, d.dead))[0]
    out["modality_p"] = multivariate_logrank_test(rt.months, rt.rt_modality, rt.dead).p_value
    return out


def _claims() -> list[dict]:
    return yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))["claims"]


def _agrees(claim: dict, value: float) -> bool:
    """The claim's check, written out again (see published.yaml's header)."""
    target = claim.get("score_against", claim["published"])
    value = value * claim.get("multiply", 1)
    kind = claim.get("check", "value")
    if kind == "significance":
        return (value < 0.05) == (str(target) == "significant")
    bound = re.match(r"^\s*<\s*([0-9.]+)\s*$", str(target))
    if kind == "side":
        return (value < 0.05) == (float(target) < 0.05)
    if kind == "pvalue":
        if bound:
            return value < float(bound[1])
        return float(target) / 1.5 <= value <= float(target) * 1.5 and (value < 0.05) == (float(target) < 0.05)
    if claim.get("exact"):
        return value == float(target)
    return abs(value - float(target)) <= claim["tolerance"] + 1e-12


@pytest.mark.parametrize("claim", _claims(), ids=lambda c: c["id"])
def test_claim_reproduced_independently(independent, claim):
    assert claim["id"] in independent, "every published number is recomputed here"
    value = independent[claim["id"]]
    if "inconsistent" in claim and "score_against" not in claim:
        assert np.isfinite(value)  # the paper contradicts itself and nothing can be inferred: not scored
        return
    assert _agrees(claim, value), f"{claim['quantity']}: published {claim['published']}, independent {value:.6g}"


def test_reproduction_csv_lists_every_claim_and_agrees(independent):
    if not REPRODUCTION.exists():
        pytest.skip("the pipeline has not been run (tables/her2_rt/reproduction.csv is missing)")
    table = pd.read_csv(REPRODUCTION, dtype=str, keep_default_na=False).set_index("claim_id")
    claims = {c["id"]: c for c in _claims()}
    assert set(table.index) == set(claims), "reproduction.csv lists exactly the published claims"
    for claim_id, claim in claims.items():
        package = float(table.loc[claim_id, "reproduced"])
        mine = independent[claim_id] * claim.get("multiply", 1)
        assert math.isclose(package, mine, rel_tol=1e-4, abs_tol=1e-9), f"{claim_id}: package {package}, here {mine}"
