"""notebooks/explore.ipynb runs top to bottom headless, from another working directory, and shows the
panel; it is no step of a run (./run_all.sh never executes it)."""

import json
import shutil

import pytest

from mbcrt import paths
from mbcrt.study.config import STEP_NOTEBOOKS

pytestmark = pytest.mark.integration

NOTEBOOK = paths.NOTEBOOKS_DIR / "explore.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_explore_is_no_step_of_a_run():
    assert NOTEBOOK.name not in STEP_NOTEBOOKS.values()


def test_explore_notebook_is_thin():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["cells"][0]["cell_type"] == "markdown" and "synthetic" in "".join(nb["cells"][0]["source"])
    tagged = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1 and 'study_file = "studies/her2_rt/study.yaml"' in "".join(tagged[0]["source"])
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "explore_panel(study_file, overrides, out_root)" in code
    assert "/work" not in code and "/home/" not in code and "../" not in code


def test_explore_runs_headless_and_shows_the_panel(tmp_path):
    import papermill as pm

    work = tmp_path / "elsewhere"  # not notebooks/: paths must not depend on the working directory
    work.mkdir()
    source = work / "explore.ipynb"
    shutil.copy(NOTEBOOK, source)
    executed = tmp_path / "executed.ipynb"
    # An empty output root: no run wrote a cohort there, so the panel builds it in memory.
    pm.execute_notebook(str(source), str(executed), parameters={"out_root": str(tmp_path / "no_run")},
                        kernel_name="python3", cwd=str(work), progress_bar=False, execution_timeout=300)
    nb = json.loads(executed.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, errors
    stderr = "".join("".join(o["text"]) for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr")
    assert not stderr, stderr
    views = [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1
    # The widgets' state saved with the notebook holds what the panel showed: its Output widget's
    # figure and tables for the study's defaults.
    state = json.dumps(nb["metadata"]["widgets"][WIDGET_STATE]["state"])
    assert views[0]["data"][WIDGET_VIEW]["model_id"] in state
    assert "SYNTHETIC DATA" in state and "135 pairs from 207 treated patients" in state
    assert "Treatment hazard ratio" in state and "image/svg+xml" in state
    assert str(tmp_path) not in state  # no machine path in what is shown
    assert json.loads(NOTEBOOK.read_text())["cells"][2]["outputs"] == []  # the committed notebook untouched
