"""Step 1, cohort build: what the cohort notebook shows beside the cohort itself (built in :mod:`mbcrt.study.config.cohort`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mbcrt.report import privacy
from mbcrt.steps.common import endpoints, group_column
from mbcrt.study.config import Study


def cohort_overview(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Patients and events of the primary endpoint, overall and per group (counts only)."""
    by, order = group_column(study)
    rows = [("All", np.ones(len(df), dtype=bool))] + ([(g, (df[by] == g).to_numpy()) for g in order] if by else [])
    ep = endpoints(study)[0]
    event = df["_event"].to_numpy()
    table = pd.DataFrame([{"group": g, "patients": int(m.sum()), "events": int(event[m].sum()),
                           "endpoint": ep.label} for g, m in rows])
    return privacy.suppress(table, "cohort_overview", study.min_cell_count)
