"""Notebooks are committed thin: no outputs, a cell tagged `parameters` with the three run parameters,
no hard-coded path, and every study step has its notebook (explore.ipynb, for JupyterLab, is no step)."""

import json

import pytest

from mbcrt import paths
from mbcrt.study.config import STEP_NOTEBOOKS

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
NOT_STEPS = ("explore.ipynb",)  # opened in JupyterLab, never run by the pipeline
STEPS = [p for p in NOTEBOOKS if p.name not in NOT_STEPS]


def test_every_step_has_a_notebook():
    assert sorted(STEP_NOTEBOOKS.values()) == sorted(p.name for p in STEPS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell_with_the_run_parameters(path):
    nb = json.loads(path.read_text())
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    source = "".join(tagged[0]["source"])
    for name in ("study_file", "overrides", "out_root"):
        assert f"{name} =" in source
    body = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and c not in tagged)
    assert "open_step(" in body
    assert "/work" not in body and "/home/" not in body and ".csv\"" not in body.replace('"cohort.csv"', "").replace(
        '"matched.csv"', "")
