"""Linked long tables: one row per radiotherapy course, line of therapy, admission ..., joined to the
patient table on the patient id, and the per-patient variables the study derives from them.

A hospital's radiotherapy and drug systems export one row per course or per line, not one row per
patient. The study file names such tables under ``linked`` and derives patient variables from them
with ``derive`` entries that say ``from:`` a table::

    linked:
      rt_courses: {data: rt_courses.csv, id: patient_id, dates: [rt_start, rt_end]}
    derive:
      - {name: first_rt_start, from: rt_courses, first: rt_start}               # earliest date
      - {name: n_rt_courses, from: rt_courses, count: true}
      - {name: first_rt_modality, from: rt_courses, value_of_first: modality, order_by: rt_start}
      - {name: local_rt, from: rt_courses, any: "site == 'Breast'",
         within: {start: date_treatment_start, days: [0, 365]}, yes: "Yes", no: "No"}

Aggregations (:data:`AGGREGATIONS`): ``first``/``last`` (earliest/latest value of a column, dates or
numbers), ``count`` (rows), ``any`` (a row matches an expression; ``true`` for any row),
``value_of_first``/``value_of_last`` (a column's value in the row earliest/latest by ``order_by``,
ties in file order). ``where`` keeps the rows an expression keeps before aggregating; ``within`` keeps
the rows whose date lies ``days: [from, to]`` (inclusive, ``null`` for open) after a patient's date
column ``start``. A patient without a row left gets NaN (NaT for a date), 0 for ``count``, and the
``no`` value (default 0) for ``any``.

Everything is vectorised: one merge of the table's kept rows with the patient rows, then a grouped
reduction; nothing loops over patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mbcrt import paths
from mbcrt.errors import InputError, closest
from mbcrt.study import read

#: The ways a linked table becomes one value per patient.
AGGREGATIONS = ("first", "last", "count", "any", "value_of_first", "value_of_last")
#: Keys of one ``linked`` table; the reading keys default to the study's own (``sheet``, ``header_row``
#: excepted: they belong to one file).
TABLE_KEYS = ("data", "id", "dates", "date_format", "encoding", "delimiter", "sheet", "header_row", "unmatched")
#: Keys of a ``derive`` entry that reads a linked table.
RULE_KEYS = ("name", "from", *AGGREGATIONS, "where", "order_by", "within", "yes", "no")
#: What to do with rows whose id matches no patient: stop (default) or leave them out.
UNMATCHED = ("error", "drop")


@dataclass
class LinkedTable:
    """One long table as read and checked.

    Attributes
    ----------
    name : str
        Its name in the study file.
    path : Path
    id : str
        The column holding the patient id.
    dates : list of str
        Its date columns (parsed).
    frame : DataFrame
        The rows (dates parsed; rows matching no patient left out under ``unmatched: drop``).
    """

    name: str
    path: Path
    id: str
    dates: list
    frame: pd.DataFrame

    @property
    def shown(self) -> str:
        return paths.relative(self.path)


# ---- the study file ----------------------------------------------------------------------------------

def check_config(c: dict, bad) -> None:
    """Check the ``linked`` tables and the ``derive`` entries that read them (called by the study-file
    check; ``bad(message, key)`` raises)."""
    tables = c.get("linked") or {}
    if not isinstance(tables, dict):
        bad("linked must map table names to {data, id, dates}", "linked")
    for name, spec in tables.items():
        key = f"linked.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("data"), str) or not spec["data"]:
            bad("a linked table needs data: the file holding it (relative to the study file)", key)
        for k in spec:
            if k not in TABLE_KEYS:
                bad(f"unknown key '{key}.{k}'.{closest(k, TABLE_KEYS)}", key)
        if "id" in spec and not isinstance(spec["id"], str):
            bad("id must be the name of the column holding the patient id", f"{key}.id")
        dates = spec.get("dates", [])
        if not isinstance(dates, list) or not all(isinstance(d, str) for d in dates):
            bad("dates must be a list of the table's date columns", f"{key}.dates")
        if spec.get("unmatched", "error") not in UNMATCHED:
            bad(f"unmatched must be one of {', '.join(UNMATCHED)}", f"{key}.unmatched")
    for rule in c["derive"] if isinstance(c["derive"], list) else []:
        if isinstance(rule, dict) and "from" in rule:
            _yes_no_keys(rule)
            _check_rule(rule, tables, bad)


def _yes_no_keys(rule: dict) -> dict:
    """YAML 1.1 reads the keys ``yes:`` and ``no:`` as true and false: give them back their names."""
    for flag, key in ((True, "yes"), (False, "no")):
        if flag in rule and key not in rule:
            rule[key] = rule.pop(flag)
    return rule


def _check_rule(rule: dict, tables: dict, bad) -> None:
    name = rule.get("name")
    key = f"derive.{name}"
    if not isinstance(name, str) or not name:
        bad(f"each derive entry needs a name: {rule}", "derive")
    if rule["from"] not in tables:
        bad(f"'{rule['from']}' is not a table under linked.{closest(rule['from'], tables)}", f"{key}.from")
    for k in rule:
        if k not in RULE_KEYS:
            bad(f"unknown key '{k}' of a derive entry reading a linked table.{closest(k, RULE_KEYS)}", key)
    kinds = [k for k in AGGREGATIONS if k in rule]
    if len(kinds) != 1:
        bad(f"a derive entry reading a linked table needs exactly one of {', '.join(AGGREGATIONS)}", key)
    kind = kinds[0]
    value = rule[kind]
    if kind == "count" and value is not True:
        bad("count: true counts the rows", key)
    if kind == "any" and not (value is True or (isinstance(value, str) and value)):
        bad("any is an expression over the table's columns, or true for any row", key)
    if kind in ("first", "last", "value_of_first", "value_of_last") and not (isinstance(value, str) and value):
        bad(f"{kind} names a column of the table", key)
    if kind.startswith("value_of") and not rule.get("order_by") and not tables[rule["from"]].get("dates"):
        bad(f"{kind} needs order_by: the column that orders the rows (or a date listed under the table's dates)",
            key)
    if ("yes" in rule or "no" in rule) and kind != "any":
        bad("yes and no go with any", key)
    if "where" in rule and not (isinstance(rule["where"], str) and rule["where"]):
        bad("where is an expression over the table's columns", key)
    if "within" in rule:
        w = rule["within"]
        days = w.get("days") if isinstance(w, dict) else None
        ok = isinstance(w, dict) and isinstance(w.get("start"), str) and isinstance(days, list) and len(days) == 2 \
            and all(d is None or (isinstance(d, (int, float)) and not isinstance(d, bool)) for d in days) \
            and set(w) <= {"start", "days", "date"}
        if not ok or (None not in days and days[0] > days[1]):
            bad("within is {start: <a patient date column>, days: [from, to]} (null for an open end; optional "
                "date: the table's date column)", f"{key}.within")


# ---- reading -----------------------------------------------------------------------------------------

def data_files(study) -> dict[str, Path]:
    """The file of each ``linked`` table, by table name (for a run's record of the data it read)."""
    tables = study.config.get("linked") or {}
    return {name: paths.resolve(spec["data"], study.folder) for name, spec in tables.items()}


def load_linked(study, patients: pd.DataFrame) -> dict[str, LinkedTable]:
    """Read and check every ``linked`` table of the study.

    Parameters
    ----------
    study : Study
    patients : DataFrame
        The patient table as read (its ``id`` column is what the tables join on).

    Returns
    -------
    dict of str to LinkedTable

    Raises
    ------
    InputError
        Naming the table's file, the column, the rule and the number of rows (never a value): the
        file cannot be read; the id column or a date column is not in it; ids missing; dates that
        cannot be read; ids that match no patient (unless the table says ``unmatched: drop``).
    """
    from mbcrt.study.cohort import parse_dates  # the cohort build imports this module

    c = study.config
    out = {}
    for name, spec in (c.get("linked") or {}).items():
        path = paths.resolve(spec["data"], study.folder)
        shown = paths.relative(path)
        id_col, dates = spec.get("id", c["id"]), list(spec.get("dates", []))
        options = read.ReadOptions(encoding=spec.get("encoding", c.get("encoding")),
                                   delimiter=spec.get("delimiter", c.get("delimiter")),
                                   sheet=spec.get("sheet"), header_row=spec.get("header_row"),
                                   columns=tuple(dict.fromkeys([id_col, *dates])))
        frame = read.read_export(path, options)
        for col in [id_col, *dates]:
            if col not in frame.columns:
                raise InputError(f"column named in the study file (linked.{name}) is not in the linked table."
                                 f"{closest(col, frame.columns)}", file=shown, column=col)
        missing = int(frame[id_col].isna().sum())
        if missing:
            raise InputError(f"patient id missing in the linked table '{name}' (every row must name its patient)",
                             file=shown, column=id_col, n_rows=missing)
        excel = read.FORMATS.get(path.suffix.lower()) == "excel"
        frame = parse_dates(frame, dates, shown, spec.get("date_format", c.get("date_format")), excel_serial=excel)
        keys, known = _keys(frame[id_col], patients[c["id"]])
        orphan = ~keys.isin(known)
        n_orphan = int(orphan.sum())
        if n_orphan and spec.get("unmatched", "error") == "error":
            none = " (no id of the table matches one: is it the same identifier, written the same way?)" \
                if n_orphan == len(frame) else ""
            raise InputError(f"ids in the linked table '{name}' that match no patient of "
                             f"{paths.relative(study.data_path)}{none}; set unmatched: drop under linked.{name} "
                             "to leave such rows out", file=shown, column=id_col, n_rows=n_orphan)
        if n_orphan:
            frame = frame[~orphan.to_numpy()].reset_index(drop=True)
        out[name] = LinkedTable(name=name, path=path, id=id_col, dates=dates, frame=frame)
    return out


def _keys(linked_ids: pd.Series, patient_ids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The two id columns in a form that compares: as they are when both are numbers or both text,
    else both as text (a whole number written ``123`` in one file and ``"123"`` in the other)."""
    def numeric(s):
        return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)

    if numeric(linked_ids) == numeric(patient_ids):
        return linked_ids, patient_ids

    def text(s):
        if numeric(s):
            whole = s.dropna()
            if pd.api.types.is_float_dtype(s) and (whole == np.floor(whole)).all():
                s = s.astype("Int64")
        return s.astype("string").str.strip()

    return text(linked_ids), text(patient_ids)


# ---- deriving ----------------------------------------------------------------------------------------

def derive_column(df: pd.DataFrame, rule: dict, table: LinkedTable, id_col: str, file: str) -> pd.Series:
    """One patient variable from a linked table (see the module docstring for the rule's keys).

    Parameters
    ----------
    df : DataFrame
        The patient rows (the value is computed for each; an id on several rows gets the same value,
        except through ``within``, which reads each row's own start date).
    rule : dict
        The ``derive`` entry.
    table : LinkedTable
    id_col : str
        The patient table's id column.
    file : str
        The patient file, for messages about its columns.

    Returns
    -------
    Series
        Aligned with ``df``: dates as ``datetime64[ns]``, ``count`` as ``int64``, ``any`` as ``int64``
        0/1 or the ``yes``/``no`` values.
    """
    t = table.frame
    rule = _yes_no_keys(dict(rule))
    kind = next(k for k in AGGREGATIONS if k in rule)
    arg = rule[kind]
    mask = np.ones(len(t), dtype=bool)
    if rule.get("where"):
        mask &= _evaluate(t, rule["where"], rule, table)
    if kind == "any" and arg is not True:
        mask &= _evaluate(t, arg, rule, table)
    order_by = rule.get("order_by") or (table.dates[0] if table.dates else None)
    value_cols = [] if kind in ("count", "any") else [arg]
    if kind.startswith("value_of"):
        value_cols.append(order_by)
    within = rule.get("within")
    when = None
    if within:
        when = within.get("date") or (arg if kind in ("first", "last") and arg in table.dates else None) \
            or order_by
        if when is None:
            raise InputError(f"derive '{rule['name']}': within needs a date of the table (date: ...)", file=table.shown,
                             column="derive")
        value_cols.append(when)
        if when in t.columns and not pd.api.types.is_datetime64_any_dtype(t[when]):
            raise InputError(f"derive '{rule['name']}': within compares dates: list '{when}' under the table's dates",
                             file=table.shown, column=when)
    for col in value_cols:
        if col not in t.columns:
            raise InputError(f"derive '{rule['name']}' names a column not in the linked table '{table.name}'."
                             f"{closest(col, t.columns)}", file=table.shown, column=col)
    if within:
        if within["start"] not in df.columns:
            raise InputError(f"derive '{rule['name']}': within.start is not a column of the patient table."
                             f"{closest(within['start'], df.columns)}", file=file, column=within["start"])
        if not pd.api.types.is_datetime64_any_dtype(df[within["start"]]):
            raise InputError(f"derive '{rule['name']}': within.start must be a date column of the patient table "
                             "(list it under dates)", file=file, column=within["start"])
    line = np.flatnonzero(mask)
    row, line = _patient_rows(t[table.id].to_numpy()[line] if not mask.all() else t[table.id].to_numpy(), line,
                              df[id_col])
    if within:
        days = (t[when].to_numpy()[line] - df[within["start"]].to_numpy()[row]) / np.timedelta64(1, "D")
        low, high = within["days"]
        inside = ~np.isnan(days)
        if low is not None:
            inside &= days >= low
        if high is not None:
            inside &= days <= high
        row, line = row[inside], line[inside]
    n = len(df)
    if kind in ("count", "any"):
        count = np.bincount(row, minlength=n).astype("int64")
        if kind == "count":
            return pd.Series(count, index=df.index)
        has = count > 0
        if "yes" in rule or "no" in rule:
            return pd.Series(np.where(has, rule.get("yes", 1), rule.get("no", 0)), index=df.index)
        return pd.Series(has.astype("int64"), index=df.index)
    values = t[arg].iloc[line]
    if kind in ("first", "last"):
        known = values.notna().to_numpy()
        got = pd.Series(values.to_numpy()[known]).groupby(row[known], sort=False)
        out = got.min() if kind == "first" else got.max()
    else:
        # Each patient's row earliest (latest) by order_by, ties by file line: one sort of integer codes.
        order = t[order_by].iloc[line]
        known = order.notna().to_numpy()
        rank = pd.factorize(order[known], sort=True)[0]
        row_k, line_k = row[known], line[known]
        sorted_ = np.lexsort((line_k, rank, row_k))
        r = row_k[sorted_]
        pick = sorted_[np.r_[r[1:] != r[:-1], True]] if kind == "value_of_last" else \
            sorted_[np.r_[True, r[1:] != r[:-1]]]
        out = pd.Series(values.to_numpy()[known][pick], index=row_k[pick])
    out = out.reindex(np.arange(n))
    out.index = df.index
    return out


def _patient_rows(ids: np.ndarray, line: np.ndarray, patient_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For linked rows (their ids and line numbers in the table): the patient rows each belongs to, as
    (patient row, table line) pairs; an id on several patient rows gives one pair per row."""
    key, patient_key = _keys(pd.Series(ids), patient_ids)
    index = pd.Index(patient_key.to_numpy())
    if index.is_unique:
        pos = index.get_indexer(key.to_numpy())
        found = pos >= 0
        return pos[found].astype(np.int64), line[found]
    m = pd.DataFrame({"_key": key.to_numpy(), "_line": line}).merge(
        pd.DataFrame({"_key": patient_key.to_numpy(), "_row": np.arange(len(patient_key))}), on="_key", how="inner",
        sort=False)
    return m["_row"].to_numpy(np.int64), m["_line"].to_numpy(np.int64)


def _evaluate(t: pd.DataFrame, expression: str, rule: dict, table: LinkedTable) -> np.ndarray:
    """A rule's expression over the table's rows, as a boolean mask (missing: False)."""
    try:
        value = t.eval(expression, engine="python")
    except Exception as exc:  # noqa: BLE001 - a user's expression: say which one failed
        raise InputError(f"derive '{rule['name']}': the expression over the linked table '{table.name}' cannot be "
                         f"evaluated ({type(exc).__name__}: {exc})", file=table.shown, column="derive") from None
    if not isinstance(value, pd.Series) or len(value) != len(t):
        raise InputError(f"derive '{rule['name']}': the expression must say yes or no for each row of the linked "
                         f"table '{table.name}'", file=table.shown, column="derive")
    return value.fillna(False).astype(bool).to_numpy()
