"""Synthetic cohort for the HER2-positive radiotherapy study (``studies/her2_rt``, paper 004).

The paper's patients are not public. This module makes a **synthetic** hospital export that is
consistent with every number the paper reports, so the study's notebooks can run the paper's
analyses end to end and show, number by number, what they reproduce. No row describes a real person.

What the export looks like
--------------------------
One row per patient referred with HER2-positive metastatic breast cancer at one of three
hospitals: a pseudonymous id (``HX000123``), hospital, sex, age, stage, HER2 IHC and FISH, HR status,
Ki-67, pathological type, T and N stage, metastatic sites, chemotherapy regimen, hormone therapy,
the anti-HER2 agents received, radiotherapy (yes/no, modality, site, start date), measurable disease,
predicted survival < 3 months, severe comorbidity, vital status and the dates of metastatic
diagnosis, start of treatment (the time origin), death or last contact, and the data cut-off.
``data/dictionaries/her2_rt.md`` describes every column. Besides the patients the paper analysed
(488 at the default size) the export holds patients who fail exactly one inclusion or exclusion
criterion of the paper's section 2.1, so the cohort build has real work to do.

How it is made (``generate``)
-----------------------------
1. **Baseline.** The arms come first (207 radiotherapy, 281 not, at the default size). Each
   covariate is drawn per arm from the probabilities in :data:`BASELINE` (a few arm differences:
   bone, brain and lung metastases and chemotherapy, which the paper found unbalanced; the others
   have equal probabilities in both arms). Age and Ki-67 come from the same distribution in both
   arms.
2. **Conditioning on the paper's baseline findings.** At the paper's size the baseline draw is
   repeated (from the same seeded stream) until it shows what the paper reports: the propensity
   match of step 3 yields exactly 135 pairs; bone, brain and lung metastases differ with P < 0.001
   and chemotherapy with P within a factor 1.5 of 0.021; no other variable differs (P > 0.05); and
   no variable differs after matching. This is rejection sampling: the accepted cohort is a draw
   from the model *given* the published Table 1 summary. Other sizes take the first draw.
3. **Matching.** The package's own propensity score and matcher (:mod:`mbcrt.stats.matching`, with the
   settings of :data:`MATCHING`, which the study file repeats) split the patients into four groups:
   matched and unmatched, radiotherapy and not. The outcome is drawn *after* this, since the match
   uses baseline covariates only; this is what lets both the before- and after-matching curves
   follow the paper.
4. **Survival.** Each group g has a target overall-survival curve S_g(t), piecewise exponential
   (log S linear in t) through anchor points: S at 12, 36 and 60 months, the months where S crosses
   0.55, 0.50 and 0.45 (the median and the slope SPSS's symmetric median CI depends on), and S at 120
   months (the 36-60-month hazard times a ``tail`` factor). A group of n patients has n *slots*; slot
   k holds the death time S_g^-1(1 - (k + U_k)/n): a stratified sample of the curve (quantile-balanced,
   so its Kaplan-Meier curve lands near the target without being an exact-quantile artefact).
   Patients take the slots in the order of a death time each draws with his or her own
   proportional-hazards effects on a fixed exponential reference curve (median
   :data:`REFERENCE_MEDIAN`): bone, brain, liver and lung metastases (per arm) and the radiotherapy
   modality, each with one log hazard ratio before 12 months, one for 12-36 months and one after
   (:data:`FITTED` ``effects``). These draws are stratified within each set of patients who share
   group and effects. So the effects decide *who* dies when, never the group's curve.
5. **Censoring.** Each slot also holds a follow-up time (start of treatment to last contact if alive),
   drawn the same stratified way from a piecewise-linear distribution per part of the cohort (matched,
   unmatched) whose range is set by the accrual window (March 2006 - September 2021) and the data
   cut-off (:data:`CUTOFF`); follow-up is thus independent of survival and of the covariates. The
   patient is dead if the death time comes first. The start of treatment is then placed so that the
   last contact (or the potential one, for the dead) falls 0-365 days before the cut-off.
6. **Conditioning on the published outcome results.** At the default seed and size the outcomes
   of step 5 are then reassigned among the patients by a permutation (:data:`PERMUTATION_FILE`)
   found by simulated annealing (:func:`condition_outcomes`): the set of outcomes, and so the death
   counts, do not change (a swap between a matched and an unmatched patient only exchanges two
   deaths or two survivors), but who has which does, until the statistics of step 7 hold together.
   Like step 2 this conditions the draw on the published summaries; the effects of step 4 alone
   place the subgroup and modality results only roughly.
7. **Calibration.** The anchor points and follow-up knots in :data:`FITTED`, and the permutation,
   were fitted by :func:`calibrate` with the default seed so that the cohort reproduces the paper:
   the medians (and their symmetric CIs), 1/3/5-year rates, follow-up and death counts before and
   after matching, the subgroup medians and log-rank p of Figures 2 and 3, and the univariable hazard
   ratios of brain metastasis and radiotherapy after matching (:data:`TARGETS`, :data:`BOUNDS`).
   Published values the paper contradicts are fitted to what can be inferred (see
   ``studies/her2_rt/published.yaml``). ``calibrate()`` prints a new :data:`FITTED` and rewrites the
   permutation when the model or the package's statistics change.
8. **Export.** Dates, radiotherapy details, HER2 test results, hospitals and the anti-HER2
   agents are filled in, and the patients who fail one criterion are added; rows are ordered by id.
9. **Radiotherapy courses.** The radiotherapy system's own export (:func:`rt_courses`,
   ``her2_rt_courses.csv`` beside the export): one row per course, the first being the export's
   radiotherapy, later ones for some patients, drawn from a stream of their own so the export is the
   same with or without them.

Scaling and reproducibility
---------------------------
Every step is vectorised (sorting and grouping, no loop over patients); ``generate(n=1_000_000)``
runs in well under a minute. Everything is drawn from ``numpy.random.default_rng`` streams spawned
from one seed, so the same ``(n, seed)`` gives the same file byte for byte. Other sizes use the same model without
conditioning (steps 2 and 6) or re-fitting, and other seeds at the paper's size without step 6 (the
permutation belongs to the default draw), so the published numbers hold only approximately.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mbcrt import paths

#: Default seed: with it and the default size the cohort reproduces the paper.
DEFAULT_SEED = 4004

#: The paper's analysed cohort: 488 patients, 207 with radiotherapy, 135 matched pairs.
N_PAPER = 488
N_RT_PAPER = 207
PAIRS_PAPER = 135

DAYS_PER_MONTH = 30.4375  # a twelfth of a Julian year, as the cohort build converts days to months
ACCRUAL = (dt.date(2006, 3, 1), dt.date(2021, 9, 30))  # treatment start window of the paper
CUTOFF = dt.date(2022, 12, 31)  # data cut-off of the synthetic export (the paper gives none)
LAST_CONTACT_GAP_DAYS = 365  # survivors' last contact falls up to a year before the cut-off

#: Per-arm probabilities of each categorical baseline variable: levels, radiotherapy arm, control arm.
BASELINE = {
    "pathological_type": (["Invasive ductal carcinoma", "Invasive lobular carcinoma", "Other"],
                          [0.86, 0.05, 0.09], [0.86, 0.05, 0.09]),
    "hr_status": (["Negative", "Positive"], [0.48, 0.52], [0.48, 0.52]),
    "t_stage": (["T1", "T2", "T3", "T4"], [0.14, 0.44, 0.16, 0.26], [0.14, 0.44, 0.16, 0.26]),
    "n_stage": (["N0", "N1", "N2", "N3"], [0.16, 0.34, 0.26, 0.24], [0.16, 0.34, 0.26, 0.24]),
    "met_bone": (["No", "Yes"], [0.22, 0.78], [0.58, 0.42]),
    "met_brain": (["No", "Yes"], [0.56, 0.44], [0.81, 0.19]),
    "met_liver": (["No", "Yes"], [0.63, 0.37], [0.63, 0.37]),
    "met_lung": (["No", "Yes"], [0.71, 0.29], [0.40, 0.60]),
    "met_other": (["No", "Yes"], [0.68, 0.32], [0.68, 0.32]),
    "chemotherapy": (["No chemotherapy", "Taxane-based", "Anthracycline-based", "Other"],
                     [0.06, 0.62, 0.15, 0.17], [0.035, 0.57, 0.255, 0.14]),
    "pertuzumab": (["No", "Yes"], [0.64, 0.36], [0.64, 0.36]),
    "her2_tki": ([0, 1], [0.58, 0.42], [0.58, 0.42]),  # lapatinib or pyrotinib (derived in the study)
}
HORMONE_THERAPY_IF_HR_POSITIVE = 0.6
#: Radiotherapy modality among irradiated patients (3D-CRT, IMRT, SBRT).
MODALITIES = ["3D-CRT", "IMRT", "SBRT"]
MODALITY_P = [0.30, 0.45, 0.25]

#: Propensity-score matching as the study file sets it (section 2.2.5's ten variables; the caliper
#: is this package's choice, the paper gives none).
MATCHING = {
    "covariates": ["age", "pathological_type", "hr_status", "ki67", "t_stage", "n_stage", "met_bone",
                   "met_brain", "met_liver", "met_lung", "met_other", "chemotherapy", "hormone_therapy",
                   "pertuzumab", "her2_tki"],
    "categorical": ["pathological_type", "hr_status", "t_stage", "n_stage", "met_bone", "met_brain",
                    "met_liver", "met_lung", "met_other", "chemotherapy", "hormone_therapy", "pertuzumab",
                    "her2_tki"],
    "levels": {**{k: list(v[0]) for k, v in BASELINE.items()}, "hormone_therapy": ["No", "Yes"]},
    "caliper": 0.2, "caliper_scale": "logit", "order": "largest",
}
#: Table 1 before matching, as the paper reports it (section 3.1): these differ, nothing else does.
TABLE1_DIFFERENT = {"met_bone": 0.001, "met_brain": 0.001, "met_lung": 0.001}
TABLE1_CHEMOTHERAPY_P = 0.021
MAX_BASELINE_DRAWS = 20_000

#: Patients who fail one criterion of section 2.1, per 488 analysed (in the study file's order).
EXCLUDED = {
    "outside_window": 7, "not_breast_primary": 4, "not_stage_iv": 5, "her2_negative": 12,
    "no_anti_her2": 6, "not_measurable": 9, "age": 5, "male": 3, "lost_to_follow_up": 10,
    "short_prognosis": 6, "comorbidity": 7,
}

GROUPS = ("matched_rt", "matched_control", "unmatched_rt", "unmatched_control")
SITES = ("met_bone", "met_brain", "met_liver", "met_lung")
EFFECT_PIECES = (12.0, 36.0)  # covariate effects: one log hazard ratio before 12, 12-36 and after 36 months
REFERENCE_MEDIAN = 40.0  # months: the exponential curve on which patients' own draws are ranked

#: Fitted by :func:`calibrate` (default seed and size); see the module docstring, step 7.
#: groups: anchor points of each group's survival curve (S at 12/36/60 months; months at which S
#: is 0.55/0.50/0.45). effects: log hazard ratios [before 12, 12-36, after 36 months] per arm.
#: censoring: follow-up quantile knots (probability -> months) per part of the cohort.
FITTED = {
    "groups": {
        "matched_rt": {"s12": 0.936935, "s36": 0.700314, "s60": 0.451902, "t55": 47.1825, "t50": 53.0579, "t45": 60.3, "tail": 1.3551},
        "matched_control": {"s12": 0.893818, "s36": 0.436805, "s60": 0.220797, "t55": 28.2792, "t50": 33.1992, "t45": 35.3446, "tail": 1.2469},
        "unmatched_rt": {"s12": 0.972074, "s36": 0.673456, "s60": 0.349491, "t55": 38.318, "t50": 48.3487, "t45": 53.122, "tail": 2.8237},
        "unmatched_control": {"s12": 0.782368, "s36": 0.458589, "s60": 0.283013, "t55": 24.5694, "t50": 30.5668, "t45": 37.0595, "tail": 0.9871},
    },
    "effects": {
        "rt": {
            "met_bone": [0.0374, 0.3213, -0.3749],
            "met_brain": [0.0026, 0.1395, 0.7613],
            "met_liver": [0.0467, -0.003, -0.2081],
            "met_lung": [-0.5436, -0.7854, 0.2993],
            "IMRT": [-0.2995, -0.4902, -0.2189],
            "SBRT": [-0.5487, -0.6575, -0.4119],
        },
        "control": {
            "met_bone": [0.0697, 0.1983, 0.1072],
            "met_brain": [0.9848, 0.6759, -0.5072],
            "met_liver": [0.0441, 0.0509, 0.223],
            "met_lung": [-0.0112, -0.1913, 0.605],
        },
    },
    "own_draw": 826,
    "censoring": {
        "matched": {"p": [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0],
                    "months": [15.0144, 35.7517, 63.5792, 72.0052, 72.5616, 115.062, 202.0205]},
        "unmatched": {"p": [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0],
                    "months": [15.0144, 47.9208, 60.206, 62.9827, 63.9619, 66.4858, 202.0205]},
    },
}


#: Step 6, conditioning on the published outcome results: simulated annealing over permutations of
#: the outcomes (``iterations`` proposed swaps, temperature falling geometrically from the first to the
#: second of ``temperatures``, proposals drawn from ``seed``). Its result, the permutation, is stored in
#: :data:`PERMUTATION_FILE` (see :func:`condition_outcomes`).
ANNEALING = {"iterations": 30_000, "temperatures": (20.0, 0.02), "seed": 12345}
#: Step 6 also keeps the multivariable Cox model after matching as Results 3.3 reads: brain metastasis
#: and radiotherapy independent factors (|z| above ``named_above``), no other term near significance
#: (|z| below ``others_below``); hinges on the z scale over ``scale``.
MULTIVARIABLE = {"named": ("rt", "met_brainYes"), "named_above": 2.3, "others_below": 1.8, "scale": 0.1}
PERMUTATION_FILE = Path(__file__).with_name("her2_rt_permutation.json")


# ================================================================================================
# Public API
# ================================================================================================

def generate(n: int | None = None, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The synthetic raw export, one row per patient (see the module docstring).

    Parameters
    ----------
    n : int, optional
        Patients who meet every criterion (the analysed cohort); the export adds those who fail one,
        in proportion. Default: the paper's 488.
    seed : int
        Seed of every random draw.

    Returns
    -------
    DataFrame
        The export, columns as in ``data/dictionaries/her2_rt.md``, rows ordered by ``patient_id``;
        dates as ``YYYY-MM-DD`` strings, missing values as None.
    """
    return generate_with_cohort(n, seed)[0]


def generate_with_cohort(n: int | None = None, seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`generate`'s export and the analysed patients behind it, in the export's order, with
    their matching ``group`` and ``pair_id`` as the generator made them and their ``days``/``dead``
    outcome (for tests and for checking a calibration)."""
    n = N_PAPER if n is None else int(n)
    if n < 20:
        raise ValueError("n must be at least 20 (both arms need patients)")
    rng = _streams(seed)
    cohort = conditioned_baseline(rng["baseline"], n)
    outcome = simulate_outcomes(cohort, rng["survival"], rng["censoring"], FITTED)
    if n == N_PAPER and seed == DEFAULT_SEED:
        outcome = outcome.iloc[load_permutation()].reset_index(drop=True)
    analysed = _export_rows(cohort, outcome, rng["details"])
    excluded = _excluded_rows(rng["excluded"], n)
    return _finish(analysed, excluded, rng["ids"]), pd.concat([cohort, outcome[["days", "dead"]]], axis=1)


def generate_with_courses(n: int | None = None, seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`generate`'s export and its radiotherapy-course table (:func:`rt_courses`), as the
    radiotherapy system would export it: one row per course."""
    export = generate(n=n, seed=seed)
    return export, rt_courses(export, _streams(seed)["courses"])


def courses_path(path: str | Path) -> Path:
    """Where the course table of the export at ``path`` goes: beside it, ``<name>_courses.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_courses.csv")


def write(path: str | Path | None = None, n: int | None = None, seed: int = DEFAULT_SEED) -> Path:
    """Write :func:`generate`'s export as UTF-8 CSV (default ``data/synthetic/her2_rt.csv``), and its
    course table beside it (:func:`courses_path`: ``her2_rt_courses.csv``).

    Returns
    -------
    Path
        The export written.
    """
    target = Path(path) if path is not None else paths.SYNTHETIC_DIR / "her2_rt.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    export, courses = generate_with_courses(n=n, seed=seed)
    export.to_csv(target, index=False, lineterminator="\n", encoding="utf-8")
    courses.to_csv(courses_path(target), index=False, lineterminator="\n", encoding="utf-8")
    return target


# ================================================================================================
# Random streams
# ================================================================================================

def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators per part, so a change in one part leaves the others' draws alone."""
    # New parts take new names at the end: the earlier streams (and so the export) stay as they were.
    names = ("baseline", "survival", "censoring", "details", "excluded", "ids", "courses")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


def _categorical(rng: np.random.Generator, levels, probabilities, size: int) -> np.ndarray:
    """Draw ``size`` values of ``levels`` with the given probabilities (inverse CDF, vectorised)."""
    cdf = np.cumsum(probabilities)
    codes = np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(size), side="right"), len(levels) - 1)
    return np.asarray(levels, dtype=object)[codes]


# ================================================================================================
# 1-3. Baseline, conditioning, matching
# ================================================================================================

def draw_baseline(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """One draw of the analysed patients' baseline (arms first, then covariates per arm).

    Returns
    -------
    DataFrame
        Columns ``rt`` ("Yes"/"No"), ``age``, ``ki67``, the :data:`BASELINE` variables,
        ``hormone_therapy`` and ``rt_modality`` (None without radiotherapy), rows in random order.
    """
    n_rt = int(round(n * N_RT_PAPER / N_PAPER))
    n_control = n - n_rt
    is_rt = np.r_[np.ones(n_rt, bool), np.zeros(n_control, bool)]
    data = {"rt": np.where(is_rt, "Yes", "No").astype(object)}
    data["age"] = np.clip(np.round(rng.normal(49.0, 10.5, n)), 24, 79).astype(np.int64)
    data["ki67"] = np.clip(np.round(100 * rng.beta(2.2, 4.5, n)), 1, 95).astype(np.int64)
    for name, (levels, p_rt, p_control) in BASELINE.items():
        data[name] = np.concatenate([_categorical(rng, levels, p_rt, n_rt),
                                     _categorical(rng, levels, p_control, n_control)])
    hormone = (data["hr_status"] == "Positive") & (rng.random(n) < HORMONE_THERAPY_IF_HR_POSITIVE)
    data["hormone_therapy"] = np.where(hormone, "Yes", "No").astype(object)
    modality = _categorical(rng, MODALITIES, MODALITY_P, n)
    data["rt_modality"] = np.where(is_rt, modality, None)
    data["her2_tki"] = data["her2_tki"].astype(np.int64)
    # Rows in a random order, kept in the export: the study's matching then sees the same order.
    return pd.DataFrame(data).iloc[rng.permutation(n)].reset_index(drop=True)


def match_groups(cohort: pd.DataFrame) -> np.ndarray:
    """Propensity-score match the cohort as the study does; return each patient's pair id (0 = unmatched)."""
    from mbcrt.stats import matching
    from mbcrt.stats.design import design_matrix

    X = design_matrix(cohort, MATCHING["covariates"], MATCHING["categorical"], MATCHING["levels"])
    treat = (cohort["rt"] == "Yes").to_numpy()
    ps = matching.propensity_score(X, treat)
    result = matching.match_nearest(ps, treat, caliper=MATCHING["caliper"],
                                    caliper_scale=MATCHING["caliper_scale"], order=MATCHING["order"])
    return result.pair_id


def table1_pvalue(cohort: pd.DataFrame, name: str) -> float:
    """P-value of one Table 1 variable as the study computes it: chi-square (Fisher when an expected
    count is < 5) for categorical variables, Mann-Whitney U (normal approximation with continuity
    correction) for age and Ki-67."""
    from mbcrt.stats.contingency import categorical_test

    treat = (cohort["rt"] == "Yes").to_numpy()
    values = cohort[name].to_numpy()
    if name in MATCHING["categorical"]:
        codes, uniques = pd.factorize(values)
        return categorical_test(np.bincount(codes * 2 + treat, minlength=2 * len(uniques)).reshape(-1, 2))[0]
    return float(stats.mannwhitneyu(values[treat], values[~treat], alternative="two-sided", use_continuity=True,
                                    method="asymptotic").pvalue)


def differs_as_published(cohort: pd.DataFrame) -> bool:
    """Table 1 before matching as the paper reports it: bone, brain and lung metastases P < 0.001,
    chemotherapy P within a factor 1.5 of 0.021, every other variable P > 0.05 (checked in that
    order, stopping at the first miss)."""
    p_chemo = table1_pvalue(cohort, "chemotherapy")
    if not TABLE1_CHEMOTHERAPY_P / 1.5 <= p_chemo <= TABLE1_CHEMOTHERAPY_P * 1.5:
        return False
    if any(table1_pvalue(cohort, name) >= bound for name, bound in TABLE1_DIFFERENT.items()):
        return False
    others = [c for c in MATCHING["covariates"] if c not in TABLE1_DIFFERENT and c != "chemotherapy"]
    return all(table1_pvalue(cohort, name) > 0.05 for name in others)


def conditioned_baseline(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """The analysed patients' baseline with their matching group (steps 1-3 of the module docstring).

    At the paper's size, draws are taken until one shows Table 1 as published
    (:func:`differs_as_published`), 135 matched pairs, and no difference after matching.

    Returns
    -------
    DataFrame
        :func:`draw_baseline`'s columns plus ``pair_id`` and ``group`` (one of :data:`GROUPS`).
    """
    for _ in range(MAX_BASELINE_DRAWS):
        cohort = draw_baseline(rng, n)
        if n != N_PAPER:
            pair_id = match_groups(cohort)
            break
        if not differs_as_published(cohort):
            continue
        pair_id = match_groups(cohort)
        matched = cohort[pair_id > 0]
        if int(pair_id.max()) == PAIRS_PAPER and all(table1_pvalue(matched, c) > 0.05 for c in MATCHING["covariates"]):
            break
    else:  # pragma: no cover - the draw is accepted within a few thousand tries
        raise RuntimeError(f"no baseline draw matched the paper in {MAX_BASELINE_DRAWS} tries")
    is_rt = (cohort["rt"] == "Yes").to_numpy()
    matched = pair_id > 0
    group = np.where(matched, np.where(is_rt, 0, 1), np.where(is_rt, 2, 3))
    return cohort.assign(pair_id=pair_id, group=np.asarray(GROUPS, dtype=object)[group])


# ================================================================================================
# 4-5. Survival and censoring
# ================================================================================================

def anchor_curve(anchors: dict) -> tuple[np.ndarray, np.ndarray]:
    """Anchor points (months, log S) of a group's survival curve, in time order.

    S at 0, 12, 36, 60 months; the months where S = 0.55, 0.50, 0.45; and S at 120 months with
    ``tail`` times the hazard of 36-60 months. Raises ValueError if the points are not a decreasing curve.
    """
    s36, s60 = anchors["s36"], anchors["s60"]
    points = [(0.0, 1.0), (12.0, anchors["s12"]), (36.0, s36), (60.0, s60),
              (120.0, _s120(s36, s60, anchors["tail"])),
              (anchors["t55"], 0.55), (anchors["t50"], 0.50), (anchors["t45"], 0.45)]
    points.sort()
    t = np.array([p[0] for p in points])
    s = np.array([p[1] for p in points])
    if np.any(np.diff(t) <= 0) or np.any(np.diff(s) >= 0) or s[-1] <= 0:
        raise ValueError(f"anchor points do not make a decreasing survival curve: {points}")
    return t, np.log(s)


def _s120(s36: float, s60: float, tail: float = 1.0) -> float:
    """S at 120 months: ``tail`` times the 36-60-month hazard for another 60 months."""
    return s60 * (s60 / s36) ** (tail * 60.0 / 24.0)


def _inverse_cumulative_hazard(h: np.ndarray, t: np.ndarray, log_s: np.ndarray) -> np.ndarray:
    """Months at which the curve's cumulative hazard -log S (linear between anchors, the last
    hazard continued beyond them) reaches ``h``."""
    cum = -log_s
    out = np.interp(h, cum, t)
    rate = (cum[-1] - cum[-2]) / (t[-1] - t[-2])
    return np.where(h > cum[-1], t[-1] + (h - cum[-1]) / rate, out)


def _stratified_uniforms(rng: np.random.Generator, cell: np.ndarray) -> np.ndarray:
    """(rank + U(0,1)) / k within each cell of k patients, for a random ranking: uniforms that cover
    each cell's [0, 1) evenly (one per 1/k slice) in random order."""
    n = cell.size
    key = rng.random(n)
    jitter = rng.random(n)
    order = np.lexsort((key, cell))
    sorted_cell = cell[order]
    starts = np.flatnonzero(np.r_[True, sorted_cell[1:] != sorted_cell[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    u = np.empty(n)
    u[order] = (rank + jitter[order]) / np.repeat(sizes, sizes)
    return u


def _log_hazard_ratios(cohort: pd.DataFrame, effects: dict) -> np.ndarray:
    """Each patient's log hazard ratio in each period of :data:`EFFECT_PIECES` (n x 3; module
    docstring, step 4): the sum of the effects of the patient's arm that apply to him or her."""
    is_rt = (cohort["rt"] == "Yes").to_numpy()
    out = np.zeros((len(cohort), len(EFFECT_PIECES) + 1))
    for arm, rows in (("rt", is_rt), ("control", ~is_rt)):
        for name, pieces in effects[arm].items():
            column = "rt_modality" if name in MODALITIES else name
            has = rows & (cohort[column] == ("Yes" if column != "rt_modality" else name)).to_numpy()
            out += np.outer(has, pieces)
    return out


def _slot_times(params: dict, name: str, jitter: np.ndarray) -> np.ndarray:
    """The group's death times in months, one per slot k = 0..n-1 (ascending): stratified quantiles
    of its curve, S(t_k) = 1 - (k + jitter_k) / n."""
    t, log_s = anchor_curve(params["groups"][name])
    dead_share = (np.arange(jitter.size) + jitter) / jitter.size
    return _inverse_cumulative_hazard(-np.log1p(-dead_share), t, log_s)


def _slot_of_patients(log_hr: np.ndarray, own_uniform: np.ndarray) -> np.ndarray:
    """Which slot (0 = earliest death) each of a group's patients takes: the rank of a death time
    drawn with the patient's own proportional-hazards effects (``log_hr``, n x 3, one per period of
    :data:`EFFECT_PIECES`) on the fixed reference curve :data:`REFERENCE_MEDIAN` (the group's own
    curve is not used, so fitting the curves never reshuffles the patients)."""
    rate = np.log(2.0) / REFERENCE_MEDIAN
    edges = rate * np.asarray(EFFECT_PIECES)  # reference cumulative hazard at the change points
    widths = np.diff(np.r_[0.0, edges])
    ratio = np.exp(log_hr)
    own = -np.log(own_uniform)  # the patient's cumulative hazard at death
    cum_at_edges = np.cumsum(ratio[:, :-1] * widths, axis=1)  # ... reached at each change point
    period = (own[:, None] > cum_at_edges).sum(axis=1)
    before = np.take_along_axis(np.c_[np.zeros(own.size), cum_at_edges], period[:, None], axis=1)[:, 0]
    h = np.r_[0.0, edges][period] + (own - before) / np.take_along_axis(ratio, period[:, None], axis=1)[:, 0]
    return np.argsort(np.argsort(h, kind="stable"), kind="stable")


def _group_rows(cohort: pd.DataFrame) -> list[tuple[str, np.ndarray, slice]]:
    """(group, its rows, its span of the slot arrays) for each group, slots laid out in GROUPS order."""
    group = cohort["group"].to_numpy()
    out, start = [], 0
    for name in GROUPS:
        rows = np.flatnonzero(group == name)
        out.append((name, rows, slice(start, start + rows.size)))
        start += rows.size
    return out


def outcome_uniforms(cohort: pd.DataFrame, rng_survival: np.random.Generator,
                     rng_censoring: np.random.Generator, own_draw: int = 0) -> dict[str, np.ndarray]:
    """The uniforms the outcome is made from (module docstring, steps 4-5).

    ``own``: one per patient, stratified within each set of patients who share group and effects
    (modality, metastatic sites), from the ``own_draw``-th of a seeded series of draws (an earlier
    calibration picked it); ``jitter``: one per slot, independent; ``censor``:
    one per slot, stratified within each group (slots of group g: the span :func:`_group_rows` gives).
    """
    pattern = cohort["group"].astype(str) + cohort["rt_modality"].astype(str)
    for site in SITES:
        pattern = pattern + cohort[site].astype(str)
    spans = _group_rows(cohort)
    slot_group = np.concatenate([np.full(rows.size, i) for i, (_, rows, _) in enumerate(spans)])
    own_series = int(rng_survival.integers(2 ** 62))
    own_rng = np.random.default_rng([own_series, own_draw])
    return {"own": _stratified_uniforms(own_rng, pd.factorize(pattern, sort=True)[0]),
            "jitter": rng_survival.random(len(cohort)),
            "censor": _stratified_uniforms(rng_censoring, slot_group),
            "own_series": np.array([own_series]), "pattern": pd.factorize(pattern, sort=True)[0]}


def outcome_from_uniforms(cohort: pd.DataFrame, uniforms: dict, params: dict) -> pd.DataFrame:
    """Whole days of follow-up, the death indicator and the potential follow-up (days to last contact
    if alive) of every patient, from the uniforms and the parameters.

    Each group has as many slots as patients; slot k holds the k-th stratified death time of the
    group's curve and an independent follow-up time; patients take slots in the order of their own
    draws (:func:`_slot_of_patients`). So the group's times, and which of them are censored, do not
    depend on the patients' effects: only who holds them does.
    """
    log_hr = _log_hazard_ratios(cohort, params["effects"])
    n = len(cohort)
    death, censor = np.empty(n, np.int64), np.empty(n, np.int64)
    for name, rows, span in _group_rows(cohort):
        if rows.size == 0:
            continue
        knots = params["censoring"]["matched" if name.startswith("matched") else "unmatched"]
        slot_death = np.maximum(1, np.round(_slot_times(params, name, uniforms["jitter"][span]) * DAYS_PER_MONTH))
        slot_censor = np.round(np.interp(uniforms["censor"][span], knots["p"], knots["months"]) * DAYS_PER_MONTH)
        slot = _slot_of_patients(log_hr[rows], uniforms["own"][rows])
        death[rows], censor[rows] = slot_death[slot], slot_censor[slot]
    dead = death <= censor
    return pd.DataFrame({"days": np.where(dead, death, censor), "dead": dead.astype(np.int64),
                         "potential_days": censor})


def simulate_outcomes(cohort: pd.DataFrame, rng_survival: np.random.Generator,
                      rng_censoring: np.random.Generator, params: dict) -> pd.DataFrame:
    """Steps 4-5: follow-up days, death indicator and potential follow-up of every patient."""
    uniforms = outcome_uniforms(cohort, rng_survival, rng_censoring, own_draw=params["own_draw"])
    return outcome_from_uniforms(cohort, uniforms, params)


# ================================================================================================
# 8. The export
# ================================================================================================

def _iso(days_from_epoch: np.ndarray) -> np.ndarray:
    """Day numbers (days since 1970-01-01, -1 for missing) as YYYY-MM-DD strings (None for missing)."""
    text = np.datetime_as_string(np.asarray(days_from_epoch, dtype="datetime64[D]"), unit="D").astype(object)
    text[np.asarray(days_from_epoch) < 0] = None
    return text


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _yes_no(flag: np.ndarray) -> np.ndarray:
    return np.where(flag, "Yes", "No").astype(object)


def _anti_her2(rng: np.random.Generator, cohort: pd.DataFrame) -> dict[str, np.ndarray]:
    """The agents received, consistent with the matching variables pertuzumab and her2_tki."""
    n = len(cohort)
    pertuzumab = (cohort["pertuzumab"] == "Yes").to_numpy()
    tki = (cohort["her2_tki"] == 1).to_numpy()
    which_tki = _categorical(rng, ["lapatinib", "pyrotinib", "both"], [0.4, 0.5, 0.1], n)
    trastuzumab = pertuzumab | ~tki | (rng.random(n) < 0.7)
    return {"trastuzumab": _yes_no(trastuzumab), "pertuzumab": _yes_no(pertuzumab),
            "lapatinib": _yes_no(tki & (which_tki != "pyrotinib")),
            "pyrotinib": _yes_no(tki & (which_tki != "lapatinib")),
            "tdm1": _yes_no(rng.random(n) < 0.09)}


def _rt_site(rng: np.random.Generator, cohort: pd.DataFrame) -> np.ndarray:
    """Irradiated site: mostly a metastatic site the patient has (brain, bone), else local/nodal."""
    n = len(cohort)
    u = rng.random(n)
    brain = (cohort["met_brain"] == "Yes").to_numpy()
    bone = (cohort["met_bone"] == "Yes").to_numpy()
    other = _categorical(rng, ["Breast/chest wall", "Lymph nodes", "Lung", "Liver"], [0.45, 0.3, 0.15, 0.1], n)
    site = np.where(brain & (u < 0.6), "Brain", np.where(bone & (u < 0.85), "Bone", other))
    return np.where(cohort["rt"] == "Yes", site, None)


def _her2_tests(rng: np.random.Generator, n: int, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IHC and FISH results: HER2-positive = IHC 3+, or 2+ with FISH amplification (criterion 3)."""
    u = rng.random(n)
    ihc = np.where(positive, np.where(u < 0.74, "3+", "2+"),
                   _categorical(rng, ["2+", "1+", "0"], [0.6, 0.3, 0.1], n)).astype(object)
    fish_done = rng.random(n) < 0.35
    fish = np.where(ihc == "2+", np.where(positive, "Amplified", "Not amplified"),
                    np.where((ihc == "3+") & fish_done, "Amplified", None)).astype(object)
    return ihc, fish


def _export_rows(cohort: pd.DataFrame, outcome: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The analysed patients as export rows (they meet every criterion)."""
    n = len(cohort)
    cutoff = _day_number(CUTOFF)
    first, last = _day_number(ACCRUAL[0]), _day_number(ACCRUAL[1])
    potential = outcome["potential_days"].to_numpy()
    room = np.clip(cutoff - first - potential, 0, LAST_CONTACT_GAP_DAYS)
    gap = np.floor(rng.random(n) * (room + 1)).astype(np.int64)
    start = np.clip(cutoff - gap - potential, first, last)
    days, dead = outcome["days"].to_numpy(), outcome["dead"].to_numpy().astype(bool)
    is_rt = (cohort["rt"] == "Yes").to_numpy()
    rt_delay = np.minimum(np.round(rng.uniform(7, 300, n)), np.maximum(days - 1, 0)).astype(np.int64)
    ihc, fish = _her2_tests(rng, n, np.ones(n, bool))
    rows = {
        "hospital": _categorical(rng, ["Hospital A", "Hospital B", "Hospital C"], [0.58, 0.26, 0.16], n),
        "sex": np.full(n, "Female", dtype=object), "age": cohort["age"].to_numpy(),
        "date_metastatic_diagnosis": _iso(start - np.round(rng.uniform(5, 60, n)).astype(np.int64)),
        "date_treatment_start": _iso(start), "stage": np.full(n, "IV", dtype=object),
        "breast_primary_confirmed": np.full(n, "Yes", dtype=object),
        "pathological_type": cohort["pathological_type"].to_numpy(), "her2_ihc": ihc, "her2_fish": fish,
        "hr_status": cohort["hr_status"].to_numpy(), "ki67": cohort["ki67"].to_numpy(),
        "t_stage": cohort["t_stage"].to_numpy(), "n_stage": cohort["n_stage"].to_numpy(),
        **{name: cohort[name].to_numpy() for name in (*SITES, "met_other")},
        "measurable_disease": np.full(n, "Yes", dtype=object),
        "predicted_survival_lt_3_months": np.full(n, "No", dtype=object),
        "severe_comorbidity": np.full(n, "No", dtype=object),
        "chemotherapy": cohort["chemotherapy"].to_numpy(), "hormone_therapy": cohort["hormone_therapy"].to_numpy(),
        **_anti_her2(rng, cohort),
        "rt": cohort["rt"].to_numpy(), "rt_modality": cohort["rt_modality"].to_numpy(),
        "rt_site": _rt_site(rng, cohort), "date_rt_start": _iso(np.where(is_rt, start + rt_delay, -1)),
        "vital_status": np.where(dead, "Dead", "Alive").astype(object),
        "date_death": _iso(np.where(dead, start + days, -1)),
        "date_last_contact": _iso(np.where(dead, -1, start + days)),
    }
    return pd.DataFrame(rows)


def _excluded_rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Patients who each fail exactly one criterion of section 2.1 (counts :data:`EXCLUDED` per 488)."""
    counts = {k: int(round(v * n / N_PAPER)) for k, v in EXCLUDED.items()}
    reason = np.repeat(list(counts), list(counts.values())).astype(object)
    m = reason.size
    base = draw_baseline(rng, max(m, 20)).iloc[rng.permutation(max(m, 20))[:m]].reset_index(drop=True)
    base = base.assign(group="unmatched_control", pair_id=0)
    first, last = _day_number(ACCRUAL[0]), _day_number(ACCRUAL[1])
    start = rng.integers(first, last + 1, m)
    outside = reason == "outside_window"
    start = np.where(outside, np.where(rng.random(m) < 0.5, first - rng.integers(30, 400, m),
                                       last + rng.integers(30, 300, m)), start)
    days = np.round(rng.exponential(30 * DAYS_PER_MONTH, m)).astype(np.int64) + 20
    days = np.where(reason == "short_prognosis", np.round(rng.uniform(20, 120, m)), days).astype(np.int64)
    days = np.clip(days, 1, _day_number(CUTOFF) - start - 1)
    lost = reason == "lost_to_follow_up"
    days = np.where(lost, np.round(rng.uniform(30, 400, m)), days).astype(np.int64)
    dead = (rng.random(m) < 0.7) & ~lost
    is_rt = (base["rt"] == "Yes").to_numpy()
    age = base["age"].to_numpy()
    age = np.where(reason == "age", np.where(rng.random(m) < 0.4, rng.integers(16, 18, m), rng.integers(81, 88, m)),
                   age)
    ihc, fish = _her2_tests(rng, m, reason != "her2_negative")
    agents = _anti_her2(rng, base)
    if (reason == "no_anti_her2").any():
        for key in agents:
            agents[key] = np.where(reason == "no_anti_her2", "No", agents[key]).astype(object)
    rows = {
        "hospital": _categorical(rng, ["Hospital A", "Hospital B", "Hospital C"], [0.58, 0.26, 0.16], m),
        "sex": np.where(reason == "male", "Male", "Female").astype(object), "age": age,
        "date_metastatic_diagnosis": _iso(start - np.round(rng.uniform(5, 60, m)).astype(np.int64)),
        "date_treatment_start": _iso(start),
        "stage": np.where(reason == "not_stage_iv", "III", "IV").astype(object),
        "breast_primary_confirmed": _yes_no(reason != "not_breast_primary"),
        "pathological_type": base["pathological_type"].to_numpy(), "her2_ihc": ihc, "her2_fish": fish,
        "hr_status": base["hr_status"].to_numpy(), "ki67": base["ki67"].to_numpy(),
        "t_stage": base["t_stage"].to_numpy(), "n_stage": base["n_stage"].to_numpy(),
        **{name: base[name].to_numpy() for name in (*SITES, "met_other")},
        "measurable_disease": _yes_no(reason != "not_measurable"),
        "predicted_survival_lt_3_months": _yes_no(reason == "short_prognosis"),
        "severe_comorbidity": _yes_no(reason == "comorbidity"),
        "chemotherapy": base["chemotherapy"].to_numpy(), "hormone_therapy": base["hormone_therapy"].to_numpy(),
        **agents,
        "rt": base["rt"].to_numpy(), "rt_modality": base["rt_modality"].to_numpy(),
        "rt_site": _rt_site(rng, base),
        "date_rt_start": _iso(np.where(is_rt, start + np.minimum(np.maximum(days - 1, 0), 60), -1)),
        "vital_status": np.where(lost, "Lost to follow-up", np.where(dead, "Dead", "Alive")).astype(object),
        "date_death": _iso(np.where(dead, start + days, -1)),
        "date_last_contact": _iso(np.where(dead, -1, start + days)),
    }
    return pd.DataFrame(rows)


#: Dose (Gy) and fractions of a course by technique: schedules and their probabilities.
RT_SCHEDULES = {
    "3D-CRT": ([(30, 10), (20, 5), (8, 1), (50, 25)], [0.40, 0.25, 0.15, 0.20]),
    "IMRT": ([(50, 25), (60, 30), (45, 15), (40, 15)], [0.40, 0.20, 0.20, 0.20]),
    "SBRT": ([(24, 3), (30, 5), (35, 5), (20, 1)], [0.30, 0.30, 0.20, 0.20]),
}
#: Later radiotherapy courses: P(at least one more course), P(a third | a second), and the days from the
#: end of one course to the start of the next (uniform). Courses that would start after death or last
#: contact are not given.
LATER_COURSES = {"p_second": 0.30, "p_third": 0.35, "gap_days": (30, 540)}
RT_SITES = ["Brain", "Bone", "Breast/chest wall", "Lymph nodes", "Lung", "Liver"]


def rt_courses(export: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The radiotherapy system's export: one row per course of every patient with radiotherapy.

    Course 1 is the export's own radiotherapy: its start is ``date_rt_start``, its technique
    ``rt_modality`` and its site ``rt_site``, so a study deriving the first course from this table gets
    the export's columns back. Some patients have a second and third course after the first (other
    sites, techniques drawn as for the first), each starting 30-540 days after the previous one ended
    and before death or last contact. Dose and fractions follow the technique (:data:`RT_SCHEDULES`);
    a course ends after its fractions (5 a week; SBRT every other day), or at death or last contact if
    that comes first. Everything here draws from its own stream, so the export is unchanged by it.

    Parameters
    ----------
    export : DataFrame
        :func:`generate`'s export.
    rng : Generator
        The ``courses`` stream.

    Returns
    -------
    DataFrame
        ``patient_id, course, rt_start, rt_end, modality, site, dose_gy, fractions``, ordered by
        patient and course; dates as ``YYYY-MM-DD``.
    """
    treated = export[export["rt"] == "Yes"]
    n = len(treated)
    epoch = np.datetime64("1970-01-01", "D")

    def day(col):
        return (pd.to_datetime(treated[col]).to_numpy().astype("datetime64[D]") - epoch).astype(np.int64)

    start1 = day("date_rt_start")
    end_fu = np.where(treated["date_death"].notna(), day("date_death").clip(min=0),
                      day("date_last_contact").clip(min=0)) if n else np.zeros(0, np.int64)
    # Draws in a fixed order and fixed sizes (n per draw), whatever the patients' histories.
    schedule_u = rng.random((3, n))
    more_u = rng.random((2, n))
    gaps = np.round(rng.uniform(*LATER_COURSES["gap_days"], (2, n))).astype(np.int64)
    modalities = np.stack([np.asarray(treated["rt_modality"], dtype=object),
                           *(_categorical(rng, MODALITIES, MODALITY_P, n) for _ in range(2))])
    sites = np.stack([np.asarray(treated["rt_site"], dtype=object),
                      *(_categorical(rng, RT_SITES, [0.3, 0.3, 0.15, 0.1, 0.1, 0.05], n) for _ in range(2))])
    given = np.stack([np.ones(n, bool), more_u[0] < LATER_COURSES["p_second"],
                      (more_u[0] < LATER_COURSES["p_second"]) & (more_u[1] < LATER_COURSES["p_third"])])
    dose = np.zeros((3, n), np.int64)
    fractions = np.zeros((3, n), np.int64)
    for name, (plans, p) in RT_SCHEDULES.items():  # three techniques, not a loop over patients
        cdf = np.cumsum(p) / np.sum(p)
        pick = np.minimum(np.searchsorted(cdf, schedule_u, side="right"), len(plans) - 1)
        use = modalities == name
        dose[use] = np.asarray([d for d, _ in plans])[pick[use]]
        fractions[use] = np.asarray([f for _, f in plans])[pick[use]]
    spread = np.where(modalities == "SBRT", 2 * (fractions - 1), fractions - 1 + 2 * ((fractions - 1) // 5))
    starts = np.zeros((3, n), np.int64)
    ends = np.zeros((3, n), np.int64)
    starts[0] = start1
    for k in range(3):  # courses 1-3, each vectorised over patients
        if k:
            starts[k] = ends[k - 1] + gaps[k - 1]
            given[k] &= given[k - 1] & (starts[k] < end_fu)
        ends[k] = np.minimum(starts[k] + spread[k], np.maximum(end_fu, starts[k]))
    course, patient = np.nonzero(given)
    order = np.lexsort((course, patient))
    course, patient = course[order], patient[order]
    return pd.DataFrame({
        "patient_id": treated["patient_id"].to_numpy()[patient],
        "course": course + 1,
        "rt_start": _iso(starts[course, patient]),
        "rt_end": _iso(ends[course, patient]),
        "modality": modalities[course, patient],
        "site": sites[course, patient],
        "dose_gy": dose[course, patient],
        "fractions": fractions[course, patient],
    })


def _finish(analysed: pd.DataFrame, excluded: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Pseudonymous ids in row order, the data cut-off column. The analysed patients keep their order
    (the one the generator matched them in); the excluded ones are spread among them at random."""
    n = len(analysed) + len(excluded)
    digits = max(6, len(str(10 * n)))
    numbers = np.sort(rng.choice(10 ** digits - 1, size=n, replace=False) + 1)
    is_excluded = np.zeros(n, bool)
    is_excluded[rng.choice(n, size=len(excluded), replace=False)] = True
    frame = pd.concat([analysed, excluded], ignore_index=True)
    position = np.empty(n, np.int64)
    position[:len(analysed)] = np.flatnonzero(~is_excluded)
    position[len(analysed):] = np.flatnonzero(is_excluded)
    frame = frame.iloc[np.argsort(position)].reset_index(drop=True)
    frame.insert(0, "patient_id", np.char.add("HX", np.char.zfill(numbers.astype(str), digits)).astype(object))
    frame["date_data_cutoff"] = CUTOFF.isoformat()
    return frame


# ================================================================================================
# 6. Conditioning on the published outcome results
# ================================================================================================

def load_permutation() -> np.ndarray:
    """The permutation of step 6 (:data:`PERMUTATION_FILE`): patient k takes outcome ``perm[k]`` of
    the model's outcomes (default seed and size)."""
    import json

    stored = json.loads(PERMUTATION_FILE.read_text(encoding="utf-8"))
    perm = np.asarray(stored["permutation"], dtype=np.int64)
    if stored["n"] != N_PAPER or stored["seed"] != DEFAULT_SEED or not np.array_equal(np.sort(perm), np.arange(N_PAPER)):
        raise ValueError(f"{PERMUTATION_FILE.name} is not a permutation of the default cohort's {N_PAPER} outcomes")
    return perm


def condition_outcomes(cohort: pd.DataFrame, outcome: pd.DataFrame, iterations: int = ANNEALING["iterations"],
                       temperatures: tuple[float, float] = ANNEALING["temperatures"], seed: int = ANNEALING["seed"],
                       verbose: bool = False) -> np.ndarray:
    """Step 6: reassign the model's outcomes among the patients until the published statistics hold.

    Simulated annealing over permutations: each iteration proposes to swap the outcomes (follow-up,
    death indicator, potential follow-up) of two patients and accepts the swap if it lowers the misfit
    (:func:`_penalties` of :data:`TARGETS` and :data:`BOUNDS`) or, with the Metropolis probability,
    even if it does not. A swap between a matched and an unmatched patient is proposed only between two
    deaths or two survivors, so the deaths (344 overall, 188 after matching) stay the paper's; the
    outcomes themselves never change, only who has which. Like step 2 this conditions the draw on the
    published summaries; it is what places the subgroup, modality and Cox results, which the model's
    effects reach only roughly. The multivariable Cox model (:data:`MULTIVARIABLE`) is fitted only for
    swaps the other statistics would accept, which keeps the search fast.

    Returns
    -------
    ndarray
        The best permutation seen: patient k takes outcome ``perm[k]``.
    """
    arrays = _CohortArrays.of(cohort)
    days, dead = outcome["days"].to_numpy(), outcome["dead"].to_numpy()
    rng = np.random.default_rng(seed)
    perm = np.arange(len(cohort))

    def misfit(p: np.ndarray) -> float:
        return float(_penalties(_residuals(fast_statistics(arrays, {"days": days[p], "dead": dead[p]}))).sum())

    multivariable = _multivariable_penalty(cohort, arrays, days, dead)
    current = misfit(perm) + multivariable(perm)
    best = (current, perm.copy())
    first, last = temperatures
    for it in range(iterations):
        i, j = rng.choice(perm.size, 2, replace=False)
        if arrays.matched[i] != arrays.matched[j] and dead[perm[i]] != dead[perm[j]]:
            continue
        perm[[i, j]] = perm[[j, i]]
        temperature = first * (last / first) ** (it / iterations)
        # Metropolis: accept when the misfit rises by less than -T log U (always when it falls)
        threshold = current - temperature * np.log(1.0 - rng.random())
        trial = misfit(perm)
        if trial < threshold:
            trial += multivariable(perm)
        if trial < threshold:
            current = trial
            if trial < best[0]:
                best = (trial, perm.copy())
        else:
            perm[[i, j]] = perm[[j, i]]
        if verbose and it % 2000 == 0:
            print(f"annealing {it}: misfit {current:.2f} (best {best[0]:.2f})", flush=True)
    return best[1]


def _multivariable_penalty(cohort: pd.DataFrame, arrays: "_CohortArrays", days: np.ndarray, dead: np.ndarray):
    """A function of a permutation: the :data:`MULTIVARIABLE` hinges of the study's multivariable
    Breslow Cox model after matching (radiotherapy and the matching variables)."""
    import warnings

    from mbcrt.errors import StatisticalWarning
    from mbcrt.stats import cox
    from mbcrt.stats.design import design_matrix

    X = design_matrix(cohort[arrays.matched], MATCHING["covariates"], MATCHING["categorical"], MATCHING["levels"])
    X.insert(0, "rt", arrays.rt[arrays.matched].astype(float))
    named = np.isin(X.columns, MULTIVARIABLE["named"])
    sign = np.where(X.columns == "rt", -1.0, 1.0)  # radiotherapy protects, brain metastasis harms

    def penalty(perm: np.ndarray) -> float:
        rows = perm[arrays.matched]
        with warnings.catch_warnings():  # the study's model has 23 terms for 188 deaths, as the paper's
            warnings.simplefilter("ignore", StatisticalWarning)
            z = cox.fit_cox(X, days[rows] / DAYS_PER_MONTH, dead[rows], ties="breslow").summary["z"].to_numpy()
        miss = np.where(named, MULTIVARIABLE["named_above"] - sign * z, np.abs(z) - MULTIVARIABLE["others_below"])
        return float(((np.maximum(miss, 0.0) / MULTIVARIABLE["scale"]) ** 2).sum())

    return penalty


def _penalties(residuals: np.ndarray) -> np.ndarray:
    """Squared residuals plus a steep penalty on any :data:`TARGETS` residual beyond :data:`WALL`
    scales (a scale is about half the published tolerance)."""
    total = residuals ** 2
    total[:len(TARGETS)] += 100.0 * np.maximum(np.abs(residuals[:len(TARGETS)]) - WALL, 0.0) ** 2
    return total


# ================================================================================================
# 7. Calibration (run by a developer; its results are FITTED and PERMUTATION_FILE)
# ================================================================================================

def paper_statistics(cohort: pd.DataFrame, outcome: pd.DataFrame) -> dict[str, float]:
    """The statistics the paper reports, computed with the package's own functions as the study does.

    Kaplan-Meier with SPSS's symmetric median interval (``*_se`` is its half-width / 1.96),
    1/3/5-year survival, reverse-KM follow-up (``fu_*_se`` from Collett's SE, as for a median),
    log-rank chi-square, Breslow Cox after matching. Keys as in :func:`fast_statistics`, plus
    ``cox_multi_<term>_z`` of the multivariable model and ``cox_multi_max_other_abs_z`` (largest |z|
    of the terms other than radiotherapy and brain metastasis).
    """
    import warnings

    from mbcrt.errors import StatisticalWarning
    from mbcrt.stats import cox, survival
    from mbcrt.stats.design import design_matrix

    months = outcome["days"].to_numpy() / DAYS_PER_MONTH
    dead = outcome["dead"].to_numpy()
    is_rt = (cohort["rt"] == "Yes").to_numpy()
    matched = (cohort["pair_id"] > 0).to_numpy()
    out: dict[str, float] = {}

    def km(rows):
        return survival.kaplan_meier(months[rows], dead[rows], median_ci="symmetric")

    for cohort_name, rows in (("all", np.ones_like(matched)), ("matched", matched)):
        out[f"deaths_{cohort_name}"] = float(dead[rows].sum())
        fu = survival.median_followup(months[rows], dead[rows])
        out[f"fu_{cohort_name}_median"] = fu.median
        out[f"fu_{cohort_name}_se"] = survival.collett_median_se(fu.table, fu.median)
        for arm, arm_rows in (("rt", is_rt), ("control", ~is_rt)):
            fit = km(rows & arm_rows)
            key = f"{cohort_name}_{arm}"
            out[f"{key}_median"] = fit.median
            out[f"{key}_se"] = (fit.median_upper - fit.median) / 1.959963984540054
            for year, surv in zip((1, 3, 5), fit.survival_at([12.0, 36.0, 60.0])["surv"]):
                out[f"{key}_s{year}"] = float(surv)
    for site in SITES:
        has = (cohort[site] == "Yes").to_numpy()
        for arm, arm_rows in (("rt", is_rt), ("control", ~is_rt)):
            out[f"{site}_{arm}_median"] = km(has & arm_rows).median
        out[f"{site}_chisq"] = survival.logrank_test(months[has], dead[has], is_rt[has]).chisq
    modality = cohort["rt_modality"].to_numpy()
    for name in MODALITIES:
        out[f"{name}_median"] = km(modality == name).median
    out["modality_chisq"] = survival.logrank_test(months[is_rt], dead[is_rt], modality[is_rt]).chisq
    sub = cohort[matched]
    t_m, e_m = months[matched], dead[matched]
    terms = [("rt", pd.DataFrame({"rt": is_rt[matched].astype(float)}))]
    terms += [(c, design_matrix(sub, [c], MATCHING["categorical"], MATCHING["levels"])) for c in (*SITES, "met_other")]
    for term, X in terms:
        fit = cox.fit_cox(X, t_m, e_m, ties="breslow")
        out[f"cox_uni_{term}_coef"] = float(fit.params.iloc[0])
        out[f"cox_uni_{term}_z"] = float(fit.summary["z"].iloc[0])
        out[f"cox_uni_{term}_abs_z"] = abs(out[f"cox_uni_{term}_z"])
    X = design_matrix(sub, MATCHING["covariates"], MATCHING["categorical"], MATCHING["levels"])
    X.insert(0, "rt", is_rt[matched].astype(float))
    with warnings.catch_warnings():  # 23 terms for 188 deaths, as the paper's model (the report warns)
        warnings.simplefilter("ignore", StatisticalWarning)
        z = cox.fit_cox(X, t_m, e_m, ties="breslow").summary["z"]
    out["cox_multi_rt_z"] = float(z["rt"])
    for site in (*SITES, "met_other"):
        out[f"cox_multi_{site}_z"] = float(z[f"{site}Yes"])
    out["cox_multi_max_other_abs_z"] = float(z.drop(["rt", "met_brainYes"]).abs().max())
    return out


#: What :func:`calibrate` fits to: (statistic, target, scale). A scale is about half the tolerance of
#: the published.yaml check, so a fitted value off by up to two scales still passes.
#: Median CIs are SPSS's symmetric ones, so a CI gives the SE of the median: (upper - lower) / 3.92.
#: The pre-matching RT interval 48.8-63.8 is not symmetric about 51.7 (the paper is inconsistent), so
#: it gives no SE to fit (see published.yaml).
TARGETS = [
    ("matched_rt_s1", 0.932, 0.004), ("matched_rt_s3", 0.715, 0.004), ("matched_rt_s5", 0.469, 0.004),
    ("matched_rt_median", 57.2, 0.4), ("matched_rt_se", (69.8 - 44.5) / 3.92, 0.4),
    ("matched_control_s1", 0.894, 0.004), ("matched_control_s3", 0.458, 0.004),
    ("matched_control_s5", 0.222, 0.004), ("matched_control_median", 34.1, 0.4),
    ("matched_control_se", (40.6 - 27.5) / 3.92, 0.4),
    ("all_rt_s1", 0.946, 0.004), ("all_rt_s3", 0.708, 0.004), ("all_rt_s5", 0.433, 0.004),
    ("all_rt_median", 51.7, 0.4),
    ("all_control_s1", 0.839, 0.004), ("all_control_s3", 0.455, 0.004), ("all_control_s5", 0.250, 0.004),
    ("all_control_median", 33.9, 0.4), ("all_control_se", (39.9 - 27.9) / 3.92, 0.4),
    ("met_bone_rt_median", 52.9, 0.4), ("met_bone_control_median", 32.3, 0.4),
    ("met_brain_rt_median", 44.0, 0.4), ("met_brain_control_median", 20.8, 0.4),
    ("met_liver_rt_median", 54.7, 0.4), ("met_liver_control_median", 31.7, 0.4),
    ("met_lung_rt_median", 50.4, 0.4), ("met_lung_control_median", 34.0, 0.4),
    ("3D-CRT_median", 43.8, 0.4), ("IMRT_median", 54.7, 0.4), ("SBRT_median", 57.2, 0.4),
    # log-rank p = 0.00087 (1 df) and p = 0.076 (2 df), compared on the log chi-square scale
    ("met_brain_chisq", float(stats.chi2.isf(0.00087, 1)), 0.03),
    ("modality_chisq", float(stats.chi2.isf(0.076, 2)), 0.06),
    # univariable Cox after matching: brain 1.647; RT 0.484, the geometric mean of the published
    # CI 0.361-0.650 (the published point estimate 0.361 sits on its own lower bound)
    ("cox_uni_met_brain_coef", float(np.log(1.647)), 0.015), ("cox_uni_rt_coef", float(np.log(0.484)), 0.04),
    # follow-up (reverse Kaplan-Meier median, SE from the symmetric CI) and deaths
    ("fu_all_median", 64.9, 0.3), ("fu_all_se", (67.0 - 62.9) / 3.92, 0.2),
    ("fu_matched_median", 72.1, 0.3), ("fu_matched_se", (76.6 - 67.7) / 3.92, 0.3),
    ("deaths_all", 344.0, 0.5), ("deaths_matched", 188.0, 0.5),
]
#: One-sided goals (statistic, bound, scale, side): log-rank chi-square for "p < 0.0001" with a margin,
#: and the metastatic sites the paper does not call prognostic kept well inside |z| < 1.96.
BOUNDS = [
    ("met_bone_chisq", 15.7, 0.3, "above"), ("met_liver_chisq", 15.7, 0.3, "above"),
    ("met_lung_chisq", 15.7, 0.3, "above"),
    *[(f"cox_uni_{s}_abs_z", 1.6, 0.1, "below") for s in ("met_bone", "met_liver", "met_lung", "met_other")],
]
RIDGE = 1.0  # a weak pull of every log hazard ratio towards 0 (there are more effects than targets)
WALL = 2.3  # residuals beyond this many scales (2.5 = the published tolerance) are steeply penalised
ROUGHNESS = 0.5  # a pull of each group curve's hazard towards its neighbours' (log hazard ratio scale)
FOLLOW_UP_RANGE = ((CUTOFF - ACCRUAL[1]).days / DAYS_PER_MONTH, (CUTOFF - ACCRUAL[0]).days / DAYS_PER_MONTH)
_CENSORING_P = [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0]
_PER_GROUP = 7  # parameters per group: 3 landmark logits, median, 2 log half-spreads, log tail


def _logit(p):
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _anchor_gaps(s: np.ndarray, tail: float) -> dict[float, tuple[float, float]]:
    """For each S-anchor level, the times between which the fixed-time anchors leave room for it."""
    fixed = [(0.0, 1.0), (12.0, s[0]), (36.0, s[1]), (60.0, s[2]), (120.0, _s120(s[1], s[2], tail)),
             (360.0, 0.0)]
    return {level: (max(ft for ft, fs in fixed if fs > level), min(ft for ft, fs in fixed if fs < level))
            for level in (0.55, 0.50, 0.45)}


def _in_gap(low: float, high: float, z: float) -> float:
    return low + (high - low) * (0.005 + 0.99 * _sigmoid(z))


def _gap_position(low: float, high: float, t: float) -> float:
    return float(_logit(((t - low) / (high - low) - 0.005) / 0.99))


def _to_vector(params: dict) -> np.ndarray:
    """The fitted parameters as one unconstrained vector (inverse: :func:`_from_vector`).

    Per group: logits of S(12), S(36)/S(12), S(60)/S(36); the positions (logits) of the median, then
    of the 0.55 and 0.45 crossings, inside the gaps the fixed-time anchors leave them; the logit of
    the tail factor on (0.25, 3.25). Then every effect's log hazard ratios. Then per part the logs of
    the increments of -log(1 - share of the follow-up range) from knot to knot."""
    x = []
    for name in GROUPS:
        g = params["groups"][name]
        s = np.array([g["s12"], g["s36"], g["s60"]])
        x += list(_logit(s / np.r_[1.0, s[:2]]))
        gaps = _anchor_gaps(s, g["tail"])
        x.append(_gap_position(*gaps[0.50], g["t50"]))
        x.append(_gap_position(gaps[0.55][0], min(gaps[0.55][1], g["t50"]), g["t55"]))
        x.append(_gap_position(max(gaps[0.45][0], g["t50"]), gaps[0.45][1], g["t45"]))
        x.append(float(_logit((g["tail"] - 0.25) / 3.0)))
    for arm in ("rt", "control"):
        for value in params["effects"][arm].values():
            x += list(value)  # one log hazard ratio per period
    low, high = FOLLOW_UP_RANGE
    for part in ("matched", "unmatched"):
        share = (np.asarray(params["censoring"][part]["months"][1:-1]) - low) / (high - low)
        x += list(np.log(np.diff(np.r_[0.0, -np.log1p(-share)])))
    return np.array(x, dtype=float)


def _from_vector(x: np.ndarray, template: dict) -> dict:
    """Parameters from :func:`_to_vector`'s vector; every vector gives decreasing curves and
    increasing follow-up knots, smoothly (no clipping, so a search never stalls on a flat stretch)."""
    out: dict = {"groups": {}, "effects": {}, "censoring": {}, "own_draw": template.get("own_draw", 0)}
    k = 0
    for name in GROUPS:
        s = np.cumprod(np.clip(_sigmoid(x[k:k + 3]), 0.02, 0.995))
        tail = float(0.25 + 3.0 * _sigmoid(x[k + 6]))
        gaps = _anchor_gaps(s, tail)
        t50 = _in_gap(*gaps[0.50], x[k + 3])
        t55 = _in_gap(gaps[0.55][0], min(gaps[0.55][1], t50), x[k + 4])
        t45 = _in_gap(max(gaps[0.45][0], t50), gaps[0.45][1], x[k + 5])
        out["groups"][name] = {"s12": round(float(s[0]), 6), "s36": round(float(s[1]), 6),
                               "s60": round(float(s[2]), 6), "t55": round(t55, 4), "t50": round(t50, 4),
                               "t45": round(t45, 4), "tail": round(tail, 4)}
        k += _PER_GROUP
    for arm in ("rt", "control"):
        out["effects"][arm] = {}
        for effect in template["effects"][arm]:
            out["effects"][arm][effect] = [round(float(v), 4) for v in x[k:k + _N_PIECES]]
            k += _N_PIECES
    low, high = FOLLOW_UP_RANGE
    n_knots = len(_CENSORING_P) - 2
    for part in ("matched", "unmatched"):  # knot j depends on the first j numbers only
        knots = low + (high - low) * -np.expm1(-np.cumsum(np.exp(x[k:k + n_knots])))
        out["censoring"][part] = {"p": list(_CENSORING_P),
                                  "months": [round(float(v), 4) for v in (low, *knots, high)]}
        k += n_knots
    return out


def _residuals(stat: dict, smooth: bool = False) -> np.ndarray:
    """Scaled misfits of :data:`TARGETS` (chi-squares on the log scale) and hinges of :data:`BOUNDS`.

    With ``smooth`` a median is judged by the survival at the published median (0.5 when right;
    scale 0.005, about a month's change): unlike the median itself, this varies smoothly where the
    curve is flat, which is where wide median CIs put the medians."""
    out = []
    for key, target, scale in TARGETS:
        value = stat[key]
        if smooth and key.endswith("_median"):
            out.append((stat[key + "_s_at_target"] - 0.5) / 0.005)
            continue
        if key.endswith("chisq"):
            value, target = np.log(max(value, 1e-6)), np.log(target)
        out.append((value - target) / scale if np.isfinite(value) else 50.0)
    for key, bound, scale, side in BOUNDS:
        miss = bound - stat[key] if side == "above" else stat[key] - bound
        out.append(max(miss, 0.0) / scale)
    return np.array(out)


class _Evaluator:
    """The statistics and residuals of a parameter vector on one cohort with fixed uniforms.

    With ``replicates`` R > 1 the cohort is repeated (fresh uniforms for each copy) and the statistics
    are rescaled to one cohort's size (chi-square / R, z / sqrt(R), SE * sqrt(R), deaths / R): a smooth
    stand-in for the expected statistics, used to find a good start and a Jacobian.
    """

    def __init__(self, cohort: pd.DataFrame, uniforms: dict, replicates: int = 1):
        self.cohort, self.uniforms, self.replicates = cohort, uniforms, replicates
        self.arrays = _CohortArrays.of(cohort)
        self.spans = _group_rows(cohort)

    @classmethod
    def replicated(cls, cohort: pd.DataFrame, replicates: int, seed: int) -> "_Evaluator":
        big = pd.concat([cohort] * replicates, ignore_index=True)
        rng = np.random.default_rng(seed)
        return cls(big, outcome_uniforms(big, rng, rng), replicates)

    def statistics(self, x: np.ndarray) -> dict:
        params = _from_vector(x, FITTED)
        stat = fast_statistics(self.arrays, outcome_from_uniforms(self.cohort, self.uniforms, params))
        r = self.replicates
        for key in stat:
            if key.endswith("chisq") or key.startswith("deaths"):
                stat[key] /= r
            elif key.endswith("_z"):
                stat[key] /= np.sqrt(r)
            elif key.endswith("_se"):
                stat[key] *= np.sqrt(r)
        return stat

    def residuals(self, x: np.ndarray, block: str | None = None) -> np.ndarray:
        """All residuals (targets, bounds, ridge, roughness), or those of one ``block`` (:func:`_blocks`)."""
        start = _PER_GROUP * len(GROUPS)
        full = np.concatenate([_residuals(self.statistics(x), smooth=self.replicates > 1),
                               x[start:start + _n_effects()] / RIDGE, _roughness(x)])
        return full if block is None else full[_blocks(x.size)[block][1]]


_N_PIECES = len(EFFECT_PIECES) + 1
_N_ROUGHNESS = 6 * len(GROUPS)  # 8 anchor points per curve: 7 segments, 6 neighbouring pairs


def _roughness(x: np.ndarray) -> np.ndarray:
    """Log ratios of neighbouring segment hazards of each group curve, over :data:`ROUGHNESS`: keeps
    the curves plausible where no statistic pins them (e.g. no one-week cliff in a group's curve)."""
    params = _from_vector(x, FITTED)
    out = []
    for name in GROUPS:
        t, log_s = anchor_curve(params["groups"][name])
        hazard = -np.diff(log_s) / np.diff(t)
        out.append(np.diff(np.log(hazard)) / ROUGHNESS)
    return np.concatenate(out)


def _n_effects() -> int:
    return sum(len(v) * _N_PIECES for v in FITTED["effects"].values())


def _is_arm_level(key: str) -> bool:
    """Statistics of whole arms (before or after matching), follow-up and deaths: they depend only on
    the group curves and follow-up knots, not on the patient effects (see :func:`outcome_from_uniforms`)."""
    return key.startswith(("matched_", "all_", "fu_", "deaths_")) or key == "cox_uni_rt_coef"


def _blocks(n_params: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Parameter and residual masks of the two blocks: "arm" (group curves and follow-up knots, fitted
    to the arm-level statistics) and "effects" (patient effects, fitted to the subgroup, modality and
    Cox statistics, the bounds and the ridge)."""
    start = _PER_GROUP * len(GROUPS)
    effect_params = (np.arange(n_params) >= start) & (np.arange(n_params) < start + _n_effects())
    arm_residuals = np.zeros(len(TARGETS) + len(BOUNDS) + _n_effects() + _N_ROUGHNESS, bool)
    arm_residuals[[i for i, (key, _, _) in enumerate(TARGETS) if _is_arm_level(key)]] = True
    arm_residuals[-_N_ROUGHNESS:] = True
    return {"arm": (~effect_params, arm_residuals), "effects": (effect_params, ~arm_residuals)}


def _steps(x: np.ndarray) -> np.ndarray:
    """Finite-difference steps per parameter (logits, months, log-widths, log hazard ratios, log knots)."""
    n_knots = 2 * (len(_CENSORING_P) - 2)
    return np.concatenate([np.tile([0.05, 0.05, 0.05, 0.5, 0.05, 0.05, 0.05], len(GROUPS)),
                           np.full(_n_effects(), 0.04), np.full(n_knots, 0.05)])


def _levenberg_marquardt(evaluator: _Evaluator, x: np.ndarray, iterations: int, block: str | None = None,
                         verbose: bool = False) -> np.ndarray:
    """Levenberg-Marquardt on the (replicated, nearly smooth) residuals of ``block`` (all if None),
    over its parameters, with a central-difference Jacobian of :func:`_steps`-sized steps (large
    enough to average out the residuals' small jumps). Each iteration tries three dampings and three
    step lengths and keeps the best; stops when none improves."""
    params = np.arange(x.size) if block is None else np.flatnonzero(_blocks(x.size)[block][0])
    h = _steps(x)
    r = evaluator.residuals(x, block)
    cost, damping = float(r @ r), 1e-2
    for it in range(iterations):
        columns = []
        for j in params:
            step = np.zeros(x.size)
            step[j] = h[j]
            columns.append((evaluator.residuals(x + step, block) - evaluator.residuals(x - step, block)) / (2 * h[j]))
        jac = np.stack(columns, axis=1)
        normal, gradient = jac.T @ jac, jac.T @ r
        best = (cost, None, damping)
        for trial_damping in (damping / 10, damping, damping * 10):
            dx = np.zeros(x.size)
            dx[params] = np.linalg.solve(normal + trial_damping * np.diag(np.diag(normal) + 1e-6), -gradient)
            for length in (1.0, 0.5, 0.25):
                r_trial = evaluator.residuals(x + length * dx, block)
                if r_trial @ r_trial < best[0]:
                    best = (float(r_trial @ r_trial), x + length * dx, trial_damping)
        if best[1] is None:
            damping *= 10
            if damping > 1e4:
                break
            continue
        cost, x, damping = best
        r = evaluator.residuals(x, block)
        if verbose:
            print(f"Levenberg-Marquardt {it}: cost {cost / 2:.2f} (damping {damping:.0e})", flush=True)
    return x


def _draw_objective(evaluator: _Evaluator, x: np.ndarray, block: str | None = None) -> float:
    """:func:`_penalties` of the residuals (of one block), summed."""
    total = _penalties(evaluator.residuals(x))
    if block is not None:
        total = total[_blocks(x.size)[block][1]]
    return float(total.sum())


def _draw_search(evaluator: _Evaluator, x: np.ndarray, block: str | None, sweeps: int, scale: float = 1.0,
                 random_moves: int = 400, verbose: bool = False) -> np.ndarray:
    """Descent on one draw's statistics, which jump as the parameters move: each sweep tries every
    parameter of the block (all if None) in turn by +-1, +-2, +-0.5 steps (``scale`` times
    :func:`_steps`), then ``random_moves`` moves of two of them at once, and keeps any improvement; the steps halve after a sweep without one. After every move the follow-up is
    shifted so the death counts stay the paper's (:func:`_exact_deaths`)."""
    rng = np.random.default_rng(0)
    params = np.arange(x.size) if block is None else np.flatnonzero(_blocks(x.size)[block][0])
    steps = scale * _steps(x)
    moves_deaths = block != "effects"
    x = _exact_deaths(evaluator, x) if moves_deaths else x
    cost = _draw_objective(evaluator, x, block)
    for sweep in range(sweeps):
        improved = False
        for j in rng.permutation(params):
            for factor in (1.0, -1.0, 2.0, -2.0, 0.5, -0.5):
                trial = x.copy()
                trial[j] += factor * steps[j]
                if moves_deaths:
                    trial = _exact_deaths(evaluator, trial)
                trial_cost = _draw_objective(evaluator, trial, block)
                if trial_cost < cost:
                    x, cost, improved = trial, trial_cost, True
                    break
        for _ in range(random_moves):  # moves of two parameters at once get out of one-at-a-time traps
            trial = x.copy()
            pair = rng.choice(params, size=2, replace=False)
            trial[pair] += rng.choice([-1.0, -0.5, 0.5, 1.0], size=2) * steps[pair]
            if moves_deaths:
                trial = _exact_deaths(evaluator, trial)
            trial_cost = _draw_objective(evaluator, trial, block)
            if trial_cost < cost:
                x, cost, improved = trial, trial_cost, True
        if verbose:
            print(f"draw search ({block or 'all'}) sweep {sweep}: cost {cost:.2f}", flush=True)
        if not improved:
            steps = steps / 2
            if steps[params].max() < 1e-3 * scale:
                break
    return x


def _death_counts(evaluator: _Evaluator, x: np.ndarray) -> tuple[int, int]:
    """Deaths after matching and overall: slot by slot, so without ranking patients (fast)."""
    params = _from_vector(x, FITTED)
    counts = {"matched": 0, "unmatched": 0}
    for name, rows, span in evaluator.spans:
        part = "matched" if name.startswith("matched") else "unmatched"
        knots = params["censoring"][part]
        death = np.maximum(1, np.round(_slot_times(params, name, evaluator.uniforms["jitter"][span]) * DAYS_PER_MONTH))
        censor = np.round(np.interp(evaluator.uniforms["censor"][span], knots["p"], knots["months"]) * DAYS_PER_MONTH)
        counts[part] += int((death <= censor).sum())
    return counts["matched"], counts["matched"] + counts["unmatched"]


def _exact_deaths(evaluator: _Evaluator, x: np.ndarray) -> np.ndarray:
    """Move each part's last interior follow-up knot (80%) until the death counts are the paper's 188
    after matching and 344 overall. Deaths rise with follow-up, so bisection finds it; only follow-up
    times beyond the 60% knot (about six years) move, so the curves' first five years do not."""
    x = x.copy()
    n_knots = len(_CENSORING_P) - 2
    for index, which, goal in ((x.size - n_knots - 1, 0, 188 * evaluator.replicates),
                               (x.size - 1, 1, 344 * evaluator.replicates)):
        low, high = x[index] - 4.0, x[index] + 4.0
        for _ in range(50):
            x[index] = (low + high) / 2
            deaths = _death_counts(evaluator, x)[which]
            if deaths == goal:
                break
            low, high = (x[index], high) if deaths < goal else (low, x[index])
    return x


def calibrate(seed: int = DEFAULT_SEED, iterations: int = 0, replicates: int = 20, sweeps: int = 8,
              start: dict | None = None, verbose: bool = True) -> dict:
    """Fit :data:`FITTED` and :data:`PERMUTATION_FILE` to the paper (module docstring, step 7).

    1. If ``iterations`` > 0: least squares (:func:`_levenberg_marquardt`) on a replicated cohort
       (``replicates`` copies with fresh uniforms), where the statistics are nearly smooth in the
       parameters, starting from ``start`` (default :data:`FITTED`).
    2. On the default draw, whose statistics jump as the parameters move: derivative-free
       :func:`_draw_search` (``sweeps`` sweeps at most) of the group curves and follow-up knots, the
       death counts kept exact.
    3. :func:`condition_outcomes` on the resulting outcomes; the permutation is written to
       :data:`PERMUTATION_FILE`.

    The shipped :data:`FITTED` is ``calibrate()``'s from the previous :data:`FITTED` (steps 2-3 only,
    about 15 minutes); the patient effects and ``own_draw`` are kept from that earlier fit.

    Returns
    -------
    dict
        The new parameters, in :data:`FITTED`'s layout (paste them over it).
    """
    import json
    import pprint
    import warnings

    rng = _streams(seed)
    cohort = conditioned_baseline(rng["baseline"], N_PAPER)
    params = start or FITTED
    uniforms = outcome_uniforms(cohort, rng["survival"], rng["censoring"], own_draw=params["own_draw"])
    sample = _Evaluator(cohort, uniforms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty or degenerate subgroups while the search explores
        x = _to_vector(params)
        if iterations:
            smooth = _Evaluator.replicated(cohort, replicates, seed + 1)
            x = _levenberg_marquardt(smooth, x, iterations, verbose=verbose)
        x = _draw_search(sample, x, "arm", sweeps, verbose=verbose)
        params = {**_from_vector(x, FITTED), "own_draw": params["own_draw"]}
        perm = condition_outcomes(cohort, outcome_from_uniforms(cohort, uniforms, params), verbose=verbose)
    PERMUTATION_FILE.write_text(json.dumps({
        "description": "mbcrt.synth.her2_rt step 6: patient k takes outcome permutation[k] of the model's outcomes",
        "n": N_PAPER, "seed": seed, "permutation": perm.tolist()}) + "\n", encoding="utf-8")
    if verbose:
        pprint.pprint(params, sort_dicts=False, width=110)
    return params


# ---- fast statistics for the calibration loop ---------------------------------------------------
# The calibration evaluates the paper's statistics some hundred thousand times, so it uses these
# plain-numpy versions of the rules mbcrt.stats.survival implements after R (median = first time
# S <= 0.5, Greenwood SE, Collett's SE of the median) and a one-covariate Breslow Cox model.
# paper_statistics() recomputes everything with the package's own functions to check the result.

class _CohortArrays:
    """Boolean masks of the cohort that the statistics need, computed once."""

    @classmethod
    def of(cls, cohort: pd.DataFrame) -> "_CohortArrays":
        self = cls()
        self.rt = (cohort["rt"] == "Yes").to_numpy()
        self.matched = (cohort["pair_id"] > 0).to_numpy()
        self.sites = {s: (cohort[s] == "Yes").to_numpy() for s in (*SITES, "met_other")}
        self.modality = {m: (cohort["rt_modality"] == m).to_numpy() for m in MODALITIES}
        self.modality_code = sum(i * self.modality[m] for i, m in enumerate(MODALITIES))
        return self


def _km(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event times, S(t) after each, Greenwood SE of S (a censoring tied with an event counts at risk)."""
    order = np.argsort(t, kind="stable")
    times, first = np.unique(t[order], return_index=True)
    deaths = np.add.reduceat(e[order], first).astype(float)
    at_risk = (t.size - first).astype(float)
    has = deaths > 0
    times, deaths, at_risk = times[has], deaths[has], at_risk[has]
    surv = np.cumprod(1 - deaths / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):  # no SE after the last patient at risk dies
        greenwood = np.cumsum(deaths / (at_risk * (at_risk - deaths)))
        return times, surv, surv * np.sqrt(greenwood)


def _km_median(times, surv, se) -> tuple[float, float]:
    """Median (R's rule) and Collett's SE of it (NaN when not reached)."""
    tol = 1.5e-8
    below = np.flatnonzero(surv < 0.5 + tol)
    if below.size == 0:
        return np.nan, np.nan
    f = below[0]
    median = (times[f] + times[f + 1]) / 2 if abs(surv[f] - 0.5) < tol and f + 1 < surv.size else times[f]
    tt, ss = np.r_[0.0, times], np.r_[1.0, surv]
    upper = np.flatnonzero(ss >= 0.55 - tol)[-1]
    lower = np.flatnonzero(ss <= 0.45 + tol)
    if lower.size == 0:
        return float(median), np.nan
    density = (ss[upper] - ss[lower[0]]) / (tt[lower[0]] - tt[upper])
    return float(median), float(se[f] / density)


def _surv_at(times, surv, at) -> np.ndarray:
    k = np.searchsorted(times, at, side="right") - 1
    return np.where(k < 0, 1.0, surv[np.maximum(k, 0)])


def _logrank_chisq(t: np.ndarray, e: np.ndarray, group: np.ndarray) -> float:
    from mbcrt.stats import survival

    return float(survival.logrank_test(t, e, group).chisq)


def _cox_one(t: np.ndarray, e: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Breslow Cox model with one binary covariate: (coefficient, Wald z)."""
    order = np.argsort(t, kind="stable")
    t, e, x = t[order], e[order].astype(float), x[order].astype(float)
    _, first = np.unique(t, return_index=True)
    deaths = np.add.reduceat(e, first)
    x_deaths = np.add.reduceat(e * x, first)
    use = deaths > 0

    def mean_and_information(beta):
        risk = np.exp(beta * x)
        s0 = np.cumsum(risk[::-1])[::-1][first][use]
        mean = np.cumsum((x * risk)[::-1])[::-1][first][use] / s0
        return mean, float((deaths[use] * (mean - mean ** 2)).sum())

    beta = 0.0
    for _ in range(30):
        mean, info = mean_and_information(beta)
        step = float((x_deaths[use] - deaths[use] * mean).sum()) / info
        beta += step
        if abs(step) < 1e-10:
            break
    return beta, beta * np.sqrt(mean_and_information(beta)[1])


def fast_statistics(a: _CohortArrays, outcome: pd.DataFrame) -> dict[str, float]:
    """:func:`paper_statistics` without the multivariable Cox model, in plain numpy (fast); for each
    median of :data:`TARGETS` also ``<key>_s_at_target``, the survival at the published median."""
    months = np.asarray(outcome["days"]) / DAYS_PER_MONTH
    dead = np.asarray(outcome["dead"])
    out: dict[str, float] = {}
    published_medians = {key: target for key, target, _ in TARGETS if key.endswith("_median")}

    def km(rows):
        return _km(months[rows], dead[rows])

    def median_of(key, curve):
        if key in published_medians:
            out[key + "_s_at_target"] = float(_surv_at(curve[0], curve[1], [published_medians[key]])[0])
        return _km_median(*curve)

    for cohort_name, rows in (("all", np.ones_like(a.matched)), ("matched", a.matched)):
        out[f"deaths_{cohort_name}"] = float(dead[rows].sum())
        out[f"fu_{cohort_name}_median"], out[f"fu_{cohort_name}_se"] = median_of(
            f"fu_{cohort_name}_median", _km(months[rows], 1 - dead[rows]))
        for arm, arm_rows in (("rt", a.rt), ("control", ~a.rt)):
            curve = km(rows & arm_rows)
            key = f"{cohort_name}_{arm}"
            out[f"{key}_median"], out[f"{key}_se"] = median_of(f"{key}_median", curve)
            for year, surv in zip((1, 3, 5), _surv_at(curve[0], curve[1], [12.0, 36.0, 60.0])):
                out[f"{key}_s{year}"] = float(surv)
    for site in SITES:
        has = a.sites[site]
        for arm, arm_rows in (("rt", a.rt), ("control", ~a.rt)):
            out[f"{site}_{arm}_median"] = median_of(f"{site}_{arm}_median", km(has & arm_rows))[0]
        out[f"{site}_chisq"] = _logrank_chisq(months[has], dead[has], a.rt[has])
    for name in MODALITIES:
        out[f"{name}_median"] = median_of(f"{name}_median", km(a.modality[name]))[0]
    out["modality_chisq"] = _logrank_chisq(months[a.rt], dead[a.rt], a.modality_code[a.rt])
    m = a.matched
    for term, x in [("rt", a.rt)] + [(s, a.sites[s]) for s in (*SITES, "met_other")]:
        coef, z = _cox_one(months[m], dead[m], x[m])
        out[f"cox_uni_{term}_coef"], out[f"cox_uni_{term}_z"] = coef, z
        out[f"cox_uni_{term}_abs_z"] = abs(z)
    return out
