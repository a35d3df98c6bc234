"""Reading a hospital's export as it comes: CSV or TSV in any encoding and delimiter, Excel workbooks,
SPSS, Stata and SAS files, Parquet.

One function per format (:func:`read_csv`, :func:`read_excel`, :func:`read_spss`, :func:`read_stata`,
:func:`read_sas`, :func:`read_parquet`) and one dispatcher by the file's extension
(:func:`read_export`). Every reader returns the same kind of frame, so the same data gives the same
cohort whatever the format (:func:`normalise`): whole numbers without a gap as ``int64``, other numbers
as ``float64``, text as ``object`` with ``None`` for a blank, dates already typed by the file
(SPSS, Stata, SAS, Parquet, date cells of a workbook) as ``datetime64[ns]``; dates written as text
stay text until :func:`mbcrt.study.cohort.parse_dates` reads them with the study's ``date_format``.

Every problem is an :class:`~mbcrt.errors.InputError` naming the file (and sheet, column, rule, number
of rows), never a value of the data.
"""

from __future__ import annotations

import codecs
import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mbcrt import paths
from mbcrt.errors import InputError, closest

#: File extension -> format name (the reader :func:`read_export` calls).
FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".tab": "csv",
    ".xlsx": "excel", ".xlsm": "excel",
    ".sav": "spss", ".zsav": "spss",
    ".dta": "stata",
    ".sas7bdat": "sas", ".xpt": "sas",
    ".parquet": "parquet", ".pq": "parquet",
}
#: Extensions recognised only to say what to do instead.
_UNSUPPORTED = {
    ".xls": "an old Excel workbook (.xls): open it in Excel or LibreOffice and save it as .xlsx",
    ".ods": "an OpenDocument spreadsheet (.ods): save it as .xlsx or CSV",
    ".por": "an SPSS portable file (.por): save it as .sav",
    ".json": "JSON: export the table as CSV, .xlsx or Parquet",
}

#: The first bytes of files that are often saved as ".csv" but are not CSV text.
_NOT_CSV = {
    b"PK\x03\x04": "an Excel workbook (.xlsx) or another zip archive",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
    b"%PDF": "a PDF document",
    b"\xff\xfe": "UTF-16 text (Excel's 'Unicode text')",
    b"\xfe\xff": "UTF-16 text",
    b"PAR1": "a Parquet file",
}
_SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}

#: Rows searched for a header further down (a title or blank lines above the column names).
_HEADER_SEARCH_ROWS = 30


@dataclass(frozen=True)
class ReadOptions:
    """How to read an export (the study file's reading keys) and what the study expects of it.

    Attributes
    ----------
    encoding : str or None
        Text encoding of a CSV/TSV file (default UTF-8); passed on to SPSS/Stata/SAS readers for old files.
    delimiter : str or None
        One character, or ``"auto"`` to sniff it; default: a comma (a tab for ``.tsv``/``.tab``).
    sheet : str, int or None
        Workbook sheet by name, or by position counting from 1; default the first sheet.
    header_row : int or None
        Row (counting from 1) holding the column names in a CSV file or a workbook; default 1.
    columns : tuple of str
        Columns the study names: used to find a header that is not on the first row.
    categorical : tuple of str
        Columns read as categories: in SPSS and Stata files their value labels must cover every value.
    """

    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | int | None = None
    header_row: int | None = None
    columns: tuple = ()
    categorical: tuple = ()

    @classmethod
    def from_study(cls, study) -> "ReadOptions":
        """The options a study file declares, with the columns it names."""
        from mbcrt.study.cohort import required_columns  # the cohort build imports this module

        c = study.config
        categorical = [*c["categorical"], *c["subgroups"], *c["levels"], c["treatment"], c["table1"]["by"],
                       *[k["by"] for k in c["km_by"]]]
        return cls(encoding=c.get("encoding"), delimiter=c.get("delimiter"), sheet=c.get("sheet"),
                   header_row=c.get("header_row"), columns=tuple(required_columns(study)),
                   categorical=tuple(dict.fromkeys(v for v in categorical if v)))


def file_format(path: Path) -> str:
    """The format of ``path`` by its extension (see :data:`FORMATS`).

    Raises
    ------
    InputError
        An extension no reader handles (with what to do instead).
    """
    suffix = Path(path).suffix.lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    shown = paths.relative(path)
    if suffix in _UNSUPPORTED:
        raise InputError(f"cannot read {_UNSUPPORTED[suffix]}", file=shown)
    known = ", ".join(sorted(FORMATS))
    raise InputError(f"unknown kind of data file '{suffix or '(no extension)'}': the data must be one of {known}",
                     file=shown)


def read_export(path: Path, options: ReadOptions | None = None) -> pd.DataFrame:
    """Read an export by its extension and return the normalised frame (see the module's docstring).

    Raises
    ------
    InputError
        The file is missing, empty, unreadable or not what its extension says; a header not on the
        declared row; a column named twice; no rows.
    """
    path = Path(path)
    options = options or ReadOptions()
    shown = paths.relative(path)
    kind = file_format(path)
    if not path.is_file():
        raise InputError("data file not found", file=shown)
    if path.stat().st_size == 0:
        raise InputError("the data file is empty", file=shown)
    reader = {"csv": read_csv, "excel": read_excel, "spss": read_spss, "stata": read_stata, "sas": read_sas,
              "parquet": read_parquet}[kind]
    return reader(path, options)


# ---- shared ------------------------------------------------------------------------------------------

def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy dtypes, the same for every format.

    Whole numbers (also stored as floats, as SPSS, SAS and Excel store every number) become ``int64``,
    or ``float64`` when a value is missing; booleans become 0/1 the same way; other numbers
    ``float64``; text ``object`` with ``None`` for a blank; dates ``datetime64[ns]``; pandas
    categories (Parquet dictionaries, labelled values) their values as text.
    """
    for col in df.columns[[isinstance(t, pd.CategoricalDtype) for t in df.dtypes]]:
        df[col] = df[col].astype(object)
    return _to_numpy_dtypes(df.convert_dtypes(dtype_backend="numpy_nullable"))


def _to_numpy_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            out[col] = s.astype("float64") if s.isna().any() else s.astype("int64")
        elif pd.api.types.is_float_dtype(s):
            out[col] = s.astype("float64")
        elif pd.api.types.is_datetime64_any_dtype(s):
            out[col] = _naive_ns(s)
        elif isinstance(s.dtype, pd.StringDtype):
            out[col] = s.to_numpy(dtype=object, na_value=None)  # one pass, not a copy then a masked copy
        else:
            out[col] = s.astype(object).where(s.notna(), None)
    # Every array above is new: no copy, and no merging of the columns into blocks here (the copy
    # parse_dates makes next does both in one pass).
    return pd.DataFrame(out, index=df.index, copy=False)


def _naive_ns(s: pd.Series) -> pd.Series:
    """Dates as ``datetime64[ns]`` without a time zone (the wall-clock date is kept)."""
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    return s.astype("datetime64[ns]")


def _blank_text_is_missing(df: pd.DataFrame) -> pd.DataFrame:
    """SPSS, Stata and SAS have no missing text: a blank string is how they store one (ReadStat hands
    text back without its trailing blanks, so a blank cell is ``""``)."""
    for col in df.columns[df.dtypes == object]:
        values = df[col].to_numpy()
        blank = values == ""
        if blank.any():
            values = values.copy()
            values[blank] = None
            df[col] = values
    return df


def _whole_or_float(x: np.ndarray) -> np.ndarray:
    """Floats as :func:`normalise` leaves them: ``int64`` when every value is whole and none missing
    (SPSS, SAS and Excel store every number as a float), else ``float64``."""
    x = np.asarray(x, dtype="float64")
    if len(x) and np.isfinite(x).all() and np.abs(x).max() < 2**53 and (x == np.floor(x)).all():
        return x.astype("int64")
    return x


def _normalise_typed(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`normalise` for a frame whose columns are floats, text (``str`` or None) or dates, as
    ReadStat gives them, without looking at every text value again (the same frame, much faster)."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_float_dtype(s):
            out[col] = _whole_or_float(s.to_numpy())
        elif pd.api.types.is_datetime64_any_dtype(s):
            out[col] = _naive_ns(s).to_numpy()
        elif s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
            out[col] = s.to_numpy(dtype=object, na_value=None) if s.hasnans else s.to_numpy()
        else:
            out[col] = normalise(pd.DataFrame({col: s}))[col].to_numpy()
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)), copy=False)


def _check_columns_named_once(names, shown: str, sheet: str | None = None) -> None:
    named = [str(n).strip() for n in names if str(n).strip()]
    repeated = sorted({n for n in named if named.count(n) > 1})
    if repeated:
        raise InputError(f"the header names this column more than once{_in_sheet(sheet)}", file=shown,
                         column=repeated[0])


def _in_sheet(sheet) -> str:
    return f" (sheet '{sheet}')" if sheet is not None else ""


def _header_row_hint(rows: list[list], columns, header_row: int | None, shown: str, sheet=None) -> None:
    """Say on which row the header is when the study's column names are on a later row than declared.

    ``rows`` are the file's first rows as lists of cells (row 1 first). Raises only when a later row
    holds clearly more of the study's columns than the declared header row does (at least two and at
    least half of them).
    """
    wanted = {str(c) for c in columns}
    if not wanted:
        return
    first = (header_row or 1) - 1
    found = [len(wanted & {str(v).strip() for v in row if v is not None}) for row in rows]
    if first >= len(found):
        return
    best = int(np.argmax(found))
    if best > first and found[best] >= max(2, len(wanted) / 2) and found[best] > found[first]:
        n = best + 1
        raise InputError(f"the header is on row {n}{_in_sheet(sheet)}, not on row {first + 1}: set "
                         f"`header_row: {n}` in the study file", file=shown)


def _no_rows(df: pd.DataFrame, shown: str, sheet=None) -> None:
    if df.empty:
        raise InputError(f"the data file has a header but no rows{_in_sheet(sheet)}", file=shown)


# ---- CSV and other delimited text --------------------------------------------------------------------

def _codec(encoding: str | None, shown: str = "") -> str:
    try:
        return codecs.lookup(encoding or "utf-8").name
    except LookupError:
        raise InputError(f"unknown encoding '{encoding}' (e.g. utf-8, latin-1, cp1252, gb18030)", file=shown or None,
                         column="encoding") from None


def read_csv(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read delimited text (CSV, TSV), with clear errors for what is not such text.

    A file that is not text of the declared kind (a workbook, an HTML page, values separated by another
    character than declared), text that is not in the declared encoding, a header naming a column twice,
    or rows with more values than the header are errors: each would otherwise be read silently into the
    wrong columns or with the wrong letters.
    """
    shown = paths.relative(path)
    encoding = _codec(options.encoding, shown)
    delimiter = _delimiter(path, options, encoding, shown)
    skip = (options.header_row or 1) - 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(path, encoding=encoding, sep=delimiter, skiprows=range(skip) if skip else None,
                             dtype_backend="numpy_nullable", low_memory=False, index_col=False)
    except UnicodeDecodeError:
        raise _encoding_error(options, encoding, shown) from None
    except (pd.errors.ParserWarning, pd.errors.ParserError) as exc:
        lines = _first_rows(path, encoding, delimiter)
        _header_row_hint(lines, options.columns, options.header_row, shown)
        long_rows = _count_long_rows(path, encoding, delimiter, skip)
        if long_rows:
            raise InputError("rows with more values than the header has columns (a value with an unquoted "
                             "delimiter?)", file=shown, n_rows=long_rows) from None
        raise InputError(f"not a readable CSV file ({str(exc).splitlines()[0]})", file=shown) from None
    except pd.errors.EmptyDataError:
        raise InputError("the data file has no columns", file=shown) from None
    header = _header(path, encoding, delimiter, skip)
    _check_columns_named_once(header, shown)
    if options.columns and not set(options.columns) <= set(df.columns):
        _header_row_hint(_first_rows(path, encoding, delimiter), options.columns, options.header_row, shown)
    _no_rows(df, shown)
    # Plain numpy dtypes downstream: nullable ints with gaps become float, strings become object.
    return _to_numpy_dtypes(df.convert_dtypes(dtype_backend="numpy_nullable"))


def _encoding_error(options: ReadOptions, encoding: str, shown: str) -> InputError:
    if options.encoding is None:
        return InputError("not UTF-8 text (save the export as CSV UTF-8, or declare its encoding, e.g. "
                          "`encoding: latin-1`, `cp1252` or `gb18030`)", file=shown)
    return InputError(f"not {encoding} text as declared (`encoding: {options.encoding}`): some bytes are not "
                      f"{encoding}; declare the encoding the export was saved in", file=shown)


def _delimiter(path: Path, options: ReadOptions, encoding: str, shown: str) -> str:
    """The delimiter to read with, after checking the first bytes are text of that kind."""
    with open(path, "rb") as f:
        head = f.read(65536)
    utf16 = encoding.startswith("utf-16") or encoding.startswith("utf-32")
    for signature, what in _NOT_CSV.items():
        if head.startswith(signature) and not (utf16 and signature in (b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"not a CSV file: this is {what}; save the export as CSV UTF-8 (comma-separated), "
                             "or give the file its own extension", file=shown)
    if b"\x00" in head and not utf16:
        raise InputError("not a text file (it contains NUL bytes); save the export as CSV UTF-8", file=shown)
    text = head.decode(encoding, errors="replace").removeprefix("\ufeff")
    if text.lstrip()[:1] == "<":
        raise InputError("not a CSV file: this is an HTML or XML page (a failed download, or a page saved as "
                         ".csv)", file=shown)
    _looks_like_utf8(head, options, encoding, shown)
    declared = options.delimiter
    if declared == "auto":
        try:
            return csv.Sniffer().sniff(text[:16384], delimiters="".join(_SEPARATORS)).delimiter
        except csv.Error:
            raise InputError("the delimiter cannot be worked out (`delimiter: auto`): declare it, e.g. "
                             "`delimiter: \";\"`", file=shown) from None
    default = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    delimiter = declared or default
    lines = text.splitlines()
    if options.header_row is None:
        lines = [line for line in lines if line.strip()]  # blank lines before the header are skipped
    first_line = lines[(options.header_row or 1) - 1] if len(lines) >= (options.header_row or 1) else ""
    if delimiter not in first_line:
        for sep, name in _SEPARATORS.items():
            if sep != delimiter and sep in first_line:
                what = _SEPARATORS.get(delimiter, f"'{delimiter}'")
                hint = ("export as CSV with commas (and a point as the decimal mark)" if declared is None
                        else "declare the delimiter the file uses")
                raise InputError(f"the values are separated by {name}, not {what}: {hint}, or set "
                                 f"`delimiter: \"{sep}\"`".replace("\t", "\\t"), file=shown)
    return delimiter


def _looks_like_utf8(head: bytes, options: ReadOptions, encoding: str, shown: str) -> None:
    """A UTF-8 file declared as another encoding would be read with garbled letters, silently."""
    if options.encoding is None or encoding in ("utf-8", "utf-8-sig") or head.isascii():
        return
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not UTF-8 (an error at the very end: the sample cut a character)
            return
    raise InputError(f"the file is UTF-8 text, not {encoding} as declared (`encoding: {options.encoding}`): "
                     f"its accented or non-Latin letters would be read garbled; remove `encoding`", file=shown)


def _sig(encoding: str) -> str:
    """Python's name for reading ``encoding`` without a UTF-8 byte order mark (pandas drops it too)."""
    return "utf-8-sig" if encoding == "utf-8" else encoding


def _header(path: Path, encoding: str, delimiter: str, skip: int) -> list[str]:
    with open(path, encoding=_sig(encoding), newline="") as f:
        for _ in range(skip):
            f.readline()
        return next(csv.reader(f, delimiter=delimiter), [])


def _first_rows(path: Path, encoding: str, delimiter: str) -> list[list[str]]:
    with open(path, encoding=_sig(encoding), errors="replace", newline="") as f:
        rows = csv.reader(f, delimiter=delimiter)
        return [row for _, row in zip(range(_HEADER_SEARCH_ROWS), rows)]


def _count_long_rows(path: Path, encoding: str, delimiter: str, skip: int) -> int:
    """Rows with more fields than the header (only on the error path, so a plain loop is fine)."""
    with open(path, encoding=_sig(encoding), newline="") as f:
        for _ in range(skip):
            f.readline()
        rows = csv.reader(f, delimiter=delimiter)
        width = len(next(rows, []))
        return sum(len(r) > width for r in rows)


# ---- Excel workbooks ---------------------------------------------------------------------------------

def read_excel(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read one sheet of an Excel workbook (.xlsx, .xlsm) with openpyxl.

    The sheet is ``sheet`` (a name, or a position counting from 1), else the first; the header is row
    ``header_row`` (default 1). Cells formatted as dates come as dates; a date column whose cells lost
    their date format holds Excel's serial day numbers, which :func:`mbcrt.study.cohort.parse_dates`
    reads from Excel's origin (1899-12-30).
    """
    shown = paths.relative(path)
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - zip, XML or openpyxl errors: one clear message
        raise InputError(f"not a readable Excel workbook ({type(exc).__name__}); open it in Excel and save it "
                         "again as .xlsx", file=shown) from None
    with book:
        names = book.sheet_names
        sheet = options.sheet
        if sheet is None:
            sheet = names[0]
        elif isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 1 <= sheet <= len(names):
                raise InputError(f"the workbook has {len(names)} sheet(s); `sheet: {sheet}` is not one of them "
                                 f"(sheets: {', '.join(names)})", file=shown, column="sheet")
            sheet = names[sheet - 1]
        elif str(sheet) not in names:
            raise InputError(f"no sheet named '{sheet}' in the workbook (sheets: {', '.join(names)})."
                             f"{closest(sheet, names)}", file=shown, column="sheet")
        # Header row found by hand (header=None): pandas would rename a column named twice ("x.1") silently.
        raw = book.parse(sheet_name=str(sheet), header=None)
    h = (options.header_row or 1) - 1
    if h >= len(raw):
        raise InputError(f"the sheet '{sheet}' has {len(raw)} rows, none on `header_row: {h + 1}`", file=shown)
    rows = raw.iloc[:_HEADER_SEARCH_ROWS].astype(object).where(raw.iloc[:_HEADER_SEARCH_ROWS].notna(), None)
    header = [_cell_name(v, i) for i, v in enumerate(raw.iloc[h])]
    if options.columns and not set(options.columns) <= set(header):
        _header_row_hint(rows.values.tolist(), options.columns, options.header_row, shown, sheet)
    _check_columns_named_once([v for v in raw.iloc[h] if pd.notna(v)], shown, sheet)
    df = raw.iloc[h + 1:].reset_index(drop=True)
    df.columns = header
    df = df.dropna(how="all")  # rows a spreadsheet only formatted
    df = df.reset_index(drop=True).infer_objects()
    _no_rows(df, shown, sheet)
    return normalise(df)


def _cell_name(value, i: int) -> str:
    """A header cell as a column name (numbers and dates as text; a blank cell as pandas names it)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"Unnamed: {i}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---- SPSS, Stata, SAS --------------------------------------------------------------------------------

def read_spss(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read an SPSS file (.sav, .zsav) with pyreadstat: value labels become the categories, the
    user-missing codes (``MISSING VALUES``) become missing, date formats become dates."""
    import pyreadstat

    return _read_stat(pyreadstat.read_sav, path, options, "an SPSS .sav file")


def read_stata(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read a Stata file (.dta) with pyreadstat: value labels become the categories, the missing
    values (``.``, ``.a``-``.z``) become missing, date formats become dates."""
    import pyreadstat

    return _read_stat(pyreadstat.read_dta, path, options, "a Stata .dta file")


def read_sas(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read a SAS data set (.sas7bdat) or SAS transport file (.xpt) with pyreadstat; SAS missing values
    become missing, date formats become dates (value formats live in a separate catalogue: codes stay)."""
    import pyreadstat

    if path.suffix.lower() == ".xpt":
        return _read_stat(pyreadstat.read_xport, path, options, "a SAS transport (.xpt) file")
    return _read_stat(pyreadstat.read_sas7bdat, path, options, "a SAS .sas7bdat data set")


def _read_stat(read, path: Path, options: ReadOptions, what: str) -> pd.DataFrame:
    import pyreadstat

    shown = paths.relative(path)
    kwargs = {"encoding": options.encoding} if options.encoding else {}
    if read is not pyreadstat.read_xport:  # transport files have no user-missing values
        # user_missing=False: SPSS's user-missing codes and Stata's .a-.z (SAS's .A-.Z) are read as missing.
        kwargs["user_missing"] = False
    try:
        df, meta = read(str(path), dates_as_pandas_datetime=True, **kwargs)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, UnicodeDecodeError, LookupError) as exc:
        raise InputError(f"not a readable file: {what} was expected ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})", file=shown) from None
    _check_columns_named_once(df.columns, shown)
    df = _apply_value_labels(_blank_text_is_missing(df), meta, options, shown)
    _no_rows(df, shown)
    return _normalise_typed(df)


def _apply_value_labels(df: pd.DataFrame, meta, options: ReadOptions, shown: str) -> pd.DataFrame:
    """Replace labelled codes by their labels (as SPSS shows them with value labels on).

    A column whose every value has a label becomes its labels. In a column the study reads as
    categories, values without a label are an error (the category of those patients is unknown); in
    any other column (a number with a label on one code, say) the codes stay.
    """
    labels = getattr(meta, "variable_value_labels", None) or {}
    for col, mapping in labels.items():
        if col not in df.columns or not mapping:
            continue
        s = df[col]
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        keys = {_label_key(k): v for k, v in mapping.items()}
        found = np.array([_label_key(u) in keys for u in uniques], dtype=bool)
        known = codes >= 0
        unlabelled = known & ~found[np.where(known, codes, 0)]
        n = int(unlabelled.sum())
        if n and col in options.categorical:
            raise InputError("values without a value label in a labelled categorical column (add their labels "
                             "in the source file, or make them missing values)", file=shown, column=col, n_rows=n)
        if n:
            continue
        names = np.array([keys[_label_key(u)] for u in uniques] + [None], dtype=object)
        df[col] = names[np.where(known, codes, len(uniques))]
    return df


def _label_key(value):
    """Codes compare as numbers (1 == 1.0) or as stripped text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value).strip()


# ---- Parquet -----------------------------------------------------------------------------------------

def read_parquet(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read a Parquet file with pyarrow (dictionary columns as text, dates as dates).

    Columns are converted by their Arrow type straight to the frame :func:`normalise` makes (it would
    look at every value of every text column again: 3 s of a 10^6-row export's 5)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shown = paths.relative(path)
    try:
        schema = pq.read_schema(path)
        # Text read as dictionaries: a column of a few distinct values becomes those few Python strings,
        # repeated, instead of one new string per row.
        text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        table = pq.read_table(path, read_dictionary=text).unify_dictionaries()
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a readable Parquet file (truncated or damaged? {type(exc).__name__}); export it "
                         "again", file=shown) from None
    _check_columns_named_once(table.column_names, shown)
    if table.num_rows == 0:
        _no_rows(pd.DataFrame(), shown)
    out = {name: _from_arrow(table.column(i)) for i, name in enumerate(table.column_names)}
    return pd.DataFrame(out, index=pd.RangeIndex(table.num_rows), copy=False)


def _dictionary_text(column) -> np.ndarray:
    """A dictionary-encoded text column (one dictionary for all chunks) as objects, None for a null."""
    import pyarrow.compute as pc

    if column.num_chunks == 0:
        return np.empty(0, dtype=object)
    values = np.append(column.chunk(0).dictionary.to_numpy(zero_copy_only=False).astype(object), None)
    codes = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
                            for c in column.chunks])
    return values[codes]  # code -1 (a null) takes the None at the end


def _from_arrow(column) -> pd.Series | np.ndarray:
    """One Arrow column as :func:`normalise` would give it (same dtype, same values)."""
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        return _dictionary_text(column)
    if pa.types.is_dictionary(t):
        column, t = column.cast(t.value_type), t.value_type
    nulls = column.null_count
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column.to_numpy(zero_copy_only=False)  # object, None for a null
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        values = column.cast(pa.int64()) if nulls == 0 else column.cast(pa.float64())
        return values.to_numpy()
    if pa.types.is_floating(t):
        return _whole_or_float(column.cast(pa.float64()).to_numpy(zero_copy_only=False))
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return _naive_ns(pd.Series(column.to_pandas(date_as_object=False))).to_numpy()
    return normalise(pd.DataFrame({"c": column.to_pandas()}))["c"].to_numpy()  # anything else: the general way
