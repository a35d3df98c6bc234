"""Cohort build: load the data, check it, derive analysis variables, apply the study's criteria.

Raw data is never changed: the cohort is a new table (``build/<study>/cohort.csv``) with the data's
columns, the derived ones, and four standard columns the later steps use:
``_time`` (float, in the study's time unit), ``_event`` (0/1), and for two-arm studies ``_treat``
(0/1) and ``_arm`` (the arm's display label).
"""

from __future__ import annotations

import ast
import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mbcrt import paths
from mbcrt.errors import InputError, closest
from mbcrt.study import validation
from mbcrt.study.config import Study

#: Days per unit of time. A month is a twelfth of a Julian year (365.25 / 12 = 30.4375 days).
DAYS_PER = {"days": 1.0, "months": 30.4375, "years": 365.25}


#: The first bytes of files that are often saved as ".csv" but are not CSV text.
_NOT_CSV = {
    b"PK\x03\x04": "an Excel workbook (.xlsx) or another zip archive",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
    b"%PDF": "a PDF document",
    b"\xff\xfe": "UTF-16 text (Excel's 'Unicode text')",
    b"\xfe\xff": "UTF-16 text",
}
_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def read_data(path: Path) -> pd.DataFrame:
    """Read a CSV export with clear errors for a missing, empty, non-UTF-8 or non-CSV file.

    A file that is not comma-separated text (a workbook, an HTML page, semicolon- or tab-separated
    values), a header naming a column twice, or rows with more values than the header are errors:
    each would otherwise be read silently into the wrong columns.
    """
    shown = paths.relative(path)
    if not path.is_file():
        raise InputError("data file not found", file=shown)
    if path.stat().st_size == 0:
        raise InputError("the data file is empty", file=shown)
    _sniff(path, shown)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(path, encoding="utf-8", dtype_backend="numpy_nullable", low_memory=False,
                             index_col=False)
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text (save the export as CSV UTF-8)", file=shown) from None
    except (pd.errors.ParserWarning, pd.errors.ParserError) as exc:
        long_rows = _count_long_rows(path)
        if long_rows:
            raise InputError("rows with more values than the header has columns (a value with an unquoted "
                             "comma?)", file=shown, n_rows=long_rows) from None
        raise InputError(f"not a readable CSV file ({str(exc).splitlines()[0]})", file=shown) from None
    except pd.errors.EmptyDataError:
        raise InputError("the data file has no columns", file=shown) from None
    _check_header(path, shown)
    if df.empty:
        raise InputError("the data file has a header but no rows", file=shown)
    # Plain numpy dtypes downstream: nullable ints with gaps become float, strings become object.
    return df.convert_dtypes(dtype_backend="numpy_nullable").pipe(_to_numpy_dtypes)


def _sniff(path: Path, shown: str) -> None:
    """Reject files whose first bytes show they are not comma-separated text."""
    with open(path, "rb") as f:
        head = f.read(4096)
    for signature, what in _NOT_CSV.items():
        if head.startswith(signature):
            raise InputError(f"not a CSV file: this is {what}; save the export as CSV UTF-8 (comma-separated)",
                             file=shown)
    if b"\x00" in head:
        raise InputError("not a text file (it contains NUL bytes); save the export as CSV UTF-8", file=shown)
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"<":
        raise InputError("not a CSV file: this is an HTML or XML page (a failed download, or a page saved as "
                         ".csv)", file=shown)
    first_line = text.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if "," not in first_line:
        for sep, name in _SEPARATORS.items():
            if sep in first_line:
                raise InputError(f"the values are separated by {name}, not commas: export as CSV with commas "
                                 f"(and a point as the decimal mark)", file=shown)


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f), [])


def _check_header(path: Path, shown: str) -> None:
    """A column named twice is an error (pandas would rename the second one silently)."""
    header = _header(path)
    named = [h.strip() for h in header if h.strip()]  # blank names (spare separators) are harmless
    repeated = sorted({h for h in named if named.count(h) > 1})
    if repeated:
        raise InputError("the header names this column more than once", file=shown, column=repeated[0])


def _count_long_rows(path: Path) -> int:
    """Rows with more fields than the header (only on the error path, so a plain loop is fine)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = csv.reader(f)
        width = len(next(rows, []))
        return sum(len(r) > width for r in rows)


def _to_numpy_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            out[col] = s.astype("float64") if s.isna().any() else s.astype("int64")
        elif pd.api.types.is_float_dtype(s):
            out[col] = s.astype("float64")
        elif isinstance(s.dtype, pd.StringDtype):
            out[col] = s.to_numpy(dtype=object, na_value=None)  # one pass, not a copy then a masked copy
        else:
            out[col] = s.astype(object).where(s.notna(), None)
    # Every array above is new: no copy, and no merging of the columns into blocks here (the copy
    # parse_dates makes next does both in one pass).
    return pd.DataFrame(out, index=df.index, copy=False)


def required_columns(study: Study) -> list[str]:
    """Columns of the raw data the study file names (derived columns excluded)."""
    c = study.config
    derived = {d["name"] for d in c["derive"]}
    names = [c["id"], c["time"], c["event"], c["treatment"], *c["dates"], *c["covariates"],
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


def parse_dates(df: pd.DataFrame, columns, file: str) -> pd.DataFrame:
    """Parse ISO dates (YYYY-MM-DD) strictly; unparseable values are an error, blanks stay missing."""
    df = df.copy()
    for col in columns:
        raw = df[col]
        parsed = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
        bad = int((parsed.isna() & raw.notna()).sum())
        if bad:
            raise InputError("dates must be written YYYY-MM-DD; some cannot be read", file=file, column=col,
                             n_rows=bad)
        df[col] = parsed
    return df


def derive(df: pd.DataFrame, rules: list[dict], file: str) -> pd.DataFrame:
    """Add derived columns in order (see the README: interval, present, any_present, expr)."""
    return _derive_into(df.copy(), rules, file)


def _derive_into(df: pd.DataFrame, rules: list[dict], file: str) -> pd.DataFrame:
    """:func:`derive` adding the columns to ``df`` itself (for a frame no one else holds)."""
    for rule in rules:
        name = rule.get("name")
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
    """

    cohort: pd.DataFrame
    attrition: pd.DataFrame
    arms: pd.DataFrame | None

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
        df = read_data(study.data_path)
    check_columns(df, study)
    validation.check_export(df, study)
    df = _derive_into(parse_dates(df, c["dates"], shown), c["derive"], shown)  # parse_dates made a copy
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
    validation.check_models(df, study)
    arms = None
    if study.two_arm:
        counts = df["_arm"].value_counts()
        arms = pd.DataFrame({"arm": study.arms, "n": [int(counts.get(a, 0)) for a in study.arms]})
    return CohortResult(cohort=df, attrition=attrition, arms=arms)


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

