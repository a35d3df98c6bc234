"""Reading an export and applying the criteria, as fast paths of the plain pandas ones: the same frame as
reading with nullable dtypes and converting every column, the same rows and attrition as filtering the
whole frame after every criterion."""

import numpy as np
import pandas as pd
import pytest

from mbcrt.study.cohort import apply_criteria, read_data

EXPORT = """id,name,grade,age,size,flag,ratio,when
1,Ann,II,50,1.0,True,0.5,2020-01-02
2,,III,,2.0,False,,
3,"Lee, Jr",II,61,3.0,True,1.25,2021-03-04
4,NA,I,70,4.0,,2.5,2019-12-31
"""


def _plain(path) -> pd.DataFrame:
    """The reference: nullable dtypes, then every column to numpy (strings to object with None)."""
    df = pd.read_csv(path, dtype_backend="numpy_nullable", low_memory=False, index_col=False)
    df = df.convert_dtypes(dtype_backend="numpy_nullable")
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            out[col] = s.astype("float64") if s.isna().any() else s.astype("int64")
        elif pd.api.types.is_float_dtype(s):
            out[col] = s.astype("float64")
        else:
            out[col] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out, index=df.index)


def test_read_data_gives_the_reference_frame(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(EXPORT)
    got, expected = read_data(path), _plain(path)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["name"].tolist() == ["Ann", None, "Lee, Jr", None]  # missing text is None, not NaN
    assert got["id"].dtype == np.int64 and got["age"].dtype == np.float64  # an integer column with a gap: float
    assert got["flag"].tolist()[:2] == [1.0, 0.0] and np.isnan(got["flag"].iloc[3])


def _filter_every_time(df, criteria):
    """The reference: evaluate each criterion on the whole remaining frame, then filter it."""
    counts = []
    for crit in criteria:
        keep = df.eval(crit["keep"], engine="python").fillna(False).astype(bool)
        counts.append((int((~keep).sum()), int(keep.sum())))
        df = df[keep]
    return df, counts


CRITERIA = [
    {"reason": "age", "keep": "age >= 40 and age <= 80"},
    {"reason": "two columns", "keep": "grade != 'I' or size > 3"},
    {"reason": "string method", "keep": "name.str.len() > 0"},
    {"reason": "the index", "keep": "index % 7 != 3"},
    {"reason": "backticks", "keep": "`tumour size` < 95"},  # not plain Python: evaluated on every column
]


def test_criteria_keep_the_rows_and_counts_of_filtering_every_time():
    rng = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame({"age": rng.integers(20, 95, n).astype(float), "grade": rng.choice(["I", "II", "III"], n),
                       "size": rng.integers(1, 6, n), "name": rng.choice(["a", "bb", ""], n).astype(object),
                       "tumour size": rng.integers(1, 100, n), "other": rng.normal(size=n)})
    df.loc[::11, "age"] = np.nan  # missing: the criterion is False there
    df.loc[::13, "name"] = None
    kept, attrition = apply_criteria(df, CRITERIA, "f")
    expected, counts = _filter_every_time(df, CRITERIA)
    pd.testing.assert_frame_equal(kept, expected)
    assert list(zip(attrition["excluded"], attrition["remaining"]))[1:-1] == counts
    assert attrition["remaining"].iloc[-1] == len(expected) < n


def test_a_criterion_naming_a_missing_column_is_an_error_naming_the_criterion():
    from mbcrt.errors import InputError

    with pytest.raises(InputError, match="criterion 'typo' cannot be evaluated"):
        apply_criteria(pd.DataFrame({"age": [50, 60]}), [{"reason": "typo", "keep": "agee > 1"}], "f")
