"""The broken-input battery (tests/test_broken_inputs.py) for exports that are not CSV UTF-8: workbooks,
declared encodings, SPSS files, Parquet, dates the study file forgot to declare. Each, run through the
command line over the results of a good run, must stop with exit code 3 and one message naming the
file (and sheet), the column, the rule and how many rows break it; no value of those rows and no bare
traceback; and the previous tables, figures, build files and reports byte for byte as they were."""

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pyreadstat
import pytest
from test_broken_inputs import STUDY, assert_refused_clearly, export, rows, snapshot

pytestmark = pytest.mark.integration


@dataclass
class Case:
    """One broken export: its file name, how it is written, what the message must say."""

    name: str
    file: str
    write: Callable[[pd.DataFrame, Path], None]
    rule: str
    column: str | None = None
    n_rows: int | None = None
    study: Callable[[str], str] = lambda s: s
    values: list[str] = field(default_factory=list)


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """The export as a statistics package or a workbook keeps it: dates as dates, blanks as missing."""
    out = df.replace("", None)
    for col in ("surgery_date", "relapse_date", "last_contact"):
        out[col] = pd.to_datetime(out[col], format="%Y-%m-%d")
    return out


def title_rows_above_header(df, path):
    """A workbook as people lay it out: a title, a blank row, then the column names on row 3."""
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame([["Breast cancer export, all sites"]]).to_excel(xl, index=False, header=False)
        typed(df).to_excel(xl, index=False, startrow=2)


def sheet_named(df, path):
    typed(df).to_excel(path, index=False, sheet_name="Patients")


def columns_named_twice(df, path):
    typed(df).rename(columns={"nodes": "grade"}).to_excel(path, index=False)


def utf8_declared_latin1(df, path):
    path.write_bytes(df.assign(ward="Gynécologie").to_csv(index=False).encode("utf-8"))


def cp1252_declared_gb18030(df, path):
    path.write_bytes(df.assign(ward="Service €").to_csv(index=False).encode("cp1252"))


def unlabelled_grades(df, path):
    """Grade as SPSS codes 1-3 with labels I-III, and three patients coded 4, which has no label."""
    out = typed(df)
    out["grade"] = out["grade"].map({"I": 1.0, "II": 2.0, "III": 3.0})
    out.loc[rows(df, 3), "grade"] = 4.0
    pyreadstat.write_sav(out, str(path), variable_value_labels={"grade": {1: "I", 2: "II", 3: "III"}})


def truncated_parquet(df, path):
    typed(df).to_parquet(path, index=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def csv_named_sav(df, path):
    path.write_bytes(df.to_csv(index=False).encode())


def day_first_in_undeclared(df, path):
    out = df.copy()
    idx = rows(df, 7)
    out.loc[idx, "surgery_date"] = pd.to_datetime(out.loc[idx, "surgery_date"]).dt.strftime("%d/%m/%Y")
    path.write_bytes(out.to_csv(index=False).encode())


def no_dates_key(s: str) -> str:
    return s.replace("dates: [surgery_date, relapse_date, last_contact]\n", "")


def key(line: str):
    return lambda s: s + line + "\n"


CASES = [
    Case("header not on the first row", "export.xlsx", title_rows_above_header,
         "the header is on row 3 (sheet 'Sheet1'), not on row 1: set `header_row: 3`"),
    Case("a sheet that is not there", "export.xlsx", sheet_named, "no sheet named 'Patient'", column="sheet",
         study=key("sheet: Patient")),
    Case("a column named twice in a workbook", "export.xlsx", columns_named_twice, "more than once", column="grade"),
    Case("UTF-8 declared Latin-1", "export.csv", utf8_declared_latin1, "UTF-8 text, not iso8859-1 as declared "
         "(`encoding: latin-1`)", study=key("encoding: latin-1")),
    Case("cp1252 declared GB18030", "export.csv", cp1252_declared_gb18030,
         "not gb18030 text as declared (`encoding: gb18030`)", study=key("encoding: gb18030")),
    Case("SPSS value labels do not cover the values", "export.sav", unlabelled_grades, "without a value label",
         column="grade", n_rows=3),
    Case("truncated Parquet", "export.parquet", truncated_parquet, "not a readable Parquet file"),
    Case("a CSV named .sav", "export.sav", csv_named_sav, "an SPSS .sav file was expected"),
    Case("declared delimiter is not the file's", "export.csv", lambda d, p: p.write_bytes(d.to_csv(index=False)
                                                                                           .encode()),
         "separated by commas, not semicolons", study=key('delimiter: ";"')),
    Case("day-first dates in an interval's undeclared columns", "export.csv", day_first_in_undeclared,
         "YYYY-MM-DD", column="surgery_date", n_rows=7, study=no_dates_key),
]


def cli(folder: Path, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(folder / "study.yaml"),
                           "--out", str(root)], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    """A good run, then every broken export over a copy of its results (two at a time)."""
    base = tmp_path_factory.mktemp("broken_formats")
    good = base / "good"
    good.mkdir()
    df = export()
    (good / "export.csv").write_bytes(df.to_csv(index=False, lineterminator="\n").encode())
    (good / "study.yaml").write_text(STUDY)
    proc = cli(good, good / "out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = snapshot(good / "out")

    def run(case: Case):
        folder = base / case.name.replace(" ", "_")
        folder.mkdir()
        case.write(df, folder / case.file)
        (folder / "study.yaml").write_text(case.study(STUDY.replace("data: export.csv", f"data: {case.file}")))
        shutil.copytree(good / "out", folder / "out")
        return case.name, (cli(folder, folder / "out"), folder / "out")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(run, CASES))
    return df, before, results


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_export_stops_clearly_and_keeps_the_last_results(battery, case):
    df, before, results = battery
    proc, root = results[case.name]
    assert_refused_clearly(proc, root, before, case, case.file, list(df["patient_id"]) + ["Gynécologie", "Service"])
    failed = root / "reports" / "hospital_rt" / "failed" / "01_cohort.html"
    assert failed.exists()


def test_an_interval_over_undeclared_dates_now_runs(tmp_path):
    """The issue's crash (a pandas TypeError, exit 1): the same study without ``dates`` runs."""
    df = export()
    (tmp_path / "export.csv").write_bytes(df.to_csv(index=False).encode())
    (tmp_path / "study.yaml").write_text(no_dates_key(STUDY))
    proc = cli(tmp_path, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr[-2000:]
