"""Interactive exploration in JupyterLab: widgets that redo a study's matched treatment effect.

``notebooks/explore.ipynb`` calls :func:`explore_panel`; the controls (caliper and its scale,
endpoint, subgroup and level, landmark time, cohort drawn) rerun
:func:`mbcrt.steps.explore.explore` and show its Kaplan-Meier figure, treatment hazard ratios,
landmark survival and balance table, formatted for reading. The panel writes nothing to disk.

The panel fills its Output widget by setting its ``outputs`` (not by capturing prints), so what it
shows is the same in a browser, in a headless kernel and in a test without a kernel.
"""

from __future__ import annotations

import html
import io
import json
import warnings

import pandas as pd

from mbcrt import paths
from mbcrt.errors import InputError, StatisticalWarning
from mbcrt.report.format import format_count, format_hr, format_p, format_smd, format_survival, format_time
from mbcrt.steps.common import ci_label, endpoints
from mbcrt.steps.explore import (ExploreResult, check_explorable, default_landmark, explore, subgroup_choices,
                                 with_caliper)
from mbcrt.steps.matching import MatchingResult, run_matching
from mbcrt.study.config import Study, load_study

COHORT_LABELS = {"all": "All patients", "matched": "Matched cohort"}
MODEL_LABELS = {"naive": "Cox", "cluster_robust": "Cox, SE robust to the pairing",
                "pair_stratified": "Cox stratified by pair"}
SCALE_LABELS = {"logit": "logit of the propensity score", "probability": "propensity score"}
ALL = ""  # the subgroup control's value for all patients


def load_cohort(study: Study, out_root: str | None = None) -> tuple[pd.DataFrame, str]:
    """The analysis cohort a run wrote, else the cohort built in memory from the study's data.

    Parameters
    ----------
    study : Study
        The study.
    out_root : str, optional
        Output root of the run (default: the project root).

    Returns
    -------
    cohort : DataFrame
    source : str
        Where it came from, for the panel's heading (paths relative to the project).
    """
    from mbcrt.run.context import StepContext

    root = paths.resolve(out_root) if out_root else paths.PROJECT_ROOT
    ctx = StepContext(step="explore", study=study, paths=paths.StudyPaths(study.name, root))
    build = ctx.paths.build
    if (build / "cohort.pkl").exists() or (build / "cohort.csv").exists():
        return ctx.cohort(), f"the cohort of the last run ({paths.relative(build / 'cohort.csv')})"
    from mbcrt.study.cohort import build_cohort

    bundled = study.path.parent.parent == paths.STUDIES_DIR
    run = f"--study {study.name}" if bundled else f"--config {paths.relative(study.path)}"
    return build_cohort(study).cohort, (f"the cohort built now from {paths.relative(study.data_path)} "
                                        f"(./run_all.sh {run} writes it to build/{study.name}/)")


# ---- formatting ------------------------------------------------------------------------------------

def _table_html(df: pd.DataFrame, caption: str) -> str:
    body = df.to_html(index=False, border=0, classes="mbcrt-table", na_rep="", escape=True)
    return f"<p class='mbcrt-caption'><b>{html.escape(caption)}</b></p>{body}"


def hr_table(result: ExploreResult, study: Study) -> pd.DataFrame:
    """The treatment hazard ratios as a clinician reads them (text cells)."""
    hr = result.hr
    return pd.DataFrame({
        "Cohort": [COHORT_LABELS[c] for c in hr["cohort"]],
        "Model": [MODEL_LABELS[m] for m in hr["model"]],
        "Patients": [format_count(n) for n in hr["n"]],
        "Events": [format_count(e) for e in hr["events"]],
        f"HR ({ci_label(study)})": [format_hr(h, lo, hi) or "not estimable"
                                    for h, lo, hi in zip(hr["hr"], hr["lower"], hr["upper"])],
        "p": [format_p(p) for p in hr["p"]],
    })


def landmark_table(result: ExploreResult, study: Study) -> pd.DataFrame:
    """Survival per arm at the landmark time, in percent with its CI (text cells)."""
    lm = result.landmarks
    when = format_time(result.parameters["landmark"], study.time_unit)
    return pd.DataFrame({
        "Cohort": [COHORT_LABELS[c] for c in lm["cohort"]],
        "Group": lm["group"].astype(str).to_numpy(),
        f"Survival at {when}, % ({ci_label(study)})": [format_survival(s, lo, hi) for s, lo, hi in
                                                       zip(lm["surv"], lm["lower"], lm["upper"])],
        "Number at risk": [format_count(n) for n in lm["n_risk"]],
    })


def balance_display(result: ExploreResult) -> pd.DataFrame:
    """Standardized mean differences before and after matching (text cells)."""
    b = result.balance
    return pd.DataFrame({"Variable": b["label"].to_numpy(), "Level": b["level"].to_numpy(),
                         "SMD before matching": [format_smd(v) for v in b["smd_before"]],
                         "SMD after matching": [format_smd(v) for v in b["smd_after"]]})


def summary_text(result: ExploreResult, study: Study) -> str:
    """One sentence: pairs, caliper, subgroup and its patients."""
    p = result.parameters
    m = result.matching
    n_treated = int(m.treat.sum())
    caliper = ("no caliper" if p["caliper"] is None else
               f"caliper {p['caliper']:g} SD of the {SCALE_LABELS[p['caliper_scale']]}")
    text = f"{format_count(result.n_pairs)} pairs from {format_count(n_treated)} treated patients ({caliper})."
    if p["subgroup"] is not None:
        var, level = p["subgroup"]
        text += (f" Subgroup {study.label(var)} = {level}: {format_count(result.n['all'])} patients, "
                 f"{format_count(result.n['matched'])} of them in the matched cohort.")
    return text


def _figure_svg(fig) -> str:
    from mbcrt.report.figures.style import style_context

    buf = io.StringIO()
    with style_context():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def _display_data(data: dict) -> dict:
    return {"output_type": "display_data", "data": data, "metadata": {}}


def render(result: ExploreResult, study: Study) -> tuple[dict, ...]:
    """The outputs the panel shows for ``result`` (Jupyter display_data messages)."""
    ep = {e.name: e for e in endpoints(study)}[result.parameters["endpoint"]]
    parts = [f"<p>{html.escape(summary_text(result, study))}</p>"]
    if result.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
        parts.append(f"<div class='mbcrt-warning'><b>Warnings.</b><ul>{items}</ul></div>")
    drawn = COHORT_LABELS[result.parameters["cohort"]].lower()
    figure = (f"<p class='mbcrt-caption'><b>{html.escape(ep.label)} by arm, {html.escape(drawn)}</b> "
              f"(dotted line: the landmark time).</p>")
    tables = [_table_html(hr_table(result, study), "Treatment hazard ratio"),
              _table_html(landmark_table(result, study), "Survival at the landmark time"),
              _table_html(balance_display(result),
                          "Standardized mean differences before and after matching")]
    svg = _figure_svg(result.figure)
    return (_display_data({"text/html": "".join(parts) + figure}),
            _display_data({"image/svg+xml": svg, "text/plain": f"<{ep.label} Kaplan-Meier figure>"}),
            _display_data({"text/html": "".join(tables)}))


def _match(study: Study, cohort: pd.DataFrame, caliper: float | None, caliper_scale: str) -> MatchingResult:
    """The study's match with this caliper; its statistical warnings join the matching notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticalWarning)
        result = run_matching(with_caliper(study, caliper, caliper_scale), cohort)
    result.warnings += [str(c.message) for c in caught if issubclass(c.category, StatisticalWarning)]
    return result


# ---- the panel -------------------------------------------------------------------------------------

class ExplorePanel:
    """Controls and the output they redraw, for one study and its cohort.

    Parameters
    ----------
    study : Study
        A two-arm study.
    cohort : DataFrame
        Its analysis cohort.
    source : str
        Where the cohort came from (shown in the heading).

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole panel (what the notebook displays).
    output : ipywidgets.Output
        Figure and tables of the current parameters.
    result : ExploreResult or None
        The last result (None when the last parameters gave an error, shown in ``message``).
    """

    def __init__(self, study: Study, cohort: pd.DataFrame, source: str = ""):
        import ipywidgets as w

        check_explorable(study)
        self.study, self.cohort = study, cohort
        self.result: ExploreResult | None = None
        self._matches: dict = {}  # (caliper, scale) -> MatchingResult: other controls do not rematch
        self._holding = False
        m = study.matching
        self._levels = subgroup_choices(study, cohort)
        wide = {"description_width": "initial"}
        self.caliper = w.BoundedFloatText(value=m["caliper"] or 0.2, min=0.001, max=10.0, step=0.05,
                                          description="Caliper (SD)", style=wide, disabled=m["caliper"] is None)
        self.no_caliper = w.Checkbox(value=m["caliper"] is None, description="No caliper", indent=False)
        self.scale = w.ToggleButtons(options=[("Logit of PS", "logit"), ("PS", "probability")],
                                     value=m["caliper_scale"], description="Scale", style=wide)
        self.endpoint = w.Dropdown(options=[(e.label, e.name) for e in endpoints(study)], description="Endpoint",
                                   style=wide)
        self.subgroup = w.Dropdown(options=[("All patients", ALL)] + [(study.label(v), v) for v in self._levels],
                                   value=ALL, description="Subgroup", style=wide)
        self.level = w.Dropdown(options=[], description="Level", style=wide, disabled=True)
        tmax = float(cohort["_time"].max())
        self.landmark = w.BoundedFloatText(value=min(default_landmark(study, cohort), tmax), min=0.0, max=tmax,
                                           step=1.0, description=f"Landmark ({study.time_unit})", style=wide)
        self.show = w.ToggleButtons(options=[("Matched cohort", "matched"), ("All patients", "all")],
                                    value="matched", description="Curves of", style=wide)
        self.message = w.HTML()
        self.output = w.Output()
        for control in (self.caliper, self.scale, self.endpoint, self.level, self.landmark, self.show):
            control.observe(self._changed, names="value")
        self.no_caliper.observe(self._no_caliper_changed, names="value")
        self.subgroup.observe(self._subgroup_changed, names="value")
        self.widget = w.VBox([w.HTML(self._heading(source)),
                              w.HBox([self.caliper, self.no_caliper, self.scale]),
                              w.HBox([self.endpoint, self.subgroup, self.level]),
                              w.HBox([self.landmark, self.show]),
                              self.message, self.output])
        self.update()

    def _heading(self, source: str) -> str:
        s = self.study
        parts = [f"<p class='mbcrt-study'><b>{html.escape(s.title)}</b></p>"]
        if s.synthetic:
            note = s.synthetic_note or "These results come from a synthetic cohort. They are not patient data."
            parts.append(f"<div class='mbcrt-synthetic'><b>SYNTHETIC DATA.</b> {html.escape(note)}</div>")
        if source:
            parts.append(f"<p>Patients: {html.escape(source)}.</p>")
        return "".join(parts)

    # ---- callbacks ---------------------------------------------------------------------------------
    def _changed(self, change=None) -> None:
        if not self._holding:
            self.update()

    def _no_caliper_changed(self, change) -> None:
        self.caliper.disabled = bool(change["new"])
        self._changed()

    def _subgroup_changed(self, change) -> None:
        var = change["new"]
        self._holding = True  # new options set the level: one update, below
        try:
            levels = self._levels.get(var, []) if var != ALL else []
            self.level.options = levels
            self.level.value = levels[0] if levels else None
            self.level.disabled = var == ALL
        finally:
            self._holding = False
        self.update()

    # ---- computing -----------------------------------------------------------------------------------
    def parameters(self) -> dict:
        """The controls' values as :func:`mbcrt.steps.explore.explore` takes them."""
        var = self.subgroup.value
        return {"caliper": None if self.no_caliper.value else float(self.caliper.value),
                "caliper_scale": self.scale.value, "endpoint": self.endpoint.value,
                "subgroup": (var, self.level.value) if var != ALL and self.level.value is not None else None,
                "landmark": float(self.landmark.value), "show": self.show.value}

    def update(self) -> ExploreResult | None:
        """Recompute for the controls' values and redraw; the result (None after an error)."""
        params = self.parameters()
        key = (params["caliper"], params["caliper_scale"])
        try:
            if key not in self._matches:
                self._matches[key] = _match(self.study, self.cohort, *key)
            result = explore(self.study, self.cohort, matching=self._matches[key], **params)
        except InputError as exc:  # a choice the data cannot answer (e.g. no pair in a subgroup)
            self.result = None
            self.message.value = f"<div class='mbcrt-warning'><b>Not computed.</b> {html.escape(exc.rule)}</div>"
            self.output.outputs = ()
            return None
        self.message.value = ""
        self.output.outputs = render(result, self.study)
        self.result = result
        return result

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def explore_panel(study_file: str, overrides: str | list | dict = "[]", out_root: str = "") -> ExplorePanel:
    """The exploration panel of a study: load it and its cohort, build the controls, show the defaults.

    Parameters
    ----------
    study_file : str
        The study YAML, relative to the project root (whatever the working directory) or absolute.
    overrides : str, list or dict
        ``key=value`` overrides as a JSON list (as the step notebooks take them), a list or a dict.
    out_root : str
        Output root whose ``build/<study>/cohort.csv`` is read (default: the project root); without
        one the cohort is built in memory from the study's data.

    Returns
    -------
    ExplorePanel
        Displays as its widget (the last expression of a notebook cell).
    """
    if isinstance(overrides, str):
        overrides = json.loads(overrides or "[]")
    study = load_study(study_file, overrides)
    cohort, source = load_cohort(study, out_root)
    return ExplorePanel(study, cohort, source)
