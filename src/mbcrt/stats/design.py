"""Design matrices for regression: numeric covariates as they are, categorical ones as dummies.

Dummy columns are named the way R names them (``tgradeII``: variable then level), with the
reference level (the first of ``levels``, else the first in sorted order) left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mbcrt.errors import InputError


def _levels_of(present, levels: Sequence | None, name) -> list:
    """The levels from the distinct values present (see :func:`category_levels`)."""
    if levels is None:
        return sorted(present, key=lambda v: (str(type(v)), v))
    wanted = list(levels)
    wanted_text = set(map(str, wanted))
    extra = [v for v in present if v not in wanted and str(v) not in wanted_text]
    if extra:
        raise InputError(f"{len(extra)} value(s) not among the declared levels {wanted}", column=str(name))
    # Match the data's type (YAML gives strings or numbers as written).
    as_data = {str(v): v for v in present}
    return [as_data.get(str(w), w) for w in wanted]


def category_levels(values: pd.Series, levels: Sequence | None = None) -> list:
    """Levels of a categorical column: ``levels`` if given (reference first), else sorted unique values.

    Levels given but absent from the data are kept (a subgroup may be empty); values present but not
    listed are an error, since they would silently drop out of every model.
    """
    return _levels_of(_factorize(values)[1], levels, values.name)


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 missing) and distinct values in order of appearance; the values of the same types as
    ``pd.unique(values.dropna())`` gives (numpy scalars for a numeric column), in one pass."""
    return pd.factorize(values.to_numpy())


def _equal(value, level) -> bool:
    """``value == level`` as pandas compares a column with a scalar (a failed comparison is False)."""
    try:
        return bool(value == level)
    except (TypeError, ValueError):
        return False


def category_codes(values: pd.Series, levels: Sequence | None = None) -> tuple[list, np.ndarray]:
    """Levels of a categorical column (as :func:`category_levels`) and each row's level as an integer.

    The column is factorized once and only its distinct values are compared with the levels, so
    ``codes == k`` is ``values == levels[k]`` (the same equality) at the cost of one pass over the
    rows instead of one string comparison per row and level.

    Returns
    -------
    levels : list
    codes : ndarray of int64
        Index into ``levels``; -1 where the value is missing, -2 where it equals no level (possible
        only when two values print alike, e.g. ``1`` and ``"1"``). A level listed twice has its rows
        at its first listing: select a level's rows with ``codes == levels.index(level)``.
    """
    raw, uniques = _factorize(values)
    level_list = _levels_of(uniques, levels, values.name)
    lookup = np.full(len(uniques) + 1, -1, dtype=np.int64)  # the last slot maps the missing code -1 to -1
    for j, value in enumerate(uniques):
        lookup[j] = next((k for k, level in enumerate(level_list) if _equal(value, level)), -2)
    return level_list, lookup[raw]


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
            lv, codes = category_codes(s, levels.get(col))
            for level in lv[1:]:
                parts[f"{col}{level}"] = (codes == lv.index(level)).astype(np.float64)
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
