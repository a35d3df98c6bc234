"""Time and memory of multiple imputation (chained equations, 20 imputations) and of the whole
imputation step (matching, Cox models and landmark survival within each imputed data set, pooled).

Run from the project root:
    .venv/bin/python benchmarks/bench_imputation.py                       # GBSG2 (686) and HER2 RT 10^5
    .venv/bin/python benchmarks/bench_imputation.py --source gbsg2 --sizes 686

Missingness is injected with fixed seeds, at random given observed variables (MAR): GBSG2 tumour
size 15%, grade 10%, menopausal status 5%; HER2 RT Ki-67 15%, T stage 10%, N stage 10%. "peak" is the
process's resident-memory high-water mark (data and cohort build included). Times are wall clock of one
run (the step takes long enough; tracemalloc would slow it several-fold).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import cohorts  # noqa: E402

from mbcrt import paths  # noqa: E402
from mbcrt.steps.imputation import imputation_step, impute  # noqa: E402
from mbcrt.study.cohort import build_cohort  # noqa: E402
from mbcrt.study.config import load_study  # noqa: E402

GAPS = {"gbsg2": {"tsize": 0.15, "tgrade": 0.10, "menostat": 0.05},
        "her2_rt": {"ki67": 0.15, "t_stage": 0.10, "n_stage": 0.10}}


def with_gaps(df: pd.DataFrame, gaps: dict, driver: str, seed: int = 20240101) -> pd.DataFrame:
    """Blank values MAR: the chance rises with ``driver`` (an always-observed numeric column)."""
    rng = np.random.default_rng(seed)
    x = pd.to_numeric(df[driver], errors="coerce").to_numpy(float)
    z = (x - np.nanmean(x)) / np.nanstd(x)
    df = df.copy()
    for col, rate in gaps.items():
        p = 1 / (1 + np.exp(-(np.log(rate / (1 - rate)) + 0.5 * z)))
        df.loc[rng.random(len(df)) < p, col] = None
    return df


def study_for(source: str, n: int, folder: Path) -> Path:
    if source == "gbsg2":
        df = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv") if n == 686 else cohorts.gbsg2_like(n)
        path = cohorts.gbsg2_study_file(folder, "export.csv", name=f"gbsg2_mi_{n}")
        driver = "age"
    else:
        from mbcrt.synth import her2_rt as generator

        df, courses = generator.generate_with_courses(n=n)
        courses.to_csv(folder / "export_courses.csv", index=False)
        path = cohorts.her2_rt_study_file(folder, "export.csv", name=f"her2_mi_{n}")
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        for table in (config.get("linked") or {}).values():  # the course table beside the export
            table["data"] = "export_courses.csv"
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        driver = "age"
    with_gaps(df, GAPS[source], driver).to_csv(folder / "export.csv", index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs="+", default=["gbsg2", "her2_rt"])
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--imputations", type=int, default=20)
    args = parser.parse_args()
    print("| source | n | patients with a gap | chained equations: wall (s) | CPU (s) | whole step: wall (s) | "
          "CPU (s) | process peak (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for source in args.source:
        for n in args.sizes or ([686] if source == "gbsg2" else [100_000]):
            with tempfile.TemporaryDirectory() as tmp:
                path = study_for(source, n, Path(tmp))
                study = load_study(path, ["missing.strategy=multiple_imputation",
                                          f"missing.imputations={args.imputations}", "missing.seed=1"])
                cohort = build_cohort(study).cohort
            cols = list(GAPS[source])
            incomplete = int(cohort[cols].isna().any(axis=1).sum())
            t0, c0 = time.perf_counter(), time.process_time()
            impute(study, cohort)
            t_mice, c_mice = time.perf_counter() - t0, time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            imputation_step(study, cohort)
            t_step, c_step = time.perf_counter() - t0, time.process_time() - c0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"| {source} | {len(cohort):,} | {incomplete:,} | {t_mice:.1f} | {c_mice:.1f} | {t_step:.1f} | "
                  f"{c_step:.1f} | {rss:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
