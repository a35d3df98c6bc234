"""Cohort build: load the data, check it, derive analysis variables, apply the study's criteria.

Raw data is never changed: the cohort is a new table (``build/<study>/cohort.csv``) with the data's
columns, the derived ones, and four standard columns the later steps use:
``_time`` (float, in the study's time unit), ``_event`` (0/1), and for two-arm studies ``_treat``
(0/1) and ``_arm`` (the arm's display label).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mbcrt import paths
from mbcrt.errors import InputError, closest
from mbcrt.study import linked as linked_tables
from mbcrt.study import read, validation
from mbcrt.study.config import Study

#: Days per unit of time. A month is a twelfth of a Julian year (365.25 / 12 = 30.4375 days).
DAYS_PER = {"days": 1.0, "months": 30.4375, "years": 365.25}


def read_data(path: Path, options: read.ReadOptions | None = None) -> pd.DataFrame:
    """Read the export by its extension (see :mod:`mbcrt.study.read`): CSV/TSV in any encoding and
    delimiter, Excel, SPSS, Stata, SAS, Parquet; clear errors for a missing, empty or unreadable file."""
    return read.read_export(Path(path), options)


def required_columns(study: Study) -> list[str]:
    """Columns of the raw data the study file names (derived columns excluded)."""
    c = study.config
    derived = {d["name"] for d in c["derive"]}
    names = [c["id"], c["time"], c["event"], c["treatment"], c.get("treatment_start"), *c["dates"], *c["covariates"],
             *c["subgroups"], *(c["table1"]["variables"] or []), c["table1"]["by"],
             *(c["cox"]["covariates"] or [])]
    names += [e[k] for e in c["endpoints"] for k in ("time", "event")]
    names += [k["by"] for k in c["km_by"]]
    seen, out = set(), []
    for n in names:
        if n and n not in derived and n not in seen:
            seen.add(n)
            out.append(n)
    return out


def check_columns(df: pd.DataFrame, study: Study) -> None:
    """Every column the study names exists (raw or derived); else name it and suggest the closest."""
    shown = paths.relative(study.data_path)
    derived = {d["name"] for d in study.derive}
    for col in required_columns(study):
        if col not in df.columns and col not in derived:
            raise InputError(f"column named in the study file is not in the data.{closest(col, df.columns)}",
                             file=shown, column=col)


#: Excel's day 0: a workbook's serial day numbers count from it (1900 date system).
EXCEL_ORIGIN = "1899-12-30"
#: Ways of writing a date day first and month first (to tell a user which their dates are read both ways).
_DAY_FIRST = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y")
_MONTH_FIRST = ("%m/%d/%Y", "%m-%d-%Y", "%m.%d.%Y", "%m/%d/%y")


def parse_dates(df: pd.DataFrame, columns, file: str, formats=None, excel_serial: bool = False) -> pd.DataFrame:
    """Parse the date columns; a value that cannot be read as a date is an error, blanks stay missing.

    Parameters
    ----------
    df : DataFrame
    columns : list of str
    file : str
        The data file, for messages.
    formats : str or list of str, optional
        The study's ``date_format``: strptime formats tried in order (default ISO ``%Y-%m-%d`` only).
    excel_serial : bool
        Numbers in a date column are Excel serial day numbers (counted from 1899-12-30); only for a
        workbook, where a date cell that lost its format shows its number.

    Dates already typed by the file (SPSS, Stata, SAS, Parquet, date cells of a workbook) are kept.
    The time of day is dropped: intervals are counted in whole days, as from dates written as text.

    Raises
    ------
    InputError
        Naming the file, the column, the rule and the number of rows: text fitting none of the declared
        formats (or, without ``date_format``, not ``YYYY-MM-DD``, saying how many rows read both day
        first and month first), text read two ways by two declared formats, numbers in a date column
        of a file that is not a workbook. A date is never guessed or swapped silently.
    """
    df = df.copy()
    formats = [formats] if isinstance(formats, str) else list(formats or [])
    for col in columns:
        df[col] = _parse_date_column(df[col], col, file, formats, excel_serial)
    return df


def _parse_date_column(raw: pd.Series, col: str, file: str, formats: list[str], excel_serial: bool) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(raw):
        return read._naive_ns(raw).dt.floor("D")
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        if excel_serial:
            return _from_excel_serial(raw.astype("float64"))
        n = int(raw.notna().sum())
        if n:
            raise InputError(f"numbers in a date column, not dates: {_how_written(formats)}", file=file, column=col,
                             n_rows=n)
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    # Fast path: every value text in the (first) declared format, or a date already (a workbook's cells).
    parsed = pd.to_datetime(raw, format=formats[0] if formats else "%Y-%m-%d", errors="coerce")
    if len(formats) > 1:
        parsed = _first_fitting(raw, parsed, col, file, formats)
    failed = parsed.isna() & raw.notna()
    if failed.any():
        parsed = _parse_the_rest(raw, parsed, failed.to_numpy(), col, file, formats, excel_serial)
    return parsed.astype("datetime64[ns]").dt.floor("D")


def _how_written(formats: list[str]) -> str:
    if formats:
        return f"dates must be written as date_format declares ({', '.join(formats)})"
    return "dates must be written YYYY-MM-DD, or declare how they are written with date_format (e.g. \"%d/%m/%Y\")"


def _from_excel_serial(days: pd.Series) -> pd.Series:
    return pd.to_datetime(days, unit="D", origin=EXCEL_ORIGIN).astype("datetime64[ns]")


def _first_fitting(raw: pd.Series, parsed: pd.Series, col: str, file: str, formats: list[str]) -> pd.Series:
    """Each value read by the first declared format it fits; a value two formats read as different
    dates (03/04/2020 under "%d/%m/%Y" and "%m/%d/%Y") is an error, not a choice."""
    out = parsed.copy()
    for fmt in formats[1:]:
        other = pd.to_datetime(raw, format=fmt, errors="coerce")
        two_ways = int((out.notna() & other.notna() & (out != other)).sum())
        if two_ways:
            raise InputError(f"dates that read as two different dates under the declared date_format list "
                             f"({', '.join(formats)}): declare one way of writing them", file=file, column=col,
                             n_rows=two_ways)
        out = out.fillna(other)
    return out


def _parse_the_rest(raw, parsed, failed, col, file, formats, excel_serial) -> pd.Series:
    """The values the fast path could not read (few, usually none): blank text is missing, a workbook's
    numbers are serial days, text with spaces around it is read again; the rest is an error."""
    out = parsed.copy()
    rest = raw[failed]
    is_text = rest.map(type).eq(str).to_numpy()
    text = rest[is_text].str.strip()
    text = text[text.ne("")]  # a blank cell with a space in it is blank
    got = pd.to_datetime(text, format=formats[0] if formats else "%Y-%m-%d", errors="coerce")
    if len(formats) > 1:
        got = _first_fitting(text, got, col, file, formats)
    out.loc[got.index] = out.loc[got.index].fillna(got)
    other = rest[~is_text]
    is_number = other.map(lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool)).to_numpy(bool)
    numbers, odd = other[is_number], other[~is_number]
    if excel_serial and len(numbers):
        out.loc[numbers.index] = _from_excel_serial(numbers.astype("float64"))
        numbers = numbers.iloc[:0]
    if len(numbers):
        raise InputError(f"numbers in a date column, not dates: {_how_written(formats)}", file=file, column=col,
                         n_rows=len(numbers))
    bad_text = text[out.loc[text.index].isna().to_numpy()]
    if len(bad_text) or len(odd):
        why = _how_written(formats) + "; some cannot be read"
        both = 0 if formats else _read_both_ways(bad_text)
        if both:
            why += (f" ({both} of them read both day first and month first, so the way they are written "
                    "cannot be guessed: declare it)")
        raise InputError(why, file=file, column=col, n_rows=len(bad_text) + len(odd))
    return out


def _read_both_ways(text: pd.Series) -> int:
    """How many values read as two different dates, day first and month first."""
    def first_fit(fmts):
        got = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
        for fmt in fmts:
            got = got.fillna(pd.to_datetime(text, format=fmt, errors="coerce"))
        return got
    day, month = first_fit(_DAY_FIRST), first_fit(_MONTH_FIRST)
    return int((day.notna() & month.notna() & (day != month)).sum())


def derive(df: pd.DataFrame, rules: list[dict], file: str, linked: dict | None = None,
           id_col: str | None = None) -> pd.DataFrame:
    """Add derived columns in order (see the README: interval, present, any_present, expr, and ``from:``
    a linked table, see :mod:`mbcrt.study.linked`; ``linked`` maps table names to
    :class:`~mbcrt.study.linked.LinkedTable`, joined on the patient table's ``id_col``)."""
    return _derive_into(df.copy(), rules, file, linked, id_col)


def _derive_into(df: pd.DataFrame, rules: list[dict], file: str, linked: dict | None = None,
                 id_col: str | None = None) -> pd.DataFrame:
    """:func:`derive` adding the columns to ``df`` itself (for a frame no one else holds)."""
    for rule in rules:
        name = rule.get("name")
        if "from" in rule:  # a per-patient variable from a long table (one row per course, per line ...)
            table = (linked or {}).get(rule["from"])
            if table is None or not name:
                raise InputError(f"derive '{name}' reads a table not under linked: '{rule['from']}'", file=file,
                                 column="derive")
            df[name] = linked_tables.derive_column(df, rule, table, id_col, file)
            continue
        kinds = [k for k in ("interval", "present", "any_present", "expr") if k in rule]
        if not name or len(kinds) != 1:
            raise InputError(f"each derive entry needs a name and one of interval/present/any_present/expr: {rule}",
                             file=file, column="derive")
        kind = kinds[0]
        try:
            if kind == "interval":
                spec = rule["interval"]
                ends = spec["end"] if isinstance(spec["end"], list) else [spec["end"]]
                end = df[ends].min(axis=1, skipna=True)
                days = (end - df[spec["start"]]).dt.days.astype("float64")
                df[name] = days / DAYS_PER[spec.get("unit", "days")]
            elif kind == "present":
                df[name] = df[rule["present"]].notna().astype("int64")
            elif kind == "any_present":
                df[name] = df[list(rule["any_present"])].notna().any(axis=1).astype("int64")
            else:
                value = df.eval(rule["expr"], engine="python")
                df[name] = value.astype("int64") if value.dtype == bool else value
        except KeyError as exc:
            raise InputError(f"derive '{name}' refers to a missing column {exc}", file=file,
                             column="derive") from None
    return df


def apply_criteria(df: pd.DataFrame, criteria: list[dict], file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply each criterion in order; return the kept rows and the attrition table.

    Returns
    -------
    kept : DataFrame
    attrition : DataFrame
        Columns ``order, criterion, excluded, remaining``; first row the records assessed, last row
        "Analysis cohort".
    """
    rows = [{"order": 0, "criterion": "Records assessed", "excluded": 0, "remaining": len(df)}]
    # The rows still in, as a mask: each criterion sees them, with only the columns it names (filtering
    # the whole wide export after every criterion copied every column each time).
    remaining = np.ones(len(df), dtype=bool)
    for i, crit in enumerate(criteria, start=1):
        rows_in = _rows_for(df, remaining, crit["keep"])
        try:
            keep = rows_in.eval(crit["keep"], engine="python")
        except Exception as exc:  # noqa: BLE001 - a user's expression: say which one failed
            raise InputError(f"criterion '{crit.get('reason')}' cannot be evaluated ({type(exc).__name__}: {exc})",
                             file=file, column="criteria") from None
        keep = keep.fillna(False).astype(bool)
        rows.append({"order": i, "criterion": crit["reason"], "excluded": int((~keep).sum()),
                     "remaining": int(keep.sum())})
        remaining[remaining] = rows_in.index.isin(rows_in[keep].index) if not keep.index.equals(rows_in.index) \
            else keep.to_numpy()
    df = df[remaining] if not remaining.all() else df
    rows.append({"order": len(rows), "criterion": "Analysis cohort", "excluded": 0, "remaining": len(df)})
    return df, pd.DataFrame(rows)


def _rows_for(df: pd.DataFrame, remaining: np.ndarray, expression: str) -> pd.DataFrame:
    """The rows still in, with the columns ``expression`` names (all columns if it cannot be parsed
    as plain Python, e.g. with backticks or ``@``)."""
    try:
        names = {node.id for node in ast.walk(ast.parse(expression, mode="eval")) if isinstance(node, ast.Name)}
    except SyntaxError:
        columns = list(df.columns)
    else:
        columns = [c for c in df.columns if c in names]
    return df.loc[remaining, columns] if not remaining.all() else df[columns]


@dataclass
class CohortResult:
    """The analysis cohort and how it was reached.

    Attributes
    ----------
    cohort : DataFrame
        One row per patient, with ``_time``, ``_event`` (and ``_treat``, ``_arm``).
    attrition : DataFrame
        ``order, criterion, excluded, remaining``.
    arms : DataFrame or None
        ``arm, n`` for two-arm studies.
    export : DataFrame or None
        The export as read (before dates were parsed), for the data-quality profile.
    with_missing : DataFrame or None
        The analysis cohort before ``missing: complete_case`` dropped rows (``cohort`` otherwise): what the
        missingness table describes.
    """

    cohort: pd.DataFrame
    attrition: pd.DataFrame
    arms: pd.DataFrame | None
    export: pd.DataFrame | None = None
    with_missing: pd.DataFrame | None = None

    @property
    def exclusions(self) -> pd.DataFrame:
        """The attrition rows of the criteria only (without "Records assessed" and the final row);
        one row "No exclusion criteria" when the study has none, so a flow diagram still has a step."""
        rows = self.attrition.iloc[1:-1].reset_index(drop=True)
        if rows.empty:
            rows = self.attrition.iloc[-1:].assign(criterion="No exclusion criteria").reset_index(drop=True)
        return rows


def build_cohort(study: Study, df: pd.DataFrame | None = None) -> CohortResult:
    """Load (unless given), validate, derive and filter the study's data.

    Raises
    ------
    InputError
        For any rule the data breaks (names the file, column, rule and number of rows).
    """
    c = study.config
    shown = paths.relative(study.data_path)
    if df is None:
        df = read_data(study.data_path, read.ReadOptions.from_study(study))
    export = df
    check_columns(df, study)
    validation.check_export(df, study)
    excel = read.FORMATS.get(study.data_path.suffix.lower()) == "excel"
    df = parse_dates(df, c["dates"], shown, c.get("date_format"), excel_serial=excel)
    tables = linked_tables.load_linked(study, df) if c["linked"] else None
    df = _derive_into(df, c["derive"], shown, tables, c["id"])  # parse_dates made a copy
    df, attrition = apply_criteria(df, c["criteria"], shown)
    if c["first_row_per_id"]:
        before = len(df)
        df = df.sort_values([c["id"], c["first_row_per_id"]], kind="mergesort")
        df = df.drop_duplicates(c["id"], keep="first").sort_index()
        if before != len(df):
            extra = {"order": len(attrition) - 1, "criterion": "Later records of the same patient",
                     "excluded": before - len(df), "remaining": len(df)}
            attrition = pd.concat([attrition.iloc[:-1], pd.DataFrame([extra]), attrition.iloc[-1:]])
            attrition["order"] = range(len(attrition))
            attrition.loc[attrition.index[-1], "remaining"] = len(df)
            attrition = attrition.reset_index(drop=True)
    if df.empty:
        raise InputError("no patient is left after the study's criteria", file=shown, column="criteria")
    dup = int(df[c["id"]].duplicated().sum())
    if dup:
        raise InputError("duplicate patient ids (set first_row_per_id to keep one row per patient)", file=shown,
                         column=c["id"], n_rows=dup)
    validation.check_analysis_cohort(df, study)
    df = _add_standard_columns_into(df.reset_index(drop=True), study)  # reset_index made a copy
    with_missing = df
    df, attrition = drop_incomplete(df, attrition, study)
    # Under multiple imputation the cohort keeps its gaps; the models are checked on its complete cases.
    validation.check_models(complete_cases(df, study), study)
    arms = None
    if study.two_arm:
        counts = df["_arm"].value_counts()
        arms = pd.DataFrame({"arm": study.arms, "n": [int(counts.get(a, 0)) for a in study.arms]})
    return CohortResult(cohort=df, attrition=attrition, arms=arms, export=export, with_missing=with_missing)


def complete_cases(df: pd.DataFrame, study: Study) -> pd.DataFrame:
    """The rows of ``df`` with every model covariate recorded (``df`` itself when none is missing)."""
    covs = [c for c in validation.incomplete_allowed(study) if c in df.columns]
    known = df[covs].notna().all(axis=1).to_numpy() if covs else np.ones(len(df), dtype=bool)
    return df if known.all() else df[known]


def drop_incomplete(df: pd.DataFrame, attrition: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """With ``missing: complete_case``, drop the rows missing a model covariate.

    Each covariate in turn removes the rows still in that miss it, counted in the attrition as
    "Missing <label>" (before the final "Analysis cohort" row). Other strategies: unchanged.

    Raises
    ------
    InputError
        No patient has every model covariate.
    """
    if validation.missing_strategy(study) != "complete_case":
        return df, attrition
    keep = np.ones(len(df), dtype=bool)
    rows = []
    for cov in validation.incomplete_allowed(study):
        gone = keep & df[cov].isna().to_numpy()
        if gone.any():
            keep &= ~gone
            rows.append({"criterion": f"Missing {study.label(cov)}", "excluded": int(gone.sum()),
                         "remaining": int(keep.sum())})
    if not rows:
        return df, attrition
    if not keep.any():
        raise InputError("no patient has every model covariate recorded (missing: complete_case)",
                         file=paths.relative(study.data_path), column="missing")
    attrition = pd.concat([attrition.iloc[:-1], pd.DataFrame(rows), attrition.iloc[-1:]], ignore_index=True)
    attrition["order"] = range(len(attrition))
    attrition.loc[attrition.index[-1], "remaining"] = int(keep.sum())
    return df[keep].reset_index(drop=True), attrition[["order", "criterion", "excluded", "remaining"]]


def add_standard_columns(df: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Add ``_time``, ``_event`` (and ``_treat``, ``_arm``) with checks of each."""
    return _add_standard_columns_into(df.copy(), study)


def _add_standard_columns_into(df: pd.DataFrame, study: Study) -> pd.DataFrame:
    """:func:`add_standard_columns` adding the columns to ``df`` itself (for a frame no one else holds)."""
    c = study.config
    shown = paths.relative(study.data_path)
    time = pd.to_numeric(df[c["time"]], errors="coerce")
    n_bad = int(time.isna().sum())
    if n_bad:
        raise InputError("follow-up time missing or not a number", file=shown, column=c["time"], n_rows=n_bad)
    n_neg = int((time < 0).sum())
    if n_neg:
        raise InputError("negative follow-up time", file=shown, column=c["time"], n_rows=n_neg)
    df["_time"] = time.astype("float64")
    event_value = c["event_value"]
    ev = df[c["event"]]
    allowed = [event_value, c["censored_value"]]
    n_out = int((~validation.matches(ev, allowed)).sum())
    if n_out:
        raise InputError(f"event codes must be {sorted(map(str, allowed))} (event = {event_value})", file=shown,
                         column=c["event"], n_rows=n_out)
    df["_event"] = validation.matches(ev, [event_value]).astype("int64")
    if study.two_arm:
        treated = validation.matches(df[c["treatment"]], [c["treated_value"]])
        if treated.all() or not treated.any():
            raise InputError(f"the treatment column has one arm only (treated_value = {c['treated_value']})",
                             file=shown, column=c["treatment"])
        df["_treat"] = treated.astype("int64")
        lab = c["arm_labels"]
        df["_arm"] = np.where(treated, lab["treated"], lab["control"])
    return df

