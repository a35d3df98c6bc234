"""Input problems the Cox fitter refuses (InputError naming the column) or warns about."""

import warnings

import numpy as np
import pandas as pd
import pytest

from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.stats.cox import fit_cox


@pytest.fixture()
def data():
    rng = np.random.default_rng(11)
    n = 300
    X = pd.DataFrame({"arm": rng.integers(0, 2, n).astype(float), "age": rng.normal(60, 10, n)})
    time = pd.Series(rng.exponential(1.0, n), name="months")
    event = pd.Series(rng.integers(0, 2, n), name="died")
    return X, time, event


def test_constant_column(data):
    X, time, event = data
    with pytest.raises(InputError, match="constant") as err:
        fit_cox(X.assign(site=1.0), time, event)
    assert err.value.column == "site"


def test_column_constant_within_every_stratum(data):
    X, time, event = data
    stratum = np.arange(len(X)) % 4
    with pytest.raises(InputError, match="not estimable") as err:
        fit_cox(X.assign(centre=stratum.astype(float)), time, event, strata=stratum)
    assert err.value.column == "centre"


def test_collinear_columns(data):
    X, time, event = data
    with pytest.raises(InputError, match="linear combination") as err:
        fit_cox(X.assign(age_months=X["age"] * 12 + 3), time, event)
    assert err.value.column == "age_months"


def test_monotone_likelihood_coefficient_diverges(data):
    X, time, event = data
    no_events_when_treated = event.where(X["arm"] == 0, 0)
    with pytest.raises(InputError, match="coefficient diverges") as err:
        fit_cox(X, time, no_events_when_treated)
    assert err.value.column == "arm"


def test_no_events(data):
    X, time, event = data
    with pytest.raises(InputError, match="no events") as err:
        fit_cox(X, time, event * 0)
    assert err.value.column == "died"


@pytest.mark.parametrize("bad,column,rule", [
    ("event", "died", "0 \\(censored\\) or 1"),
    ("time_nan", "months", "missing"),
    ("time_negative", "months", "negative"),
    ("covariate_nan", "age", "missing"),
])
def test_bad_values_name_the_column_and_rows(data, bad, column, rule):
    X, time, event = data
    if bad == "event":
        event = event.replace(1, 2)
    elif bad == "time_nan":
        time = time.where(time.index % 50 != 0)
    elif bad == "time_negative":
        time = time - 10
    else:
        X = X.assign(age=X["age"].where(X.index % 100 != 0))
    with pytest.raises(InputError, match=rule) as err:
        fit_cox(X, time, event)
    assert err.value.column == column
    assert err.value.n_rows and err.value.n_rows > 0


def test_categorical_column_must_be_expanded(data):
    X, time, event = data
    with pytest.raises(InputError, match="not numeric") as err:
        fit_cox(X.assign(grade=np.where(X["arm"] == 1, "II", "I")), time, event)
    assert err.value.column == "grade"


def test_length_mismatch_and_bad_options(data):
    X, time, event = data
    with pytest.raises(InputError, match="one value per row"):
        fit_cox(X, time[:-1], event)
    with pytest.raises(InputError, match="missing"):
        fit_cox(X, time, event, strata=np.where(X.index == 3, None, "a"))
    with pytest.raises(InputError, match="ties"):
        fit_cox(X, time, event, ties="exact")
    with pytest.raises(ValueError, match="alpha"):
        fit_cox(X, time, event, alpha=1.5)


def test_few_events_per_variable_warns(data):
    X, time, event = data
    few = pd.Series(np.where(np.arange(len(X)) < 15, event, 0), name="died")  # ~8 events, 2 columns
    with pytest.warns(StatisticalWarning, match="events per variable"):
        fit_cox(X, time, few)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)
        fit_cox(X, time, event)  # ~150 events for 2 columns: no warning
