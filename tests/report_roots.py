"""Output roots for the page tests, made from a bundled study's committed outputs without running it.

A study's committed ``tables/<study>/*.csv`` and ``figures/<study>/*.svg`` are copied into a temporary
output root and its ``reports/<study>/run.json`` is written as a run writes it; the study report
and the index are then built from that root exactly as the pipeline builds them from its staging folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mbcrt import paths
from mbcrt.report import pages, study_report
from mbcrt.study.config import load_study

BUNDLED = ("gbsg2", "her2_rt", "op_mdrt")


def make_root(root: Path, names=BUNDLED, warnings: dict | None = None, *, report: bool = True,
              index: bool = True) -> Path:
    """Fill ``root`` with the committed outputs of ``names``, their run.json and (optionally) their
    study reports and the index. ``warnings``: ``{study: {step: [text, ...]}}`` written as the steps do."""
    root = Path(root)
    for name in names:
        study = load_study(paths.STUDIES_DIR / name / "study.yaml")
        (root / "tables" / name).mkdir(parents=True, exist_ok=True)
        (root / "figures" / name).mkdir(parents=True, exist_ok=True)
        for f in (paths.PROJECT_ROOT / "tables" / name).glob("*.csv"):
            shutil.copy2(f, root / "tables" / name / f.name)
        for f in (paths.PROJECT_ROOT / "figures" / name).glob("*.svg"):
            shutil.copy2(f, root / "figures" / name / f.name)
        pages.write_run_metadata(study, root, [], [{"notebook": nb} for _, nb in study.notebooks()])
        for step, items in ((warnings or {}).get(name) or {}).items():
            (root / "reports" / name / f"warnings_{step}.json").write_text(json.dumps(items), encoding="utf-8")
        if report:
            study_report.write_study_report(root, name)
    if index:
        pages.write_index(root)
    return root
