"""start_stop against R's tmerge(..., tdc()) (R 4, survival 3.5.3)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError
from mbcrt.stats.timevarying import START_STOP_COLUMNS, start_stop

DATA = Path(__file__).parent / "data" / "sensitivity_cohort.csv"

# d <- data.frame(id = 1:6, time = c(10, 5, 8, 7, 3, 9), status = c(1, 0, 1, 1, 0, 1), rt = c(4, NA, 0, 7, 5, 9))
# b <- tmerge(d[, 1:3], d, id = id, tstop = time, death = event(time, status))
# tv <- tmerge(b, d, id = id, treated = tdc(rt)); tv[, c("id", "tstart", "tstop", "death", "treated")]
R_TMERGE = [
    (1, 0, 4, 0, 0),
    (1, 4, 10, 1, 1),
    (2, 0, 5, 0, 0),
    (3, 0, 8, 1, 1),  # treated at 0: treated throughout
    (4, 0, 7, 1, 0),  # treated on the last day: not split, untreated
    (5, 0, 3, 0, 0),  # treated after follow-up
    (6, 0, 9, 1, 0),
]


def test_matches_tmerge():
    out = start_stop([10, 5, 8, 7, 3, 9], [1, 0, 1, 1, 0, 1], [4, np.nan, 0, 7, 5, 9], id=[1, 2, 3, 4, 5, 6])
    assert list(out.columns) == START_STOP_COLUMNS
    assert [tuple(r) for r in out.itertuples(index=False)] == R_TMERGE


def test_cohort_counts_match_tmerge():
    # R (tests/data/sensitivity_reference.R): nrow(tv) 641, sum(tv$death) 185, sum(tv$treated) 241
    d = pd.read_csv(DATA)
    out = start_stop(d["time"], d["event"], d["rt_time"], id=d["id"])
    assert (len(out), out["event"].sum(), out["treated"].sum()) == (641, 185, 241)
    # person-time is preserved
    assert (out["tstop"] - out["tstart"]).sum() == pytest.approx(d["time"].sum())


def test_default_id_is_position():
    out = start_stop([3.0, 4.0], [1, 0], [1.0, np.nan])
    assert out["id"].tolist() == [0, 0, 1]


def test_bad_inputs():
    with pytest.raises(InputError, match="positive"):
        start_stop([0.0, 4.0], [1, 0], [np.nan, np.nan])
    with pytest.raises(InputError, match="event"):
        start_stop([1.0, 4.0], [2, 0], [np.nan, np.nan])
