"""What a notebook step sees: the study, its output folders, and helpers to show and save results.

Every notebook starts with ``ctx = open_step("<step>", study_file, overrides, out_root)``. The context
writes tables and figures where the pipeline expects them, shows them in the report in a fixed,
deterministic form (no random ids, no timestamps), and turns the package's statistical warnings
into visible boxes in the report, not only lines in a log.
"""

from __future__ import annotations

import dataclasses
import gc
import html
import json
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mbcrt import paths
from mbcrt.errors import StatisticalWarning
from mbcrt.study.config import Study, load_study

#: Under every Word table of a synthetic study.
SYNTHETIC_WORD_NOTE = ("SYNTHETIC DATA: computed on a synthetic cohort generated to match published summaries; "
                       "not patient data.")

#: Floats in committed CSV tables: ten significant digits, stable across machines and BLAS builds.
CSV_FLOAT_FORMAT = "%.10g"


def _read(path: Path) -> pd.DataFrame:
    """Read a table this package wrote (its pickle when there is one); in a CSV only an empty field
    is missing ("None", "NA" are labels)."""
    fast = path.with_suffix(".pkl")
    if fast.exists():
        return pd.read_pickle(fast)
    return pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)


def _dates_as_text(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its date columns as the text ``to_csv`` writes for them (YYYY-MM-DD, missing empty),
    converted at C speed by numpy: pandas formats a date at a time, a quarter of the time to write a
    registry export. Only columns of whole days in years 1000-9999 (where both give the same text)."""
    out = None
    for col in df.columns:
        values = df[col].to_numpy()
        if values.dtype.kind != "M":
            continue
        known = ~np.isnat(values)
        days = values[known].astype("datetime64[D]")
        if (days != values[known]).any() or (known.any() and not (
                np.datetime64("1000-01-01") <= days.min() and days.max() <= np.datetime64("9999-12-31"))):
            continue  # times of day, or years pandas writes another way: left to pandas
        text = np.full(len(values), "", dtype=object)
        text[known] = np.datetime_as_string(days, unit="D").astype(object)
        if out is None:
            out = df.copy(deep=False)
        out[col] = text
    return df if out is None else out


def _display(obj) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is a dependency
        print(obj)
        return
    display(obj)


def _html(markup: str) -> None:
    from IPython.display import HTML

    _display(HTML(markup))


@dataclass
class StepContext:
    """The running step of one study.

    Attributes
    ----------
    step : str
        The step's name (``cohort``, ``baseline``, ...).
    study : Study
        The validated study file with overrides applied.
    paths : mbcrt.paths.StudyPaths
        Output folders under the run's output root.
    """

    step: str
    study: Study
    paths: paths.StudyPaths
    warnings: list[str] = field(default_factory=list)

    # ---- inputs -------------------------------------------------------------------------------
    def cohort(self) -> pd.DataFrame:
        """The analysis cohort written by the cohort step."""
        return _read(self.paths.build / "cohort.csv")

    def write_build(self, df: pd.DataFrame, name: str) -> None:
        """Write a patient-level table to ``build/<study>/<name>.csv`` (for people) and a pickle beside it
        (for the later steps: ten times faster to read back at registry scale)."""
        _dates_as_text(df).to_csv(self.paths.build / f"{name}.csv", index=False)
        df.to_pickle(self.paths.build / f"{name}.pkl")

    def matched(self) -> pd.DataFrame | None:
        """The matched cohort (with ``pair_id`` and ``ps``), or None when the study does not match
        (a matched cohort left by an earlier run with other steps is ignored)."""
        p = self.paths.build / "matched.csv"
        return _read(p) if "matching" in self.study.steps and p.exists() else None

    def cohorts(self) -> dict[str, pd.DataFrame]:
        """``{"all": cohort}`` plus ``"matched"`` when a matched cohort exists."""
        out = {"all": self.cohort()}
        m = self.matched()
        if m is not None:
            out["matched"] = m
        return out

    def table(self, name: str) -> pd.DataFrame:
        """A table an earlier step wrote."""
        return _read(self.paths.table(name))

    # ---- outputs ------------------------------------------------------------------------------
    def save_table(self, df: pd.DataFrame, name: str, *, caption: str | None = None, show: bool = True,
                   show_columns: list[str] | None = None, pub=None, digits: int | None = None) -> None:
        """Write ``tables/<study>/<name>.csv`` (``df`` unchanged, full precision) and show its publication form.

        Parameters
        ----------
        df : DataFrame
            The tidy table (after small-cell suppression where the step applies it).
        name : str
            File stem; also picks the publication layout (:func:`mbcrt.report.tables.for_saved_table`).
        caption : str, optional
            Shown above the table; the paper's name for it (``paper_names``) is put in front.
        show : bool
            Show the table in the report (the CSV and the Word file are written either way).
        show_columns : list of str, optional
            For tables without a publication layout: the columns to show.
        pub : PubTable, optional
            The publication form to show instead of the one built from ``name``.
        digits : int, optional
            Ignored (kept for old notebooks): the publication form decides the precision.

        A table of the study report (:data:`mbcrt.report.tables.REPORT_TABLES`) is also written as
        ``tables/<study>/docx/<name>.docx``. Returns nothing on purpose: a returned path would be echoed
        into the report."""
        path = self.paths.table(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")
        from mbcrt.report import tables

        if not show and name not in tables.REPORT_TABLES:
            return
        if pub is None:
            if show_columns is not None and name not in tables.BUILDERS:
                pub = tables.generic(df[show_columns], self.study, name=name, caption=caption or "")
            else:
                pub = tables.for_saved_table(name, df, self.study, self._sibling, caption=caption)
        paper = self.paper_name(name)
        if paper and not pub.caption.startswith(paper):
            pub.caption = f"{paper}. {pub.caption}" if pub.caption and pub.caption != paper else paper
        if name in tables.REPORT_TABLES:  # a Word table pasted elsewhere keeps the synthetic-data label
            word = pub if not self.study.synthetic else dataclasses.replace(
                pub, source_notes=[*pub.source_notes, SYNTHETIC_WORD_NOTE])
            word.to_docx(self.paths.tables / "docx" / f"{name}.docx")
        if show:
            _html(pub.to_html())

    def _sibling(self, name: str) -> pd.DataFrame:
        """Another table of this run (for layouts that join tables, e.g. the Cox table)."""
        path = self.paths.table(name)
        if not path.exists():
            raise FileNotFoundError(name)
        return _read(path)

    def show_table(self, df, *, caption: str | None = None, digits: int | None = None) -> None:
        """Show a table in publication form: a :class:`~mbcrt.report.tables.PubTable` as it is, a DataFrame
        through :func:`~mbcrt.report.tables.generic` (human headers, numbers formatted, no ids)."""
        from mbcrt.report import tables

        if isinstance(df, tables.PubTable):
            pub = df
            if caption:
                pub.caption = caption
        else:
            slug = re.sub(r"[^a-z0-9]+", "-", (caption or "table").lower()).strip("-")[:40] or "table"
            pub = tables.generic(df, self.study, name=f"{self.step}-{slug}", caption=caption or "")
        _html(pub.to_html())

    def save_figure(self, fig, name: str, *, caption: str | None = None, show: bool = True) -> None:
        """Write ``figures/<study>/<name>.png`` (300 dpi) and ``.svg``; show the SVG under ``caption``."""
        from mbcrt.report.figures.style import save_figure

        self.paths.figures.mkdir(parents=True, exist_ok=True)
        png, svg = save_figure(fig, self.paths.figures / name)
        if show:
            from IPython.display import SVG

            label = self.paper_name(name)
            cap = caption or label
            if cap:
                _html(f"<p class='mbcrt-caption'><b>{html.escape(cap)}</b></p>")
            _display(SVG(filename=str(svg)))

    def paper_name(self, artifact: str) -> str | None:
        """The paper's name for an output (``paper_names`` in the study file), e.g. "Figure 1A"."""
        return self.study.paper_names.get(artifact)

    def note(self, markdown: str, *, save_as: str | None = None) -> None:
        """Show a paragraph of Markdown in the report; with ``save_as``, also keep it as
        ``reports/<study>/text_<save_as>.md`` for the study report (which shows, never writes, the step's words)."""
        from IPython.display import Markdown

        _display(Markdown(markdown))
        if save_as:
            self.paths.reports.mkdir(parents=True, exist_ok=True)
            (self.paths.reports / f"text_{save_as}.md").write_text(markdown.rstrip() + "\n", encoding="utf-8")

    def warn(self, text: str) -> None:
        """Show a warning a reader must see, and keep it for the run's index page."""
        self.warnings.append(text)
        _html(f"<div class='mbcrt-warning'><b>Warning.</b> {html.escape(text)}</div>")
        self._write_warnings()

    def _write_warnings(self) -> None:
        self.paths.reports.mkdir(parents=True, exist_ok=True)
        (self.paths.reports / f"warnings_{self.step}.json").write_text(
            json.dumps(self.warnings, indent=1) + "\n", encoding="utf-8")

    def banner(self) -> None:
        """The heading of every step; a synthetic-data banner for synthetic studies."""
        s = self.study
        _html(f"<p class='mbcrt-study'>{html.escape(s.title)}</p>")
        if s.min_cell_count > 1:
            from mbcrt.report.privacy import note

            _html(f"<div class='mbcrt-warning'>{html.escape(note(s.min_cell_count))}</div>")
        if s.synthetic:
            note = s.synthetic_note or ("These results come from a synthetic cohort generated to match the "
                                        "published summaries. They are not patient data.")
            _html("<div class='mbcrt-synthetic'><b>SYNTHETIC DATA.</b> " + html.escape(note) + "</div>")


def open_step(step: str, study_file: str, overrides: str = "[]", out_root: str = "") -> StepContext:
    """Start a notebook step: load the study, point at the output folders, show the heading.

    Parameters
    ----------
    step : str
        The step's name.
    study_file : str
        The study YAML (relative to the project root, or absolute).
    overrides : str
        JSON list of ``key=value`` overrides (as ``--set`` gives them).
    out_root : str
        Output root; empty for the project root (interactive use), a staging folder in a run.
    """
    study = load_study(study_file, json.loads(overrides or "[]"))
    root = paths.resolve(out_root) if out_root else paths.PROJECT_ROOT
    ctx = StepContext(step=step, study=study, paths=paths.StudyPaths(study.name, root).ensure())
    _route_statistical_warnings(ctx)
    ctx.banner()
    return ctx


#: What a kernel looked like before its first step (see :func:`prepare_kernel_for_step`).
_KERNEL_AT_START: dict | None = None


def prepare_kernel_for_step() -> None:
    """Make a kernel that already ran earlier steps of a study look fresh to the next one.

    The pipeline runs all steps of a study in one kernel (starting a kernel and importing the
    package again for every step cost more than a small study's whole analysis), and calls this
    before each step. The first call records the kernel's start-up state; later calls put it back:
    an empty user namespace and execution count 1 (so each notebook and its report number their
    cells from ``In [1]``), the warning filters and ``showwarning`` of start-up with every "shown
    once" registry cleared (a warning shows in every step it occurs in, as in a fresh kernel), the
    start-up working directory and ``sys.path``, and no pyplot figure left open. Imported modules
    stay imported: that is the saving.
    """
    global _KERNEL_AT_START
    if _KERNEL_AT_START is None:
        _KERNEL_AT_START = {"filters": list(warnings.filters), "showwarning": warnings.showwarning,
                            "cwd": os.getcwd(), "path": list(sys.path)}
        return
    from IPython import get_ipython

    get_ipython().reset(new_session=True)  # user namespace, output cache and history; count back to 1
    start = _KERNEL_AT_START
    warnings.filters[:] = start["filters"]
    warnings.showwarning = start["showwarning"]
    # Invalidates every module's record of warnings already shown (what simplefilter() does after
    # changing the filters; the list was changed in place here).
    getattr(warnings, "_filters_mutated", lambda: warnings.simplefilter("default", append=True))()
    os.chdir(start["cwd"])
    sys.path[:] = start["path"]
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
    gc.collect()  # the previous step's frames: memory back before the next step reads its own


def _route_statistical_warnings(ctx: StepContext) -> None:
    """Show the package's StatisticalWarnings as report boxes; others as one line without file paths
    (a path in a report would differ between machines and tell where the data lives)."""

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, StatisticalWarning):
            ctx.warn(str(message))
        else:
            print(f"{category.__name__}: {message}", file=sys.stderr)

    warnings.showwarning = show
    warnings.simplefilter("always", StatisticalWarning)
