"""Subgroup hazard ratios and interaction tests against R (R 4.2.2, survival 3.5.3) on GBSG2.

Data: data/public/gbsg2.csv; in R d$horTh, d$menostat, d$tgrade are factors with levels
no/yes, Pre/Post, I/II/III; the treatment is horTh == "yes".
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.paths import PUBLIC_DIR
from mbcrt.stats.subgroups import subgroup_hazard_ratios

RTOL = 1e-8

# reference: for (lv in levels(d[[v]])) { c3 <- coxph(Surv(time, cens) ~ horTh, data = d[d[[v]] == lv, ])
#   exp(coef(c3)); exp(confint(c3)) }
# a <- coxph(Surv(time, cens) ~ horTh + v, data = d); b <- coxph(Surv(time, cens) ~ horTh * v, data = d)
# anova(a, b)[2, "Pr(>|Chi|)"]
SUBGROUP = {
    ("menostat", "Pre"): (0.6908685993, 0.4336145211, 1.1007459351),
    ("menostat", "Post"): (0.6673707652, 0.4949482867, 0.8998591372),
    ("tgrade", "I"): (0.7099237617, 0.2653484198, 1.8993583897),
    ("tgrade", "II"): (0.6545254809, 0.4866516633, 0.8803085193),
    ("tgrade", "III"): (0.9078800492, 0.5583511323, 1.4762147618),
}
INTERACTION_P = {"menostat": 0.8911492481, "tgrade": 0.6297777173}
# summary(c3)$coefficients[, "Pr(>|z|)"] and nrow(sub), sum(sub$cens), sum(sub$horTh == "yes"),
# sum(sub$cens[sub$horTh == "yes"])
WALD_P = {("menostat", "Pre"): 0.119692412401646, ("menostat", "Post"): 0.008004410304028,
          ("tgrade", "I"): 0.495037535782105, ("tgrade", "II"): 0.00506201309405796,
          ("tgrade", "III"): 0.696797627070113}
COUNTS = {("menostat", "Pre"): (290, 119, 59, 22), ("menostat", "Post"): (396, 180, 187, 72),
          ("tgrade", "I"): (81, 18, 33, 6), ("tgrade", "II"): (444, 202, 163, 65),
          ("tgrade", "III"): (161, 79, 50, 23)}


@pytest.fixture(scope="module")
def gbsg2():
    d = pd.read_csv(PUBLIC_DIR / "gbsg2.csv")
    d["treat"] = (d["horTh"] == "yes").astype(int)
    return d


@pytest.fixture(scope="module")
def table(gbsg2):
    return subgroup_hazard_ratios(gbsg2, time="time", event="cens", treatment="treat",
                                  variables=["menostat", "tgrade"],
                                  levels={"menostat": ["Pre", "Post"]}, labels={"tgrade": "Tumour grade"})


def test_columns_and_order(table):
    assert list(table.columns) == ["variable", "label", "level", "n", "events", "n_treated", "n_control",
                                   "events_treated", "events_control", "hr", "lower", "upper", "p",
                                   "interaction_p", "note"]
    assert list(zip(table["variable"], table["level"])) == list(SUBGROUP)  # given order, else sorted
    assert table["label"].tolist() == ["menostat"] * 2 + ["Tumour grade"] * 3
    assert (table["note"] == "").all()


def test_hazard_ratios_and_intervals_match_r(table):
    for (var, level), (hr, lower, upper) in SUBGROUP.items():
        row = table[(table["variable"] == var) & (table["level"] == level)].iloc[0]
        assert (row["hr"], row["lower"], row["upper"]) == pytest.approx((hr, lower, upper), rel=RTOL)
        assert row["p"] == pytest.approx(WALD_P[(var, level)], rel=RTOL)


def test_counts(table):
    for (var, level), (n, events, n_treated, events_treated) in COUNTS.items():
        row = table[(table["variable"] == var) & (table["level"] == level)].iloc[0]
        assert (row["n"], row["events"], row["n_treated"], row["events_treated"]) == (
            n, events, n_treated, events_treated)
        assert row["n_control"] == n - n_treated
        assert row["events_control"] == events - events_treated


def test_interaction_p_matches_r_anova(table):
    for var, p in INTERACTION_P.items():
        values = table.loc[table["variable"] == var, "interaction_p"]
        np.testing.assert_allclose(values, p, rtol=RTOL)


def test_levels_without_patients_events_or_both_arms(gbsg2):
    d = gbsg2.copy()
    d["size"] = np.where(d["id"] % 50 == 0, "rare", np.where(d["tsize"] > 25, "big", "small"))
    d.loc[d["size"] == "rare", "cens"] = 0
    d["older_treated"] = np.where((d["treat"] == 1) & (d["age"] > 65), "yes", "no")
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)  # no level has 1-9 events
        out = subgroup_hazard_ratios(d, time="time", event="cens", treatment="treat",
                                     variables=["size", "older_treated"],
                                     levels={"size": ["small", "big", "rare", "absent"]})
    size = out[out["variable"] == "size"].set_index("level")
    assert size.loc["absent", "note"] == "no patients" and size.loc["absent", "n"] == 0
    assert size.loc["rare", "note"] == "no events" and np.isnan(size.loc["rare", "hr"])
    assert size[["hr", "interaction_p"]].loc[["small", "big"]].notna().all().all()
    # the event-free level drops out of the interaction test: same p as without its patients
    kept = d[d["size"] != "rare"]
    without = subgroup_hazard_ratios(kept, time="time", event="cens", treatment="treat", variables=["size"])
    assert size["interaction_p"].iloc[0] == pytest.approx(without["interaction_p"].iloc[0], rel=1e-12)

    older = out[out["variable"] == "older_treated"].set_index("level")
    assert older.loc["yes", "note"].startswith("one arm only")
    assert np.isnan(older.loc["yes", "hr"]) and older["interaction_p"].isna().all()
    assert "interaction not tested" in older.loc["no", "note"]
    assert np.isfinite(older.loc["no", "hr"])


def test_few_events_warn_once_and_are_noted(gbsg2):
    d = gbsg2.assign(group=np.where(gbsg2["id"] <= 14, "first14", "rest"))
    with pytest.warns(StatisticalWarning, match="group=first14") as record:
        out = subgroup_hazard_ratios(d, time="time", event="cens", treatment="treat", variables=["group"])
    assert len([w for w in record if issubclass(w.category, StatisticalWarning)]) == 1
    first = out.set_index("level").loc["first14"]
    assert first["events"] < 10 and "fewer than 10 events" in first["note"]
    assert np.isfinite(first["hr"])


def test_bad_input(gbsg2):
    with pytest.raises(InputError, match="0 \\(control\\) or 1") as err:
        subgroup_hazard_ratios(gbsg2, time="time", event="cens", treatment="horTh", variables=["tgrade"])
    assert err.value.column == "horTh"
    with pytest.raises(InputError, match="not in the data") as err:
        subgroup_hazard_ratios(gbsg2, time="time", event="cens", treatment="treat", variables=["grade"])
    assert err.value.column == "grade"
