"""Time reading a large export in each format (``mbcrt.study.read.read_export``), and the date parsing
that follows (``mbcrt.study.cohort.parse_dates``).

The export is the HER2 RT synthetic one at ``n`` patients (``cohorts.her2_rt``; GBSG2 resampled when
the generator is missing), written once as CSV (dates as text), Parquet, SPSS .sav, Stata .dta and an
Excel workbook (only up to 10^5 rows: a workbook holds 1,048,576 rows at most and openpyxl reads about
10^4 rows a second), with dates as dates in the binary formats. Times are the best of ``--repeat`` runs
after one warm-up; "peak" is the tracemalloc peak of one more read.

    .venv/bin/python benchmarks/bench_read.py --n 1000000
    .venv/bin/python benchmarks/bench_read.py --n 100000 --formats csv parquet sav dta xlsx
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

import cohorts  # noqa: E402

from mbcrt.study.cohort import parse_dates  # noqa: E402
from mbcrt.study.read import read_export  # noqa: E402

DATES_HER2 = ["date_metastatic_diagnosis", "date_treatment_start", "date_rt_start", "date_death",
              "date_last_contact", "date_data_cutoff"]


def export(n: int) -> tuple[pd.DataFrame, list[str]]:
    if cohorts.her2_rt_available():
        df = cohorts.her2_rt(n)
        return df, [c for c in DATES_HER2 if c in df.columns]
    return cohorts.gbsg2_like(n), []


def write(df: pd.DataFrame, dates: list[str], folder: Path, fmt: str) -> Path:
    import pyreadstat

    typed = df.copy()
    for col in dates:
        typed[col] = pd.to_datetime(df[col], format="%Y-%m-%d")
    path = folder / f"export.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "parquet":
        typed.to_parquet(path, index=False)
    elif fmt == "sav":
        pyreadstat.write_sav(typed, str(path))
    elif fmt == "dta":
        pyreadstat.write_dta(typed, str(path))
    elif fmt == "xlsx":
        typed.to_excel(path, index=False)
    return path


def best(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``repeat`` runs after a warm-up (CPU time is what a
    shared machine's load changes least; arrow reads Parquet on two threads, so it may exceed wall)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--formats", nargs="+", default=["csv", "parquet", "sav", "dta"])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    df, dates = export(args.n)
    print(f"n = {args.n:,}: {df.shape[1]} columns, {len(dates)} date columns", flush=True)
    print("| format | file (MB) | read (s) | read CPU (s) | read + dates (s) | peak (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats:
            if fmt == "xlsx" and args.n > 100_000:
                print("| xlsx | | | | | (skipped: n > 10^5) |")
                continue
            path = write(df, dates, Path(tmp), fmt)
            read, cpu = best(lambda: read_export(path), args.repeat)
            both, _ = best(lambda: parse_dates(read_export(path), dates, path.name), args.repeat)
            peak = peak_mb(lambda: read_export(path))
            size = path.stat().st_size / 2**20
            print(f"| {fmt} | {size:,.0f} | {read:.2f} | {cpu:.2f} | {both:.2f} | {peak:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
