"""Design matrices for regression: numeric covariates as they are, categorical ones as dummies.

Dummy columns are named the way R names them (``tgradeII``: variable then level), with the
reference level (the first of ``levels``, else the first in sorted order) left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mbcrt.errors import InputError


def category_levels(values: pd.Series, levels: Sequence | None = None) -> list:
    """Levels of a categorical column: ``levels`` if given (reference first), else sorted unique values.

    Levels given but absent from the data are kept (a subgroup may be empty); values present but not
    listed are an error, since they would silently drop out of every model.
    """
    present = pd.unique(values.dropna())
    if levels is None:
        return sorted(present, key=lambda v: (str(type(v)), v))
    wanted = list(levels)
    extra = [v for v in present if v not in wanted and str(v) not in map(str, wanted)]
    if extra:
        raise InputError(f"{len(extra)} value(s) not among the declared levels {wanted}",
                         column=str(values.name))
    # Match the data's type (YAML gives strings or numbers as written).
    as_data = {str(v): v for v in present}
    return [as_data.get(str(w), w) for w in wanted]


def design_matrix(df: pd.DataFrame, covariates: Iterable[str], categorical: Iterable[str] = (),
                  levels: Mapping[str, Sequence] | None = None) -> pd.DataFrame:
    """Build the numeric design matrix (no intercept) for ``covariates``.

    Parameters
    ----------
    df : DataFrame
        The data.
    covariates : iterable of str
        Columns, in model order.
    categorical : iterable of str
        Which of them are categorical (expanded to dummies against the reference level).
    levels : mapping, optional
        Level order per categorical column; the first is the reference.

    Returns
    -------
    DataFrame
        float64 columns, same index as ``df``.
    """
    categorical = set(categorical)
    levels = dict(levels or {})
    parts = {}
    for col in covariates:
        if col not in df.columns:
            raise InputError("covariate not in the data", column=col)
        s = df[col]
        if col in categorical:
            lv = category_levels(s, levels.get(col))
            for level in lv[1:]:
                parts[f"{col}{level}"] = (s == level).to_numpy(dtype=np.float64)
        else:
            x = pd.to_numeric(s, errors="coerce")
            bad = int(x.isna().sum() - s.isna().sum())
            if bad:
                raise InputError("non-numeric values in a numeric covariate (list it under 'categorical'?)",
                                 column=col, n_rows=bad)
            parts[col] = x.to_numpy(dtype=np.float64)
    X = pd.DataFrame(parts, index=df.index)
    n_missing = int(X.isna().any(axis=1).sum())
    if n_missing:
        raise InputError("missing values in model covariates", n_rows=n_missing)
    return X


def term_of(column: str, covariates: Iterable[str]) -> str:
    """The covariate a design column comes from (longest covariate name that prefixes it)."""
    matches = [c for c in covariates if column.startswith(c)]
    return max(matches, key=len) if matches else column
