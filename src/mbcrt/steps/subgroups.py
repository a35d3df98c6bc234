"""Step 6, subgroup analyses: treatment hazard ratios within subgroups, interaction tests, forest plot and Kaplan-Meier panels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mbcrt.report import privacy
from mbcrt.report.format import format_p_label
from mbcrt.steps.common import COHORT_WORDS, Endpoint, ci_label, endpoints
from mbcrt.steps.survival import _factorize_as_text, figure_annotation, km_analysis, study_ticks
from mbcrt.study.config import Study


def subgroup_analysis(study: Study, df: pd.DataFrame, cohort: str,
                      endpoint: Endpoint | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Treatment effect within each level of each subgroup variable.

    Returns
    -------
    table : DataFrame
        ``cohort, variable, level, n, events, n_treated, n_control, median_treated, median_control,
        logrank_p, hr, lower, upper, p, interaction_p, note``.
    panels : list of dict
        One Kaplan-Meier panel per (variable, level) for :func:`mbcrt.report.figures.km.km_panels`.
    """
    from mbcrt.stats import subgroups

    ep = endpoint or endpoints(study)[0]
    hrs = subgroups.subgroup_hazard_ratios(
        df, time=ep.time, event=ep.event, treatment="_treat", variables=study.subgroups,
        levels=study.levels, labels=study.labels, ties=study.cox["ties"], alpha=study.survival["alpha"])
    control, treated = study.arms
    extra, panels = [], []
    needed = df[list(dict.fromkeys([ep.time, ep.event, "_arm"]))]  # a level's rows: these columns only
    ticks = study_ticks(study, df[ep.time].to_numpy(float))  # every panel on the same axis
    as_text = {var: _factorize_as_text(df[var]) for var in hrs["variable"].unique()}
    for r in hrs.itertuples(index=False):
        raw, texts = as_text[r.variable]
        wanted = [j for j, text in enumerate(texts) if text == str(r.level)]
        sub = needed[np.isin(raw, wanted)]
        if sub.empty:
            extra.append({"median_treated": np.nan, "median_control": np.nan, "logrank_p": np.nan})
            continue
        km = km_analysis(study, sub, ep, cohort, by="_arm", order=study.arms, at_risk_times=ticks)
        med = dict(zip(km.summary["group"], km.summary["median"]))
        p = float(km.logrank["p"].iloc[0]) if len(km.logrank) else np.nan
        extra.append({"median_treated": med.get(treated, np.nan), "median_control": med.get(control, np.nan),
                      "logrank_p": p})
        hr = (r.hr, r.lower, r.upper) if pd.notna(r.hr) else None  # the panel's HR is its forest row's
        panels.append({"title": f"{study.label(r.variable)}: {r.level}", "level": str(r.level), "curves": km.curves,
                       "at_risk": km.at_risk, "annotation": figure_annotation(study, p, hr)})
    table = pd.concat([hrs.reset_index(drop=True), pd.DataFrame(extra)], axis=1)
    table.insert(0, "cohort", cohort)
    cols = ["cohort", "variable", "label", "level", "n", "events", "n_treated", "n_control", "median_treated",
            "median_control", "logrank_p", "hr", "lower", "upper", "p", "interaction_p", "note"]
    return table[[c for c in cols if c in table.columns]], panels


@dataclass
class SubgroupStep:
    table: pd.DataFrame
    figures: dict
    captions: dict
    warnings: list


def subgroup_step(study: Study, cohorts: dict[str, pd.DataFrame]) -> SubgroupStep:
    """Subgroup HRs, interaction tests, forest plot and KM panels for every cohort."""
    from mbcrt.report.figures.forest import forest_plot
    from mbcrt.report.figures.km import km_panels

    tables, figures, captions, notes = [], {}, {}, []
    if not study.subgroups:
        return SubgroupStep(pd.DataFrame(), {}, {}, ["The study file lists no subgroup variables."])
    for cohort, df in cohorts.items():
        table, panels = subgroup_analysis(study, df, cohort)
        table = privacy.suppress(table, "subgroups", study.min_cell_count)
        shown = None if study.subgroup_panels is None else {str(v) for v in study.subgroup_panels}
        panels = [p for p in panels if all(c.n >= study.min_cell_count for c in p["curves"].values())
                  and (shown is None or p["level"] in shown)]
        tables.append(table)
        empty = table[table["n"] == 0]
        for r in empty.itertuples():
            notes.append(f"Subgroup {study.label(r.variable)} = {r.level} is empty in the {COHORT_WORDS.get(cohort, cohort + ' cohort')}.")
        where = "after matching" if cohort == "matched" else "in the analysis cohort"
        rows = table.assign(
            label=[str(lv) for lv in table["level"]],
            group=[f"{study.label(v)} (interaction {format_p_label(p)})" for v, p in zip(table.variable, table.interaction_p)],
            **{f"HR ({ci_label(study)})": [f"{h:.2f} ({lo:.2f}-{hi:.2f})" if pd.notna(h) else "not estimable"
                               for h, lo, hi in zip(table.hr, table.lower, table.upper)], "n": table["n"]})
        name = f"forest_{cohort}"
        figures[name] = forest_plot(rows, group="group", right_text=["n", f"HR ({ci_label(study)})"],
                                    xlabel=f"Hazard ratio ({ci_label(study)})",
                                    favours=(f"Favours {study.arm_labels['treated']}",
                                             f"Favours {study.arm_labels['control']}"))
        captions[name] = " ".join(filter(None, [study.paper_names.get(name),
                                                f"Treatment hazard ratio by subgroup {where}"]))
        name = f"subgroup_km_{cohort}"
        if not panels:
            continue
        figures[name] = km_panels(panels, xlabel=f"Time ({study.time_unit})",
                                  xmax=float(df[endpoints(study)[0].time].max()),
                                  median_lines=bool(study.survival.get("median_lines")))
        captions[name] = " ".join(filter(None, [study.paper_names.get(name),
                                                f"Kaplan-Meier curves by treatment within subgroups {where}"]))
    return SubgroupStep(pd.concat(tables, ignore_index=True), figures, captions, notes)
