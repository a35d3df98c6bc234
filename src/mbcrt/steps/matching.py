"""Step 3, propensity score matching as the study file sets it: score, pairs, balance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mbcrt.stats.design import design_matrix
from mbcrt.study.config import Study


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
    from mbcrt.stats import matching

    from mbcrt.steps.common import complete_cases_under_imputation

    df, cc_note = complete_cases_under_imputation(study, df, "propensity score and matching")
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
    notes = [cc_note] if cc_note else []
    if res.n_unmatched_treated:
        notes.append(f"{res.n_unmatched_treated} of {res.n_treated} treated patients had no control within the "
                     f"caliper and are not in the matched cohort; the matched estimate applies to the matched "
                     f"treated patients only.")
    bad = balance[balance["smd_after"].abs() > 0.1]
    if len(bad):
        names = ", ".join(f"{r.label}{' ' + str(r.level) if r.level else ''}" for r in bad.itertuples())
        notes.append(f"Residual imbalance after matching (|SMD| > 0.1): {names}.")
    return MatchingResult(matched, res.summary.reset_index(), balance, ps, treat, res.pair_id > 0, notes)
