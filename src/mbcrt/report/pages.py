"""Rendered reports: each executed notebook as two static HTML pages, the study report's page chrome,
and ``reports/index.html``.

Pages are static and self-contained: no script, font or style is fetched from the network (the
nbconvert template's script tags are removed; nothing in the pages needs JavaScript), figures are
inline SVG. The clinician page hides code and the injected parameters; the analyst page shows code.

The index and the study reports (:mod:`mbcrt.report.study_report`) are built from a run's outputs
only (``tables/<study>/*.csv``, ``reports/<study>/run.json`` and ``warnings_*.json``): they read and
format, they never compute a statistic. Both print to PDF without a table row or a figure split
across pages (:data:`PAGE_CSS`).
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
from mbcrt.report import format as fmt
from mbcrt.study.config import Study

KEY_PACKAGES = ("mbcrt", "numpy", "pandas", "scipy", "lifelines", "statsmodels", "matplotlib", "seaborn",
                "numba", "papermill", "nbconvert", "pandera", "great-tables")

#: Classes shared by the step pages (inside nbconvert's own stylesheet) and the pages made here.
CSS = """
.mbcrt-nav{font:14px sans-serif;padding:8px 16px;background:#f3f4f6;border-bottom:1px solid #ddd}
.mbcrt-study{font:600 15px sans-serif;color:#374151;margin:4px 0}
.mbcrt-synthetic{background:#fff4e5;border:2px solid #e67e22;color:#7a3e00;padding:8px 12px;margin:8px 0;
 font:14px sans-serif}
.mbcrt-real{background:#eef6ee;border:2px solid #2e7d32;color:#1b4d1e;padding:8px 12px;margin:8px 0;
 font:14px sans-serif}
.mbcrt-warning{background:#fdecea;border-left:5px solid #c0392b;padding:6px 10px;margin:6px 0;font:14px sans-serif}
.mbcrt-caption{font:14px sans-serif;margin:14px 0 4px}
table.mbcrt-table{border-collapse:collapse;font:13px sans-serif;margin-bottom:12px}
table.mbcrt-table th,table.mbcrt-table td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:left}
table.mbcrt-table th{background:#f9fafb}
.status-reproduced{color:#1e7e34}.status-not{color:#c0392b;font-weight:600}.status-inconsistent{color:#8e44ad}
"""

#: Layout of the index and the study reports, on screen and in print. In print: A4 with margins, no
#: navigation, no table row and no figure split across pages, table headers repeated on each page,
#: a caption kept with what it captions.
PAGE_CSS = """
body{font:15px/1.55 -apple-system,'Segoe UI','DejaVu Sans',Arial,sans-serif;color:#1f2933;margin:0;
 background:#fff}
main{max-width:1000px;margin:0 auto;padding:8px 20px 40px}
h1{font-size:26px;line-height:1.25;margin:18px 0 8px}
h2{font-size:20px;margin:30px 0 8px;padding-top:6px;border-top:1px solid #e5e7eb}
h3{font-size:16px;margin:18px 0 6px}
a{color:#1d4ed8}
.mbcrt-nav a{margin-right:4px}
.mbcrt-contents{font-size:14px;background:#f9fafb;border:1px solid #e5e7eb;padding:6px 14px;margin:12px 0}
.mbcrt-contents ol{margin:4px 0;padding-left:22px;columns:2}
.mbcrt-figure{margin:18px 0 22px;text-align:center}
.mbcrt-figure svg{width:100%;height:auto;display:block;margin:0 auto}
.mbcrt-figure figcaption,.mbcrt-caption{font-size:14px;text-align:left;margin:8px 0 4px}
.mbcrt-table-block{margin:16px 0 22px;overflow-x:auto}
.mbcrt-table-note{font-size:13px;color:#4b5563;margin:4px 0}
#mbcrt-sensitivity td.gt_center,#mbcrt-rmst td.gt_center{white-space:nowrap}  /* estimates whole beside long notes */
.mbcrt-paper{font-style:italic;color:#4b5563}
.mbcrt-card h2 a{color:#111827;text-decoration:none}.mbcrt-card h2 a:hover{text-decoration:underline}
.mbcrt-readings li{margin-bottom:6px}
.mbcrt-warnings{background:#fdecea;border-left:5px solid #c0392b;padding:6px 12px;margin:10px 0;font-size:14px}
.mbcrt-warnings summary{cursor:pointer}
.mbcrt-warnings ul{margin:4px 0 6px;padding-left:22px}
.mbcrt-card{border:1px solid #d1d5db;border-radius:8px;padding:4px 20px 14px;margin:22px 0;background:#fff}
.mbcrt-card h2{border-top:0;margin-top:12px}
.mbcrt-headline{margin:8px 0;padding-left:20px}
.mbcrt-headline li{margin:2px 0}
.mbcrt-badge-synthetic,.mbcrt-badge-real{display:inline-block;font:600 12px sans-serif;padding:2px 8px;
 border-radius:4px;vertical-align:middle;margin-left:6px}
.mbcrt-badge-synthetic{background:#fff4e5;border:1px solid #e67e22;color:#7a3e00}
.mbcrt-badge-real{background:#eef6ee;border:1px solid #2e7d32;color:#1b4d1e}
.mbcrt-open{display:inline-block;margin:6px 0;padding:6px 14px;background:#1d4ed8;color:#fff;border-radius:6px;
 text-decoration:none;font-weight:600}
.mbcrt-steps-inline{font-size:14px}
details.mbcrt-meta{margin:8px 0;font-size:14px}
details.mbcrt-meta pre{font-size:12px;background:#f9fafb;padding:8px;overflow-x:auto;white-space:pre-wrap}
@page{size:A4;margin:16mm 14mm 16mm 14mm}
@media print{
 body{font-size:10pt;line-height:1.4}
 main{max-width:none;padding:0}
 .mbcrt-nav,.mbcrt-contents,.mbcrt-open{display:none}
 h1{font-size:17pt}
 h2{font-size:13pt;border-top:0;margin-top:16pt}
 h2,h3,.mbcrt-caption{break-after:avoid;page-break-after:avoid}
 figure,tr,li,.mbcrt-card,.mbcrt-synthetic,.mbcrt-real{break-inside:avoid;page-break-inside:avoid}
 thead{display:table-header-group}
 tfoot{display:table-row-group}
 .mbcrt-table-block table{font-size:8.5pt!important}
 .mbcrt-table-block,.mbcrt-table-block div{overflow:visible!important;height:auto!important}
 .mbcrt-figure svg{max-height:235mm}
 a{color:inherit;text-decoration:none}
}
"""

#: Heading of each step (the notebook's stem without its number), for links and warnings.
STEP_TITLES = {
    "cohort": "Cohort and exclusions",
    "baseline": "Baseline characteristics",
    "matching": "Propensity score matching",
    "survival": "Survival",
    "cox": "Cox regression",
    "subgroups": "Subgroups",
    "imputation": "Multiple imputation",
    "persistence": "Treatment persistence",
    "sensitivity": "Sensitivity analyses",
    "reproduction": "Reproduction check",
}
#: Reproduction statuses in the order a scorecard lists them.
STATUS_ORDER = ("reproduced", "not reproduced", "inconsistent in source")

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*href=\"https?://[^>]*>", re.I)
_EXTERNAL_IMPORT = re.compile(r"@import\s+url\(\s*['\"]?https?://[^)]*\)\s*;?", re.I)


def make_static(page: str) -> str:
    """Remove every script, external stylesheet and stylesheet import (a web font): the page must
    read the same offline."""
    page = _SCRIPT.sub("", page)
    page = _EXTERNAL_IMPORT.sub("", page)
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
           f"<a href='report.html'>{html.escape(study.title)}</a> &middot; <b>{html.escape(step)}</b>"
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
    from mbcrt.study.linked import data_files

    data = study.data_path
    linked = data_files(study)
    parameters = {**study.config, "data": data.name}
    if linked:  # linked tables by file name only, as the patient table
        parameters["linked"] = {name: {**spec, "data": linked[name].name}
                                for name, spec in study.config["linked"].items()}
    meta = {
        "study": study.name,
        "title": study.title,
        "synthetic": bool(study.synthetic),
        "data_file": data.name,
        "data_sha256": _sha256(data),
        "study_file_sha256": _sha256(study.path),
        "overrides": overrides,
        "linked_files": {name: {"file": f.name, "sha256": _sha256(f)} for name, f in sorted(linked.items())},
        # data files by name only: a user's path can tell where patient data lives
        "parameters": parameters,
        "steps": [s["notebook"] for s in steps],
        "git_commit": git_commit(),
        "versions": package_versions(),
    }
    out = staging / "reports" / study.name / "run.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return out


# ---- shared by the index and the study reports -------------------------------------------------

def endpoint_label(endpoint: dict) -> str:
    """An endpoint's label as people read it (its name when the study file gives none)."""
    return str(endpoint.get("label") or endpoint.get("name", "")).strip()


def step_name(notebook: str) -> str:
    """``"05_cox.ipynb"`` -> ``"cox"``."""
    return Path(notebook).stem.split("_", 1)[-1]


def step_title(step_or_notebook: str) -> str:
    """The human heading of a step, from its name or its notebook's file name."""
    step = step_name(step_or_notebook) if step_or_notebook[:2].isdigit() else step_or_notebook
    return STEP_TITLES.get(step, step.replace("_", " ").capitalize())


def read_table(path: Path) -> pd.DataFrame | None:
    """A table a step wrote, or None when no step wrote it. Only an empty field is missing ("None",
    "NA" are labels)."""
    if not path.exists():
        return None
    return pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)


def read_warnings(study_dir: Path, steps: list[str] | None = None) -> dict[str, list[str]]:
    """``{step: [warning, ...]}`` from ``warnings_<step>.json``, in the order of ``steps`` (step names
    or notebooks) when given; steps without a warning are left out."""
    found = {}
    for f in sorted(study_dir.glob("warnings_*.json")):
        items = json.loads(f.read_text(encoding="utf-8"))
        if items:
            found[f.stem.removeprefix("warnings_")] = [str(w) for w in items]
    order = [step_name(s) if s[:2].isdigit() else s for s in steps or []]
    return dict(sorted(found.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))


def warnings_html(found: dict[str, list[str]], *, open_all: bool = False) -> str:
    """Warnings grouped by step: one line per step (its name and how many), each warning on its own
    line inside a ``<details>`` (open in a report that is printed)."""
    if not found:
        return ""
    total = sum(len(v) for v in found.values())
    groups = "".join(
        f"<details{' open' if open_all else ''}><summary><b>{html.escape(step_title(step))}</b>: "
        f"{len(items)} warning{'s' if len(items) != 1 else ''}</summary><ul>"
        + "".join(f"<li>{html.escape(w)}</li>" for w in items) + "</ul></details>"
        for step, items in found.items())
    return (f"<div class='mbcrt-warnings'><p style='margin:4px 0'><b>Warnings</b> ({total}): read the results "
            f"with these in mind.</p>{groups}</div>")


def data_label(meta: dict) -> str:
    """The banner saying whether the results come from synthetic or real data."""
    if meta.get("synthetic"):
        note = " ".join(str(meta.get("parameters", {}).get("synthetic_note") or "").split()) or (
            "These results come from a synthetic cohort generated to match the published summaries. "
            "They are not patient data.")
        return f"<div class='mbcrt-synthetic'><b>SYNTHETIC DATA.</b> {html.escape(note)}</div>"
    return ("<div class='mbcrt-real'><b>REAL DATA.</b> These results come from the study's own data, "
            "not from a synthetic cohort.</div>")


def data_badge(meta: dict) -> str:
    if meta.get("synthetic"):
        return "<span class='mbcrt-badge-synthetic'>SYNTHETIC DATA</span>"
    return "<span class='mbcrt-badge-real'>REAL DATA</span>"


def html_page(title: str, body: str) -> str:
    """A whole static page: the title, the stylesheets and ``body`` (markup)."""
    return make_static(
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}{PAGE_CSS}</style></head>"
        f"<body>{body}</body></html>\n")


def status_counts(rep: pd.DataFrame) -> list[tuple[str, int]]:
    """(status, count) of a reproduction table, known statuses first."""
    counts = rep["status"].astype(str).value_counts()
    order = [s for s in STATUS_ORDER if s in counts] + sorted(s for s in counts.index if s not in STATUS_ORDER)
    return [(s, int(counts[s])) for s in order]


def scorecard_line(rep: pd.DataFrame | None) -> str:
    """"104 numbers: 100 reproduced, 4 inconsistent in source", or "" when there is nothing to score."""
    if rep is None or not len(rep):
        return ""
    return (f"{fmt.format_count(len(rep))} number{'s' if len(rep) != 1 else ''}: "
            + ", ".join(f"{fmt.format_count(n)} {s}" for s, n in status_counts(rep)))


# ---- the index ---------------------------------------------------------------------------------

#: Decimals of a time (a median) in each time unit.
TIME_DECIMALS = {"days": 0, "months": 1, "years": 2}


def _first(df: pd.DataFrame | None, **where) -> pd.Series | None:
    """The first row of ``df`` whose columns equal ``where`` (as text), or None."""
    if df is None or not len(df):
        return None
    mask = pd.Series(True, index=df.index)
    for col, value in where.items():
        if col not in df.columns:
            return None
        mask &= df[col].astype(str) == str(value)
    return df[mask].iloc[0] if mask.any() else None


def headline(root: Path, meta: dict) -> list[str]:
    """The study's headline results for its card, each a line of markup, read from its tables."""
    name, c = meta["study"], meta["parameters"]
    tables = Path(root) / "tables" / name
    read = lambda t: read_table(tables / f"{t}.csv")  # noqa: E731
    lines = []
    overview, attrition = read("cohort_overview"), read("attrition")
    row = _first(overview, group="All")
    patients = row["patients"] if row is not None else (attrition["remaining"].iloc[-1]
                                                         if attrition is not None and len(attrition) else None)
    arms = c.get("arm_labels") or {}
    if patients is not None and not fmt.is_missing(patients):
        by_arm = ""
        if c.get("treatment") and overview is not None:
            counts = [f"{html.escape(arms[k])} {fmt.format_count(r['patients'])}" for k in ("treated", "control")
                      if (r := _first(overview, group=arms.get(k))) is not None and not fmt.is_missing(r["patients"])]
            by_arm = f" ({', '.join(counts)})" if counts else ""
        lines.append(f"<b>Patients:</b> {fmt.format_count(patients)}{by_arm}")
    matching = read("matching_summary")
    pairs = _first(matching, quantity="n_pairs")
    if pairs is not None:
        lines.append(f"<b>Matched pairs:</b> {fmt.format_count(pairs['value'])}")
    km = read("km_summary")
    endpoint = c["endpoint"]
    if c.get("treatment") and km is not None:
        cohort = "matched" if _first(km, endpoint=endpoint["name"], cohort="matched") is not None else "all"
        decimals = TIME_DECIMALS.get(c["time_unit"], 1)
        medians = [f"{html.escape(arms[k])} "
                   f"{html.escape(fmt.format_median(r['median'], r['median_lower'], r['median_upper'], decimals))}"
                   for k in ("treated", "control")
                   if (r := _first(km, endpoint=endpoint["name"], cohort=cohort, group=arms.get(k))) is not None]
        if medians:
            where = "after matching" if cohort == "matched" else "all patients"
            lines.append(f"<b>{html.escape(endpoint_label(endpoint))}, median</b> "
                         f"({where}; {html.escape(c['time_unit'])}, "
                         f"95% CI): {'; '.join(medians)}")
    pooled = read("mi_cox")  # under multiple imputation the pooled estimate is the primary one
    hr, where = _first(pooled, cohort="matched", model="naive"), "after matching, pooled over the imputations"
    if hr is None:
        hr, where = _first(pooled, cohort="all", model="univariable", term=c.get("treatment")), \
            "unadjusted, all patients, pooled over the imputations"
    if hr is None:
        hr, where = _first(read("cox_matched"), model="naive"), "after matching"
    if hr is None:
        uni = read("cox_univariable")
        hr, where = _first(uni, cohort="all", term=c.get("treatment")), "unadjusted, all patients"
    if hr is not None and c.get("treatment"):
        lines.append(f"<b>Hazard ratio</b>, {html.escape(arms.get('treated', ''))} vs "
                     f"{html.escape(arms.get('control', ''))} ({where}): "
                     f"{html.escape(fmt.format_hr(hr['hr'], hr['lower'], hr['upper']))}, "
                     f"{html.escape(fmt.format_p_label(hr['p'], 0.001))}")
    varying = _first(read("sensitivity"), analysis="time_varying")
    if varying is not None and not fmt.is_missing(varying["hr"]):  # the estimate free of immortal time
        lines.append(f"<b>Hazard ratio with treatment as time-varying</b> (no immortal time; adjusted): "
                     f"{html.escape(fmt.format_hr(varying['hr'], varying['lower'], varying['upper']))}, "
                     f"{html.escape(fmt.format_p_label(varying['p'], 0.001))}")
    persistence = read("persistence")
    if persistence is not None and len(persistence):
        allrows = persistence[persistence["group"].astype(str) == "All"].drop_duplicates("horizon")
        for r in allrows.itertuples(index=False):
            lines.append(f"<b>On the same therapy at {fmt.format_time(r.horizon, c['time_unit'])}:</b> "
                         f"{fmt.format_percent(r.proportion, proportion=True, sign=True)} "
                         f"(95% CI {fmt.format_percent(r.wilson_lower, proportion=True)}"
                         f"{fmt.DASH}{fmt.format_percent(r.wilson_upper, proportion=True)}; "
                         f"{fmt.format_count(r.n_persisting)} of {fmt.format_count(r.n_evaluable)} evaluable patients)")
    return lines


def _card(root: Path, meta: dict) -> str:
    name = meta["study"]
    lines = headline(root, meta)
    score = scorecard_line(read_table(Path(root) / "tables" / name / "reproduction.csv"))
    report = Path(root) / "reports" / name / "report.html"
    open_report = (f"<p><a class='mbcrt-open' href='{name}/report.html'>Read the study report</a></p>"
                   if report.exists() else "")
    steps = " &middot; ".join(
        f"<a href='{name}/{Path(nb).stem}.html'>{html.escape(step_title(nb))}</a> "
        f"(<a href='{name}/{Path(nb).stem}.analyst.html'>code</a>)" for nb in meta["steps"])
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    params = yaml.safe_dump(meta["parameters"], sort_keys=False, allow_unicode=True)
    title = (f"<a href='{name}/report.html'>{html.escape(meta['title'])}</a>" if report.exists()
             else html.escape(meta["title"]))
    return (
        f"<section class='mbcrt-card' id='{name}'><h2>{title} {data_badge(meta)}</h2>"
        + (f"<ul class='mbcrt-headline'>{''.join(f'<li>{x}</li>' for x in lines)}</ul>" if lines else "")
        + (f"<p><b>Reproduction scorecard:</b> {html.escape(score)}"
           + (f" (<a href='{name}/report.html#reproduction'>every number</a>)" if report.exists() else "")
           + ".</p>" if score else "")
        + open_report
        + f"<p class='mbcrt-steps-inline'><b>Steps:</b> {steps}</p>"
        + warnings_html(read_warnings(Path(root) / "reports" / name, meta["steps"]))
        + "<details class='mbcrt-meta'><summary>Run metadata</summary>"
        f"<p>Study <code>{html.escape(name)}</code>; data <code>{html.escape(meta['data_file'])}</code> "
        f"(SHA-256 <code>{html.escape(meta['data_sha256'])}</code>); "
        + "".join(f"linked table {html.escape(k)} <code>{html.escape(v['file'])}</code> (SHA-256 "
                  f"<code>{html.escape(v['sha256'])}</code>); " for k, v in meta.get("linked_files", {}).items())
        + "study file SHA-256 "
        f"<code>{html.escape(meta.get('study_file_sha256', ''))}</code>; git commit "
        f"<code>{html.escape(meta['git_commit'])}</code>; overrides: "
        f"<code>{html.escape(' '.join(meta['overrides']) or 'none')}</code>.</p>"
        f"<p><b>Software:</b> {html.escape(versions)}</p>"
        f"<p><b>Parameters</b> (the study file with defaults filled in):</p><pre>{html.escape(params)}</pre>"
        "</details></section>")


def write_index(root: Path | None = None) -> Path:
    """Write ``reports/index.html`` over every study that has a completed run under ``root``: one card
    per study with its headline results, data label, scorecard, links, warnings and run metadata."""
    root = Path(root) if root is not None else paths.PROJECT_ROOT
    cards = [_card(root, json.loads(f.read_text(encoding="utf-8")))
             for f in sorted((root / "reports").glob("*/run.json"))]
    body = ("<main><h1>mbcrt: study reports</h1>"
            "<p>One card per study: its headline results, the reproduction scorecard where the study has "
            "published numbers to check, and the study report, which reads like a paper's results section. "
            "Each step is also shown on its own page, for clinicians (no code) and for analysts (with code). "
            "Results from synthetic cohorts are marked SYNTHETIC DATA: they illustrate the method and the "
            "published numbers, they are not patient data.</p>"
            + ("".join(cards) or "<p>No study has been run yet.</p>") + "</main>")
    out = root / "reports" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html_page("mbcrt: study reports", body), encoding="utf-8")
    return out
