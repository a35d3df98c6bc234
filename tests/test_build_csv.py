"""The patient-level CSVs of build/: dates are written as text by numpy before pandas writes the file, and
the bytes are those pandas writes itself."""

import numpy as np
import pandas as pd
import pytest

from mbcrt.run.context import _dates_as_text


@pytest.mark.parametrize("column", [
    pd.to_datetime(["2020-01-02", None, "1999-12-31", "2021-07-04"]),             # days, one missing
    pd.to_datetime(["2020-01-02 10:30", None, "1999-12-31 00:00", "2021-07-04 00:00"]),  # a time of day
    pd.to_datetime([None] * 4),                                                    # all missing
    pd.Series(np.array(["0900-01-01", "2020-01-01", "NaT", "9999-12-31"], dtype="datetime64[s]")),  # year < 1000
    pd.Series(np.array(["1900-03-01", "2020-01-01", "NaT", "9999-12-31"], dtype="datetime64[s]")),  # seconds unit
])
def test_the_csv_is_what_pandas_writes(column):
    df = pd.DataFrame({"id": [1, 2, 3, 4], "d": column, "s": ["a,b", None, 'q"x', "z"], "x": [0.5, np.nan, 2, 3]})
    assert _dates_as_text(df).to_csv(index=False) == df.to_csv(index=False)


def test_only_whole_days_are_converted_and_the_frame_is_not_changed():
    df = pd.DataFrame({"d": pd.to_datetime(["2020-01-02", None]), "t": pd.to_datetime(["2020-01-02 10:00", None])})
    out = _dates_as_text(df)
    assert out["d"].tolist() == ["2020-01-02", ""] and out["t"].dtype == df["t"].dtype
    assert df["d"].dtype.kind == "M"  # the caller's frame keeps its dates (the pickle is written from it)


def test_a_frame_without_dates_is_returned_as_it_is():
    df = pd.DataFrame({"a": [1, 2]})
    assert _dates_as_text(df) is df
