"""Can the models the study asks for be fitted? Constant covariates, a covariate that separates the
arms, too few events for the Cox model, no event in an arm: each stops the cohort step with the file
and the column named, before any model runs."""

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths
from mbcrt.errors import InputError
from mbcrt.study.cohort import build_cohort
from mbcrt.study.config import load_study
from mbcrt.study.validation import check_models

STUDY = """
name: demo
title: Demo
data: data.csv
id: id
time: time
time_unit: days
event: cens
treatment: horTh
treated_value: "yes"
covariates: [age, menostat, tgrade, pnodes]
categorical: [menostat, tgrade]
levels: {menostat: [Pre, Post], tgrade: [I, II, III]}
steps: [cohort, matching, cox]
"""


def gbsg2():
    return pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")


def run(tmp_path, df, study=STUDY):
    df.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "study.yaml").write_text(study)
    return build_cohort(load_study(tmp_path / "study.yaml"))


def error(tmp_path, df, study=STUDY) -> InputError:
    with pytest.raises(InputError) as err:
        run(tmp_path, df, study)
    assert err.value.file.endswith("data.csv")
    return err.value


def test_gbsg2_passes(tmp_path):
    assert len(run(tmp_path, gbsg2()).cohort) == 686


def test_a_constant_covariate_is_named(tmp_path):
    df = gbsg2().assign(pnodes=3)
    err = error(tmp_path, df)
    assert err.column == "pnodes" and "same for every patient" in str(err)


def test_an_empty_declared_level_is_named(tmp_path):
    df = gbsg2()
    df.loc[df.tgrade == "III", "tgrade"] = "II"
    err = error(tmp_path, df)
    assert err.column == "tgrade" and "level 'III'" in str(err) and "no patient" in str(err)


def test_an_empty_reference_level_is_named(tmp_path):
    df = gbsg2()
    df.loc[df.tgrade == "I", "tgrade"] = "II"
    err = error(tmp_path, df, STUDY.replace("steps: [cohort, matching, cox]", "steps: [cohort, cox]"))
    assert err.column == "tgrade" and "level 'I'" in str(err)


def test_a_covariate_that_separates_the_arms(tmp_path):
    df = gbsg2()
    df["age"] = np.where(df.horTh == "yes", df.age + 100, df.age)     # no overlap in age
    err = error(tmp_path, df)
    assert err.column == "age" and "separates treated from control" in str(err)


def test_a_level_found_in_one_arm_only_separates_quasi_completely(tmp_path):
    df = gbsg2()
    df.loc[(df.horTh == "no") & (df.tgrade == "I"), "tgrade"] = "II"  # grade I only among the treated
    err = error(tmp_path, df)
    assert err.column == "tgrade" and "level 'I'" in str(err)


def test_separation_only_matters_when_matching(tmp_path):
    df = gbsg2()
    df["age"] = np.where(df.horTh == "yes", df.age + 100, df.age)
    assert len(run(tmp_path, df, STUDY.replace("matching, ", "")).cohort) == 686


def test_too_few_events_for_the_cox_model(tmp_path):
    # 6 coefficients (treatment, age, menostat, tgrade II and III, pnodes): 6 events are not enough.
    df = gbsg2()
    events = np.flatnonzero(df.cens.to_numpy() == 1)
    df.loc[events[6:], "cens"] = 0
    err = error(tmp_path, df)
    assert err.column == "cens" and "6 event(s) for 6 coefficient(s)" in str(err)
    df.loc[events[6], "cens"] = 1
    assert int(run(tmp_path, df).cohort["_event"].sum()) == 7


def test_no_event_in_one_arm(tmp_path):
    df = gbsg2()
    df.loc[df.horTh == "yes", "cens"] = 0
    err = error(tmp_path, df)
    assert err.column == "cens" and "no event in the Treated arm" in str(err)


def test_cox_covariates_are_the_ones_checked(tmp_path):
    df = gbsg2().assign(pnodes=3)
    study = STUDY.replace("steps: [cohort, matching, cox]", "cox: {covariates: [age, tgrade]}\nsteps: [cohort, cox]")
    assert len(run(tmp_path, df, study).cohort) == 686


def test_check_models_on_a_cohort_without_model_steps_does_nothing(tmp_path):
    df = gbsg2().assign(pnodes=3)
    (tmp_path / "study.yaml").write_text(STUDY.replace("steps: [cohort, matching, cox]", "steps: [cohort]"))
    check_models(df.assign(_event=df.cens, _treat=(df.horTh == "yes").astype(int)),
                 load_study(tmp_path / "study.yaml"))
