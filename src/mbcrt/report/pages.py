"""Rendered reports: each executed notebook as two static HTML pages, and ``reports/index.html``.

Pages are static and self-contained: no script, font or style is fetched from the network (the
nbconvert template's script tags are removed; nothing in the pages needs JavaScript), figures are
inline SVG. The clinician page hides code and the injected parameters; the analyst page shows code.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from mbcrt import paths
from mbcrt.study.config import Study

KEY_PACKAGES = ("mbcrt", "numpy", "pandas", "scipy", "lifelines", "statsmodels", "matplotlib", "seaborn",
                "numba", "papermill", "nbconvert", "pandera")

CSS = """
.mbcrt-nav{font:14px sans-serif;padding:8px 16px;background:#f3f4f6;border-bottom:1px solid #ddd}
.mbcrt-study{font:600 15px sans-serif;color:#374151;margin:4px 0}
.mbcrt-synthetic{background:#fff4e5;border:2px solid #e67e22;color:#7a3e00;padding:8px 12px;margin:8px 0;
 font:14px sans-serif}
.mbcrt-warning{background:#fdecea;border-left:5px solid #c0392b;padding:6px 10px;margin:6px 0;font:14px sans-serif}
.mbcrt-caption{font:14px sans-serif;margin:14px 0 4px}
table.mbcrt-table{border-collapse:collapse;font:13px sans-serif;margin-bottom:12px}
table.mbcrt-table th,table.mbcrt-table td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:left}
table.mbcrt-table th{background:#f9fafb}
.status-reproduced{color:#1e7e34}.status-not{color:#c0392b;font-weight:600}.status-inconsistent{color:#8e44ad}
"""

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*href=\"https?://[^>]*>", re.I)


def make_static(page: str) -> str:
    """Remove every script and external stylesheet: the page must read the same offline."""
    page = _SCRIPT.sub("", page)
    return _EXTERNAL_LINK.sub("", page)


def _inject(page: str, nav: str) -> str:
    page = page.replace("</head>", f"<style>{CSS}</style>\n</head>", 1)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, page, count=1)


_EXPORTERS: dict = {}


def _exporter(hide_code: bool):
    """The HTML exporter for one of the two pages, made once per process (it compiles its templates
    on first use; a new exporter per page redid that work for every notebook)."""
    if hide_code not in _EXPORTERS:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(template_name="lab")
        exporter.exclude_input = hide_code
        exporter.exclude_input_prompt = hide_code
        exporter.exclude_output_prompt = hide_code
        _EXPORTERS[hide_code] = exporter
    return _EXPORTERS[hide_code]


def render_notebook(nb_path: Path, study: Study) -> tuple[Path, Path]:
    """Render an executed notebook to ``<stem>.html`` (no code) and ``<stem>.analyst.html`` (with code)."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    papermill_tags = {"injected-parameters", "papermill-error-cell-tag"}
    for i, cell in enumerate(nb.cells):
        if papermill_tags & set(cell.get("metadata", {}).get("tags", [])):
            cell["id"] = f"papermill-{i:02d}"  # papermill gives its cells random ids

    step = nb_path.stem
    nb.metadata["title"] = f"{study.title}: {step}"
    nav = (f"<div class='mbcrt-nav'><a href='../index.html'>All studies</a> &middot; "
           f"{html.escape(study.title)} &middot; <b>{html.escape(step)}</b>"
           + (" &middot; <b style='color:#b35900'>SYNTHETIC DATA</b>" if study.synthetic else "") + "</div>")
    outputs = []
    for suffix, hide_code in ((".html", True), (".analyst.html", False)):
        body, _ = _exporter(hide_code).from_notebook_node(_without_parameters(nb) if hide_code else nb)
        out = nb_path.with_suffix(suffix) if suffix == ".html" else nb_path.parent / f"{step}{suffix}"
        out.write_text(_inject(make_static(body), nav), encoding="utf-8")
        outputs.append(out)
    return outputs[0], outputs[1]


def _without_parameters(nb):
    """The notebook without its parameter cells: the clinician page must not carry file names."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in nb.cells
                 if not {"parameters", "injected-parameters"} & set(c.get("metadata", {}).get("tags", []))]
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit() -> str:
    """The project's git commit (with '+changes' when the tree differs from it), or 'unknown'."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=paths.PROJECT_ROOT,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "notebooks",
                                "studies", "data"], cwd=paths.PROJECT_ROOT, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return rev + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_run_metadata(study: Study, staging: Path, overrides: list[str], steps: list[dict]) -> Path:
    """Write ``reports/<study>/run.json``: what ran, on which data, with which parameters and versions."""
    data = study.data_path
    meta = {
        "study": study.name,
        "title": study.title,
        "synthetic": bool(study.synthetic),
        "data_file": data.name,
        "data_sha256": _sha256(data),
        "study_file_sha256": _sha256(study.path),
        "overrides": overrides,
        # the data file by name only: a user's path can tell where patient data lives
        "parameters": {**study.config, "data": data.name},
        "steps": [s["notebook"] for s in steps],
        "git_commit": git_commit(),
        "versions": package_versions(),
    }
    out = staging / "reports" / study.name / "run.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return out


def _scorecard(study: str, root: Path) -> str:
    path = root / "tables" / study / "reproduction.csv"
    if not path.exists():
        return "<p>No reproduction check in this study.</p>"
    rep = pd.read_csv(path, dtype=str, keep_default_na=False)
    counts = rep["status"].value_counts()
    summary = ", ".join(f"{n} {html.escape(s)}" for s, n in counts.items())
    rows = []
    for r in rep.itertuples(index=False):
        cls = {"reproduced": "status-reproduced", "not reproduced": "status-not"}.get(r.status, "status-inconsistent")
        rows.append(f"<tr><td>{html.escape(r.claim_id)}</td><td>{html.escape(r.quantity)}</td>"
                    f"<td>{html.escape(r.published)}</td><td>{html.escape(r.reproduced)}</td>"
                    f"<td>{html.escape(r.tolerance)}</td><td class='{cls}'>{html.escape(r.status)}</td>"
                    f"<td>{html.escape(r.source)}</td></tr>")
    return (f"<p><b>Reproduction scorecard:</b> {len(rep)} numbers: {summary}.</p>"
            "<details><summary>Every number</summary><table class='mbcrt-table'><tr><th>claim</th><th>quantity</th>"
            "<th>published</th><th>reproduced</th><th>tolerance</th><th>status</th><th>source</th></tr>"
            + "".join(rows) + "</table></details>")


def _warnings(study_dir: Path) -> str:
    items = []
    for f in sorted(study_dir.glob("warnings_*.json")):
        step = f.stem.removeprefix("warnings_")
        items += [f"<li><b>{html.escape(step)}</b>: {html.escape(w)}</li>" for w in json.loads(f.read_text())]
    return f"<div class='mbcrt-warning'><b>Warnings</b><ul>{''.join(items)}</ul></div>" if items else ""


def write_index(root: Path | None = None) -> Path:
    """Write ``reports/index.html`` over every study that has a completed run under ``root``."""
    root = Path(root) if root is not None else paths.PROJECT_ROOT
    sections = []
    for run_file in sorted((root / "reports").glob("*/run.json")):
        meta = json.loads(run_file.read_text(encoding="utf-8"))
        name = meta["study"]
        links = "".join(
            f"<li><a href='{name}/{Path(nb).stem}.html'>{html.escape(Path(nb).stem)}</a> "
            f"(<a href='{name}/{Path(nb).stem}.analyst.html'>with code</a>)</li>" for nb in meta["steps"])
        badge = " <span class='mbcrt-synthetic'>SYNTHETIC DATA</span>" if meta["synthetic"] else ""
        versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        params = yaml.safe_dump(meta["parameters"], sort_keys=False, allow_unicode=True)
        sections.append(
            f"<h2 id='{name}'>{html.escape(meta['title'])}{badge}</h2>"
            f"<p>Study <code>{html.escape(name)}</code>; data <code>{html.escape(meta['data_file'])}</code> "
            f"(SHA-256 <code>{meta['data_sha256'][:16]}</code>); git commit <code>{html.escape(meta['git_commit'])}"
            f"</code>; overrides: <code>{html.escape(' '.join(meta['overrides']) or 'none')}</code>.</p>"
            f"{_warnings(run_file.parent)}<h3>Steps</h3><ol>{links}</ol><h3>Reproduction</h3>{_scorecard(name, root)}"
            f"<details><summary>Parameters</summary><pre>{html.escape(params)}</pre></details>"
            f"<details><summary>Software</summary><p>{html.escape(versions)}</p></details>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>mbcrt reports</title>"
            f"<style>body{{font:15px sans-serif;max-width:1100px;margin:24px auto;padding:0 16px}}{CSS}</style>"
            "</head><body><h1>mbcrt: study reports</h1>"
            "<p>Each step is shown for clinicians (no code) and for analysts (with code). Results from synthetic "
            "cohorts are marked SYNTHETIC DATA: they illustrate the method and the published numbers, they are not "
            "patient data.</p>" + ("".join(sections) or "<p>No study has been run yet.</p>") + "</body></html>\n")
    out = root / "reports" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
