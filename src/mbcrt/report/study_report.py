"""The study report: one page per study that a clinician reads like a paper's results section.

``reports/<study>/report.html`` sets out, in order: the title and the data label (synthetic or real),
a design paragraph (cohort, comparison, endpoint, methods, and how the study file read each ambiguity
of the paper), the flow of patients, Table 1 before and after matching, the matching, the
Kaplan-Meier figures with the survival table, the Cox tables, multiple imputation, the subgroup
forest plots, the sensitivity analyses, treatment persistence, the reproduction scorecard, the
warnings raised by the steps, and links to the step pages. A section appears only when the run
wrote its outputs; a figure no section knows is still shown, under "Other figures".

The page is built only from a run's outputs under an output root (``tables/<study>/*.csv``,
``figures/<study>/*.svg``, ``reports/<study>/run.json`` and ``warnings_*.json``): it reads and
formats (tables through :mod:`mbcrt.report.tables`, numbers through :mod:`mbcrt.report.format`), it
never computes a statistic. It is static and self-contained (no script, nothing fetched from the
network; figures are inline SVG) and prints to PDF without a table row or a figure split across
pages (:data:`mbcrt.report.pages.PAGE_CSS`).

Figures and tables are numbered in reading order; where the study file's ``paper_names`` gives an
output the paper's own name ("Figure 1B", "Table 2"), the caption says so.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mbcrt.report import format as fmt
from mbcrt.report import pages
from mbcrt.report import tables as pub
from mbcrt.study.config import Study

CONF_TYPES = {"log-log": "log-log", "log": "log", "plain": "plain (linear)"}
MEDIAN_CI = {"brookmeyer-crowley": "Brookmeyer-Crowley method",
             "symmetric": "median \u00b1 1.96 standard errors (symmetric)"}
CALIPER_SCALES = {"logit": "standard deviation of the logit of the propensity score",
                  "probability": "standard deviation of the propensity score"}
ORDERS = {"largest": "in descending order of propensity", "smallest": "in ascending order of propensity",
          "data": "in data order", "random": "in random order"}


# ---- inline SVG -------------------------------------------------------------------------------------

_XML_HEAD = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')
_SIZE = re.compile(r'^(<svg\b[^>]*?)\s+width="([^"]+)"\s+height="([^"]+)"', re.S)


def inline_svg(path: Path, prefix: str, label: str) -> str:
    """An SVG file as markup to place in a page.

    Its ids (clip paths, glyphs) are prefixed so that several figures in one page never share one,
    its stylesheet applies to it alone, and it scales to the page's width up to its natural size.
    """
    svg = _XML_HEAD.sub("", path.read_text(encoding="utf-8"))
    svg = _METADATA.sub("", svg)
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    svg = svg.replace('<style type="text/css">*{', f'<style type="text/css">#{prefix} *{{')
    size = _SIZE.search(svg)
    width = size.group(2) if size else "100%"
    svg = _SIZE.sub(lambda m: m.group(1), svg, count=1)
    return svg.replace("<svg ", f'<svg id="{prefix}" class="mbcrt-svg" role="img" aria-label="{html.escape(label)}" '
                       f'style="max-width:{width}" ', 1).strip()


# ---- the page -----------------------------------------------------------------------------------------

@dataclass
class _Page:
    """The report being written: where its inputs are, and its running figure and table numbers."""

    root: Path
    name: str
    meta: dict
    parts: list[str] = field(default_factory=list)
    figures: int = 0
    tables: int = 0
    contents: list[tuple[str, str]] = field(default_factory=list)

    @property
    def config(self) -> dict:
        return self.meta["parameters"]

    @property
    def study(self) -> Study:
        """The study as the run saw it (its parameters in ``run.json``), for the table builders."""
        return Study(config=self.config, path=self.root / "reports" / self.name / "run.json")

    def table(self, name: str):
        return pages.read_table(self.root / "tables" / self.name / f"{name}.csv")

    def has_figure(self, name: str) -> bool:
        return (self.root / "figures" / self.name / f"{name}.svg").exists()

    def paper_name(self, output: str) -> str | None:
        return (self.config.get("paper_names") or {}).get(output)

    def section(self, anchor: str, title: str) -> None:
        self.contents.append((anchor, title))
        self.parts.append(f"<h2 id='{anchor}'>{html.escape(title)}</h2>")

    def text(self, paragraph: str) -> None:
        """A paragraph of already-escaped markup."""
        self.parts.append(f"<p>{paragraph}</p>")

    def step_text(self, name: str) -> None:
        """The words a step kept for the report (``ctx.note(..., save_as=name)``), Markdown rendered as HTML."""
        path = self.root / "reports" / self.name / f"text_{name}.md"
        if path.exists():
            import mistune

            self.parts.append(f"<div class='mbcrt-step-text'>{mistune.html(path.read_text(encoding='utf-8'))}</div>")

    def _in_paper(self, output: str | None) -> str:
        paper = self.paper_name(output) if output else None
        return f" <span class='mbcrt-paper'>In the paper: {html.escape(paper)}.</span>" if paper else ""

    def figure(self, name: str, caption: str) -> None:
        """Figure ``name`` (``figures/<study>/<name>.svg``), numbered, with its caption under it."""
        if not self.has_figure(name):
            return
        self.figures += 1
        svg = inline_svg(self.root / "figures" / self.name / f"{name}.svg", f"fig{self.figures}", caption)
        self.parts.append(f"<figure id='figure-{self.figures}' class='mbcrt-figure'>{svg}"
                          f"<figcaption><b>Figure {self.figures}.</b> {html.escape(_sentence(caption))}"
                          f"{self._in_paper(name)}</figcaption></figure>")

    def read(self, name: str):
        """A table of the run for the table builders (which raise FileNotFoundError on a missing one)."""
        df = self.table(name)
        if df is None:
            raise FileNotFoundError(name)
        return df

    def saved_table(self, name: str, caption: str | None = None, note: str = "") -> None:
        """Table ``name`` of the run in its publication form (:func:`mbcrt.report.tables.for_saved_table`)."""
        df = self.table(name)
        if df is not None and len(df):
            self.pub_table(pub.for_saved_table(name, df, self.study, read=self.read), name, caption, note)

    def pub_table(self, table: pub.PubTable, output: str | None, caption: str | None = None, note: str = "") -> None:
        """A publication table, numbered, its caption (``caption`` or the table's own) set by the page."""
        body = dataclasses.replace(table, caption="").to_html()
        self.table_block(output, caption or table.caption, body, note)

    def table_block(self, output: str | None, caption: str, body: str, note: str = "") -> None:
        """A numbered table: its caption over it (kept with its first rows in print), a note under it."""
        self.tables += 1
        foot = f"<p class='mbcrt-table-note'>{note}</p>" if note else ""
        self.parts.append(f"<div id='table-{self.tables}' class='mbcrt-table-block'>"
                          f"<p class='mbcrt-caption'><b>Table {self.tables}.</b> {html.escape(_sentence(caption))}"
                          f"{self._in_paper(output)}</p>{body}{foot}</div>")


def _sentence(text: str) -> str:
    """A caption ends with a full stop."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "Overall survival" -> "overall survival"; "PFS" and "HER2 ..." stay."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _where(cohort: str) -> str:
    return "after matching" if cohort == "matched" else "in the analysis cohort"


def _ci_level(config: dict) -> str:
    return f"{100 * (1 - float(config['survival']['alpha'])):g}%"


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---- sections --------------------------------------------------------------------------------------

def _design(page: _Page) -> None:
    c = page.config
    page.section("design", "Study design")
    if c.get("description"):
        page.text(html.escape(" ".join(str(c["description"]).split())))
    sentences = []
    attrition = page.table("attrition")
    if attrition is not None and len(attrition):
        assessed, kept = attrition["remaining"].iloc[0], attrition["remaining"].iloc[-1]
        reasons = [str(r) for r in attrition["criterion"].iloc[1:-1]]
        counted = not (fmt.is_missing(kept) or fmt.is_missing(assessed))  # blank when suppressed
        sentences.append("<b>Cohort.</b> " + (f"{fmt.format_count(kept)} of {fmt.format_count(assessed)} records "
                                              "assessed form" if counted else "The records assessed form")
                         + " the analysis cohort"
                         + (f" (excluded: {html.escape('; '.join(reasons))})." if reasons else "."))
    overview = page.table("cohort_overview")
    arms = c.get("arm_labels") or {}
    if c.get("treatment"):
        counts = {}
        if overview is not None:
            counts = {g: n for g, n in zip(overview["group"].astype(str), overview["patients"])
                      if not fmt.is_missing(n)}
        treated, control = arms.get("treated", "Treated"), arms.get("control", "Control")
        sentences.append(
            f"<b>Comparison.</b> {html.escape(treated)}"
            + (f" ({fmt.format_count(counts[treated])} patients)" if treated in counts else "")
            + f" versus {html.escape(control)}"
            + (f" ({fmt.format_count(counts[control])} patients)" if control in counts else "") + ".")
    else:
        sentences.append("<b>Comparison.</b> A single-arm cohort: no comparison group.")
    endpoints = [pages.endpoint_label(e) for e in [c["endpoint"], *(c.get("endpoints") or [])]]
    sentences.append(f"<b>Endpoint{'s' if len(endpoints) > 1 else ''}.</b> {html.escape(_join(endpoints))}; "
                     f"time in {html.escape(c['time_unit'])}.")
    page.text(" ".join(sentences))
    page.text("<b>Methods.</b> " + " ".join(_methods(page)))
    readings = c.get("readings") or []
    if readings:
        page.parts.append("<h3>How the study file reads the paper</h3><p>Where the paper leaves a choice open, "
                          "the study file states the reading used:</p><ul class='mbcrt-readings'>")
        for r in readings:
            why = f" <i>Why:</i> {html.escape(' '.join(str(r['why']).split()))}" if r.get("why") else ""
            page.parts.append(f"<li><b>{html.escape(_sentence(str(r.get('topic', ''))))}</b> "
                              f"{html.escape(' '.join(str(r.get('reading', '')).split()))}{why}</li>")
        page.parts.append("</ul>")


def _methods(page: _Page) -> list[str]:
    """The statistical methods, each stated from the run's parameters."""
    c, steps = page.config, {pages.step_name(s) for s in page.meta["steps"]}
    s, level = c["survival"], _ci_level(c)
    out = []
    if "baseline" in steps:
        out.append("Baseline characteristics are given as n (%) or median (IQR) and compared by the chi-square "
                   "test (Fisher's exact test where an expected count is below 5) or the Mann-Whitney U test, "
                   "with standardized mean differences (SMD).")
    if "matching" in steps:
        m = c["matching"]
        n_cov = len(m.get("covariates") or c.get("covariates") or [])
        caliper = (f"a caliper of {m['caliper']:g} {CALIPER_SCALES.get(m['caliper_scale'], m['caliper_scale'])}"
                   if m.get("caliper") is not None else "no caliper")
        out.append(f"Propensity scores were estimated by logistic regression on {n_cov} covariates; patients "
                   f"were matched 1:{m['ratio']} by nearest neighbour "
                   f"{'with' if m.get('replace') else 'without'} replacement, treated patients taken "
                   f"{ORDERS.get(m['order'], m['order'])}, with {caliper}.")
    if "survival" in steps or "persistence" in steps:
        out.append(f"Survival was estimated by the Kaplan-Meier method with {level} confidence intervals on the "
                   f"{CONF_TYPES.get(s['conf_type'], s['conf_type'])} scale; the median's {level} confidence "
                   f"interval by the {MEDIAN_CI.get(s['median_ci'], s['median_ci'])}; groups compared by the "
                   "log-rank test; median follow-up by the reverse Kaplan-Meier method.")
    if "cox" in steps or "subgroups" in steps:
        out.append(f"Hazard ratios (HR) come from Cox proportional-hazards models ({c['cox']['ties'].capitalize()} "
                   "ties) with Wald confidence intervals and p-values; proportional hazards were checked by "
                   "scaled Schoenfeld residuals.")
        if "matching" in steps:
            out.append("After matching, the treatment HR is also given with standard errors robust to the "
                       "pairing and from a model stratified by pair.")
    if "subgroups" in steps:
        out.append("Subgroup HRs come from Cox models within each subgroup, with a test of the treatment by "
                   "subgroup interaction.")
    if "persistence" in steps:
        p = c.get("persistence") or {}
        horizons = [fmt.format_time(h, c["time_unit"]) for h in p.get("horizons", [6, 12])]
        out.append(f"Persistence at {html.escape(_join(horizons))} is the proportion of evaluable patients still "
                   "on the same therapy, with Wilson 95% confidence intervals (exact Clopper-Pearson beside "
                   "them); groups compared by the chi-square and Fisher-Freeman-Halton tests.")
    if "sensitivity" in steps:
        out.append("The treatment effect was also estimated with the time of treatment start taken into account "
                   "(treatment as a time-varying covariate, landmark analyses, a clone-censor-weight emulation of "
                   "a target trial) and with propensity weights instead of matching; E-values and restricted mean "
                   "survival times are given beside them.")
    out += _missing_data(c)
    if int(c.get("min_cell_count") or 0) > 1:
        out.append(f"Counts below {int(c['min_cell_count'])} patients are suppressed.")
    return out


def _missing_data(c: dict) -> list[str]:
    """How missing covariate values were handled (the study file's ``missing``)."""
    missing = c.get("missing") or {}
    strategy = missing.get("strategy") if isinstance(missing, dict) else missing
    if strategy == "complete_case":
        return ["Patients with a missing model covariate were excluded (complete-case analysis; the flow of "
                "patients counts them per variable)."]
    if strategy == "multiple_imputation":
        m = missing.get("imputations", 20)
        return [f"Missing covariate values were imputed by chained equations ({m} imputations; predictive mean "
                "matching for numbers, logistic or multinomial models for categories; the event indicator and "
                "the Nelson-Aalen cumulative hazard among the predictors); matching and the Cox models were run "
                "within each imputed data set and pooled by Rubin's rules, with the fraction of missing "
                "information reported. Table 1 shows the observed data; the matching and Cox sections use "
                "complete cases, the multiple-imputation section gives the primary estimates."]
    return []


def _patients(page: _Page) -> None:
    if not (page.has_figure("flow") or page.table("attrition") is not None):
        return
    page.section("patients", "Patients")
    page.figure("flow", "Flow of patients: records assessed, exclusions by criterion, and the analysis cohort"
                + (" by arm" if page.config.get("treatment") else ""))
    page.saved_table("cohort_overview", "Patients and events in the analysis cohort")
    missing = page.table("missingness")
    if missing is not None and len(missing) and (pd.to_numeric(missing.get("missing"), errors="coerce") > 0).any():
        page.saved_table("missingness", "Missing values of the analysis variables, by arm")
        page.figure("missingness", "Missing values of the analysis variables, by arm")
    elif missing is not None and len(missing):
        page.text("No analysis variable has a missing value.")


def _baseline(page: _Page) -> None:
    side_by_side, before = page.table("table1"), page.table("table1_all")
    if side_by_side is None and before is None:
        return
    page.section("baseline", "Baseline characteristics")
    if side_by_side is not None:
        page.pub_table(pub.table_one(side_by_side, page.study, name="table1"), "table1",
                       "Baseline characteristics before and after propensity score matching")
    else:
        page.pub_table(pub.table_one(before, page.study, name="table1_all"), "table1",
                       "Baseline characteristics of the analysis cohort")


def _matching(page: _Page) -> None:
    summary = page.table("matching_summary")
    if summary is None:
        return
    page.section("matching", "Propensity score matching")
    values = dict(zip(summary["quantity"].astype(str), summary["value"]))
    arms = page.config["arm_labels"]
    if "n_pairs" in values:
        unmatched = values.get("unmatched treated")
        page.text(f"{fmt.format_count(values['n_pairs'])} matched pairs were formed from "
                  f"{fmt.format_count(values.get('n_treated'))} {html.escape(arms['treated'])} and "
                  f"{fmt.format_count(values.get('n_control'))} {html.escape(arms['control'])} patients"
                  + (f"; {fmt.format_count(unmatched)} {html.escape(arms['treated'])} patients had no match within "
                     "the caliper." if not fmt.is_missing(unmatched) and float(unmatched) > 0 else "."))
    page.figure("love_plot", "Balance of the matching covariates: absolute standardized mean differences "
                "before and after matching")
    page.figure("ps_overlap", "Propensity score distributions by arm before and after matching")


def _km_names(page: _Page) -> list[str]:
    """Kaplan-Meier figures in reading order: per endpoint, the analysis cohort, matched, then km_by."""
    c = page.config
    eps = [c["endpoint"]] + list(c.get("endpoints") or [])
    cohorts = ["all", "matched"] + [k["name"] for k in c.get("km_by") or []]
    names = [f"km_{e['name']}_{k}" for e in eps for k in cohorts]
    return [n for n in names if page.has_figure(n)]


def _km_caption(page: _Page, name: str) -> str:
    c = page.config
    for ep in [c["endpoint"]] + list(c.get("endpoints") or []):
        for cohort in ["all", "matched"]:
            if name == f"km_{ep['name']}_{cohort}":
                return (f"Kaplan-Meier estimates of {_in_sentence(pages.endpoint_label(ep))} {_where(cohort)}"
                        + (" by arm" if c.get("treatment") else "") + f" ({_ci_level(c)} confidence bands)")
        for spec in c.get("km_by") or []:
            if name == f"km_{ep['name']}_{spec['name']}":
                label = spec.get("label") or f"by {spec['by']}"
                return f"Kaplan-Meier estimates of {_in_sentence(pages.endpoint_label(ep))} {label}"
    return name


def _survival(page: _Page) -> None:
    summary, names = page.table("km_summary"), _km_names(page)
    if summary is None and not names:
        return
    page.section("survival", "Survival")
    c = page.config
    followup = page.table("followup")
    if followup is not None and len(followup):
        r = followup.iloc[0]
        decimals = pages.TIME_DECIMALS.get(c["time_unit"], 1)
        page.text(f"Median follow-up {_where(str(r['cohort']))} was "
                  f"{html.escape(fmt.format_median(r['median'], r['lower'], r['upper'], decimals))} "
                  f"{html.escape(c['time_unit'])} (95% CI; reverse Kaplan-Meier).")
    for name in names:
        page.figure(name, _km_caption(page, name))
    if summary is not None and len(summary):
        table = pub.survival_table(summary, page.table("landmarks"), page.study, logrank=page.table("logrank"),
                                   followup=followup)
        page.pub_table(table, "km_summary", f"Patients, events, median {_in_sentence(pages.endpoint_label(c['endpoint']))} and "
                       "survival at the landmark times")


def _cox(page: _Page) -> None:
    uni, multi, matched = page.table("cox_univariable"), page.table("cox_multivariable"), page.table("cox_matched")
    if uni is None and multi is None and matched is None:
        return
    page.section("cox", "Cox regression")
    if uni is not None or multi is not None:
        page.pub_table(pub.cox_table(uni, multi, page.study), "cox_table", "Univariable and multivariable Cox "
                       "proportional-hazards models")
    if matched is not None and len(matched):
        page.pub_table(pub.cox_matched_table(matched, page.study), "cox_matched",
                       "Treatment hazard ratio after matching: standard Cox model, standard errors robust to "
                       "the pairing, and model stratified by pair")
    ph = page.table("cox_ph_test")
    if ph is not None and len(ph):
        page.pub_table(pub.ph_test_table(ph, page.study), "cox_ph_test",
                       "Test of proportional hazards (scaled Schoenfeld residuals)")


def _subgroups(page: _Page) -> None:
    names = [n for n in ("forest_all", "forest_matched", "subgroup_km_all", "subgroup_km_matched")
             if page.has_figure(n)]
    if not names:
        return
    page.section("subgroups", "Subgroups")
    for cohort in ("all", "matched"):
        page.figure(f"forest_{cohort}", f"Treatment hazard ratio by subgroup {_where(cohort)} "
                    f"({_ci_level(page.config)} CI), with the p-value of the interaction")
    for cohort in ("all", "matched"):
        page.figure(f"subgroup_km_{cohort}", f"Kaplan-Meier curves by arm within subgroups {_where(cohort)}")


def _imputation(page: _Page) -> None:
    """Multiple imputation of missing covariates (``missing: multiple_imputation``)."""
    if not any(page.table(t) is not None for t in ("mi_missing", "mi_cox", "mi_landmarks")):
        return
    page.section("imputation", "Multiple imputation")
    page.saved_table("mi_missing", "Model covariates: patients with the value missing, and the imputation method")
    page.saved_table("mi_cox", "Hazard ratios pooled over the imputations (Rubin's rules)")
    page.saved_table("mi_landmarks", "Survival at the landmarks pooled over the imputations")
    page.figure("mi_convergence", "Mean of the imputed values after each iteration, one line per imputation")


def _sensitivity(page: _Page) -> None:
    """The sensitivity step: the treatment effect under each analysis, RMST and E-values."""
    if page.table("sensitivity") is None and not page.has_figure("sensitivity_forest"):
        return
    page.section("sensitivity", "Sensitivity analyses")
    page.step_text("sensitivity_data")
    page.figure("sensitivity_forest", "Treatment hazard ratio (95% CI) under each analysis")
    page.saved_table("sensitivity", "Treatment hazard ratio under each analysis")
    page.step_text("sensitivity_interpretation")
    page.figure("sensitivity_km", "Survival by arm under the analyses that handle the time of treatment start")
    page.saved_table("rmst", "Difference in restricted mean survival time (treated minus control)")
    page.saved_table("evalue", "E-values: how strong an unmeasured confounder would have to be to explain the "
                     "effect away")


def _persistence(page: _Page) -> None:
    if page.table("persistence") is None:
        return
    c = page.config
    p = c.get("persistence") or {}
    page.section("persistence", "Treatment persistence")
    page.saved_table("persistence", "Patients on the same therapy at each horizon, overall and by group")
    page.saved_table("persistence_tests", "Tests of equal proportions across groups")
    page.saved_table("persistence_sensitivity", "Persistence under each definition of an evaluable patient")
    horizon = p.get("forest_horizon") or (p.get("horizons") or [None])[0]
    page.figure("forest_persistence", f"Proportion on the same therapy at {fmt.format_time(horizon, c['time_unit'])} "
                "by subgroup (Wilson 95% CI; dashed line: all patients)")
    page.saved_table("persistence_subgroups", "Persistence by subgroup")
    page.figure("swimmer", "Time on the same therapy, one lane per patient (anonymous), with progression, change "
                "of therapy, death and censoring")


def _scorecard(page: _Page) -> None:
    rep = page.table("reproduction")
    if rep is None or not len(rep):
        return
    page.section("reproduction", "Reproduction scorecard")
    page.text(f"{fmt.format_count(len(rep))} published numbers were set beside the reproduced ones: "
              + html.escape(_join([f"{n} {s}" for s, n in pages.status_counts(rep)])) + ".")
    page.pub_table(pub.scorecard(rep, page.study), "reproduction", "Every published number beside the reproduced one")


def _other_figures(page: _Page, shown: set[str]) -> None:
    """Figures no section placed (a step added later): shown, never lost."""
    rest = sorted(p.stem for p in (page.root / "figures" / page.name).glob("*.svg") if p.stem not in shown)
    if rest:
        page.section("other-figures", "Other figures")
        for name in rest:
            page.figure(name, name.replace("_", " ").capitalize())


def _warnings(page: _Page) -> None:
    found = pages.read_warnings(page.root / "reports" / page.name, page.meta["steps"])
    if not found:
        return
    page.section("warnings", "Warnings")
    page.parts.append(pages.warnings_html(found, open_all=True))


def _steps(page: _Page) -> None:
    page.section("steps", "Step by step")
    page.text("Each step of the analysis, with every table and figure it made, for clinicians (no code) and for "
              "analysts (with code):")
    page.parts.append("<ol class='mbcrt-steps'>" + "".join(
        f"<li><a href='{Path(nb).stem}.html'>{html.escape(pages.step_title(nb))}</a> "
        f"(<a href='{Path(nb).stem}.analyst.html'>with code</a>)</li>" for nb in page.meta["steps"]) + "</ol>")


def build_study_report(root: Path, name: str) -> str:
    """The study report of study ``name`` under output root ``root``, as an HTML page."""
    root = Path(root)
    meta = json.loads((root / "reports" / name / "run.json").read_text(encoding="utf-8"))
    page = _Page(root, name, meta)
    for section in (_design, _patients, _baseline, _matching, _survival, _cox, _imputation, _subgroups,
                    _sensitivity, _persistence, _scorecard):
        section(page)
    shown = {"flow", "love_plot", "ps_overlap", "forest_persistence", "swimmer", *_km_names(page),
             "forest_all", "forest_matched", "subgroup_km_all", "subgroup_km_matched", "mi_convergence",
             "sensitivity_forest", "sensitivity_km", "missingness"}  # missingness: shown where values are missing
    _other_figures(page, shown)
    _warnings(page)
    _steps(page)
    title = html.escape(meta["title"])
    contents = "".join(f"<li><a href='#{a}'>{html.escape(t)}</a></li>" for a, t in page.contents)
    body = (f"<nav class='mbcrt-nav'><a href='../index.html'>All studies</a> &middot; {title}</nav>"
            f"<main class='mbcrt-report'><h1>{title}</h1>{pages.data_label(meta)}"
            f"<nav class='mbcrt-contents' aria-label='Contents'><b>Contents</b><ol>{contents}</ol></nav>"
            + "".join(page.parts) + "</main>")
    return pages.html_page(meta["title"], body)


def write_study_report(root: Path, name: str) -> Path:
    """Write ``reports/<name>/report.html`` under output root ``root`` (a run's staging folder)."""
    out = Path(root) / "reports" / name / "report.html"
    out.write_text(build_study_report(root, name), encoding="utf-8")
    return out


__all__ = ["build_study_report", "write_study_report", "inline_svg"]
