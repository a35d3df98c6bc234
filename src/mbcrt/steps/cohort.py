"""Step 1, cohort build: what the cohort notebook shows beside the cohort itself (built in :mod:`mbcrt.study.config.cohort`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mbcrt.report import privacy
from mbcrt.steps.common import endpoints, group_column
from mbcrt.study.config import Study


def cohort_overview(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Patients and events of the primary endpoint, overall and per group (counts only)."""
    by, order = group_column(study)
    rows = [("All", np.ones(len(df), dtype=bool))] + ([(g, (df[by] == g).to_numpy()) for g in order] if by else [])
    ep = endpoints(study)[0]
    event = df["_event"].to_numpy()
    table = pd.DataFrame([{"group": g, "patients": int(m.sum()), "events": int(event[m].sum()),
                           "endpoint": ep.label} for g, m in rows])
    return privacy.suppress(table, "cohort_overview", study.min_cell_count)


def analysis_variables(study: Study) -> list[str]:
    """The variables the analysis uses beyond time and event: model covariates, subgroups, Table 1."""
    from mbcrt.study.validation import incomplete_allowed

    c = study.config
    names = [*incomplete_allowed(study), *c["covariates"], *c["subgroups"], *(c["table1"]["variables"] or [])]
    return list(dict.fromkeys(names))


def _blank_small(table: pd.DataFrame, min_cell_count: int, key: str) -> pd.DataFrame:
    """Blank the counts (and percentages) of every row of a variable where any count is 1 to m - 1: the
    arms add up to "All", so blanking one cell alone would not hide it."""
    if min_cell_count <= 1:
        return table
    small = (table["missing"] > 0) & (table["missing"] < min_cell_count)
    hide = table[key].isin(table.loc[small, key])
    out = table.assign(missing=table["missing"].astype("float64"), missing_pct=table["missing_pct"])
    out.loc[hide, ["missing", "missing_pct"]] = np.nan
    return out.assign(suppressed=hide.to_numpy())


def missingness(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Missing values of each analysis variable, overall and per arm (counts, never values).

    Parameters
    ----------
    df : DataFrame
        The analysis cohort before any row was dropped for a missing value
        (:attr:`mbcrt.study.cohort.CohortResult.with_missing`).

    Returns
    -------
    DataFrame
        ``variable, label, model_covariate, group, patients, missing, missing_pct``: one row per
        variable and group ("All", then each arm), variables in study-file order. With
        ``min_cell_count`` > 1, a variable's counts are blank when any of them is below it.
    """
    from mbcrt.study.validation import incomplete_allowed

    by, order = group_column(study)
    groups = [("All", np.ones(len(df), dtype=bool))] + ([(g, (df[by] == g).to_numpy()) for g in order] if by else [])
    model = set(incomplete_allowed(study))
    rows = []
    for var in analysis_variables(study):
        if var not in df.columns:
            continue
        miss = df[var].isna().to_numpy()
        for g, mask in groups:
            n, k = int(mask.sum()), int((miss & mask).sum())
            rows.append({"variable": var, "label": study.label(var), "model_covariate": var in model, "group": g,
                         "patients": n, "missing": k, "missing_pct": 100 * k / n if n else np.nan})
    table = pd.DataFrame(rows, columns=["variable", "label", "model_covariate", "group", "patients", "missing",
                                        "missing_pct"])
    return _blank_small(table, study.min_cell_count, "variable")


def missingness_figure(study: Study, table: pd.DataFrame):
    """Percentage missing per variable (bars per arm), from :func:`missingness`."""
    from mbcrt.report.figures.missingness import missingness_plot

    by, order = group_column(study)
    return missingness_plot(table, groups=order if by else ["All"])


#: Columns of ``data_profile.csv``.
PROFILE_COLUMNS = ["column", "role", "type", "rows", "missing", "missing_pct", "distinct", "out_of_range", "rule"]


def _roles(study: Study) -> dict[str, str]:
    c = study.config
    roles = {}

    def put(names, role):
        for n in names:
            if n and n not in roles:
                roles[n] = role

    put([c["id"]], "identifier")
    put(c["dates"], "date")
    put([c["time"], *[e["time"] for e in c["endpoints"]]], "follow-up time")
    put([c["event"], *[e["event"] for e in c["endpoints"]]], "event")
    put([c["treatment"]], "treatment")
    from mbcrt.study.validation import incomplete_allowed

    put(incomplete_allowed(study), "model covariate")
    put(c["subgroups"], "subgroup")
    put(c["covariates"] + (c["table1"]["variables"] or []), "covariate")
    return roles


def _out_of_range(study: Study, col: str, role: str, s: pd.Series) -> tuple[int, str]:
    """How many values break the study's rule for this column, and the rule (never a value)."""
    from mbcrt.study import validation

    c = study.config
    known = s.notna()
    if role == "date":
        formats = c.get("date_format") or ["%Y-%m-%d"]
        formats = [formats] if isinstance(formats, str) else list(formats)
        if pd.api.types.is_datetime64_any_dtype(s):
            parsed = s
        elif pd.api.types.is_numeric_dtype(s):  # a workbook's serial day numbers
            parsed = pd.to_datetime(s, unit="D", origin="1899-12-30", errors="coerce")
        else:  # as the cohort build reads them: the study's formats, in order
            parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
            for f in formats:
                parsed = parsed.fillna(pd.to_datetime(s, errors="coerce", format=f))
        bad = known & (parsed.isna() | (parsed <= validation.PLACEHOLDER_DATE))
        shown = " or ".join(f.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD") for f in formats)
        rule = f"not a {shown} date, or on or before 1900-01-01"
        if c.get("data_cutoff") is not None:
            bad |= known & (parsed > pd.Timestamp(str(c["data_cutoff"])))
            rule += ", or after the data cut-off"
        return int(bad.sum()), rule
    if role == "event":
        return int((known & ~validation.matches(s, [c["event_value"], c["censored_value"]])).sum()), \
            "neither the event code nor the censored code"
    levels = c["levels"].get(col)
    if levels is not None:
        return int((known & ~validation.matches(s, levels)).sum()), "not among the declared levels"
    x = pd.to_numeric(s, errors="coerce")
    if role == "follow-up time":
        return int((known & (x.isna() | (x <= 0))).sum()), "not a number, or zero or negative"
    if role in ("model covariate", "covariate", "subgroup") and col not in c["categorical"] \
            and col not in c["subgroups"]:
        return int((known & (x.isna() | ~np.isfinite(x.astype("float64")))).sum()), "not a number"
    return 0, ""


def data_profile(study: Study, export: pd.DataFrame) -> pd.DataFrame:
    """A data-quality profile of the export as read: for every column its role, type, missing count,
    number of distinct values and how many values break the study's rule for it.

    Only counts: no value of any column is shown (so none of an identifier or a date).

    Returns
    -------
    DataFrame
        :data:`PROFILE_COLUMNS`, one row per column of the export in its order.
    """
    roles = _roles(study)
    rows = []
    n = len(export)
    for col in export.columns:
        s = export[col]
        role = roles.get(col, "")
        if role == "date" or pd.api.types.is_datetime64_any_dtype(s):
            kind = "date"
        elif pd.api.types.is_bool_dtype(s):
            kind = "yes/no"
        elif pd.api.types.is_integer_dtype(s):
            kind = "whole number"
        elif pd.api.types.is_numeric_dtype(s):
            kind = "number"
        else:
            kind = "text"
        k = int(s.isna().sum())
        bad, rule = _out_of_range(study, col, role, s) if role else (0, "")
        rows.append({"column": str(col), "role": role, "type": kind, "rows": n, "missing": k,
                     "missing_pct": 100 * k / n if n else np.nan, "distinct": int(s.nunique(dropna=True)),
                     "out_of_range": bad, "rule": rule})
    table = pd.DataFrame(rows, columns=PROFILE_COLUMNS)
    m = study.min_cell_count
    if m > 1:  # a handful of odd records is itself a small cell
        for col in ("missing", "out_of_range"):
            small = (table[col] > 0) & (table[col] < m)
            table[col] = table[col].astype("float64").mask(small)
            if col == "missing":
                table["missing_pct"] = table["missing_pct"].mask(small)
    return table


def missing_data_note(study: Study, table: pd.DataFrame, attrition: pd.DataFrame) -> str:
    """What the report says about missing model covariates and what the study does with them."""
    from mbcrt.study.validation import missing_strategy

    strategy = missing_strategy(study)
    model = table[(table["group"] == "All") & table["model_covariate"]]
    gaps = model[model["missing"].fillna(1) > 0]
    if gaps.empty:
        return "No model covariate has a missing value."
    names = ", ".join(gaps["label"])
    if strategy == "complete_case":
        dropped = attrition[attrition["criterion"].str.startswith("Missing ")]["excluded"].sum()
        return (f"Complete-case analysis (missing: complete_case): the {int(dropped):,} patients with a model covariate "
                f"missing ({names}) are excluded, each counted in the attrition under the first covariate they "
                f"miss. Complete cases give unbiased estimates only when missingness is unrelated to the outcome "
                f"given the covariates; multiple imputation (missing: multiple_imputation) relaxes this.")
    if strategy == "multiple_imputation":
        m = study.missing["imputations"]
        return (f"Multiple imputation (missing: multiple_imputation, {m} imputations): the patients with a model "
                f"covariate missing ({names}) stay in the cohort. Table 1 shows the observed values with the "
                f"number missing; the Kaplan-Meier curves use every patient; the propensity score, the matching and "
                f"the Cox models of the usual steps use the complete cases and say so; the imputation step gives "
                f"the primary estimates, pooled over the imputed data sets by Rubin's rules.")
    return f"Model covariates with missing values: {names}."
