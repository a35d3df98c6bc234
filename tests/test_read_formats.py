"""The same export in every format a hospital keeps it in gives the same cohort, value for value.

The HER2 RT synthetic export is written as CSV (UTF-8, the reference), TSV in GB18030, CSV with
semicolons, an Excel workbook, SPSS .sav (value labels and user-missing codes), Stata .dta (value
labels), SAS .sas7bdat and transport .xpt, and Parquet; the cohort build
(:func:`mbcrt.study.cohort.build_cohort`) on each must equal the reference exactly. The SAS data set is
written by ReadStat (``pyreadstat.write_sas7bdat``), not by SAS itself: what SAS writes may use features
ReadStat's writer does not, which this test cannot cover offline. The whole GBSG2 study run from two
formats writes byte-identical tables and figures.
"""

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from mbcrt import paths
from mbcrt.errors import InputError
from mbcrt.study.cohort import build_cohort, read_data
from mbcrt.study.config import load_study
from mbcrt.study.read import ReadOptions, read_export

HER2 = paths.STUDIES_DIR / "her2_rt" / "study.yaml"
WARD = "妇科 Gynécologie"  # text beyond Latin-1 and ASCII, in every format


@pytest.fixture(scope="module")
def her2(tmp_path_factory):
    """The export as read (plus a ward column), its dates as dates, and the reference cohort."""
    folder = tmp_path_factory.mktemp("formats")
    study = load_study(HER2)
    raw = read_data(study.data_path).assign(ward=WARD)
    reference_csv = folder / "reference.csv"
    raw.to_csv(reference_csv, index=False, encoding="utf-8")
    typed = raw.copy()
    for col in study.dates:
        typed[col] = pd.to_datetime(raw[col], format="%Y-%m-%d")
    reference = build_cohort(_her2_study(folder, "reference", {"data": str(reference_csv)}))
    return folder, study, raw, typed, reference


def _codes(s: pd.Series) -> tuple[pd.Series, dict]:
    """Text as numeric codes 1..k with value labels (as SPSS and Stata keep categories)."""
    levels = sorted(s.dropna().unique())
    return s.map({v: i for i, v in enumerate(levels, start=1)}).astype("float64"), \
        {float(i): v for i, v in enumerate(levels, start=1)}


def _labelled(typed: pd.DataFrame, columns) -> tuple[pd.DataFrame, dict]:
    out, labels = typed.copy(), {}
    for col in columns:
        out[col], labels[col] = _codes(typed[col])
    return out, labels


def write_sav(typed, path):
    df, labels = _labelled(typed, ["hr_status", "met_bone", "rt", "her2_fish"])
    # her2_fish: 9 = "Not done", declared user-missing, must read back as missing.
    df["her2_fish"] = df["her2_fish"].fillna(9.0)
    labels["her2_fish"][9.0] = "Not done"
    pyreadstat.write_sav(df, path, variable_value_labels=labels, missing_ranges={"her2_fish": [9]})


def write_dta(typed, path):
    df, labels = _labelled(typed, ["hr_status", "met_liver", "vital_status"])
    pyreadstat.write_dta(df, path, variable_value_labels=labels)


WRITERS = {
    "tsv_gb18030.tsv": (lambda raw, typed, p: raw.to_csv(p, sep="\t", index=False, encoding="gb18030"),
                        {"encoding": "gb18030"}),
    "semicolons.csv": (lambda raw, typed, p: raw.to_csv(p, sep=";", index=False), {"delimiter": ";"}),
    "sniffed.csv": (lambda raw, typed, p: raw.to_csv(p, sep="|", index=False), {"delimiter": "auto"}),
    "workbook.xlsx": (lambda raw, typed, p: typed.to_excel(p, index=False, sheet_name="Export"), {}),
    "spss.sav": (lambda raw, typed, p: write_sav(typed, str(p)), {}),
    "stata.dta": (lambda raw, typed, p: write_dta(typed, str(p)), {}),
    "sas.sas7bdat": (lambda raw, typed, p: pyreadstat.write_sas7bdat(typed, str(p)), {}),
    "transport.xpt": (lambda raw, typed, p: pyreadstat.write_xport(typed, str(p)), {}),
    "table.parquet": (lambda raw, typed, p: typed.to_parquet(p, index=False), {}),
}


def _her2_study(folder, name: str, keys: dict):
    """The HER2 RT study file with ``keys`` changed, written beside the export. Its linked tables (CSV
    UTF-8 with commas) keep their own reading keys: a linked table takes the study's ``encoding`` and
    ``delimiter`` unless it declares its own."""
    import yaml

    config = yaml.safe_load(HER2.read_text(encoding="utf-8"))
    config.update(keys)
    config.pop("published", None)
    for spec in (config.get("linked") or {}).values():
        spec.update(data=str(paths.resolve(spec["data"], HER2.parent)), delimiter=",", encoding="utf-8")
    target = folder / f"{name}.yaml"
    target.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return load_study(target)


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_format_gives_the_same_cohort(her2, name):
    folder, _, raw, typed, reference = her2
    write, keys = WRITERS[name]
    path = folder / name
    write(raw, typed, path)
    got = build_cohort(_her2_study(folder, name, {"data": str(path), **keys}))
    pd.testing.assert_frame_equal(got.cohort, reference.cohort, check_exact=True)
    pd.testing.assert_frame_equal(got.attrition, reference.attrition, check_exact=True)
    assert (got.cohort["ward"] == WARD).all()


def test_spss_value_labels_and_user_missing_codes(tmp_path):
    df = pd.DataFrame({"pid": ["A", "B", "C", "D"], "grade": [1.0, 2.0, 3.0, 9.0], "nodes": [0.0, 4.0, 99.0, 2.0],
                       "size": [10.0, 22.5, 997.0, 998.0], "note": ["x", "", "  ", "y"]})
    path = tmp_path / "d.sav"
    pyreadstat.write_sav(df, str(path), variable_value_labels={"grade": {1: "I", 2: "II", 3: "III", 9: "Unknown"},
                                                               "nodes": {0: "None"}},
                         missing_ranges={"grade": [9], "nodes": [99], "size": [{"lo": 997, "hi": 999}]})
    got = read_export(path, ReadOptions(categorical=("grade",)))
    assert got["grade"].tolist() == ["I", "II", "III", None]          # labels; the user-missing 9 is missing
    assert got["nodes"].tolist()[:2] == [0.0, 4.0] and np.isnan(got["nodes"][2])  # a label on one code: numbers
    assert got["size"].tolist()[:2] == [10.0, 22.5] and got["size"][2:].isna().all()  # a missing range
    assert got["note"].tolist() == ["x", None, None, "y"]               # SPSS's blank text is missing


def test_excel_sheet_by_name_or_position_and_missing_sheet(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"notes": ["read me"]}).to_excel(xl, sheet_name="About", index=False)
        pd.DataFrame({"pid": ["A", "B"], "age": [50, 61]}).to_excel(xl, sheet_name="Patients", index=False)
    assert read_export(path, ReadOptions(sheet="Patients"))["age"].tolist() == [50, 61]
    assert read_export(path, ReadOptions(sheet=2))["pid"].tolist() == ["A", "B"]
    assert list(read_export(path)) == ["notes"]  # default: the first sheet
    with pytest.raises(InputError, match="no sheet named 'Patient'.*About, Patients.*Did you mean 'Patients'"):
        read_export(path, ReadOptions(sheet="Patient"))
    with pytest.raises(InputError, match="has 2 sheet"):
        read_export(path, ReadOptions(sheet=3))


def test_header_row_in_a_workbook_and_a_csv(tmp_path):
    book = tmp_path / "book.xlsx"
    pd.DataFrame([["Export of 2024-07-31", None], [None, None], ["pid", "age"], ["A", 50], ["B", 61]]).to_excel(
        book, index=False, header=False)
    got = read_export(book, ReadOptions(header_row=3))
    assert list(got) == ["pid", "age"] and got["age"].tolist() == [50, 61]
    text = tmp_path / "export.csv"
    text.write_text("Export of 2024-07-31\n\npid,age\nA,50\nB,61\n")
    got = read_export(text, ReadOptions(header_row=3))
    assert list(got) == ["pid", "age"] and got["age"].tolist() == [50, 61]
    with pytest.raises(InputError, match=r"header is on row 3.*`header_row: 3`"):
        read_export(text, ReadOptions(columns=("pid", "age")))


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "gb18030"])
def test_declared_encodings(tmp_path, encoding):
    ward = "妇科" if encoding == "gb18030" else "Gynécologie"
    path = tmp_path / "export.csv"
    path.write_bytes(f"pid,ward\nA,{ward}\nB,Général\n".encode(encoding) if encoding != "gb18030"
                     else f"pid,ward\nA,{ward}\nB,肿瘤科\n".encode(encoding))
    got = read_export(path, ReadOptions(encoding=encoding))
    assert got["ward"][0] == ward


def test_tab_separated_by_extension(tmp_path):
    path = tmp_path / "export.tsv"
    path.write_text("pid\tage\nA\t50\n")
    assert read_export(path)["age"].tolist() == [50]


@pytest.mark.parametrize("name, words", [
    ("export.xls", "old Excel workbook (.xls)"),
    ("export.ods", "OpenDocument"),
    ("export.dat", "unknown kind of data file '.dat'"),
])
def test_unknown_formats_are_named(tmp_path, name, words):
    (tmp_path / name).write_bytes(b"anything")
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        read_export(tmp_path / name)


def test_sas_data_set_through_pandas_reader_agrees(tmp_path):
    """Two independent readers of one .sas7bdat (ReadStat's and pandas' own) agree on its values."""
    df = pd.DataFrame({"pid": ["A", "B", "C"], "age": [50.0, 61.0, np.nan],
                       "start": pd.to_datetime(["2020-01-02", "2021-03-04", None])})
    path = tmp_path / "d.sas7bdat"
    pyreadstat.write_sas7bdat(df, str(path))
    ours = read_export(path)
    theirs = pd.read_sas(path, encoding="utf-8")
    assert ours["pid"].tolist() == theirs["pid"].tolist()
    np.testing.assert_array_equal(ours["age"].to_numpy(), theirs["age"].to_numpy())
    assert (ours["start"].dropna().dt.date == pd.to_datetime(theirs["start"]).dropna().dt.date).all()


def test_parquet_columns_by_arrow_type_equal_the_general_conversion(tmp_path):
    """read_parquet converts by Arrow type (fast); it must give what :func:`normalise` gives, for every
    type an export holds: whole floats as int64, gaps as float64 NaN, text and dictionaries as objects
    with None, time zones dropped keeping the wall-clock date. Two row groups, so text dictionaries
    come in several chunks."""
    import pyarrow.parquet as pq

    from mbcrt.study.read import normalise

    df = pd.DataFrame({
        "i": [1, 2, 3, 4], "inull": pd.array([1, None, 3, 4], dtype="Int64"), "f": [1.0, 2.0, 3.0, 4.0],
        "fh": [1.5, 2, 3, 4], "fn": [1.0, np.nan, 3, 4], "b": [True, False, True, True],
        "bn": pd.array([True, None, False, True], dtype="boolean"), "s": ["a", None, "c", "a"],
        "cat": pd.Categorical(["x", "y", None, "x"]),
        "d": pd.to_datetime(["2020-01-01", None, "2021-02-03", "2020-01-01"]),
        "tz": pd.to_datetime(["2020-01-01 10:00", None, "2021-02-03 00:00", "2020-01-01 00:00"]).tz_localize(
            "Europe/Paris"),
        "allnull": [None] * 4,
    })
    path = tmp_path / "t.parquet"
    df.to_parquet(path, index=False, row_group_size=2)
    got = read_export(path)
    pd.testing.assert_frame_equal(got, normalise(pq.read_table(path).to_pandas(date_as_object=False)),
                                  check_exact=True)
    assert got["s"].tolist() == ["a", None, "c", "a"] and got["f"].dtype == np.int64


def test_statistics_files_by_type_equal_the_general_conversion(tmp_path):
    """SPSS/Stata/SAS columns converted by type (fast) give what :func:`normalise` gives."""
    from mbcrt.study.read import _blank_text_is_missing, normalise

    df = pd.DataFrame({"whole": [1.0, 2.0, 3.0], "half": [1.5, 2.0, 3.0], "gap": [1.0, np.nan, 3.0],
                       "text": ["a", "", "c"], "blank": ["", "", ""],
                       "start": pd.to_datetime(["2020-01-01", None, "2021-02-03"])})
    for name, write in (("d.sav", pyreadstat.write_sav), ("d.dta", pyreadstat.write_dta),
                        ("d.sas7bdat", pyreadstat.write_sas7bdat)):
        write(df, str(tmp_path / name))
        got = read_export(tmp_path / name)
        read = {"d.sav": pyreadstat.read_sav, "d.dta": pyreadstat.read_dta,
                "d.sas7bdat": pyreadstat.read_sas7bdat}[name]
        raw, _ = read(str(tmp_path / name), dates_as_pandas_datetime=True)
        pd.testing.assert_frame_equal(got, normalise(_blank_text_is_missing(raw)), check_exact=True)
        assert got["whole"].dtype == np.int64 and got["text"].tolist() == ["a", None, "c"]


GBSG2_STUDY = paths.STUDIES_DIR / "gbsg2" / "study.yaml"


@pytest.mark.integration
def test_the_whole_study_from_two_formats_writes_the_same_tables_and_figures(tmp_path):
    """GBSG2 run from an SPSS file (grade, menopause and therapy as labelled codes) and from Parquet:
    every table and figure byte for byte the same."""
    from mbcrt.run.pipeline import run_many

    g = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")
    sav, labels = _labelled(g, ["horTh", "menostat", "tgrade"])
    pyreadstat.write_sav(sav, str(tmp_path / "gbsg2.sav"), variable_value_labels=labels)
    g.to_parquet(tmp_path / "gbsg2.parquet", index=False)
    outputs = {}
    for name in ("gbsg2.sav", "gbsg2.parquet"):
        root = tmp_path / name.replace(".", "_")
        run_many([GBSG2_STUDY], [f"data={tmp_path / name}"], root=root, progress=lambda m: None)
        outputs[name] = {p.relative_to(root).as_posix(): p.read_bytes()
                         for kind in ("tables", "figures") for p in sorted((root / kind).rglob("*")) if p.is_file()}
    sav_out, parquet_out = outputs.values()
    assert any(k.endswith("km_summary.csv") for k in sav_out) and any(k.endswith(".png") for k in sav_out)
    assert sorted(sav_out) == sorted(parquet_out)
    differ = [k for k in sav_out if sav_out[k] != parquet_out[k]]
    assert differ == []
