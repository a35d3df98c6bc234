"""Registry-scale benchmarks: matching, Cox, Kaplan-Meier + log-rank and the whole pipeline, beside R.

Run from the project root (a script, not a test; it takes minutes at 10^6):

    .venv/bin/python benchmarks/run.py                          # n = 10^4, 10^5, 10^6, Python only
    .venv/bin/python benchmarks/run.py --with-r                 # the same work in R on the same data
    .venv/bin/python benchmarks/run.py --sizes 10000 --no-pipeline --with-r
    .venv/bin/python benchmarks/run.py --sizes 1000000 --source her2_rt gbsg2 --no-components --bundled

For each n it makes a GBSG2-like cohort (GBSG2 resampled with jitter, ``benchmarks/cohorts.py``;
about 36% treated) and times, best of ``--repeat`` runs after one warm-up (so numba's one-off
compilation is left out and reported once):

- propensity score (logistic regression on 7 covariates, 8 design columns);
- 1:1 nearest-neighbour matching on the propensity score put on a grid of 2^-24, without caliper and
  with a caliper of 0.2 SD of the score (the runs compared with MatchIt, see below), and on the
  logit with a caliper of 0.2 SD (the pipeline's default; Python only);
- Cox, 9 coefficients (treatment + 7 covariates), Efron and Breslow ties;
- Kaplan-Meier by arm (log-log CI, medians) + log-rank.

``--with-r`` runs ``benchmarks/bench.R`` on the same CSV (the propensity score the Python side fitted is
written into it, so both sides match on the same numbers) and reports R's times, the ratio R / Python,
and whether the results agree: identical matched pairs, Cox coefficients and SEs (max relative
difference), KM medians and log-rank chi-square. MatchIt is run only up to ``--r-matchit-max``
patients (it is quadratic: hours at 10^6).

Why the grid: MatchIt before 4.5.4 compares distances with C's integer ``abs()`` on some systems
(Debian's MatchIt 4.5.1 does). Score differences below 1 truncate to 0, so it ignores the caliper and,
between the nearest available controls below and above a treated unit, always takes the one below.
R is therefore given whole-number distances (score on the grid times 2^24), on which integer ``abs()``
is exact, and Python the same score divided by 2^24: same order, same ties, same nearest neighbours.

``--no-components`` times only the whole pipeline; ``--bundled`` also times the bundled run
(``python -m mbcrt run``: every study under ``studies/``, as ``./run_all.sh`` runs them).

The whole pipeline (``python -m mbcrt run --config <study> --out <tmp>``, every notebook with kernels and
HTML rendering) runs on the HER2 RT synthetic generator when it is installed (``--source auto``) or on
the GBSG2-like cohort (``--source her2_rt gbsg2`` runs both; HER2 RT's generator makes about 1.15 n raw
records, of which the study's criteria keep about n); its peak memory is the largest sum of resident memory over the process tree
(the runner and its notebook kernels), sampled every 0.1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cohorts  # noqa: E402  (benchmarks/cohorts.py, beside this script)

from mbcrt.stats import cox, survival  # noqa: E402
from mbcrt.stats.design import design_matrix  # noqa: E402
from mbcrt.stats.matching import match_nearest, propensity_score  # noqa: E402

HERE = Path(__file__).resolve().parent
CATEGORICAL = ["menostat", "tgrade"]
LEVELS = {"menostat": ["Pre", "Post"], "tgrade": ["I", "II", "III"]}
ARMS = ["no", "yes"]


# ---- timing helpers -------------------------------------------------------------------------------

def best_time(function, repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` runs (after the caller's warm-up) and the last result."""
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def traced_peak_mb(function) -> float:
    """Peak of Python/numpy allocations during one run (numba's own arrays are not traced)."""
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


# ---- the Python side ------------------------------------------------------------------------------

def python_inputs(frame: pd.DataFrame) -> dict:
    """Arrays every task uses: design, treatment, time, event, arm labels."""
    X = design_matrix(frame, cohorts.GBSG2_COVARIATES, CATEGORICAL, LEVELS)
    treat = (frame["horTh"] == "yes").to_numpy()
    Xcox = X.copy()
    Xcox.insert(0, "horThyes", treat.astype(float))
    return {"X": X, "Xcox": Xcox, "treat": treat, "time": frame["time"].to_numpy(float),
            "event": frame["cens"].to_numpy(int), "arm": frame["horTh"].to_numpy()}


def km_and_logrank(d: dict):
    curves = survival.km_by_group(d["time"], d["event"], d["arm"], order=ARMS)
    return curves, survival.logrank_test(d["time"], d["event"], d["arm"], order=ARMS)


#: The score is put on this grid for the comparison with MatchIt (see bench.R): R matches on the whole
#: numbers ps_on_grid * GRID, Python on ps_on_grid, so both see the same order, ties and distances.
GRID = 2.0**24


def on_grid(ps: np.ndarray) -> np.ndarray:
    """The score rounded to the nearest multiple of 1 / GRID (exact in binary floating point)."""
    return np.round(ps * GRID) / GRID


def cold_cox_fit(d: dict, ties: str):
    """One Cox fit as a first fit on these data: the sort a repeated fit would reuse is forgotten, so
    best-of-n times the whole fit, as R's coxph does every time."""
    cox._RECENT_RISK_SETS.clear()
    return cox.fit_cox(d["Xcox"], d["time"], d["event"], ties=ties)


def python_tasks(d: dict, ps: np.ndarray) -> dict:
    """Task name -> zero-argument function doing it."""
    ps_grid = on_grid(ps)
    return {
        "propensity": lambda: propensity_score(d["X"], d["treat"]),
        "match_nocaliper": lambda: match_nearest(ps_grid, d["treat"], caliper=None, caliper_scale="probability"),
        "match_caliper": lambda: match_nearest(ps_grid, d["treat"], caliper=0.2, caliper_scale="probability"),
        "match_caliper_logit": lambda: match_nearest(ps, d["treat"], caliper=0.2, caliper_scale="logit"),
        "cox_efron": lambda: cold_cox_fit(d, "efron"),
        "cox_breslow": lambda: cold_cox_fit(d, "breslow"),
        "km_logrank": lambda: km_and_logrank(d),
    }


def run_python(frame: pd.DataFrame, repeat: int, memory: bool) -> tuple[dict, dict, np.ndarray]:
    """Times (s), traced peaks (MB) and results of every task; also the propensity score."""
    d = python_inputs(frame)
    ps = propensity_score(d["X"], d["treat"])
    times, peaks, results = {}, {}, {}
    for task, function in python_tasks(d, ps).items():
        function()  # warm-up: numba compilation, page faults, caches
        times[task], results[task] = best_time(function, repeat)
        if memory:
            peaks[task] = traced_peak_mb(function)
        print(f"    python {task:<16} {times[task]:8.3f} s" +
              (f"  peak {peaks[task]:8.1f} MB" if memory else ""), flush=True)
    return {"times": times, "peaks": peaks, "results": results}, d, ps


# ---- the R side -----------------------------------------------------------------------------------

def r_available() -> dict:
    """Which R pieces are installed: {"survival": bool, "MatchIt": bool}."""
    if shutil.which("Rscript") is None:
        return {"survival": False, "MatchIt": False}
    out = {}
    for package in ("survival", "MatchIt"):
        proc = subprocess.run(["Rscript", "-e", f"quit(status = !requireNamespace('{package}', quietly = TRUE))"],
                              capture_output=True)
        out[package] = proc.returncode == 0
    return out


def run_r(frame: pd.DataFrame, ps: np.ndarray, folder: Path, matchit: bool, repeat: int) -> dict:
    """Run bench.R on the same data; returns its key=value output (times as floats) and output folder."""
    data = frame.assign(treat=(frame["horTh"] == "yes").astype(int), ps=ps, dist=on_grid(ps) * GRID)
    csv = folder / "r_input.csv"
    data.to_csv(csv, index=False, float_format="%.17g", lineterminator="\n")
    out_dir = folder / "r_out"
    out_dir.mkdir(exist_ok=True)
    proc = subprocess.run(["Rscript", str(HERE / "bench.R"), str(csv), str(out_dir), str(int(matchit)), str(repeat)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.R failed:\n{proc.stderr[-2000:]}")
    values = {}
    for line in proc.stdout.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            try:
                values[key.strip()] = float(value)
            except ValueError:
                values[key.strip()] = value.strip()
    values["out_dir"] = out_dir
    for key, value in values.items():
        if key.startswith("time."):
            print(f"    R      {key[5:]:<22} {value:8.3f} s", flush=True)
    return values


def compare_with_r(frame: pd.DataFrame, py: dict, r: dict) -> dict:
    """Agreement of the Python results with R's on the same data."""
    out_dir = r["out_dir"]
    ids = frame["id"].to_numpy()
    agreement = {}
    for task, key in (("match_nocaliper", "nocaliper"), ("match_caliper", "caliper02")):
        pairs_file = out_dir / f"pairs_{key}.csv"
        if not pairs_file.exists():
            continue
        res = py["results"][task]
        ours = pd.DataFrame({"treated_id": ids[res.treated], "control_id": ids[res.control]})
        theirs = pd.read_csv(pairs_file)
        ours, theirs = (p.sort_values("treated_id").reset_index(drop=True) for p in (ours, theirs))
        same = len(ours) == len(theirs) and (ours.to_numpy() == theirs.to_numpy()).all()
        differing = len(set(map(tuple, ours.to_numpy())) ^ set(map(tuple, theirs.to_numpy())))
        agreement[task] = f"pairs identical ({len(ours):,})" if same else \
            f"PAIRS DIFFER: {differing} not in both ({len(ours):,} vs {len(theirs):,})"
    for ties in ("efron", "breslow"):
        fit = py["results"][f"cox_{ties}"]
        ref = pd.read_csv(out_dir / f"cox_{ties}.csv")
        rel_coef = np.max(np.abs(fit.params.to_numpy() / ref["coef"].to_numpy() - 1))
        rel_se = np.max(np.abs(fit.se.to_numpy() / ref["se"].to_numpy() - 1))
        agreement[f"cox_{ties}"] = f"coef rel diff {rel_coef:.1e}, SE {rel_se:.1e}"
    curves, lr = py["results"]["km_logrank"]
    km_ref = pd.read_csv(out_dir / "km.csv").set_index("group")
    medians_equal = all(
        np.allclose([curves[g].median, curves[g].median_lower, curves[g].median_upper],
                    km_ref.loc[g, ["median", "lower", "upper"]].to_numpy(float), rtol=0, atol=0, equal_nan=True)
        for g in ARMS)
    chisq_ref = float(pd.read_csv(out_dir / "logrank.csv")["chisq"].iloc[0])
    agreement["km_logrank"] = (f"medians+CI {'equal' if medians_equal else 'DIFFER'}, "
                               f"chisq rel diff {abs(lr.chisq / chisq_ref - 1):.1e}")
    agreement["propensity"] = f"max |ps - R| {float(r.get('ps.max_abs_diff_vs_python', np.nan)):.1e}"
    return agreement


# ---- the whole pipeline ---------------------------------------------------------------------------

class TreeMemory:
    """Samples the resident memory of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_total = self.peak_single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            sizes = []
            for p in tree:
                try:
                    sizes.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            self.peak_total = max(self.peak_total, sum(sizes))
            self.peak_single = max([self.peak_single, *sizes])
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process and its waited-for descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pipeline_study(source: str, n: int, folder: Path) -> tuple[Path, str]:
    """Write the cohort and a study file for the pipeline run; returns (study file, source used)."""
    if source == "her2_rt":
        cohorts.write_her2_rt(folder, n)  # the export and its course table
    else:
        cohorts.gbsg2_like(n).to_csv(folder / "data.csv", index=False, lineterminator="\n")
    make = cohorts.her2_rt_study_file if source == "her2_rt" else cohorts.gbsg2_study_file
    return make(folder, "data.csv"), source


def run_pipeline(study_file: Path | None, out: Path) -> dict:
    """``python -m mbcrt run --config study --out out`` as ./run_all.sh runs it; time, memory, step times.
    Without a study file, the bundled run (``python -m mbcrt run --out out``: every bundled study)."""
    log = out.parent / "pipeline.log"
    cpu_before = _children_cpu()
    start = time.perf_counter()
    config = ["--config", str(study_file)] if study_file is not None else []
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mbcrt", "run", *config, "--out", str(out)],
                                stdout=sink, stderr=subprocess.STDOUT)
        with TreeMemory(proc.pid) as memory:
            code = proc.wait()
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    text = log.read_text(errors="replace")
    if code != 0:
        raise RuntimeError(f"pipeline failed (exit {code}):\n{text[-3000:]}")
    steps = {}
    for line in text.splitlines():
        if "done in" in line and ".ipynb" in line:
            name = line.split("]")[1].split()[0]
            if study_file is None:  # several studies: keep them apart
                name = f"{line.split(']')[0].lstrip('[')}/{name}"
            steps[name] = float(line.rsplit("done in", 1)[1].split()[0])
    svgs = sorted(out.rglob("*.svg"), key=lambda p: p.stat().st_size)
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_tree_MB": memory.peak_total / 2**20,
            "peak_process_MB": memory.peak_single / 2**20, "steps": steps,
            "largest_svg": f"{svgs[-1].name} {svgs[-1].stat().st_size / 2**20:.2f} MB" if svgs else ""}


# ---- report ---------------------------------------------------------------------------------------

TASK_LABELS = {
    "propensity": ("propensity score (logistic, 8 columns)", "time.propensity_glm"),
    "match_nocaliper": ("matching 1:1, no caliper", "time.matchit_nocaliper"),
    "match_caliper": ("matching 1:1, caliper 0.2 SD of the score", "time.matchit_caliper02"),
    "match_caliper_logit": ("matching 1:1, caliper 0.2 SD of the logit (pipeline default)", None),
    "cox_efron": ("Cox, 9 coefficients, Efron", "time.coxph_efron"),
    "cox_breslow": ("Cox, 9 coefficients, Breslow", "time.coxph_breslow"),
    "km_logrank": ("KM by arm + log-rank", "time.km_logrank"),
}


def result_rows(n: int, py: dict | None, r: dict | None, agreement: dict, pipelines: list[dict]) -> list[dict]:
    rows = []
    for task, (label, r_key) in (TASK_LABELS.items() if py is not None else ()):
        t_py = py["times"][task]
        t_r = r.get(r_key) if r and r_key else None
        note = agreement.get(task, "")
        rows.append({"n": n, "task": label, "python_s": t_py, "peak_MB": py["peaks"].get(task, np.nan),
                     "r_s": t_r if isinstance(t_r, float) else np.nan,
                     "r_over_python": t_r / t_py if isinstance(t_r, float) else np.nan, "agreement": note})
    for pipeline in pipelines:
        rows.append({"n": n, "task": f"whole pipeline ({pipeline['source']}, {len(pipeline['steps'])} notebooks)",
                     "python_s": pipeline["seconds"], "peak_MB": pipeline["peak_tree_MB"], "r_s": np.nan,
                     "r_over_python": np.nan,
                     "agreement": f"CPU {pipeline['cpu_seconds']:.0f} s; max single process "
                                  f"{pipeline['peak_process_MB']:.0f} MB; largest SVG {pipeline['largest_svg']}"})
    return rows


def markdown(table: pd.DataFrame) -> str:
    def fmt(v, digits):
        return "" if pd.isna(v) else f"{v:,.{digits}f}"

    lines = ["| n | task | Python (s) | peak (MB) | R (s) | R / Python | agreement / note |",
             "|---:|---|---:|---:|---:|---:|---|"]
    for r in table.itertuples(index=False):
        n = f"{r.n:,}" if r.n else ""  # 0: the bundled run, studies of their own sizes
        lines.append(f"| {n} | {r.task} | {fmt(r.python_s, 3)} | {fmt(r.peak_MB, 0)} | {fmt(r.r_s, 3)} | "
                     f"{fmt(r.r_over_python, 1)} | {r.agreement} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {psutil.cpu_count(logical=True)} logical CPUs, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per task (Python and R)")
    parser.add_argument("--with-r", action="store_true", help="also run the same work in R (needs Rscript)")
    parser.add_argument("--r-matchit-max", type=int, default=100_000,
                        help="run MatchIt only up to this n (it is quadratic)")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the whole-pipeline runs")
    parser.add_argument("--pipeline-sizes", type=int, nargs="+", default=None,
                        help="sizes for the whole pipeline (default: --sizes)")
    parser.add_argument("--source", choices=("auto", "her2_rt", "gbsg2"), nargs="+", default=["auto"],
                        help="cohort(s) for the whole pipeline (auto: HER2 RT generator if installed, else GBSG2-like)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--no-components", action="store_true",
                        help="only the whole-pipeline runs (no propensity, matching, Cox, KM rows, no R)")
    parser.add_argument("--bundled", action="store_true",
                        help="also time the bundled run (python -m mbcrt run: every bundled study, default --jobs)")
    parser.add_argument("--results", type=Path, default=None, help="also write the table as CSV here")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    have_r = r_available() if args.with_r else {"survival": False, "MatchIt": False}
    if args.with_r:
        print(f"R: survival {'yes' if have_r['survival'] else 'NOT installed'}, "
              f"MatchIt {'yes' if have_r['MatchIt'] else 'NOT installed'}")
    start = time.perf_counter()
    match_nearest([0.2, 0.4, 0.6], [1, 0, 0])
    print(f"numba compilation of the matcher (once per process): {time.perf_counter() - start:.2f} s", flush=True)
    if args.no_components:
        have_r = {"survival": False, "MatchIt": False}

    rows, loads, r_versions = [], [], {}
    if args.bundled:
        with tempfile.TemporaryDirectory(prefix="mbcrt-bench-") as tmp:
            bundled = run_pipeline(None, Path(tmp) / "out")
        print(f"\n== bundled run {bundled['seconds']:.1f} s, CPU {bundled['cpu_seconds']:.0f} s, "
              f"peak {bundled['peak_tree_MB']:.0f} MB (tree), steps {bundled['steps']}", flush=True)
        bundled["source"] = "bundled studies"
        rows += result_rows(0, None, None, {}, [bundled])
        loads.append(f"{os.getloadavg()[0]:.1f} after the bundled run")
    pipeline_sizes = [] if args.no_pipeline else (args.pipeline_sizes or args.sizes)
    auto = "her2_rt" if cohorts.her2_rt_available() else "gbsg2"
    sources = list(dict.fromkeys(auto if s == "auto" else s for s in args.source))
    for n in args.sizes:
        print(f"\n== n = {n:,}", flush=True)
        with tempfile.TemporaryDirectory(prefix="mbcrt-bench-") as tmp:
            folder = Path(tmp)
            py, r, agreement = None, None, {}
            if not args.no_components:
                frame = cohorts.gbsg2_like(n)
                py, d, ps = run_python(frame, args.repeat, memory=not args.no_memory)
                if have_r["survival"]:
                    r = run_r(frame, ps, folder, matchit=have_r["MatchIt"] and n <= args.r_matchit_max,
                              repeat=args.repeat)
                    agreement = compare_with_r(frame, py, r)
                    r_versions.update({k: v for k, v in r.items() if k.startswith("version.")})
                    for key, value in agreement.items():
                        print(f"    agree  {key:<16} {value}")
                del py["results"], d
            pipelines = []
            for source in (sources if n in pipeline_sizes else []):
                work = folder / f"pipeline_{source}"
                work.mkdir()
                study_file, source = pipeline_study(source, n, work)
                pipeline = run_pipeline(study_file, work / "out")
                pipeline["source"] = source
                pipelines.append(pipeline)
                print(f"    pipeline ({source}) {pipeline['seconds']:.1f} s, CPU {pipeline['cpu_seconds']:.0f} s, "
                      f"peak {pipeline['peak_tree_MB']:.0f} MB (tree), steps {pipeline['steps']}", flush=True)
                shutil.rmtree(work, ignore_errors=True)
            rows += result_rows(n, py, r, agreement, pipelines)
            loads.append(f"{os.getloadavg()[0]:.1f} after n = {n:,}")
    table = pd.DataFrame(rows)
    print(f"\nmachine: {machine()}")
    if r_versions:
        print("R: " + ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in r_versions.items()))
    print(f"load average (1 min) during the runs: {', '.join(loads)}")
    print(markdown(table))
    if args.results:
        table.to_csv(args.results, index=False)


if __name__ == "__main__":
    main()
