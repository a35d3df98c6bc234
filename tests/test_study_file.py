"""Loading and validating study files: defaults, overrides, and errors that name the key."""

import pytest

from mbcrt.errors import InputError
from mbcrt.study.config import load_study, parse_overrides

MINIMAL = """
name: demo
title: Demo
data: data.csv
id: pid
time: months
time_unit: months
event: dead
steps: [cohort, survival]
"""


def write(tmp_path, text):
    p = tmp_path / "study.yaml"
    p.write_text(text)
    return p


def test_defaults_are_filled_and_paths_resolve_beside_the_file(tmp_path):
    s = load_study(write(tmp_path, MINIMAL))
    assert s.matching["caliper"] == 0.2 and s.matching["caliper_scale"] == "logit"
    assert s.survival["conf_type"] == "log-log" and s.cox["ties"] == "efron"
    assert s.data_path == tmp_path / "data.csv"
    assert not s.two_arm


def test_overrides_parse_yaml_values_and_nest():
    assert parse_overrides(["matching.caliper=0.1", "cox.ties=breslow", "landmarks=[1, 2]"]) == {
        "matching": {"caliper": 0.1}, "cox": {"ties": "breslow"}, "landmarks": [1, 2]}


def test_override_is_applied(tmp_path):
    s = load_study(write(tmp_path, MINIMAL), ["survival.conf_type=log"])
    assert s.survival["conf_type"] == "log"


@pytest.mark.parametrize("extra, key", [
    ("mathcing: {caliper: 0.1}\n", "mathcing"),          # misspelt top-level key
    ("matching: {calipr: 0.1}\n", "calipr"),             # misspelt nested key
])
def test_unknown_key_is_named_with_a_suggestion(tmp_path, extra, key):
    with pytest.raises(InputError, match=f"unknown key '.*{key}'.*Did you mean"):
        load_study(write(tmp_path, MINIMAL + extra))


@pytest.mark.parametrize("extra, key", [
    ("time_unit: weeks\n", "time_unit"),
    ("survival: {conf_type: arcsine}\n", "survival.conf_type"),
    ("matching: {caliper: -1}\n", "matching.caliper"),
    ("min_cell_count: -5\n", "min_cell_count"),
])
def test_bad_values_name_the_key(tmp_path, extra, key):
    text = MINIMAL.replace("time_unit: months\n", "") if extra.startswith("time_unit") else MINIMAL
    with pytest.raises(InputError) as err:
        load_study(write(tmp_path, text + extra))
    assert err.value.column == key


def test_missing_required_key(tmp_path):
    with pytest.raises(InputError, match="missing required key.*event"):
        load_study(write(tmp_path, MINIMAL.replace("event: dead\n", "")))


def test_matching_step_needs_a_treatment(tmp_path):
    with pytest.raises(InputError, match="treatment"):
        load_study(write(tmp_path, MINIMAL.replace("[cohort, survival]", "[cohort, matching]")))


def test_unknown_step_is_named(tmp_path):
    with pytest.raises(InputError, match="unknown step 'survial'.*survival"):
        load_study(write(tmp_path, MINIMAL.replace("[cohort, survival]", "[cohort, survial]")))


def test_not_yaml_and_not_found(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_study(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="YAML"):
        load_study(write(tmp_path, "name: [unclosed"))


def test_bundled_studies_load():
    from mbcrt.run.pipeline import bundled_studies

    files = bundled_studies()
    assert files, "no bundled study"
    for f in files:
        assert load_study(f).name == f.parent.name
