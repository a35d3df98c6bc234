"""Publication tables: the tidy CSV tables the steps write, laid out as journals print them.

A :class:`PubTable` is the formatted form of one table (text cells, a stub column of row labels with
indented levels, row groups, column spanners, footnotes, caption, source notes). It renders to HTML
with great-tables (:meth:`PubTable.to_html`: static, no web font, no script, nothing loaded from the
network, a fixed element id derived from the table's name so reruns are byte-identical) and to Word
(:meth:`PubTable.to_docx`, via :mod:`mbcrt.report.docx`: byte-identical reruns). The CSV tables stay
full precision and machine-readable; formatting is for people only and goes through
:mod:`mbcrt.report.format`.

API (stable; the study report and the index page call it)
--------------------------------------------------------
::

    from mbcrt.report.tables import PubTable, table_one, cox_table, survival_table, scorecard, generic

    table_one(table1, study, *, name="table1", caption=None) -> PubTable
        table1: table1.csv (before/after matching side by side, "before: "/"after: " columns) or
        table1_all.csv / table1_matched.csv (one cohort).
    cox_table(uni, multi, study, *, name="cox_table", caption=None) -> PubTable
        uni, multi: cox_univariable.csv, cox_multivariable.csv (either may be None).
    cox_matched_table(cox_matched, study) -> PubTable
    ph_test_table(cox_ph_test, study) -> PubTable
    survival_table(km_summary, landmarks, study, *, logrank=None, followup=None) -> PubTable
        landmarks may be None; logrank p goes into the row-group headings, median follow-up into a note.
        (for_saved_table("km_summary", ...) reads landmarks, logrank and followup itself when it can.)
    landmark_table(landmarks, study) / logrank_table(logrank, study) / followup_table(followup, study)
    subgroup_table(subgroups, study) -> PubTable
    matching_summary(matching_summary, study) / balance_table(balance, study) -> PubTable
    persistence_table(persistence, study) / persistence_subgroup_table(persistence_subgroups, study)
    scorecard(reproduction, study=None) -> PubTable
    generic(df, study=None, *, columns=None, name="table", caption="") -> PubTable
        any other table: headers from ``columns`` ({column: header, or None to drop}), then known
        names, then the study's labels; floats formatted (p-values as p-values).
    for_saved_table(name, df, study, read=None) -> PubTable
        the publication form of a table saved under ``name`` (the dispatcher the notebook context
        uses); ``read(other_name)`` returns another table of the same run (e.g. the Cox table reads
        cox_univariable and cox_multivariable), or raises FileNotFoundError.

    PubTable.to_html() -> str        PubTable.to_docx(path) -> None
    PubTable.caption (str)           PubTable.name (str)      PubTable.cells() -> list of rows of text
    REPORT_TABLES: the names of the tables of the study report (each also written as
    tables/<study>/docx/<name>.docx by the notebook context).

Small-cell suppression (:mod:`mbcrt.report.privacy`) happens before these builders: a blank count in a
row marked ``suppressed`` shows as "suppressed" and a footnote says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mbcrt.report import format as fmt
from mbcrt.report.format import is_missing

#: Tables of the study report: each is also written as a Word file for manuscripts.
REPORT_TABLES = ("attrition", "table1", "table1_all", "balance", "matching_summary", "km_summary", "cox_table",
                 "cox_matched", "cox_ph_test", "subgroups", "persistence", "persistence_subgroups", "reproduction",
                 "sensitivity", "rmst", "evalue", "cohort_overview", "persistence_tests", "persistence_sensitivity",
                 "missingness", "mi_cox", "mi_landmarks", "mi_missing")

COHORT_LABELS = {"all": "All patients", "matched": "Propensity-matched cohort"}
STATUS_COLOURS = {"reproduced": "#15803d", "not reproduced": "#b91c1c"}
OTHER_STATUS_COLOUR = "#b45309"
SUPERSCRIPTS = "\u1d43\u1d47\u1d9c\u1d48\u1d49\u1da0\u1d4d\u02b0"  # a b c d e f g h
SUPPRESSED_NOTE = ("suppressed: a count of fewer than {m} patients, or one from which such a count could be "
                   "worked out, is not shown (small-cell suppression, min_cell_count = {m}); so are the estimates "
                   "of groups of fewer than {m} patients.")

#: Human headers of the columns the steps write (used by :func:`generic`).
HEADERS = {
    "n": "Patients", "events": "Events", "event_pct": "Events (%)", "patients": "Patients", "group": "Group",
    "endpoint": "Endpoint", "cohort": "Cohort", "median": "Median", "lower": "95% CI, lower",
    "upper": "95% CI, upper", "median_lower": "Median, 95% CI lower", "median_upper": "Median, 95% CI upper",
    "p": "p", "hr": "HR", "se": "SE", "chisq": "Chi-square", "df": "Degrees of freedom", "time": "Time",
    "surv": "Survival", "n_risk": "At risk", "criterion": "Step", "excluded": "Excluded", "remaining": "Remaining",
    "quantity": "Quantity", "value": "Value", "label": "Characteristic", "level": "Level",
    "statistic": "Statistic", "method": "Method", "test": "Test", "min_expected": "Smallest expected count",
    "horizon": "Horizon", "by": "By", "rule": "Evaluable if", "used": "Used in the report",
    "n_patients": "Patients", "share": "Share of patients (%)", "n_evaluable": "Evaluable",
    "n_persisting": "On the same therapy", "proportion": "Proportion (%)", "wilson_lower": "Wilson 95% CI, lower",
    "wilson_upper": "Wilson 95% CI, upper", "exact_lower": "Exact 95% CI, lower", "exact_upper": "Exact 95% CI, upper",
    "median_ci": "Median CI method", "conf_type": "Transformation", "model": "Model", "term": "Term",
    "note": "Note", "chisq_p": "Chi-square p", "fisher_p": "Fisher exact p", "interaction_p": "p for interaction",
    "logrank_p": "Log-rank p", "n_treated": "Treated", "n_control": "Control", "variable": "Variable",
    "smd_before": "SMD before matching", "smd_after": "SMD after matching", "smd": "SMD", "missing": "Missing",
    "published": "Published", "reproduced": "Reproduced", "difference": "Difference", "tolerance": "Tolerance",
    "status": "Status", "source": "Source",
}
#: Columns never shown to people (identifiers, internal keys, row order, the suppression flag).
HIDDEN = {"claim_id", "suppressed", "order", "variable", "term", "__group__"}
PERCENT_COLUMNS = {"event_pct", "share", "proportion", "wilson_lower", "wilson_upper", "exact_lower", "exact_upper"}
COUNT_COLUMNS = {"n", "events", "patients", "n_risk", "excluded", "remaining", "n_patients", "n_evaluable",
                 "n_persisting", "n_treated", "n_control", "df", "missing"}


# ---------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------

@dataclass
class PubTable:
    """One publication table: text cells plus the layout declared once.

    Attributes
    ----------
    name : str
        Machine name (the CSV's stem); gives the HTML element id and the Word file's name.
    caption : str
        Shown above the table.
    body : DataFrame
        Text cells, one column per shown column; the first column is the stub (row labels).
    labels : dict
        Header text per column of ``body`` (the column name when absent).
    indent : list of int
        Indent level per row (0 for a variable's row, 1 for its levels).
    groups : list of str, optional
        Row-group heading per row (consecutive rows share a group); None for no groups.
    spanners : list of (str, list of str)
        Spanning headers over consecutive columns.
    footnotes, source_notes : list of str
        Printed under the table (footnotes first in Word; source notes are where numbers come from).
    colours : dict
        ``{(row, column): css colour}`` for cells to print in colour (and bold), e.g. a status.
    """

    name: str
    caption: str
    body: pd.DataFrame
    labels: dict = field(default_factory=dict)
    indent: list = field(default_factory=list)
    groups: list | None = None
    spanners: list = field(default_factory=list)
    footnotes: list = field(default_factory=list)
    source_notes: list = field(default_factory=list)
    colours: dict = field(default_factory=dict)
    align: dict = field(default_factory=dict)

    def __post_init__(self):
        self.body = self.body.reset_index(drop=True).astype(object).where(self.body.notna(), "")
        self.body = self.body.map(lambda v: "" if is_missing(v) else str(v))
        if not self.indent:
            self.indent = [0] * len(self.body)

    # ---- views ------------------------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        return list(self.body.columns)

    def header(self, column: str) -> str:
        return self.labels.get(column, column)

    def cells(self) -> list[list[str]]:
        """Every text cell people see, header row first (for tests comparing renderings)."""
        return [[self.header(c) for c in self.columns]] + self.body.to_numpy().tolist()

    @property
    def element_id(self) -> str:
        return "mbcrt-" + re.sub(r"[^A-Za-z0-9_-]+", "-", self.name).strip("-").lower()

    # ---- HTML -------------------------------------------------------------------------------------------
    def to_html(self) -> str:
        """The table as static HTML (great-tables), with a fixed id and no external resource."""
        from great_tables import GT, loc, style

        ids = [f"c{i}" for i in range(len(self.columns))]
        data = pd.DataFrame(self.body.to_numpy(), columns=ids)
        group_col = None
        if self.groups:
            group_col = "__group__"
            data[group_col] = [g or " " for g in self.groups]
        gt = GT(data, rowname_col=ids[0], groupname_col=group_col, id=self.element_id, auto_align=False)
        gt = gt.tab_stubhead(label=self.header(self.columns[0]))
        gt = gt.cols_label(**{i: self.header(c) for i, c in zip(ids[1:], self.columns[1:])})
        for side in ("center", "left", "right"):
            chosen = [i for i, c in zip(ids[1:], self.columns[1:]) if self.align.get(c, "center") == side]
            gt = gt.cols_align(side, columns=chosen) if chosen else gt
        for label, cols in self.spanners:
            members = [ids[self.columns.index(c)] for c in cols]
            gt = gt.tab_spanner(label=label, columns=members, id=f"sp{len(gt._spanners)}")
        for level in sorted({i for i in self.indent if i}):
            gt = gt.tab_stub_indent(rows=[r for r, i in enumerate(self.indent) if i == level], indent=2 * level)
        if self.caption:
            gt = gt.tab_header(title=self.caption)
        for text in self.footnotes:
            gt = gt.tab_footnote(text)
        for text in self.source_notes:
            gt = gt.tab_source_note(text)
        for (row, col), colour in sorted(self.colours.items()):
            gt = gt.tab_style(style.text(color=colour, weight="bold"),
                              loc.body(columns=ids[self.columns.index(col)], rows=[row]))
        gt = gt.tab_options(
            table_font_size="13px", heading_align="left", heading_title_font_size="14px",
            table_margin_left="0px", table_margin_right="0px", container_padding_y="6px",
            table_border_top_color="#000000", table_border_top_width="2px",
            heading_border_bottom_color="#000000", heading_border_bottom_width="1px",
            column_labels_border_top_color="#000000", column_labels_border_bottom_color="#000000",
            column_labels_border_bottom_width="1px", table_body_hlines_style="none",
            table_body_border_bottom_color="#000000", table_body_border_bottom_width="1px",
            table_border_bottom_color="#FFFFFF", stub_border_style="none", row_group_font_weight="bold",
            row_group_border_top_style="none", row_group_border_bottom_style="none",
            data_row_padding="3px", source_notes_font_size="12px")
        # Notebook and page styles align table cells right: footnotes and headings stay left here.
        gt = gt.opt_css(f"#{self.element_id} .gt_footnote, #{self.element_id} .gt_sourcenote, "
                        f"#{self.element_id} .gt_group_heading, #{self.element_id} .gt_heading, "
                        f"#{self.element_id} .gt_left {{ text-align: left; }}\n"
                        f"#{self.element_id} .gt_center {{ text-align: center; }}\n"
                        f"#{self.element_id} .gt_footnote {{ font-size: 12px; }}\n"
                        f"#{self.element_id} table {{ margin-left: 0; }}")
        return _clean_html(gt.as_raw_html(), self.element_id)

    def _repr_html_(self) -> str:  # shown as the table in Jupyter
        return self.to_html()

    # ---- Word -------------------------------------------------------------------------------------------
    def to_docx(self, path) -> None:
        """Write the table as a Word file (byte-identical on rerun); see :mod:`mbcrt.report.docx`."""
        from mbcrt.report.docx import write_docx

        write_docx(self, Path(path))


def _clean_html(markup: str, element_id: str) -> str:
    """great-tables' HTML made safe for an offline page: selectors it leaves unscoped (they would restyle
    every table of the page) are scoped to this table; any import, link or script is removed."""
    markup = markup.replace(f"#{element_id} thead, tbody, tfoot, tr, td, th {{",
                            f"#{element_id} thead, #{element_id} tbody, #{element_id} tfoot, #{element_id} tr, "
                            f"#{element_id} td, #{element_id} th {{")
    markup = markup.replace("\n tr { background-color: transparent; }",
                            f"\n#{element_id} tr {{ background-color: transparent; }}")
    markup = re.sub(r"@import[^;]*;", "", markup)
    markup = re.sub(r"<link[^>]*>", "", markup)
    markup = re.sub(r"<script.*?</script>", "", markup, flags=re.S)
    markup = markup.replace(' data-quarto-disable-processing="false" data-quarto-bootstrap="false"', "")
    return "\n".join(line.rstrip() for line in markup.strip().splitlines()) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------

def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _text(v) -> str:
    """A key or label cell as text ("" when missing; 1.0 read back from CSV as "1")."""
    if is_missing(v):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _min_cell(study) -> int:
    try:
        return int(study.min_cell_count) if study is not None else 0
    except AttributeError:
        return 0


def _suppressed_rows(df: pd.DataFrame) -> np.ndarray:
    if "suppressed" not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df["suppressed"].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).to_numpy()


def _mark(cell: str, value, flagged: bool) -> str:
    """A blank cell of a suppressed row reads "suppressed"."""
    return fmt.SUPPRESSED_MARK if flagged and is_missing(value) else cell


def _suppression_footnote(study, used: bool) -> list[str]:
    m = max(_min_cell(study), 2)
    return [SUPPRESSED_NOTE.format(m=m)] if used else []


def _label(study, column: str) -> str:
    if study is None:
        return column
    return study.label(column)


def _unit(study) -> str:
    return getattr(study, "time_unit", None) or "" if study is not None else ""


def _endpoint_labels(study) -> dict:
    if study is None:
        return {}
    out = {}
    for ep in [study.endpoint, *(study.endpoints or [])]:
        if isinstance(ep, Mapping) and "name" in ep:
            out[str(ep["name"])] = str(ep.get("label") or ep["name"])
    return out


def _cohort_labels(study) -> dict:
    out = dict(COHORT_LABELS)
    if study is not None:
        for item in study.km_by or []:
            if isinstance(item, Mapping) and "name" in item:
                by = item.get("label") or f"by {_label(study, item.get('by', item['name']))}"
                out[str(item["name"])] = by[:1].upper() + by[1:]
    return out


def _humanize(column: str, study=None) -> str:
    if column in HEADERS:
        return HEADERS[column]
    if study is not None and column in study.config.get("labels", {}):
        return study.label(column)
    text = re.sub(r"[_\s]+", " ", str(column)).strip()
    return text[:1].upper() + text[1:]


def _is_p(column: str) -> bool:
    c = str(column).lower()
    return c == "p" or c.endswith(("_p", " p")) or c.startswith("p_")


def _term_labels(study) -> dict:
    """``{term: (variable, level)}`` for every design-matrix term the study can have ("tgradeII")."""
    out = {}
    if study is None:
        return out
    variables = [v for v in [study.config.get("treatment")] if v] + list(study.covariates or [])
    for var in variables:
        out[var] = (var, "")
        for level in (study.levels or {}).get(var, []) or []:
            out[f"{var}{level}"] = (var, _text(level))
    return out


# ---------------------------------------------------------------------------------------------------------
# Table 1
# ---------------------------------------------------------------------------------------------------------

def _table_one_groups(columns, prefix: str) -> list[str]:
    cols = [c[len(prefix):] for c in columns if c.startswith(prefix)]
    return [c for c in cols if f"{c}__n" in cols]


def table_one(table1: pd.DataFrame, study=None, *, name: str = "table1", caption: str | None = None) -> PubTable:
    """Table 1 as journals print it.

    Each variable on its own row ("Age (years), median (IQR)"; "Tumour grade, n (%)"), its levels
    indented beneath, one cell per arm ("231 (52.5)", "50.0 (45.0-59.0)"), p formatted with a superscript
    letter naming the test in a footnote, SMD with 2 decimals, a column of missing counts only when a
    variable has missing values. A before/after table (``table1.csv``) shows both cohorts side by side
    under the spanning headers "Before matching" and "After matching"; the arm sizes are in the headers.
    """
    t = table1.reset_index(drop=True)
    parts = [("before: ", "Before matching"), ("after: ", "After matching")]
    parts = [(p, lab) for p, lab in parts if _table_one_groups(t.columns, p)] or [("", None)]
    variable = t["variable"].map(_text).to_numpy()
    level = t["level"].map(_text).to_numpy()
    is_n = variable == "n"
    has_levels = {v for v, lv in zip(variable, level) if lv}

    tests: list[str] = []
    body: dict[str, list] = {"Characteristic": []}
    labels, spanners, suppressed_shown = {"Characteristic": "Characteristic"}, [], False
    indent, rows = [], [i for i in range(len(t)) if not is_n[i]]
    for i in rows:
        lab = _text(t.at[i, "label"]) or variable[i]
        if level[i]:
            body["Characteristic"].append(level[i])
            indent.append(1)
        else:
            body["Characteristic"].append(f"{lab}, n (%)" if variable[i] in has_levels else f"{lab}, median (IQR)")
            indent.append(0)
    any_missing = any(
        (_num(v) > 0) for p, _ in parts for v in (t[f"{p}missing"] if f"{p}missing" in t else []))
    for k, (prefix, spanner) in enumerate(parts):
        groups = _table_one_groups(t.columns, prefix)
        members = []
        for g in groups:
            col = f"{k}:{g}"
            size = t.loc[is_n, f"{prefix}{g}__n"] if is_n.any() else pd.Series(dtype=float)
            labels[col] = f"{g} (n = {fmt.format_count(size.iloc[0])})" if len(size) and not is_missing(
                size.iloc[0]) else g
            cells = []
            for i in rows:
                shown = _text(t.at[i, f"{prefix}{g}"])
                if level[i]:
                    n, pct = t.at[i, f"{prefix}{g}__n"], t.at[i, f"{prefix}{g}__pct"]
                    cell = fmt.format_n_pct(n, pct) if not is_missing(n) else shown
                elif variable[i] in has_levels:
                    cell = ""
                else:
                    med = t.at[i, f"{prefix}{g}__median"]
                    cell = fmt.format_median_iqr(med, t.at[i, f"{prefix}{g}__q1"], t.at[i, f"{prefix}{g}__q3"]) \
                        if not is_missing(med) else shown
                hidden = re.match(r"n?<(\d+)$", cell)
                if hidden:
                    suppressed_shown = int(hidden.group(1))
                cells.append(cell)
            body[col] = cells
            members.append(col)
        p_cells, smd_cells, miss_cells = [], [], []
        for i in rows:
            p = t.at[i, f"{prefix}p"] if f"{prefix}p" in t else np.nan
            test = _text(t.at[i, f"{prefix}test"]) if f"{prefix}test" in t else ""
            text = fmt.format_p(p)
            if text and test:
                if test not in tests:
                    tests.append(test)
                text += SUPERSCRIPTS[tests.index(test) % len(SUPERSCRIPTS)]
            p_cells.append(text)
            smd_cells.append(fmt.format_smd(t.at[i, f"{prefix}smd"]) if f"{prefix}smd" in t else "")
            miss = t.at[i, f"{prefix}missing"] if f"{prefix}missing" in t else np.nan
            miss_cells.append(fmt.format_count(miss) if _num(miss) > 0 else "")
        for col, head, cells in ((f"{k}:p", "p", p_cells), (f"{k}:smd", "SMD", smd_cells),
                                 (f"{k}:missing", "Missing, n", miss_cells)):
            if col.endswith("missing") and not any_missing:
                continue
            if col.endswith("smd") and not any(cells):
                continue
            body[col], labels[col] = cells, head
            members.append(col)
        if spanner:
            spanners.append((spanner, members))
    footnotes = ["Values are n (%) or median (IQR); percentages of patients with a known value."]
    if tests:
        footnotes.append("p: " + "; ".join(f"{SUPERSCRIPTS[j % len(SUPERSCRIPTS)]} {_test_name(x)}"
                                           for j, x in enumerate(tests)) + ".")
    if any(c.endswith(":smd") for c in body):
        many = len(_table_one_groups(t.columns, parts[0][0])) > 2
        footnotes.append("SMD, standardized mean difference" + (
            " (mean of the absolute SMDs over all pairs of groups)" if many else
            " (second group minus first for continuous variables; multi-level SMD for categorical ones)") + ".")
    if any_missing:
        footnotes.append("Missing, n: patients with no value recorded, shown only where some are missing.")
    if suppressed_shown:
        k = suppressed_shown
        footnotes.append(f"<{k}: fewer than {k} patients, not shown (small-cell suppression); n<{k}: a median "
                         f"of fewer than {k} patients, not shown.")
    default = "Baseline characteristics" + (" before and after matching" if len(parts) == 2 else "")
    return PubTable(name=name, caption=caption or default, body=pd.DataFrame(body), labels=labels, indent=indent,
                    spanners=spanners, footnotes=footnotes)


def _test_name(test: str) -> str:
    names = {"Mann-Whitney U": "Mann-Whitney U test", "Kruskal-Wallis": "Kruskal-Wallis test",
             "Chi-square": "Pearson chi-square test", "Fisher exact": "Fisher's exact test"}
    return names.get(test, test)


# ---------------------------------------------------------------------------------------------------------
# Cox models
# ---------------------------------------------------------------------------------------------------------

def _cox_rows(frame: pd.DataFrame | None, study) -> dict:
    """``{(cohort, term): row}`` of a Cox table."""
    if frame is None or frame.empty:
        return {}
    return {(_text(r["cohort"]) if "cohort" in frame else "all", _text(r["term"])): r
            for _, r in frame.iterrows()}


def cox_table(uni: pd.DataFrame | None, multi: pd.DataFrame | None, study, *, name: str = "cox_table",
              caption: str | None = None) -> PubTable:
    """Cox models in the layout of a paper's Table 2.

    One block per variable: a continuous variable on one row; a categorical one (and the treatment) as
    a heading with its levels indented beneath, the reference level reading "1 (reference)". Columns:
    univariable and multivariable HR (95% CI) and p side by side under spanning headers. One row group
    per cohort (all patients, matched cohort) when there are several.
    """
    u, mv = _cox_rows(uni, study), _cox_rows(multi, study)
    frames = [f for f in (uni, multi) if f is not None and not f.empty]
    cohorts = list(dict.fromkeys(_text(c) for f in frames for c in (f["cohort"] if "cohort" in f else ["all"])))
    treatment = study.config.get("treatment") if study is not None else None
    variables = ([treatment] if treatment else []) + list(study.covariates or []) if study is not None else []
    terms_known = _term_labels(study)
    row_labels, indent, groups, cells = [], [], [], {k: [] for k in ("uh", "up", "mh", "mp")}
    footnote_ref = False

    def add(label, level_indent, cohort, urow, mrow, reference=False):
        nonlocal footnote_ref
        row_labels.append(label)
        indent.append(level_indent)
        groups.append(_cohort_labels(study).get(cohort, cohort))
        rows = [r for r in (urow, mrow) if r is not None and r is not False and r is not True]
        dec = max([fmt.hr_decimals(r["hr"], r["lower"], r["upper"]) for r in rows], default=2)
        for key, row in (("u", urow), ("m", mrow)):
            if reference:  # row: whether the model has the variable
                cells[key + "h"].append("1 (reference)" if row else "")
                cells[key + "p"].append("")
                footnote_ref |= bool(row)
            elif row is None or row is False:
                cells[key + "h"].append("")
                cells[key + "p"].append("")
            else:
                cells[key + "h"].append(fmt.format_ci(row["hr"], row["lower"], row["upper"], dec))
                cells[key + "p"].append(fmt.format_p(row["p"]))

    for cohort in cohorts:
        seen = set()
        for var in variables:
            levels = [_text(x) for x in ((study.levels or {}).get(var) or [])]
            if var == treatment:
                term = var
                if (cohort, term) not in u and (cohort, term) not in mv:
                    continue
                add(study.config.get("labels", {}).get(var, "Treatment"), 0, cohort, False, False)
                add(study.arms[0], 1, cohort, (cohort, term) in u, (cohort, term) in mv, reference=True)
                add(study.arms[1], 1, cohort, u.get((cohort, term)), mv.get((cohort, term)))
                seen.add(term)
            elif levels and any((cohort, f"{var}{lv}") in d for d in (u, mv) for lv in levels):
                add(_label(study, var), 0, cohort, False, False)
                add(levels[0], 1, cohort, any((cohort, f"{var}{lv}") in u for lv in levels[1:]),
                    any((cohort, f"{var}{lv}") in mv for lv in levels[1:]), reference=True)
                for lv in levels[1:]:
                    add(lv, 1, cohort, u.get((cohort, f"{var}{lv}")), mv.get((cohort, f"{var}{lv}")))
                    seen.add(f"{var}{lv}")
            elif (cohort, var) in u or (cohort, var) in mv:
                add(_label(study, var), 0, cohort, u.get((cohort, var)), mv.get((cohort, var)))
                seen.add(var)
        for d in (u, mv):  # terms the study file does not describe: their own label, never the term name
            for (c, term), row in d.items():
                if c == cohort and term not in seen:
                    seen.add(term)
                    add(_text(row.get("label")) or terms_known.get(term, (term, ""))[0], 0, cohort,
                        u.get((cohort, term)), mv.get((cohort, term)))
    body = pd.DataFrame({"Characteristic": row_labels})
    labels, spanners = {}, []
    for key, title, frame in (("u", "Univariable", uni), ("m", "Multivariable", multi)):
        if frame is None or frame.empty:
            continue
        body[f"{key}h"], body[f"{key}p"] = cells[f"{key}h"], cells[f"{key}p"]
        labels[f"{key}h"], labels[f"{key}p"] = "HR (95% CI)", "p"
        spanners.append((title, [f"{key}h", f"{key}p"]))
    if len(spanners) == 1:
        spanners = []
    notes = []
    for frame in frames[-1:]:
        for c in cohorts:
            sub = frame[frame["cohort"].map(_text) == c] if "cohort" in frame else frame
            if len(sub) and {"n", "events"} <= set(sub.columns):
                notes.append(f"{_cohort_labels(study).get(c, c)}: {fmt.format_count(sub['n'].iloc[0])} patients, "
                             f"{fmt.format_count(sub['events'].iloc[0])} events.")
    ties = (study.config.get("cox") or {}).get("ties", "efron") if study is not None else "efron"
    footnotes = [f"HR, hazard ratio; CI, confidence interval. Cox proportional hazards models ({ties.capitalize()} "
                 "ties); p from the Wald test."]
    if footnote_ref:
        footnotes.append("1 (reference): the level the other levels are compared with.")
    if spanners:
        footnotes.append("Multivariable: adjusted for every variable listed.")
    return PubTable(name=name, caption=caption or "Hazard ratios from Cox proportional hazards models", body=body,
                    labels={"Characteristic": "Characteristic", **labels}, indent=indent,
                    groups=groups if len(cohorts) > 1 else None, spanners=spanners, footnotes=footnotes,
                    source_notes=notes)


MATCHED_MODELS = {"naive": "Cox model in the matched cohort (model-based SE)",
                  "cluster_robust": "Robust SE clustered on the matched pair",
                  "pair_stratified": "Stratified by matched pair"}


def cox_matched_table(cox_matched: pd.DataFrame, study, *, name: str = "cox_matched",
                      caption: str | None = None) -> PubTable:
    """The treatment HR after matching under each analysis (naive, pair-clustered, pair-stratified)."""
    d = cox_matched.reset_index(drop=True)
    body = pd.DataFrame({
        "Analysis": [MATCHED_MODELS.get(_text(m), _humanize(_text(m))) for m in d["model"]],
        "Patients": [fmt.format_count(v) for v in d.get("n", [np.nan] * len(d))],
        "Events": [fmt.format_count(v) for v in d.get("events", [np.nan] * len(d))],
        "HR (95% CI)": [fmt.format_hr(h, lo, hi) for h, lo, hi in zip(d["hr"], d["lower"], d["upper"])],
        "p": [fmt.format_p(p) for p in d["p"]],
    })
    arms = study.arms if study is not None and study.two_arm else ["control", "treated"]
    return PubTable(name=name, caption=caption or "Treatment hazard ratio after matching", body=body,
                    footnotes=[f"HR of {arms[1]} versus {arms[0]}; CI, confidence interval; SE, standard error."])


def ph_test_table(ph: pd.DataFrame, study, *, name: str = "cox_ph_test", caption: str | None = None) -> PubTable:
    """Tests of proportional hazards (scaled Schoenfeld residuals) per term, model and cohort."""
    d = ph.reset_index(drop=True)
    known = _term_labels(study)
    treatment = study.config.get("treatment") if study is not None else None

    def term_label(term):
        if term == "GLOBAL":
            return "Global test"
        var, level = known.get(term, (term, ""))
        if var == treatment and study is not None:
            return f"{study.arms[1]} vs {study.arms[0]}"
        return f"{_label(study, var)}: {level}" if level else _label(study, var)

    body = pd.DataFrame({
        "Term": [term_label(_text(t)) for t in d["term"]],
        "Chi-square": [fmt.format_decimal(v, 2) for v in d["chisq"]],
        "df": [fmt.format_count(v) for v in d["df"]],
        "p": [fmt.format_p(v) for v in d["p"]],
    })
    groups = [f"{_cohort_labels(study).get(_text(c), _text(c))}, {_text(m)} model"
              for c, m in zip(d.get("cohort", ["all"] * len(d)), d.get("model", [""] * len(d)))]
    return PubTable(name=name, caption=caption or "Test of proportional hazards (scaled Schoenfeld residuals)",
                    body=body, labels={"df": "Degrees of freedom"}, groups=groups,
                    footnotes=["A small p suggests the hazard ratio changes over time."])


# ---------------------------------------------------------------------------------------------------------
# Survival
# ---------------------------------------------------------------------------------------------------------

def _median_decimals(study) -> int:
    return 0 if _unit(study) == "days" else 1


def _group_key(row) -> tuple:
    return _text(row["endpoint"]), _text(row["cohort"])


def _group_label(group, cohort) -> str:
    """A group of a Kaplan-Meier table: its "All" row is all patients of the cohort, or the total of a
    by-variable analysis (which may be a part of the cohort, e.g. the treated only)."""
    if _text(group) != "All":
        return _text(group)
    return "All patients" if _text(cohort) in COHORT_LABELS else "Total"


def _group_title(study, endpoint, cohort) -> str:
    ep = _endpoint_labels(study).get(endpoint, _humanize(endpoint))
    label = _cohort_labels(study).get(cohort, cohort)
    return f"{ep}, {label[:1].lower() + label[1:] if label[1:2].islower() else label}"


def survival_table(km_summary: pd.DataFrame, landmarks: pd.DataFrame | None, study, *,
                   logrank: pd.DataFrame | None = None, followup: pd.DataFrame | None = None,
                   name: str = "km_summary", caption: str | None = None) -> PubTable:
    """Patients, events, median survival (95% CI) in the study's time unit and landmark survival (% with CI).

    One row group per endpoint and cohort (its log-rank p in the heading when given), one row per group.
    """
    km = km_summary.reset_index(drop=True)
    unit, dec, m = _unit(study), _median_decimals(study), _min_cell(study)
    flagged = _suppressed_rows(km)
    sizes_small = [flag and (is_missing(n) or _num(n) < max(m, 2)) for flag, n in zip(flagged, km["n"])]
    lr = {}
    if logrank is not None and len(logrank):
        lr = {(_text(r["endpoint"]), _text(r["cohort"])): r["p"] for _, r in logrank.iterrows()}
    used_suppressed = False
    body = {"Group": [], "Patients": [], "Events, n (%)": [], "median": []}
    groups = []
    for i, r in km.iterrows():
        key = _group_key(r)
        title = _group_title(study, *key)
        if key in lr and not is_missing(lr[key]):
            title += f" (log-rank {fmt.format_p_label(lr[key], smallest=0.001)})"
        groups.append(title)
        body["Group"].append(_group_label(r["group"], r["cohort"]))
        body["Patients"].append(_mark(fmt.format_count(r["n"]), r["n"], flagged[i]))
        events = fmt.format_n_pct(r["events"], r.get("event_pct"))
        body["Events, n (%)"].append(_mark(events, r["events"], flagged[i]))
        if sizes_small[i]:
            body["median"].append(fmt.SUPPRESSED_MARK)
        else:
            body["median"].append(fmt.format_median(r["median"], r.get("median_lower"), r.get("median_upper"), dec))
        used_suppressed |= flagged[i]
    labels = {"median": f"Median, {unit} (95% CI)" if unit else "Median (95% CI)"}
    spanners = []
    if landmarks is not None and len(landmarks):
        lm = landmarks.reset_index(drop=True)
        lm_flag = _suppressed_rows(lm)
        times = list(dict.fromkeys(_num(t) for t in lm["time"]))
        index = {(_text(r["endpoint"]), _text(r["cohort"]), _text(r["group"]), _num(r["time"])): (j, r)
                 for j, r in lm.iterrows()}
        cols = []
        for t in times:
            col = f"t{len(cols)}"
            cells = []
            for i, r in km.iterrows():
                hit = index.get((*_group_key(r), _text(r["group"]), t))
                if hit is None:
                    cells.append("")
                    continue
                j, row = hit
                blank = lm_flag[j] and is_missing(row["surv"])
                cells.append(fmt.SUPPRESSED_MARK if blank else fmt.format_survival(row["surv"], row["lower"],
                                                                                   row["upper"]))
                used_suppressed |= bool(blank)
            body[col] = cells
            labels[col] = fmt.format_time(t, unit) if unit else fmt.format_number(t)
            cols.append(col)
        spanners.append(("Survival, % (95% CI)", cols))
    surv = (study.config.get("survival") or {}) if study is not None else {}
    conf = surv.get("conf_type", "log-log")
    median_ci = {"symmetric": "median \u00b1 1.96 SE, Collett's SE"}.get(surv.get("median_ci"), "Brookmeyer-Crowley")
    footnotes = [f"Kaplan-Meier estimates; 95% CI with the {conf} transformation (median: {median_ci}). "
                 "NR, not reached."]
    notes = []
    if followup is not None and len(followup):
        for _, r in followup.iterrows():
            title = _group_title(study, *_group_key(r))
            title = title[:1].lower() + title[1:] if title[1:2].islower() else title
            text = fmt.format_median(r["median"], r["lower"], r["upper"], dec) if not is_missing(r["median"]) \
                else "not estimable"
            text = f"{text} {unit}".strip() if text[:1].isdigit() else text  # "not reached", never "... months"
            notes.append(f"Median follow-up (reverse Kaplan-Meier) for {title}: {text}.")
    footnotes += _suppression_footnote(study, used_suppressed)
    return PubTable(name=name, caption=caption or "Patients, events and survival", body=pd.DataFrame(body),
                    labels={"Group": "Group", **labels}, groups=groups, spanners=spanners, footnotes=footnotes,
                    source_notes=notes)


def landmark_table(landmarks: pd.DataFrame, study, *, name: str = "landmarks", caption: str | None = None) -> PubTable:
    """Survival at each landmark time, one row per group: % (95% CI) under one spanner, the numbers still at
    risk under another, one column per time."""
    lm = landmarks.reset_index(drop=True)
    flag, unit = _suppressed_rows(lm), _unit(study)
    keys = list(dict.fromkeys((_text(r["endpoint"]), _text(r["cohort"]), _text(r["group"])) for _, r in lm.iterrows()))
    times = list(dict.fromkeys(_num(t) for t in lm["time"]))
    at = {(_text(r["endpoint"]), _text(r["cohort"]), _text(r["group"]), _num(r["time"])): j for j, r in lm.iterrows()}
    body = {"Group": [_group_label(k[2], k[1]) for k in keys]}
    labels, surv_cols, risk_cols = {}, [], []
    for t_i, t in enumerate(times):
        head = fmt.format_time(t, unit) if unit else fmt.format_number(t)
        surv, risk = [], []
        for k in keys:
            j = at.get((*k, t))
            if j is None:
                surv.append("")
                risk.append("")
                continue
            r = lm.loc[j]
            surv.append(fmt.SUPPRESSED_MARK if flag[j] and is_missing(r["surv"])
                        else fmt.format_survival(r["surv"], r["lower"], r["upper"]))
            risk.append(_mark(fmt.format_count(r.get("n_risk")), r.get("n_risk"), flag[j]))
        body[f"s{t_i}"], body[f"r{t_i}"] = surv, risk
        labels[f"s{t_i}"], labels[f"r{t_i}"] = head, head
        surv_cols.append(f"s{t_i}")
        risk_cols.append(f"r{t_i}")
    body = pd.DataFrame(body)[["Group", *surv_cols, *risk_cols]]
    groups = [_group_title(study, k[0], k[1]) for k in keys]
    conf = (study.config.get("survival") or {}).get("conf_type", "log-log") if study is not None else "log-log"
    return PubTable(name=name, caption=caption or "Survival at the landmark times", body=body, labels=labels,
                    groups=groups, spanners=[("Survival, % (95% CI)", surv_cols), ("Patients at risk", risk_cols)],
                    footnotes=[f"Kaplan-Meier estimates; 95% CI with the {conf} transformation."]
                    + _suppression_footnote(study, bool(flag.any())))


def logrank_table(logrank: pd.DataFrame, study, *, name: str = "logrank", caption: str | None = None) -> PubTable:
    """Log-rank tests: chi-square (degrees of freedom) and p per endpoint and comparison."""
    d = logrank.reset_index(drop=True)
    body = pd.DataFrame({
        "Comparison": [_group_title(study, *_group_key(r)) for _, r in d.iterrows()],
        "Chi-square": [fmt.format_decimal(v, 2) for v in d["chisq"]],
        "Degrees of freedom": [fmt.format_count(v) for v in d["df"]],
        "p": [fmt.format_p(v) for v in d["p"]],
    })
    return PubTable(name=name, caption=caption or "Log-rank tests", body=body)


def followup_table(followup: pd.DataFrame, study, *, name: str = "followup", caption: str | None = None) -> PubTable:
    """Median follow-up by reverse Kaplan-Meier, in the study's time unit."""
    d = followup.reset_index(drop=True)
    unit = _unit(study)
    body = pd.DataFrame({
        "Endpoint and cohort": [_group_title(study, *_group_key(r)) for _, r in d.iterrows()],
        "median": [fmt.format_median(r["median"], r["lower"], r["upper"], _median_decimals(study))
                   if not is_missing(r["median"]) else "not estimable" for _, r in d.iterrows()],
    })
    return PubTable(name=name, caption=caption or "Median follow-up (reverse Kaplan-Meier)", body=body,
                    labels={"median": f"Median follow-up, {unit} (95% CI)" if unit else "Median follow-up (95% CI)"},
                    footnotes=["Not estimable: too few patients censored to estimate it. NR, not reached."])


# ---------------------------------------------------------------------------------------------------------
# Subgroups, matching, balance
# ---------------------------------------------------------------------------------------------------------

def subgroup_table(subgroups: pd.DataFrame, study, *, name: str = "subgroups", caption: str | None = None) -> PubTable:
    """Treatment effect by subgroup: each variable a heading (with its interaction p), levels beneath."""
    d = subgroups.reset_index(drop=True)
    flag, dec, unit = _suppressed_rows(d), _median_decimals(study), _unit(study)
    arms = study.arms if study is not None and study.two_arm else ["Control", "Treated"]
    cols = ["Subgroup", "n", "med_t", "med_c", "hr", "p", "pint"]
    rows, indent, groups, notes = [], [], [], []
    used = False
    for cohort in dict.fromkeys(d["cohort"].map(_text)):
        part = d[d["cohort"].map(_text) == cohort]
        for var in dict.fromkeys(part["variable"].map(_text)):
            block = part[part["variable"].map(_text) == var]
            first = block.iloc[0]
            rows.append([_text(first["label"]) or _label(study, var), "", "", "", "", "",
                         fmt.format_p(first.get("interaction_p"))])
            indent.append(0)
            groups.append(_cohort_labels(study).get(cohort, cohort))
            for i, r in block.iterrows():
                f = flag[i]
                used |= bool(f)
                n = _mark(f"{fmt.format_count(r['n'])} ({fmt.format_count(r['events'])})"
                          if not is_missing(r["n"]) and not is_missing(r["events"]) else "", r["n"], f)
                estimate_blank = f and is_missing(r.get("hr"))
                med = [_mark(fmt.format_median(r.get(c), decimals=dec), r.get(c), f) if not (f and is_missing(r.get(c)))
                       else fmt.SUPPRESSED_MARK for c in ("median_treated", "median_control")]
                rows.append([_text(r["level"]), n, *med,
                             fmt.SUPPRESSED_MARK if estimate_blank else fmt.format_hr(r["hr"], r["lower"], r["upper"]),
                             fmt.SUPPRESSED_MARK if estimate_blank else fmt.format_p(r["p"]), ""])
                indent.append(1)
                groups.append(_cohort_labels(study).get(cohort, cohort))
                if _text(r.get("note")):
                    notes.append(f"{_text(r['label'])}, {_text(r['level'])}: {_text(r['note'])}")
    body = pd.DataFrame(rows, columns=cols)
    u = f", {unit}" if unit else ""
    labels = {"Subgroup": "Subgroup", "n": "Patients (events)", "med_t": f"{arms[1]}{u}", "med_c": f"{arms[0]}{u}",
              "hr": "HR (95% CI)", "p": "p", "pint": "p for interaction"}
    footnotes = [f"HR of {arms[1]} versus {arms[0]} within each subgroup (Cox model); p for interaction from the "
                 "model with the treatment-by-subgroup interaction. Median survival by Kaplan-Meier; "
                 "not reached where the curve stays above 50%."] + notes + _suppression_footnote(study, used)
    return PubTable(name=name, caption=caption or "Treatment effect by subgroup", body=body, labels=labels,
                    indent=indent, groups=groups if len(set(groups)) > 1 else None,
                    spanners=[("Median survival", ["med_t", "med_c"])], footnotes=footnotes)


MATCHING_QUANTITIES = {
    "n_treated": "Treated patients", "n_control": "Control patients", "n_pairs": "Matched pairs",
    "unmatched treated": "Treated patients left unmatched", "caliper (sd units)": "Caliper (SD of the {scale} of the "
    "propensity score)", "caliper (absolute)": "Caliper (absolute, on the {scale} scale)",
    "scale": "Caliper scale", "order": "Order of matching", "ratio": "Controls per treated patient",
    "replace": "Controls reused",
}
MATCHING_VALUES = {"logit": "logit", "largest": "largest propensity first", "smallest": "smallest propensity first",
                   "data": "data order", "random": "random order", "probability": "probability"}


def matching_summary(summary: pd.DataFrame, study=None, *, name: str = "matching_summary",
                     caption: str | None = None) -> PubTable:
    """The matching step in words and numbers (pairs, unmatched, caliper)."""
    d = summary.reset_index(drop=True)
    scale = "logit"
    for q, v in zip(d["quantity"], d["value"]):
        if _text(q) == "scale":
            scale = _text(v)
    names, values = [], []
    for q, v in zip(d["quantity"], d["value"]):
        q = _text(q)
        names.append(MATCHING_QUANTITIES.get(q, _humanize(q)).format(scale=scale))
        x = _num(v)
        if np.isnan(x):
            values.append(MATCHING_VALUES.get(_text(v), _text(v)))
        elif q.startswith(("n_", "unmatched")):
            values.append(fmt.format_count(x))
        else:
            values.append(fmt.format_number(x))
    if study is not None and study.two_arm:
        arms = {"Treated patients": study.arms[1], "Control patients": study.arms[0]}
        names = [f"{n}: {arms[n]}" if n in arms else n for n in names]
    return PubTable(name=name, caption=caption or "Propensity score matching",
                    body=pd.DataFrame({"Quantity": names, "Value": values}))


def balance_table(balance: pd.DataFrame, study=None, *, name: str = "balance", caption: str | None = None) -> PubTable:
    """Standardized mean differences before and after matching, levels indented under their variable."""
    d = balance.reset_index(drop=True)
    rows, indent = [], []
    seen = set()
    for _, r in d.iterrows():
        var, level = _text(r["variable"]), _text(r["level"])
        if level:
            if var not in seen:
                rows.append([_text(r["label"]) or _label(study, var), "", ""])
                indent.append(0)
                seen.add(var)
            rows.append([level, fmt.format_smd(r["smd_before"]), fmt.format_smd(r["smd_after"])])
            indent.append(1)
        else:
            rows.append([_text(r["label"]) or _label(study, var), fmt.format_smd(r["smd_before"]),
                         fmt.format_smd(r["smd_after"])])
            indent.append(0)
    body = pd.DataFrame(rows, columns=["Characteristic", "before", "after"])
    return PubTable(name=name, caption=caption or "Standardized mean differences before and after matching",
                    body=body, labels={"before": "Before matching", "after": "After matching"}, indent=indent,
                    spanners=[("Standardized mean difference", ["before", "after"])],
                    footnotes=["Treated minus control; an absolute value below 0.1 is usually taken as balance."])


# ---------------------------------------------------------------------------------------------------------
# Persistence (single-arm studies)
# ---------------------------------------------------------------------------------------------------------

def _pct_ci(p, lo, hi) -> str:
    return fmt.format_percent_ci(p, lo, hi, 0, sign=False)


def persistence_table(persistence: pd.DataFrame, study=None, *, name: str = "persistence",
                      caption: str | None = None) -> PubTable:
    """Patients on the same therapy at each horizon: counts and % (95% CI, Wilson and exact)."""
    d = persistence.reset_index(drop=True)
    flag, unit = _suppressed_rows(d), _unit(study) or "months"
    body = pd.DataFrame({
        "Group": ["All patients" if _text(g) == "All" else _text(g) for g in d["group"]],
        "Patients": [_mark(fmt.format_count(v), v, f) for v, f in zip(d["n_patients"], flag)],
        "Evaluable": [_mark(fmt.format_count(v), v, f) for v, f in zip(d["n_evaluable"], flag)],
        "On the same therapy": [_mark(fmt.format_count(v), v, f) for v, f in zip(d["n_persisting"], flag)],
        "wilson": [fmt.SUPPRESSED_MARK if f else _pct_ci(p, lo, hi)
                   for f, p, lo, hi in zip(flag, d["proportion"], d["wilson_lower"], d["wilson_upper"])],
        "exact": [fmt.SUPPRESSED_MARK if f else _pct_ci(p, lo, hi)
                  for f, p, lo, hi in zip(flag, d["proportion"], d["exact_lower"], d["exact_upper"])],
    })
    groups = [f"At {fmt.format_time(h, unit)}" for h in d["horizon"]]
    return PubTable(name=name, caption=caption or "Patients on the same systemic therapy, among the evaluable",
                    body=body, labels={"wilson": "% (95% CI, Wilson)", "exact": "% (95% CI, exact)"}, groups=groups,
                    footnotes=["Evaluable: followed at least that long after MDRT (see the definitions above). "
                               "Percentages of the evaluable; Wilson score and Clopper-Pearson exact 95% CI."]
                    + _suppression_footnote(study, any(flag)))


def persistence_subgroup_table(subgroups: pd.DataFrame, study=None, *, name: str = "persistence_subgroups",
                               caption: str | None = None) -> PubTable:
    """Persistence by subgroup: each variable a heading with its chi-square and exact p, levels beneath."""
    d = subgroups.reset_index(drop=True)
    flag, unit = _suppressed_rows(d), _unit(study) or "months"
    rows, indent, groups = [], [], []
    for h in dict.fromkeys(d["horizon"]):
        part = d[d["horizon"] == h]
        for var in dict.fromkeys(part["variable"].map(_text)):
            block = part[part["variable"].map(_text) == var]
            first = block.iloc[0]
            rows.append([_text(first["label"]) or _label(study, var), "", "", "", fmt.format_p(first.get("chisq_p")),
                         fmt.format_p(first.get("fisher_p"))])
            indent.append(0)
            groups.append(f"At {fmt.format_time(h, unit)}")
            for i, r in block.iterrows():
                f = flag[i]
                rows.append([_text(r["level"]), _mark(fmt.format_count(r["n_patients"]), r["n_patients"], f),
                             _mark(f"{fmt.format_count(r['n_persisting'])}/{fmt.format_count(r['n_evaluable'])}"
                                   if not (is_missing(r["n_persisting"]) or is_missing(r["n_evaluable"])) else "",
                                   np.nan if is_missing(r["n_persisting"]) else 0, f),
                             fmt.SUPPRESSED_MARK if f else _pct_ci(r["proportion"], r["wilson_lower"],
                                                                   r["wilson_upper"]), "", ""])
                indent.append(1)
                groups.append(f"At {fmt.format_time(h, unit)}")
    body = pd.DataFrame(rows, columns=["Subgroup", "Patients", "persisting", "pct", "chisq", "fisher"])
    return PubTable(name=name, caption=caption or "Persistence by subgroup", body=body,
                    labels={"persisting": "On the same therapy / evaluable", "pct": "% (95% CI, Wilson)",
                            "chisq": "Chi-square p", "fisher": "Exact p"}, indent=indent, groups=groups,
                    footnotes=["Chi-square: Pearson test of equal proportions across the levels; exact: "
                               "Fisher-Freeman-Halton test."] + _suppression_footnote(study, any(flag)))


# ---------------------------------------------------------------------------------------------------------
# Reproduction scorecard
# ---------------------------------------------------------------------------------------------------------

def _decimals_of(text: str) -> int | None:
    text = text.strip()
    if not re.fullmatch(r"-?\d[\d,]*(\.\d+)?", text):
        return None
    if "." not in text:
        return 0
    digits = text.split(".")[1].rstrip("0")
    return len(digits)


def _at_precision(value, decimals: int | None) -> str:
    if is_missing(value):
        return ""
    x = _num(value)
    if np.isnan(x):
        return _text(value)
    if decimals is None:
        return fmt.format_number(x, 4)
    if decimals >= 4 and abs(x) < 1:  # R's full-precision reference values: four significant decimals
        decimals = 4
    return fmt.format_decimal(x, min(decimals, 4))


def _tolerance_text(t: str) -> str:
    t = t.strip()
    m = re.fullmatch(r"relative\s+([\d.]+)", t)
    if m:
        return f"\u00b1{fmt.format_number(100 * float(m.group(1)), 1)}% (relative)"
    if re.fullmatch(r"[\d.]+", t):
        return f"\u00b1{t}"
    return t


def scorecard(reproduction: pd.DataFrame, study=None, *, name: str = "reproduction",
              caption: str | None = None) -> PubTable:
    """Every published number against the reproduced one, at the paper's own precision, status in words
    and colour (green reproduced, red not reproduced, amber otherwise)."""
    d = reproduction.reset_index(drop=True)
    published_text = [_text(v) for v in d["published"]]
    decimals = [_decimals_of(t) for t in published_text]
    published = [_at_precision(t, k) if k is not None or not np.isnan(_num(t)) else t
                 for t, k in zip(published_text, decimals)]
    reproduced = [_at_precision(v, k) for v, k in zip(d["reproduced"], decimals)]
    status = [_text(s) for s in d["status"]]
    body = pd.DataFrame({
        "Quantity": [_text(q) for q in d["quantity"]],
        "Published": published,
        "Reproduced": reproduced,
        "Tolerance": [_tolerance_text(_text(t)) for t in d.get("tolerance", [""] * len(d))],
        "Status": [s[:1].upper() + s[1:] for s in status],
        "Note": [_text(n) for n in d.get("note", [""] * len(d))],
    })
    if "source" in d:
        body.insert(5, "Source", [_text(s) for s in d["source"]])
    colours = {(i, "Status"): STATUS_COLOURS.get(s.lower(), OTHER_STATUS_COLOUR) for i, s in enumerate(status) if s}
    counts = pd.Series(status).value_counts()
    summary = "; ".join(f"{fmt.format_count(n)} {s}" for s, n in counts.items())
    return PubTable(name=name, caption=caption or "Every published number against the reproduced one", body=body,
                    colours=colours, align={"Source": "left", "Note": "left"},
                    footnotes=["Published and reproduced values at the precision the paper prints. Tolerance: how "
                               "far a reproduced value may lie from the published one to count as reproduced. "
                               f"{summary}."])


# ---------------------------------------------------------------------------------------------------------
# Anything else
# ---------------------------------------------------------------------------------------------------------

def _format_column(column: str, values: pd.Series, flagged: np.ndarray) -> list[str]:
    col = str(column).lower()
    numeric = pd.to_numeric(values, errors="coerce")
    if values.dtype == bool or set(values.dropna().map(str)) <= {"True", "False"} and len(values.dropna()):
        return ["yes" if str(v) == "True" else "no" if str(v) == "False" else "" for v in values]
    if numeric.notna().sum() < values.notna().sum() or not len(values):
        return [_text(v) for v in values]
    if _is_p(col):
        out = [fmt.format_p(v) for v in numeric]
    elif col in PERCENT_COLUMNS:
        proportion = numeric.dropna().le(1).all() and col != "event_pct"
        out = [fmt.format_percent(v, 1, proportion=proportion) for v in numeric]
    elif col in COUNT_COLUMNS or (numeric.dropna() % 1 == 0).all():
        out = [fmt.format_count(v) for v in numeric]
    elif "smd" in col:
        out = [fmt.format_smd(v) for v in numeric]
    else:
        out = [fmt.format_number(v, 3) for v in numeric]
    return [_mark(o, v, f) for o, v, f in zip(out, numeric, flagged)]


def generic(df: pd.DataFrame, study=None, *, columns: Mapping | None = None, name: str = "table",
            caption: str = "", footnotes: list[str] | None = None) -> PubTable:
    """Any table in readable form: human headers, numbers formatted, identifiers and flags dropped.

    Parameters
    ----------
    columns : mapping, optional
        ``{column: header}``; a header of None drops the column. Other columns take a known header
        (:data:`HEADERS`), the study's label, or their name in words.
    """
    columns = dict(columns or {})
    flagged = _suppressed_rows(df)
    shown = [c for c in df.columns if columns.get(c, "") is not None and (c in columns or c not in HIDDEN)]
    body, labels = {}, {}
    for k, c in enumerate(shown):
        key = f"c{k}"
        body[key] = _format_column(c, df[c].reset_index(drop=True), flagged)
        labels[key] = columns.get(c) or _humanize(c, study)
    if not body:
        body, labels = {"c0": [""] * len(df)}, {"c0": ""}
    return PubTable(name=name, caption=caption, body=pd.DataFrame(body), labels=labels,
                    footnotes=list(footnotes or []) + _suppression_footnote(study, bool(flagged.any())))


def _attrition(df, study, name, caption):
    return generic(df, study, columns={"order": None, "criterion": "Step", "excluded": "Excluded",
                                       "remaining": "Patients remaining"}, name=name,
                   caption=caption or "Attrition: records excluded by each criterion")


def _overview(df, study, name, caption):
    d = df.copy()
    if "group" in d:
        d["group"] = d["group"].map(lambda g: "All patients" if _text(g) == "All" else _text(g))
    return generic(d, study, columns={"endpoint": "Endpoint"}, name=name, caption=caption or "Patients and events")


def _tests(df, study, name, caption):
    unit = _unit(study) or "months"
    d = df.copy()
    if "horizon" in d:
        d["horizon"] = [f"At {fmt.format_time(h, unit)}" for h in d["horizon"]]
    if "by" in d:
        d["by"] = [_label(study, _text(b)) for b in d["by"]]
    return generic(d, study, columns={"test": None, "horizon": "Time after MDRT", "by": "Groups",
                                      "statistic": "Chi-square", "df": "Degrees of freedom"},
                   name=name, caption=caption or "Tests of equal proportions across groups")


def _persistence_sensitivity(df, study, name, caption):
    unit = _unit(study) or "months"
    d = df.reset_index(drop=True)
    rules = {"followed": "followed at least that long", "status_known": "followed that long, or off therapy before"}
    body = pd.DataFrame({
        "Time after MDRT": [fmt.format_time(h, unit) for h in d["horizon"]],
        "Evaluable if": [rules.get(_text(r), _text(r)) for r in d["rule"]],
        "Used in the report": ["yes" if str(u) == "True" else "no" for u in d["used"]],
        "On the same therapy / evaluable": [f"{fmt.format_count(k)}/{fmt.format_count(n)}"
                                            for k, n in zip(d["n_persisting"], d["n_evaluable"])],
        "% (95% CI, Wilson)": [_pct_ci(p, lo, hi) for p, lo, hi in
                               zip(d["proportion"], d["wilson_lower"], d["wilson_upper"])],
    })
    return PubTable(name=name, caption=caption or "Overall persistence under each reading of 'evaluable'", body=body)


def _median_options(df, study, name, caption):
    d = df.reset_index(drop=True)
    unit, dec = _unit(study), _median_decimals(study)
    methods = {"brookmeyer-crowley": "Brookmeyer-Crowley", "symmetric": "Symmetric (Collett SE)"}
    body = pd.DataFrame({
        "Endpoint": [_endpoint_labels(study).get(_text(e), _humanize(_text(e))) for e in d["endpoint"]],
        "Interval": [methods.get(_text(m), _text(m)) for m in d["median_ci"]],
        "Transformation": [_text(c).strip("()") if _text(m) != "symmetric" else "" for m, c in
                           zip(d["median_ci"], d["conf_type"])],
        "median": [fmt.format_median(m, lo, hi, dec) for m, lo, hi in zip(d["median"], d["lower"], d["upper"])],
        "Used in the report": ["yes" if str(u) == "True" else "no" for u in d["used"]],
    })
    return PubTable(name=name, caption=caption or "Median (95% CI) under each interval method", body=body,
                    labels={"median": f"Median, {unit} (95% CI)" if unit else "Median (95% CI)"},
                    footnotes=["NR, not reached."])


def _cox_model(kind):
    def build(df, study, name, caption, read=None):
        return cox_table(df if kind == "uni" else None, df if kind == "multi" else None, study, name=name,
                         caption=caption)
    return build


def _paper_cox(df, study, name, caption, read=None):
    if read is not None:
        try:
            return cox_table(read("cox_univariable"), read("cox_multivariable"), study, name=name, caption=caption)
        except FileNotFoundError:
            pass
    return generic(df, study, name=name, caption=caption or "Cox models",
                   columns={"cohort": "Cohort", "label": "Characteristic"})


#: The sensitivity step's analyses in words (:mod:`mbcrt.steps.sensitivity` names its rows with these keys).
ANALYSIS_LABELS = {
    "naive": "Ever vs never treated (naive)",
    "exclude_immortal": "Treated counted from treatment start (biased)",
    "time_varying": "Treatment as time-varying (reference)",
    "landmark": "Landmark",
    "clone_censor_weight": "Clone-censor-weight",
    "iptw_ate": "IPTW, whole population (ATE)",
    "iptw_att": "IPTW, the treated (ATT)",
    "overlap": "Overlap weights",
    "matched": "Propensity-matched pairs",
}


def analysis_label(analysis, landmark=None, unit: str = "") -> str:
    """"Landmark at 6 months", "Overlap weights": one analysis of the sensitivity step in words."""
    key = _text(analysis)
    if key == "landmark" and not is_missing(landmark):
        return f"Landmark at {fmt.format_time(landmark, unit)}"
    return ANALYSIS_LABELS.get(key, _humanize(key))


def _analysis_column(d: pd.DataFrame, study) -> list[str]:
    landmarks = d["landmark"] if "landmark" in d else [None] * len(d)
    return [analysis_label(a, lm, _unit(study)) for a, lm in zip(d["analysis"], landmarks)]


def sensitivity_table(estimates: pd.DataFrame, study, *, name: str = "sensitivity",
                      caption: str | None = None) -> PubTable:
    """The treatment hazard ratio under each analysis of the sensitivity step, with what each one does."""
    d = estimates.reset_index(drop=True)
    body = pd.DataFrame({
        "Analysis": _analysis_column(d, study),
        "Patients": [fmt.format_count(v) for v in d["n"]],
        "Events": [fmt.format_count(v) for v in d["events"]],
        "HR (95% CI)": [fmt.format_hr(h, lo, hi) or "not estimable" for h, lo, hi in zip(d["hr"], d["lower"], d["upper"])],
        "p": [fmt.format_p(p) for p in d["p"]],
        "How": [_text(n) for n in d["note"]],
    })
    arms = study.arm_labels if study is not None and study.two_arm else {"treated": "treated", "control": "control"}
    return PubTable(name=name, caption=caption or "Treatment hazard ratio under each analysis", body=body,
                    align={"How": "left"},
                    footnotes=[f"HR, hazard ratio of {arms['treated']} vs {arms['control']}; CI, confidence interval."])


def rmst_table(rmst: pd.DataFrame, study, *, name: str = "rmst", caption: str | None = None) -> PubTable:
    """Restricted mean survival time by arm up to the horizon, and the difference with its CI."""
    d = rmst.reset_index(drop=True)
    unit = _unit(study)
    arms = study.arm_labels if study is not None and study.two_arm else {"treated": "Treated", "control": "Control"}
    body = pd.DataFrame({
        "Analysis": _analysis_column(d, study),
        "Horizon": [fmt.format_time(h, unit) for h in d["horizon"]],
        "treated": [fmt.format_decimal(v, 1) for v in d["rmst_treated"]],
        "control": [fmt.format_decimal(v, 1) for v in d["rmst_control"]],
        "Difference (95% CI)": [fmt.format_ci(v, lo, hi, 1) for v, lo, hi in zip(d["difference"], d["lower"], d["upper"])],
        "p": [fmt.format_p(p) for p in d["p"]],
        "How": [_text(n) for n in d["note"]],
    })
    span = f"Mean survival time{', ' + unit if unit else ''}"
    return PubTable(name=name, caption=caption or "Restricted mean survival time", body=body,
                    labels={"treated": arms["treated"], "control": arms["control"]},
                    spanners=[(span, ["treated", "control"])], align={"How": "left"},
                    footnotes=["Restricted mean survival time: the area under the Kaplan-Meier curve up to the horizon, "
                               "the mean time alive within it; the difference is treated minus control."])


def evalue_table(evalue: pd.DataFrame, study, *, name: str = "evalue", caption: str | None = None) -> PubTable:
    """E-values of each estimate and of its CI bound nearer 1; the chosen estimate marked."""
    d = evalue.reset_index(drop=True)
    chosen = [str(c).strip().lower() in ("true", "1") for c in d.get("chosen", [False] * len(d))]
    body = pd.DataFrame({
        "Analysis": [label + (" \u2020" if c else "") for label, c in zip(_analysis_column(d, study), chosen)],
        "HR (95% CI)": [fmt.format_hr(h, lo, hi) for h, lo, hi in zip(d["hr"], d["lower"], d["upper"])],
        "E-value, estimate": [fmt.format_decimal(v, 2) for v in d["evalue"]],
        "E-value, CI bound nearer 1": [fmt.format_decimal(v, 2) for v in d["evalue_ci"]],
    })
    return PubTable(name=name, caption=caption or "E-values", body=body, footnotes=[
        "E-value (VanderWeele and Ding, 2017): the risk ratio an unmeasured confounder would need with both the "
        "treatment and the outcome, beyond the measured covariates, to explain the estimate away (or to move its CI "
        "to include 1; 1 when it already does). The outcome is common, so each HR is first converted to a risk ratio "
        "(RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))).",
        "\u2020 The estimate the step reports as its main one."] if any(chosen) else [
        "E-value (VanderWeele and Ding, 2017): the risk ratio an unmeasured confounder would need with both the "
        "treatment and the outcome to explain the estimate away (or to move its CI to include 1)."])


def weights_table(weights: pd.DataFrame, study, *, name: str = "sensitivity_weights",
                  caption: str | None = None) -> PubTable:
    """Effective sample size (Kish) and largest weight of each arm under each propensity weighting."""
    d = weights.reset_index(drop=True)
    body = pd.DataFrame({
        "Weighting": [analysis_label(w) for w in d["weighting"]],
        "Arm": [_text(a) for a in d["arm"]],
        "Patients": [fmt.format_count(v) for v in d["n"]],
        "Effective sample size": [fmt.format_decimal(v, 1) for v in d["ess"]],
        "Largest weight": [fmt.format_decimal(v, 2) for v in d["max_weight"]],
    })
    return PubTable(name=name, caption=caption or "Effective sample size of each weighting", body=body,
                    footnotes=["Effective sample size: (sum of weights)\u00b2 / sum of squared weights (Kish); far below "
                               "the number of patients, a few patients carry the weighted estimate."])


def weighted_balance_table(balance: pd.DataFrame, study, *, name: str = "sensitivity_balance",
                           caption: str | None = None) -> PubTable:
    """Standardized mean differences unweighted and under each weighting, one column per weighting."""
    d = balance.reset_index(drop=True)
    order = list(dict.fromkeys(_text(w) for w in d["weighting"]))
    first = d[d["weighting"].map(_text) == order[0]].reset_index(drop=True)
    columns = {"before": [fmt.format_smd(v) for v in first["smd_before"]]}
    for w in order:
        part = d[d["weighting"].map(_text) == w].reset_index(drop=True)
        columns[w] = [fmt.format_smd(v) for v in part["smd_after"]]
    names = [f"{_text(lab)}: {_text(lev)}" if _text(lev) else _text(lab) for lab, lev in zip(first["label"], first["level"])]
    body = pd.DataFrame({"Characteristic": names, **columns})
    return PubTable(name=name, caption=caption or "Standardized mean differences, unweighted and weighted", body=body,
                    labels={"before": "Unweighted", **{w: analysis_label(w) for w in order}},
                    spanners=[("Standardized mean difference", ["before", *order])],
                    footnotes=["Treated minus control; the SD of the unweighted sample in the denominator (as cobalt); "
                               "an absolute value below 0.1 is usually taken as balance."])


def missingness_table(missing: pd.DataFrame, study, *, name: str = "missingness",
                      caption: str | None = None) -> PubTable:
    """Missing values per analysis variable: n (%) missing in each group, one column per group."""
    d = missing.reset_index(drop=True)
    groups = list(dict.fromkeys(_text(g) for g in d["group"]))
    rows = {}
    for r in d.itertuples(index=False):
        row = rows.setdefault(_text(r.variable), {"Characteristic": _text(r.label) or _label(study, _text(r.variable)),
                                                   "Model covariate": "yes" if _text(r.model_covariate).lower()
                                                   in ("true", "1") else "no"})
        row[_text(r.group)] = fmt.format_n_pct(r.missing, r.missing_pct)
    body = pd.DataFrame(list(rows.values()), columns=["Characteristic", *groups, "Model covariate"])
    return PubTable(name=name, caption=caption or "Missing values of the analysis variables", body=body,
                    spanners=[("Missing, n (%)", groups)],
                    footnotes=["Model covariates enter the propensity and Cox models: a missing one stops the run "
                               "unless the study file chooses complete cases or multiple imputation."])


def data_profile_table(profile: pd.DataFrame, study, *, name: str = "data_profile",
                       caption: str | None = None) -> PubTable:
    """Every column of the export: role, type, missing, distinct values and values breaking its rule (counts only)."""
    d = profile.reset_index(drop=True)
    body = pd.DataFrame({
        "Column": [_text(c) for c in d["column"]],
        "Role": [_text(r) for r in d["role"]],
        "Type": [_text(r) for r in d["type"]],
        "Missing, n (%)": [fmt.format_n_pct(n, p) for n, p in zip(d["missing"], d["missing_pct"])],
        "Distinct values": [fmt.format_count(v) for v in d["distinct"]],
        "Out of range": [fmt.format_count(v) for v in d["out_of_range"]],
        "Out of range means": [_text(r) for r in d["rule"]],
    })
    return PubTable(name=name, caption=caption or "Data-quality profile of the export", body=body,
                    align={"Column": "left", "Out of range means": "left"},
                    footnotes=[f"{fmt.format_count(d['rows'].iloc[0]) if len(d) else 0} rows. Counts only: no value of "
                               "an identifier or a date is shown."])


def mi_cox_table(mi_cox: pd.DataFrame, study, *, name: str = "mi_cox", caption: str | None = None) -> PubTable:
    """Hazard ratios pooled over the imputations by Rubin's rules, with the fraction of missing information;
    one row group per cohort and model."""
    d = mi_cox.reset_index(drop=True)
    cohorts = _cohort_labels(study)
    def group(cohort, model) -> str:
        cohort, model = cohorts.get(_text(cohort), _humanize(_text(cohort))), _text(model)
        if model in ("univariable", "multivariable"):
            return f"{cohort}, {model} model{'s' if model == 'univariable' else ''}"
        return f"{cohort}, treatment only: {MATCHED_MODELS.get(model, _humanize(model))}"

    groups = [group(c, m) for c, m in zip(d["cohort"], d["model"])]
    m = int(d["m"].iloc[0]) if len(d) else 0
    body = pd.DataFrame({
        "Characteristic": [_text(lab) for lab in d["label"]],
        "HR (95% CI)": [fmt.format_hr(h, lo, hi) for h, lo, hi in zip(d["hr"], d["lower"], d["upper"])],
        "p": [fmt.format_p(p) for p in d["p"]],
        "Fraction of missing information": [fmt.format_decimal(v, 2) for v in d["fmi"]],
    })
    return PubTable(name=name, caption=caption or "Hazard ratios pooled over the imputations", body=body,
                    groups=groups, footnotes=[
                        f"Pooled over {m} imputed data sets by Rubin's rules (Barnard-Rubin degrees of freedom). "
                        "Fraction of missing information: the share of the estimate's variance due to the missing "
                        "values (0, none; near 1, the data say little)."])


def mi_landmark_table(mi_landmarks: pd.DataFrame, study, *, name: str = "mi_landmarks",
                      caption: str | None = None) -> PubTable:
    """Survival at the landmarks pooled over the imputations (complementary log-log scale), % (95% CI)."""
    d = mi_landmarks.reset_index(drop=True)
    unit = _unit(study)
    groups = [_group_title(study, *_group_key(r)) for _, r in d.iterrows()]
    body = pd.DataFrame({
        "Group": [_group_label(g, c) for g, c in zip(d["group"], d["cohort"])],
        "Time": [fmt.format_time(x, unit) if unit else fmt.format_number(x) for x in d["time"]],
        "Survival, % (95% CI)": [fmt.format_survival(s, lo, hi) for s, lo, hi in zip(d["surv"], d["lower"], d["upper"])],
        "Fraction of missing information": [fmt.format_decimal(v, 2) for v in d["fmi"]],
    })
    return PubTable(name=name, caption=caption or "Survival at the landmarks pooled over the imputations", body=body,
                    groups=groups, footnotes=["Kaplan-Meier survival in each imputed data set, pooled by Rubin's "
                                              "rules on the complementary log-log scale."])


def mi_missing_table(missing: pd.DataFrame, study, *, name: str = "mi_missing", caption: str | None = None) -> PubTable:
    """Per model covariate: patients with it missing, n (%), and how it was imputed."""
    d = missing.reset_index(drop=True)
    body = pd.DataFrame({
        "Characteristic": [_text(lab) or _label(study, _text(v)) for lab, v in zip(d["label"], d["variable"])],
        "Missing, n (%)": [fmt.format_n_pct(n, p) for n, p in zip(d["missing"], d["missing_pct"])],
        "Imputed by": [_text(x) for x in d["method"]],
    })
    return PubTable(name=name, caption=caption or "Missing model covariates and how they were imputed", body=body,
                    align={"Imputed by": "left"})


def _with(builder):
    return lambda df, study, name, caption, read=None: builder(df, study, name=name, caption=caption)


def _table1(df, study, name, caption, read=None):
    return table_one(df, study, name=name, caption=caption)


def _km(df, study, name, caption, read=None):
    """The survival table with the landmarks, log-rank tests and follow-up of the same run when saved."""
    def other(table):
        if read is None:
            return None
        try:
            return read(table)
        except FileNotFoundError:
            return None
    return survival_table(df, other("landmarks"), study, logrank=other("logrank"), followup=other("followup"),
                          name=name, caption=caption)


def _plain(builder):
    return lambda df, study, name, caption, read=None: builder(df, study, name, caption)


#: The publication form of each table a step saves, by its name.
BUILDERS: dict[str, Callable] = {
    "attrition": _plain(_attrition), "cohort_overview": _plain(_overview),
    "table1": _table1, "table1_all": _table1, "table1_matched": _table1,
    "matching_summary": _with(matching_summary), "balance": _with(balance_table),
    "km_summary": _km, "landmarks": _with(landmark_table), "logrank": _with(logrank_table),
    "followup": _with(followup_table),
    "cox_univariable": _cox_model("uni"), "cox_multivariable": _cox_model("multi"), "cox_table": _paper_cox,
    "cox_matched": _with(cox_matched_table), "cox_ph_test": _with(ph_test_table),
    "subgroups": _with(subgroup_table), "reproduction": _with(scorecard),
    "persistence": _with(persistence_table), "persistence_subgroups": _with(persistence_subgroup_table),
    "persistence_tests": _plain(_tests), "persistence_sensitivity": _plain(_persistence_sensitivity),
    "median_ci_options": _plain(_median_options),
    "sensitivity": _with(sensitivity_table), "rmst": _with(rmst_table), "evalue": _with(evalue_table),
    "sensitivity_weights": _with(weights_table), "sensitivity_balance": _with(weighted_balance_table),
    "missingness": _with(missingness_table), "data_profile": _with(data_profile_table),
    "mi_cox": _with(mi_cox_table), "mi_landmarks": _with(mi_landmark_table), "mi_missing": _with(mi_missing_table),
}


def for_saved_table(name: str, df: pd.DataFrame, study=None, read: Callable | None = None, *,
                    caption: str | None = None) -> PubTable:
    """The publication form of the table a step saves as ``name`` (:func:`generic` for unknown names)."""
    builder = BUILDERS.get(name)
    if builder is None:
        return generic(df, study, name=name, caption=caption or "")
    return builder(df, study, name, caption, read=read)
