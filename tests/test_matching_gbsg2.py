"""match_nearest on GBSG2 reproduces R's MatchIt 4.5.5 pairs exactly, for four caliper settings.

Golden files (tests/data/gbsg2_pairs_*.csv, one row per treated unit, control_id NA when unmatched)
and numbers come from R 4.2.2 with MatchIt 4.5.5 (make_reference.R):

    f <- treat ~ age + menostat + tsize + tgrade + pnodes + progrec + estrec
    m <- matchit(f, data = d, method = "nearest", distance = "glm", link = <link>, caliper = <caliper>)
    mm <- m$match.matrix
    pairs <- data.frame(treated_id = d$id[as.integer(rownames(mm))], control_id = d$id[as.integer(mm[, 1])])
    unname(m$caliper)            # caliper_absolute
    sum(!is.na(mm[, 1]))         # n_pairs
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.design import design_matrix
from mbcrt.stats.matching import match_nearest, matched_frame, propensity_score

DATA = Path(__file__).parent / "data"

# name: (caliper, caliper_scale, R's m$caliper, R's number of pairs)
SETTINGS = {
    # link = "logit" (match on the score), no caliper
    "nocaliper": (None, "probability", None, 246),
    # link = "logit", caliper = 0.2
    "caliper02_prob": (0.2, "probability", 0.02866185109, 243),
    # link = "linear.logit", caliper = 0.2
    "caliper02_logit": (0.2, "logit", 0.1340939948, 243),
    # link = "linear.logit", caliper = 0.05
    "caliper005_logit": (0.05, "logit", 0.0335234987, 238),
}


@pytest.fixture(scope="module")
def gbsg2():
    return pd.read_csv(PUBLIC_DIR / "gbsg2.csv")


@pytest.fixture(scope="module")
def r_ps():
    return pd.read_csv(DATA / "gbsg2_ps.csv")["ps"].to_numpy()


@pytest.fixture(scope="module")
def own_ps(gbsg2):
    X = design_matrix(gbsg2, ["age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"],
                      ["menostat", "tgrade"], {"menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]})
    return propensity_score(X, gbsg2["horTh"] == "yes")


def reference_pairs(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"gbsg2_pairs_{name}.csv", dtype={"control_id": "Int64"})


def pairs_by_id(result, ids: np.ndarray, treated_ids: np.ndarray) -> pd.DataFrame:
    """Our match in the reference's shape: every treated id (row order), its control id or NA."""
    control_of = dict(zip(ids[result.treated], ids[result.control]))
    return pd.DataFrame({"treated_id": treated_ids,
                         "control_id": pd.array([control_of.get(t) for t in treated_ids], dtype="Int64")})


@pytest.mark.parametrize("ps_source", ["r_ps", "own_ps"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_pairs_identical_to_matchit(name, ps_source, gbsg2, request):
    caliper, scale, r_caliper, r_pairs = SETTINGS[name]
    ps = request.getfixturevalue(ps_source)
    treat = gbsg2["horTh"] == "yes"
    result = match_nearest(ps, treat, caliper=caliper, caliper_scale=scale)
    expected = reference_pairs(name)
    ids = gbsg2["id"].to_numpy()
    got = pairs_by_id(result, ids, ids[treat.to_numpy()])
    pd.testing.assert_frame_equal(got, expected)
    assert result.n_pairs == r_pairs
    assert result.n_unmatched_treated == 246 - r_pairs
    if r_caliper is None:
        assert result.caliper_absolute is None
    else:
        assert result.caliper_absolute == pytest.approx(r_caliper, rel=1e-9)


def test_treated_are_listed_in_matching_order(gbsg2, r_ps):
    # MatchIt's default m.order = "largest": treated units choose in descending propensity score.
    result = match_nearest(r_ps, gbsg2["horTh"] == "yes", caliper=0.2)
    assert np.all(np.diff(r_ps[result.treated]) <= 0)
    assert result.treated.size == result.control.size == 243


def test_logit_scale_matches_on_logit_of_the_score(gbsg2, r_ps):
    result = match_nearest(r_ps, gbsg2["horTh"] == "yes", caliper=None, caliper_scale="logit")
    np.testing.assert_allclose(result.distance, np.log(r_ps / (1 - r_ps)), rtol=1e-12)


def test_scale_changes_the_nearest_control():
    # Hand computation: the treated unit (ps 0.9) is 0.10 from control 0.8 and 0.09 from 0.99 on the
    # probability scale, but 0.81 and 2.40 apart on the logit scale.
    ps, treat = [0.8, 0.9, 0.99], [0, 1, 0]
    assert match_nearest(ps, treat, caliper=None, caliper_scale="probability").control.tolist() == [2]
    assert match_nearest(ps, treat, caliper=None, caliper_scale="logit").control.tolist() == [0]


def test_pair_ids_follow_treated_row_order(gbsg2, r_ps):
    treat = (gbsg2["horTh"] == "yes").to_numpy()
    result = match_nearest(r_ps, treat, caliper=0.05)
    pair_id = result.pair_id
    assert pair_id.shape == (len(gbsg2),)
    matched_treated_rows = np.sort(result.treated)
    np.testing.assert_array_equal(pair_id[matched_treated_rows], np.arange(1, 239))
    np.testing.assert_array_equal(pair_id[result.control], pair_id[result.treated])
    assert (pair_id > 0).sum() == 2 * 238
    # Pair 1 is R's first matched treated id (2) with its control (108), see gbsg2_pairs_caliper005_logit.csv.
    assert set(gbsg2["id"].to_numpy()[pair_id == 1]) == {2, 108}


def test_matched_frame_keeps_data_order_and_adds_columns(gbsg2, r_ps):
    treat = gbsg2["horTh"] == "yes"
    result = match_nearest(r_ps, treat, caliper=0.2, caliper_scale="logit")
    frame = matched_frame(gbsg2, result, r_ps)
    assert list(frame.columns) == [*gbsg2.columns, "pair_id", "ps"]
    assert len(frame) == 2 * 243
    assert frame.index.is_monotonic_increasing
    expected_ids = reference_pairs("caliper02_logit").dropna()
    assert set(frame["id"]) == set(expected_ids["treated_id"]) | set(expected_ids["control_id"])
    np.testing.assert_array_equal(frame["ps"].to_numpy(), r_ps[frame.index.to_numpy()])
    assert (frame.groupby("pair_id")["horTh"].apply(sorted).map(tuple) == ("no", "yes")).all()


def test_summary_table(gbsg2, r_ps):
    result = match_nearest(r_ps, gbsg2["horTh"] == "yes", caliper=0.2, caliper_scale="logit")
    value = result.summary["value"]
    assert (value["n_treated"], value["n_control"], value["n_pairs"], value["unmatched treated"]) == (246, 440, 243, 3)
    assert value["caliper (sd units)"] == 0.2
    assert value["caliper (absolute)"] == pytest.approx(0.1340939948, rel=1e-9)
    assert value["scale"] == "logit"
