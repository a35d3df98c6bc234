"""The reproduction ledger: locators, tolerances, p-value rules and inconsistent claims."""

import math

import pandas as pd
import pytest

from mbcrt.study.published import locate, parse_locator, reproduction_table, score


@pytest.fixture
def tables(tmp_path):
    pd.DataFrame({"cohort": ["all", "all", "matched"], "group": ["RT", "No RT", "RT"],
                  "median": [51.2, 33.9, None], "n": [207, 281, 135]}).to_csv(tmp_path / "km.csv", index=False)
    return tmp_path


def test_parse_locator():
    assert parse_locator("km[cohort=all, group=No RT].median") == ("km", {"cohort": "all", "group": "No RT"}, "median")
    assert parse_locator("t[].Hormone therapy__median") == ("t", {}, "Hormone therapy__median")


def test_locate_finds_one_value_and_distinguishes_missing_from_absent(tables):
    assert locate("km[cohort=all, group=RT].median", tables) == 51.2
    assert math.isnan(locate("km[cohort=matched, group=RT].median", tables))   # row there, value missing
    assert locate("km[cohort=none].median", tables) is None                   # no such row
    assert locate("km[cohort=all].median", tables) is None                    # ambiguous: two rows
    assert locate("km[group=RT].median", tables) is None                      # ambiguous, even if one is blank
    assert locate("nope[cohort=all].median", tables) is None                  # no such table


@pytest.mark.parametrize("claim, rep, status", [
    ({"published": 51.7, "tolerance": 1.0}, 51.2, "reproduced"),
    ({"published": 51.7, "tolerance": 1.0}, 50.6, "not reproduced"),
    ({"published": 488, "exact": True}, 488.0, "reproduced"),
    ({"published": 488, "exact": True}, 487.0, "not reproduced"),
    ({"published": 0.946, "rel_tolerance": 1e-3}, 0.9469, "reproduced"),
    ({"published": 94.6, "tolerance": 1.0, "multiply": 100}, 0.955, "reproduced"),
    ({"published": 94.6, "tolerance": 1.0, "multiply": 100}, 0.957, "not reproduced"),
    ({"published": "<0.0001", "check": "pvalue"}, 0.00005, "reproduced"),
    ({"published": "<0.0001", "check": "pvalue"}, 0.0002, "not reproduced"),
    ({"published": 0.021, "check": "pvalue"}, 0.03, "reproduced"),        # within x1.5, same side of 0.05
    ({"published": 0.021, "check": "pvalue"}, 0.033, "not reproduced"),   # more than x1.5
    ({"published": 0.04, "check": "pvalue"}, 0.055, "not reproduced"),    # other side of 0.05
    ({"published": "<0.001", "check": "side"}, 0.004, "reproduced"),
    ({"published": 0.3, "check": "side"}, 0.02, "not reproduced"),
    ({"published": "significant", "check": "significance"}, 0.01, "reproduced"),
    ({"published": "not significant", "check": "significance"}, 0.01, "not reproduced"),
    ({"published": "not reached", "check": "not_reached"}, math.nan, "reproduced"),
    ({"published": "not reached", "check": "not_reached"}, 2000.0, "not reproduced"),
])
def test_score(claim, rep, status):
    assert score({"id": "x", **claim}, rep)[0] == status


def test_inconsistent_claim_is_flagged_and_scored_against_the_inferred_value():
    claim = {"id": "hr", "published": 0.361, "tolerance": 0.05, "score_against": 0.484,
             "inconsistent": "point estimate on its lower bound"}
    status, _, _, note = score(claim, 0.49)
    assert status == "inconsistent in source"
    assert "agrees with the inferred value 0.484" in note
    assert "does not agree" in score(claim, 0.361)[3]


def test_uncomputed_value_is_not_reproduced():
    assert score({"id": "x", "published": 1, "tolerance": 1}, None)[0] == "not reproduced"


def test_reproduction_table_has_the_promised_columns(tables, tmp_path):
    pub = tmp_path / "published.yaml"
    pub.write_text("claims:\n- {id: a, quantity: Median RT, published: 51.7, tolerance: 1.0, location: Abstract,"
                   " value: 'km[cohort=all, group=RT].median'}\n")
    out = reproduction_table(pub, tables)
    assert list(out.columns[:8]) == ["claim_id", "quantity", "published", "reproduced", "difference", "tolerance",
                                     "status", "source"]
    assert out.iloc[0].to_dict() | {"note": ""} == {
        "claim_id": "a", "quantity": "Median RT", "published": "51.7", "reproduced": "51.2", "difference": "-0.5",
        "tolerance": "1", "status": "reproduced", "source": "Abstract", "note": ""}
