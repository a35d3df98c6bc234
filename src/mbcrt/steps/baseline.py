"""Step 2, baseline characteristics: Table 1 of a study's cohort.
"""

from __future__ import annotations

import pandas as pd

from mbcrt.stats.design import category_levels
from mbcrt.steps.common import group_column
from mbcrt.study.config import Study


def baseline_table(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Table 1 of ``df`` by arm (two-arm studies), by ``table1.by``, or overall."""
    from mbcrt.stats import table_one

    variables = study.table1["variables"] or study.covariates
    by, order = group_column(study)
    if by is None and study.table1["by"]:
        by = study.table1["by"]
        order = [str(v) for v in category_levels(df[by], study.levels.get(by))]
        df = df.assign(**{by: df[by].astype(str)})
    if by is None:
        by, order = "_all", ["All"]
        df = df.assign(_all="All")
    return table_one.table_one(df, group=by, variables=variables, categorical=study.categorical, levels=study.levels,
                            labels=study.labels, group_order=order, min_cell_count=study.min_cell_count)
