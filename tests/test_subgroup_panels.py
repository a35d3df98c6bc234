"""Which subgroup levels get a Kaplan-Meier panel: ``subgroup_panels`` in the study file."""

from __future__ import annotations

import matplotlib
import pytest

from mbcrt import paths
from mbcrt.errors import InputError
from mbcrt.steps.subgroups import subgroup_step
from mbcrt.study.cohort import build_cohort
from mbcrt.study.config import load_study

matplotlib.use("Agg")
GBSG2 = paths.STUDIES_DIR / "gbsg2" / "study.yaml"


def _panel_titles(study) -> list[str]:
    step = subgroup_step(study, {"all": build_cohort(study).cohort})
    figure = step.figures["subgroup_km_all"]
    return [ax.get_title(loc="left") for ax in figure.axes if ax.get_title(loc="left")]


def test_every_level_by_default_and_only_the_listed_ones_when_given():
    every = _panel_titles(load_study(GBSG2))
    # menostat (Pre, Post) and tgrade (I, II, III): five panels, lettered A-E
    assert len(every) == 5 and every[0].startswith("A")
    some = _panel_titles(load_study(GBSG2, {"subgroup_panels": ["II", "Post"]}))
    assert len(some) == 2
    assert some[0].startswith("A") and "Post" in some[0] and "II" in some[1]


def test_subgroup_panels_must_be_a_list():
    with pytest.raises(InputError, match="subgroup_panels"):
        load_study(GBSG2, {"subgroup_panels": "Yes"})
