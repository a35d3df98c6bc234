"""Groups of a study's Kaplan-Meier analysis: compared as text, one conversion per distinct value; patients
without a group value in no group's curve; listed levels nobody has left out. Against R on GBSG2
(R 4.2.2, survival 3.5.3; d <- read.csv("gbsg2.csv"))."""

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths
from mbcrt.errors import InputError
from mbcrt.steps.common import Endpoint
from mbcrt.steps.survival import km_analysis
from mbcrt.study.config import load_study

ENDPOINT = Endpoint("rfs", "Recurrence-free survival", "time", "cens")


@pytest.fixture(scope="module")
def study():
    return load_study(paths.STUDIES_DIR / "gbsg2" / "study.yaml")


@pytest.fixture()
def gbsg2():
    return pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")


def test_groups_and_log_rank_match_r(study, gbsg2):
    km = km_analysis(study, gbsg2, ENDPOINT, "all", by="tgrade")
    assert list(km.curves) == ["I", "II", "III"]
    assert [c.n for c in km.curves.values()] == [81, 444, 161]  # table(d$tgrade)
    # survdiff(Surv(time, cens) ~ tgrade, data = d)$chisq
    assert km.logrank["chisq"].iloc[0] == pytest.approx(21.0944345875009, rel=1e-9)
    assert km.at_risk.index.tolist() == ["I", "II", "III"]
    assert km.at_risk.iloc[:, 0].tolist() == [81, 444, 161]


def test_missing_values_and_absent_levels_are_in_no_curve(study, gbsg2):
    gbsg2["tgrade"] = gbsg2["tgrade"].astype(object).where(gbsg2["tgrade"] != "I", None)
    km = km_analysis(study, gbsg2, ENDPOINT, "all", by="tgrade", order=["I", "II", "III", "IV"])
    assert list(km.curves) == ["II", "III"]
    assert km.summary["n"].tolist() == [605, 444, 161]  # "All" is the patients with a grade
    # survdiff(Surv(time, cens) ~ tgrade, data = d[d$tgrade != "I", ])$chisq
    assert km.logrank["chisq"].iloc[0] == pytest.approx(4.42701482488785, rel=1e-9)


def test_numbers_are_matched_to_the_order_as_text(study, gbsg2):
    gbsg2["arm"] = (gbsg2["horTh"] == "yes").astype(int)
    by_number = km_analysis(study, gbsg2, ENDPOINT, "all", by="arm", order=["1", "0"])
    by_label = km_analysis(study, gbsg2, ENDPOINT, "all", by="horTh", order=["yes", "no"])
    assert list(by_number.curves) == ["1", "0"]
    assert [c.median for c in by_number.curves.values()] == [c.median for c in by_label.curves.values()]
    assert by_number.logrank["chisq"].iloc[0] == by_label.logrank["chisq"].iloc[0]


@pytest.mark.parametrize("values, written", [
    (np.array([0.0, -0.0] * 343), "-0.0"),          # equal numbers, texts "0.0" and "-0.0"
    (np.array([True, 1] * 343, dtype=object), "1"),  # equal values, texts "True" and "1"
])
def test_values_equal_to_a_level_but_written_differently_are_named(study, gbsg2, values, written):
    """The levels are the distinct values (one of two equal ones); the rows are matched by text, so the
    other is a group outside the order, named in the error, not silently merged into the level."""
    gbsg2["g"] = values
    with pytest.raises(InputError, match=rf"group values \['{written}'\] are not in order"):
        km_analysis(study, gbsg2, ENDPOINT, "all", by="g")


def test_float_groups_are_written_as_python_writes_them(study, gbsg2):
    gbsg2["g"] = np.array([1.5, 2.5] * 343)
    km = km_analysis(study, gbsg2, ENDPOINT, "all", by="g")
    assert list(km.curves) == ["1.5", "2.5"] and [c.n for c in km.curves.values()] == [343, 343]


def test_a_value_outside_the_order_is_an_error_naming_it(study, gbsg2):
    with pytest.raises(InputError, match=r"group values \['III'\] are not in order"):
        km_analysis(study, gbsg2, ENDPOINT, "all", by="tgrade", order=["I", "II"])
