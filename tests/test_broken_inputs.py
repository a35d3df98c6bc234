"""A battery of broken exports, built the way a real hospital export goes wrong, run through the
command line over the results of a good run. Each must stop with exit code 3 and one message naming
the file, the column, the rule and how many rows break it; no value of those rows and no bare
traceback; and the previous tables, figures, build files and reports byte for byte as they were."""

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from mbcrt import paths

pytestmark = pytest.mark.integration

STUDY = """
name: hospital_rt
title: "Hormone therapy and recurrence (GBSG2 exported like a hospital would)"
data: export.csv
id: patient_id
time: rfs_days
time_unit: days
event: relapse
endpoint: {name: rfs, label: Recurrence-free survival}
treatment: hormone_therapy
treated_value: "Y"
dates: [surgery_date, relapse_date, last_contact]
data_cutoff: 1999-12-31
derive:
  - {name: rfs_days, interval: {start: surgery_date, end: [relapse_date, last_contact], unit: days}}
covariates: [age, menopause, size_mm, grade, nodes]
categorical: [menopause, grade]
levels: {menopause: [Pre, Post], grade: [I, II, III]}
steps: [cohort]
"""


def export() -> pd.DataFrame:
    """GBSG2 with string ids and calendar dates (surgery spread over 1984-1989)."""
    g = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")
    start = pd.Series(pd.Timestamp("1984-07-01") + pd.to_timedelta((np.arange(len(g)) * 37) % 1800, unit="D"))
    end = start + pd.to_timedelta(g["time"], unit="D")
    return pd.DataFrame({
        "patient_id": [f"PT{i:05d}" for i in g["id"]],
        "hormone_therapy": np.where(g["horTh"] == "yes", "Y", "N"),
        "age": g["age"], "menopause": g["menostat"], "size_mm": g["tsize"], "grade": g["tgrade"],
        "nodes": g["pnodes"], "surgery_date": start.dt.strftime("%Y-%m-%d"),
        "relapse_date": np.where(g["cens"] == 1, end.dt.strftime("%Y-%m-%d"), ""),
        "last_contact": end.dt.strftime("%Y-%m-%d"), "relapse": g["cens"],
    })


@dataclass
class Case:
    """One broken export: how it is made and what the message must say."""

    name: str
    make: Callable[[pd.DataFrame], bytes]       # the export's bytes
    rule: str                                   # words of the rule in the message
    column: str | None = None
    n_rows: int | None = None
    study: Callable[[str], str] = lambda s: s   # changes to the study file
    values: list[str] = field(default_factory=list)  # values of the broken rows: must not be shown


def csv_bytes(df: pd.DataFrame, **kw) -> bytes:
    return df.to_csv(index=False, lineterminator="\n", **kw).encode()


def rows(df, n, step=50):
    """``n`` rows spread over the file (not the first ones)."""
    return df.index[7::step][:n]


def set_rows(df, column, n, value):
    out = df.copy()
    out[column] = out[column].astype(object)
    out.loc[rows(df, n), column] = value
    return out


def day_first(df):
    out = df.copy()
    idx = rows(df, 7)
    out.loc[idx, "surgery_date"] = pd.to_datetime(out.loc[idx, "surgery_date"]).dt.strftime("%d/%m/%Y")
    return out


def relapse_before_surgery(df):
    out = df.copy()
    idx = [i for i in df.index[df["relapse"] == 1][5::40][:3]]
    out.loc[idx, "relapse_date"] = (pd.to_datetime(out.loc[idx, "surgery_date"]) - pd.Timedelta(days=30)).dt.strftime(
        "%Y-%m-%d")
    return out


def zero_follow_up(df):
    out = df.copy()
    idx = df.index[df["relapse"] == 0][3::60][:2]
    out.loc[idx, "last_contact"] = out.loc[idx, "surgery_date"]
    return out


def unquoted_commas(df):
    """Two rows whose grade was typed with a comma and exported unquoted: one value too many."""
    lines = csv_bytes(df).decode().splitlines()
    broken = [i for i in range(10, len(lines)) if ",II," in lines[i]][:2]
    for i in broken:
        lines[i] = lines[i].replace(",II,", ",II, moderately differentiated,", 1)
    return ("\n".join(lines) + "\n").encode()


def latin1(df):
    return csv_bytes(df.assign(ward="Gynécologie")).decode().encode("latin-1")


def event_codes(df):
    """Three rows coded 2 (e.g. "death" in a relapse column) and two left blank."""
    out = df.copy()
    out["relapse"] = out["relapse"].astype(object)
    out.loc[rows(df, 3), "relapse"] = 2
    out.loc[df.index[11::97][:2], "relapse"] = None
    return out


def few_events(df):
    out = df.copy()
    events = df.index[df["relapse"] == 1]
    out.loc[events[5:], "relapse"] = 0
    out.loc[events[5:], "relapse_date"] = ""
    return out


def steps(*names):
    return lambda s: s.replace("steps: [cohort]", f"steps: [cohort, {', '.join(names)}]")


CASES = [
    Case("misspelt column", lambda d: csv_bytes(d.rename(columns={"menopause": "menopausal"})),
         "not in the data. Did you mean 'menopausal'", column="menopause"),
    Case("semicolons and decimal commas", lambda d: csv_bytes(d.assign(age=d.age + 0.5), sep=";", decimal=","),
         "separated by semicolons"),
    Case("not UTF-8", latin1, "not UTF-8"),
    Case("a workbook named .csv", lambda d: b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + bytes(range(256)),
         "Excel workbook"),
    Case("empty file", lambda d: b"", "empty"),
    Case("day-first dates", lambda d: csv_bytes(day_first(d)), "YYYY-MM-DD", column="surgery_date", n_rows=7,
         values=[pd.Timestamp(v).strftime("%d/%m/%Y") for v in export().loc[rows(export(), 7), "surgery_date"]]),
    Case("relapse before surgery", lambda d: csv_bytes(relapse_before_surgery(d)), "before 'surgery_date'",
         column="relapse_date", n_rows=3),
    Case("follow-up after the cut-off", lambda d: csv_bytes(set_rows(d, "last_contact", 4, "2031-05-01")),
         "after the data cut-off 1999-12-31", column="last_contact", n_rows=4, values=["2031-05-01"]),
    Case("zero follow-up", lambda d: csv_bytes(zero_follow_up(d)), "zero follow-up time", column="rfs_days",
         n_rows=2),
    Case("event codes", lambda d: csv_bytes(event_codes(d)), "event code", column="relapse", n_rows=5),
    Case("one arm only", lambda d: csv_bytes(d.assign(hormone_therapy="Y")), "one arm only", column="hormone_therapy"),
    Case("duplicate ids", lambda d: csv_bytes(pd.concat([d, d.iloc[[3, 30, 300]]])), "duplicate patient ids",
         column="patient_id", n_rows=3),
    Case("text in a number", lambda d: csv_bytes(set_rows(d, "age", 4, "unknown")), "must be a number", column="age",
         n_rows=4, values=["unknown"]),
    Case("unquoted commas", unquoted_commas, "more values than the header", n_rows=2,
         values=["moderately differentiated"]),
    Case("a covariate separates the arms", lambda d: csv_bytes(d.assign(age=np.where(d.hormone_therapy == "Y",
                                                                                      d.age + 100, d.age))),
         "separates treated from control", column="age", study=steps("matching")),
    Case("a constant covariate", lambda d: csv_bytes(d.assign(nodes=2)), "same for every patient", column="nodes",
         study=steps("cox")),
    Case("too few events", lambda d: csv_bytes(few_events(d)), "too few events", column="relapse", study=steps("cox")),
]


def cli(folder: Path, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbcrt", "run", "--config", str(folder / "study.yaml"),
                           "--out", str(root)], capture_output=True, text=True, timeout=900)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every output file under the root, except the failed-notebook pages a failure adds."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "/failed/" not in p.as_posix() and ".staging" not in p.parts}


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    """A good run, then every broken export over a copy of its results (two at a time)."""
    base = tmp_path_factory.mktemp("broken")
    good = base / "good"
    good.mkdir()
    df = export()
    (good / "export.csv").write_bytes(csv_bytes(df))
    (good / "study.yaml").write_text(STUDY)
    proc = cli(good, good / "out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = snapshot(good / "out")

    def run(case: Case):
        folder = base / case.name.replace(" ", "_")
        folder.mkdir()
        (folder / "export.csv").write_bytes(case.make(df))
        (folder / "study.yaml").write_text(case.study(STUDY))
        shutil.copytree(good / "out", folder / "out")
        return case.name, (cli(folder, folder / "out"), folder / "out")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(run, CASES))
    return df, before, results


def test_the_good_export_ran(battery):
    df, before, _ = battery
    assert "tables/hospital_rt/attrition.csv" in before and "reports/hospital_rt/01_cohort.html" in before


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_export_stops_clearly_and_keeps_the_last_results(battery, case):
    df, before, results = battery
    proc, root = results[case.name]
    assert_refused_clearly(proc, root, before, case, "export.csv", list(df["patient_id"]))
    assert not (root / ".staging" / "hospital_rt").exists()
    failed = root / "reports" / "hospital_rt" / "failed" / "01_cohort.html"
    assert failed.exists()
    page = failed.read_text(encoding="utf-8")
    assert [v for v in case.values if v in page] == []


def assert_refused_clearly(proc, root, before, case, file: str, hidden: list) -> None:
    """Exit 3 with one input-error line naming the file, the rule, the column and the row count, no
    traceback, none of ``hidden`` or the case's values shown, and the earlier results untouched."""
    err = proc.stderr
    assert proc.returncode == 3, err[-2000:]
    message = [line for line in err.splitlines() if line.startswith("mbcrt: input error:")]
    assert len(message) == 1, err[-2000:]
    text = message[0]
    assert file in text and case.rule in text, text
    if case.column:
        assert f"column '{case.column}'" in text, text
    if case.n_rows is not None:
        assert f"{case.n_rows} row{'s' if case.n_rows != 1 else ''}]" in text, text
    assert "Traceback" not in err
    shown = [v for v in case.values + hidden if v in err]
    assert shown == [], f"the message shows values of the data: {shown[:3]}"
    assert snapshot(root) == before
