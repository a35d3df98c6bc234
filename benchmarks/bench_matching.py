"""Time and memory of 1:1 nearest-neighbour matching (and the propensity model) as the cohort grows.

Run from the project root:  .venv/bin/python benchmarks/bench_matching.py [--sizes 10000 100000 1000000]

Each task is timed without tracing (best of ``--repeat`` runs; wall clock and CPU time of the
process, which differ when the machine is busy), then run once more under tracemalloc for the peak
of Python/numpy allocations (numba's own arrays, about 2 x 8 bytes per control, are not traced).
``max_rss_MB`` is the process's resident-memory high-water mark so far (data included).
Data: about 40% treated, propensity scores from a seeded logistic model.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from mbcrt.stats.matching import match_nearest, propensity_score

N_COVARIATES = 12


def make_cohort(n: int, seed: int = 20240101) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Covariates, treatment (about 40% treated) and a true propensity score."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, N_COVARIATES)), columns=[f"x{j}" for j in range(N_COVARIATES)])
    coefficients = rng.normal(scale=0.3, size=N_COVARIATES)
    true_ps = 1 / (1 + np.exp(-(np.log(0.4 / 0.6) + X.to_numpy() @ coefficients)))
    treat = rng.random(n) < true_ps
    return X, treat, true_ps


def timed(function, repeat: int) -> tuple[float, float, float]:
    """(best wall time in s, best CPU time in s, tracemalloc peak in MB of one more run)."""
    best_wall = best_cpu = np.inf
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best_wall, best_cpu, peak / 2**20


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    match_nearest([0.2, 0.4, 0.6], [1, 0, 0])  # compile the numba kernel once
    print(f"numba compilation (first call): {time.perf_counter() - start:.2f} s\n")

    rows = []
    for n in args.sizes:
        X, treat, ps = make_cohort(n)
        for label, function in [
            ("match, caliper 0.2 logit", lambda: match_nearest(ps, treat, caliper=0.2)),
            ("match, no caliper", lambda: match_nearest(ps, treat, caliper=None)),
            (f"propensity_score ({N_COVARIATES} covariates)", lambda: propensity_score(X, treat)),
        ]:
            wall, cpu, peak_mb = timed(function, args.repeat)
            rows.append({"n": n, "treated": int(treat.sum()), "task": label, "wall_s": round(wall, 3),
                         "cpu_s": round(cpu, 3), "peak_traced_MB": round(peak_mb, 1),
                         "max_rss_MB": round(max_rss_mb())})
            print(f"{n:>9,}  {label:<32} {wall:7.3f} s wall {cpu:7.3f} s cpu {peak_mb:8.1f} MB", flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
