"""Step 8, persistence on the same systemic therapy: the tables, tests, forest and swimmer plots of a
single-arm study of metastasis-directed radiotherapy (statistics in :mod:`mbcrt.stats.persistence`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mbcrt.errors import InputError, StatisticalWarning, closest
from mbcrt.stats import contingency
from mbcrt.stats.persistence import (
    ALL,
    EVALUABLE_RULES,
    TEST_COLUMNS,
    persistence_at,
    persistence_by_subgroup,
    swimmer_lanes,
)

#: Keys of the study file's ``persistence`` section, with their defaults.
STEP_DEFAULTS = {
    "time": None,  # time on the same therapy; default: the primary endpoint's _time
    "event": None,  # default: _event
    "followup": None,  # follow-up to death or last contact (required)
    "horizons": [6, 12],
    "evaluable": "followed",
    "by": None,  # the group of the primary table (e.g. subtype)
    "subgroups": [],
    "forest_horizon": None,  # default: the first horizon
    "progression": None,  # times from the start for the swimmer markers
    "next_therapy": None,
    "death": None,
    "max_lanes": 200,
    "median_ci_table": True,  # also tabulate the medians of every endpoint under each CI option
}


def step_settings(study) -> dict:
    """The study's ``persistence`` section with defaults, checked (unknown keys name the closest)."""
    given = dict(study.persistence or {})
    unknown = [k for k in given if k not in STEP_DEFAULTS]
    if unknown:
        raise InputError(f"unknown key 'persistence.{unknown[0]}'.{closest(unknown[0], STEP_DEFAULTS)}",
                         file=study.path.name)
    s = {**STEP_DEFAULTS, **given}
    if not s["followup"]:
        raise InputError("the persistence step needs 'persistence.followup' (time to death or last contact)",
                         file=study.path.name, column="persistence.followup")
    if s["evaluable"] not in EVALUABLE_RULES:
        raise InputError(f"must be one of {', '.join(EVALUABLE_RULES)}", file=study.path.name,
                         column="persistence.evaluable")
    s["time"] = s["time"] or "_time"
    s["event"] = s["event"] or "_event"
    s["horizons"] = [_plain_number(h) for h in s["horizons"]]
    s["forest_horizon"] = _plain_number(s["forest_horizon"]) if s["forest_horizon"] is not None \
        else s["horizons"][0]
    return s


def _plain_number(x):
    """6.0 -> 6 (so tables print "6" and locators can say ``horizon=6``)."""
    x = float(x)
    return int(x) if x.is_integer() else x


@dataclass
class PersistenceStep:
    """Everything the persistence notebook shows and saves.

    Attributes
    ----------
    summary : DataFrame
        ``horizon, by`` + :attr:`PersistenceResult.summary` columns, every horizon (saved as ``persistence``).
    tests : DataFrame
        ``horizon, by`` + test columns (``persistence_tests``).
    sensitivity : DataFrame
        Overall persistence under each evaluability rule (``persistence_sensitivity``).
    subgroups : DataFrame
        :func:`persistence_by_subgroup` at the forest horizon (``persistence_subgroups``).
    median_ci : DataFrame
        Median (95% CI) of each time-to-event endpoint under every CI option (``median_ci_options``).
    lanes : DataFrame
        Swimmer lanes (patient-level: shown as a figure only, never saved as a table).
    figures, captions : dict
        ``forest_persistence`` and ``swimmer`` figures with their captions.
    notes : list of str
        Sentences for the reader (both p-values, small expected counts).
    warnings : list of str
        Statistical warnings raised on the way (e.g. an exact test too large to enumerate).
    """

    summary: pd.DataFrame
    tests: pd.DataFrame
    sensitivity: pd.DataFrame
    subgroups: pd.DataFrame
    median_ci: pd.DataFrame
    lanes: pd.DataFrame
    figures: dict = field(default_factory=dict)
    captions: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def _by_order(study, df: pd.DataFrame, by: str | None) -> list[str] | None:
    if by is None:
        return None
    levels = study.levels.get(by)
    return [str(v) for v in levels] if levels else sorted(df[by].dropna().astype(str).unique())


def persistence_tables(study, df: pd.DataFrame, settings: dict) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                          pd.DataFrame]:
    """Summary, tests and sensitivity tables over every horizon."""
    s, alpha = settings, study.survival["alpha"]
    by = s["by"]
    group = df[by] if by else None
    order = _by_order(study, df, by)
    summaries, tests, sensitivity = [], [], []
    for h in s["horizons"]:
        res = persistence_at(df[s["time"]], df[s["event"]], df[s["followup"]], h, group=group, order=order,
                             rule=s["evaluable"], alpha=alpha)
        summaries.append(res.summary.assign(horizon=h, by=by or "none"))
        tests.append(res.tests.assign(horizon=h, by=by or "none"))
        for rule in EVALUABLE_RULES:
            alt = persistence_at(df[s["time"]], df[s["event"]], df[s["followup"]], h, rule=rule, alpha=alpha)
            row = alt.summary.iloc[0]
            sensitivity.append({"horizon": h, "rule": rule, "used": rule == s["evaluable"],
                                "n_evaluable": int(row.n_evaluable), "n_persisting": int(row.n_persisting),
                                "proportion": row.proportion, "wilson_lower": row.wilson_lower,
                                "wilson_upper": row.wilson_upper})
    front = ["horizon", "by"]
    summary = pd.concat(summaries, ignore_index=True)
    summary = summary[front + [c for c in summary.columns if c not in front]]
    test_table = pd.concat(tests, ignore_index=True)
    test_table = test_table[front + TEST_COLUMNS] if len(test_table) else pd.DataFrame(columns=front + TEST_COLUMNS)
    return summary, test_table, pd.DataFrame(sensitivity)


def median_ci_options(study, df: pd.DataFrame) -> pd.DataFrame:
    """Median and 95% CI of every time-to-event endpoint under each CI option (for the readings).

    Papers seldom say how the interval of a median was computed; the table shows how much the
    choice matters. The option the study uses is flagged ``used``.
    """
    from mbcrt.stats import survival
    from mbcrt.steps.common import endpoints

    rows = []
    chosen = (study.survival["conf_type"], study.survival["median_ci"])
    for ep in endpoints(study):
        t, e = df[ep.time].to_numpy(float), df[ep.event].to_numpy(int)
        for median_ci in survival.MEDIAN_CI_METHODS:
            for conf_type in survival.CONF_TYPES if median_ci == "brookmeyer-crowley" else ("log-log",):
                km = survival.kaplan_meier(t, e, conf_type=conf_type, alpha=study.survival["alpha"],
                                           median_ci=median_ci)
                shown = conf_type if median_ci == "brookmeyer-crowley" else "(Collett SE)"
                rows.append({"endpoint": ep.name, "median_ci": median_ci, "conf_type": shown,
                             "median": km.median, "lower": km.median_lower, "upper": km.median_upper,
                             "used": (conf_type, median_ci) == chosen or
                             (median_ci == "symmetric" and chosen[1] == "symmetric")})
    return pd.DataFrame(rows)


def forest_figure(study, subgroups: pd.DataFrame, overall: pd.Series, horizon, test: str = "chisq"):
    """Forest plot of persistence (%, Wilson 95% CI) by subgroup, the overall proportion as reference."""
    from mbcrt.report.figures.forest import forest_plot
    from mbcrt.report.format import format_p_label as format_p, format_percent_ci

    head = pd.DataFrame([{**overall.to_dict(), "label": "All patients", "group": None}])
    body = subgroups.assign(label=subgroups["level"].astype(str),
                            group=[f"{lab} (chi-square {format_p(p)}; exact {format_p(q)})"
                                   for lab, p, q in zip(subgroups["label"], subgroups["chisq_p"],
                                                        subgroups["fisher_p"])])
    rows = pd.concat([head, body], ignore_index=True)
    rows = rows.assign(pct=100 * rows["proportion"], lo=100 * rows["wilson_lower"], hi=100 * rows["wilson_upper"],
                       **{"n/N": [f"{k:.0f}/{n:.0f}" if pd.notna(k) and pd.notna(n) else "suppressed"
                                  for k, n in zip(rows.n_persisting, rows.n_evaluable)],
                          "% (95% CI)": [format_percent_ci(p, lo, hi, sign=False, dash="-")
                                         for p, lo, hi in zip(rows.proportion, rows.wilson_lower,
                                                              rows.wilson_upper)]})
    unit = study.time_unit
    reference = 100 * float(overall["proportion"]) if pd.notna(overall["proportion"]) else None
    return forest_plot(rows, estimate="pct", lower="lo", upper="hi", label="label", group="group",
                       right_text=["n/N", "% (95% CI)"], reference=reference,
                       log_scale=False, favours=None, xlim=(0.0, 100.0),
                       xlabel=f"On the same therapy at {horizon} {unit} (%, 95% CI)")


#: Columns computed from the counts of a row (blanked with them when a count is suppressed).
_DERIVED = ["share", "proportion", "wilson_lower", "wilson_upper", "exact_lower", "exact_upper"]


def suppress_small_cells(table: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Blank every row that would reveal a count of 1 to ``min_cell_count - 1`` patients.

    A row's counts (patients, evaluable, persisting, and evaluable minus persisting) and everything
    computed from them (share, proportion, CIs) are set to NaN, and ``suppressed`` is True. Zero
    counts are shown (they identify nobody). ``min_cell_count`` 0 or 1 changes nothing.
    """
    out = table.copy()
    out["suppressed"] = False
    if min_cell_count <= 1:
        return out
    counts = [c for c in ("n_patients", "n_evaluable", "n_persisting") if c in out.columns]
    values = out[counts].astype(float)
    if {"n_evaluable", "n_persisting"} <= set(counts):
        values = values.assign(_not=values["n_evaluable"] - values["n_persisting"])
    small = ((values > 0) & (values < min_cell_count)).any(axis=1)
    blank = counts + [c for c in _DERIVED if c in out.columns]
    out[blank] = out[blank].astype(float)
    out.loc[small, blank] = np.nan
    out["suppressed"] = small
    return out


def test_notes(tests: pd.DataFrame, unit: str, by_label: str) -> list[str]:
    """One sentence per horizon: both p-values, and a caution when an expected count is below 5."""
    notes = []
    for horizon, rows in tests.groupby("horizon", sort=False):
        p = dict(zip(rows["test"], rows["p"]))
        smallest = float(rows["min_expected"].min())
        text = (f"{by_label} at {horizon} {unit}: Pearson chi-square p = {p.get('chisq', np.nan):.3f}, "
                f"Fisher-Freeman-Halton exact p = {p.get('fisher', np.nan):.3f}.")
        if smallest < contingency.MIN_EXPECTED_COUNT:
            text += (f" The smallest expected count is {smallest:.1f} (below {contingency.MIN_EXPECTED_COUNT:g}), "
                     f"so the chi-square p is only approximate; the exact p is the safer reading.")
        notes.append(text)
    return notes


def persistence_step(study, df: pd.DataFrame) -> PersistenceStep:
    """Run the persistence analyses the study file's ``persistence`` section asks for.

    Parameters
    ----------
    study : mbcrt.study.config.Study
    df : DataFrame
        The analysis cohort (``build/<study>/cohort.csv``).

    Returns
    -------
    PersistenceStep
    """
    from mbcrt.report.figures.swimmer import swimmer_plot

    s = step_settings(study)
    missing = [c for c in (s["time"], s["event"], s["followup"], s["by"], s["progression"], s["next_therapy"],
                           s["death"]) if c and c not in df.columns]
    if missing:
        raise InputError(f"persistence columns not in the cohort.{closest(missing[0], df.columns)}",
                         column=missing[0])
    alpha = study.survival["alpha"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticalWarning)
        summary, tests, sensitivity = persistence_tables(study, df, s)
        subgroups = persistence_by_subgroup(df, s["subgroups"], s["forest_horizon"], time=s["time"],
                                            event=s["event"], followup=s["followup"], rule=s["evaluable"],
                                            alpha=alpha)
    raised = sorted({str(w.message) for w in caught if issubclass(w.category, StatisticalWarning)})
    notes = test_notes(tests, study.time_unit, study.label(s["by"]) if s["by"] else "")
    if study.min_cell_count > 1:
        summary, subgroups = (suppress_small_cells(t, study.min_cell_count) for t in (summary, subgroups))
        sensitivity = suppress_small_cells(sensitivity, study.min_cell_count)
        notes.append(f"Counts of 1 to {study.min_cell_count - 1} patients are suppressed (min_cell_count); "
                     f"the swimmer plot, which shows single patients, is not drawn.")
    def column(name):
        return df[name] if name else None

    lanes = swimmer_lanes(df[s["time"]], df[s["event"]], group=column(s["by"]),
                          progression=column(s["progression"]), next_therapy=column(s["next_therapy"]),
                          death=column(s["death"]))
    if s["by"]:
        order = _by_order(study, df, s["by"])
        lanes["group"] = pd.Categorical(lanes["group"].astype(str), categories=order)
    unit = study.time_unit
    figures, captions = {}, {}
    overall = summary[(summary["horizon"] == s["forest_horizon"]) & (summary["group"] == ALL)].iloc[0]
    if len(subgroups):
        figures["forest_persistence"] = forest_figure(study, subgroups, overall, s["forest_horizon"])
        captions["forest_persistence"] = (f"Proportion on the same systemic therapy {s['forest_horizon']} {unit} "
                                          f"after MDRT by subgroup (Wilson 95% CI; dashed line: all patients)")
    if study.min_cell_count <= 1:
        figures["swimmer"] = swimmer_plot(lanes, xlabel=f"{unit.capitalize()} since MDRT",
                                          max_lanes=s["max_lanes"], reference_lines=s["horizons"])
        captions["swimmer"] = ("Time on the same systemic therapy after MDRT, one lane per patient (anonymous), "
                               "with progression, change of therapy, death and censoring")
    median_ci = median_ci_options(study, df) if s["median_ci_table"] else pd.DataFrame()
    return PersistenceStep(summary, tests, sensitivity, subgroups, median_ci, lanes, figures, captions, notes,
                           raised)


def readable_summary(summary: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The summary table as a clinician reads it: counts and % (95% CI) as text (the report shows
    :func:`mbcrt.report.tables.persistence_table`, its publication form)."""
    from mbcrt.report.format import format_percent_ci as _ci_text

    shown = pd.DataFrame({
        "Time after MDRT": [f"{h} {unit}" for h in summary["horizon"]],
        "Group": summary["group"],
        "Patients": summary["n_patients"],
        "Evaluable": summary["n_evaluable"],
        "On the same therapy": summary["n_persisting"],
        "% (95% CI, Wilson)": [_ci_text(*r) for r in
                               summary[["proportion", "wilson_lower", "wilson_upper"]].itertuples(index=False)],
        "% (95% CI, exact)": [_ci_text(*r) for r in
                              summary[["proportion", "exact_lower", "exact_upper"]].itertuples(index=False)],
    })
    if "suppressed" in summary.columns:
        hidden = summary["suppressed"].to_numpy(dtype=bool)
        shown.loc[hidden, ["% (95% CI, Wilson)", "% (95% CI, exact)"]] = "suppressed (small cell)"
    return shown


def definitions(study, settings: dict | None = None) -> str:
    """Markdown stating how the step reads the endpoint: what ends the therapy, who is evaluable."""
    s = settings or step_settings(study)
    unit = study.time_unit
    rule = {"followed": "followed (from MDRT to death or last contact) for at least that long",
            "status_known": "followed for at least that long, or off the therapy before it"}[s["evaluable"]]
    return (f"**Definitions used.** Time on the same systemic therapy is `{s['time']}` (event `{s['event']}`): "
            f"it ends at the next systemic therapy or at death, as the study file derives it. A patient is "
            f"*evaluable* at a horizon ({', '.join(f'{h} {unit}' for h in s['horizons'])}) when {rule}; an "
            f"evaluable patient is *on the same therapy* when that time is at least the horizon. Proportions "
            f"have Wilson (score) and exact (Clopper-Pearson) {100 * (1 - study.survival['alpha']):.0f}% "
            f"confidence intervals; groups are compared by Pearson's chi-square test (no continuity "
            f"correction) and the Fisher-Freeman-Halton exact test.")
