"""Where the pipeline spends its time: each notebook step's code run in this process under cProfile.

Run from the project root:

    .venv/bin/python benchmarks/profile_pipeline.py --n 1000000 [--source gbsg2|her2_rt] [--top 25]
    .venv/bin/python benchmarks/profile_pipeline.py --config path/to/study.yaml
    .venv/bin/python benchmarks/profile_pipeline.py --n 1000000 --no-profile   # true cell times

The notebooks' code cells are executed in order, as papermill would, but in this process and without
a kernel or HTML rendering, so the profile shows the package's own functions. For each step it prints
the wall time of every cell and the functions with the largest cumulative and own time; with
``--dump DIR`` it also writes one ``.prof`` file per step (open with ``python -m pstats`` or snakeviz).
The whole-pipeline time as ``./run_all.sh`` sees it (kernels, rendering) is in ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cohorts  # noqa: E402  (benchmarks/cohorts.py, beside this script)

from mbcrt import paths  # noqa: E402
from mbcrt.study.config import load_study  # noqa: E402


def code_cells(notebook: Path) -> list[str]:
    """The notebook's code cells, without the parameters cell (its values are set by the caller)."""
    nb = nbformat.read(notebook, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def profile_step(notebook: Path, study_file: Path, out_root: Path, top: int, dump: Path | None,
                 profile: bool = True) -> float:
    """Run one notebook's cells (under cProfile unless ``profile`` is False); print per-cell times and,
    when profiling, the top functions. cProfile slows pandas-heavy code by up to a third: take cell
    times from a run with ``profile=False`` and the split between functions from a profiled one."""
    namespace = {"study_file": str(study_file), "overrides": "[]", "out_root": str(out_root),
                 "__name__": "__main__"}
    profiler = cProfile.Profile() if profile else None
    total = 0.0
    print(f"\n=== {notebook.name}", flush=True)
    for i, source in enumerate(code_cells(notebook), start=1):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # display() output outside a kernel: noise
            if profiler:
                profiler.enable()
            exec(compile(source, f"<{notebook.stem} cell {i}>", "exec"), namespace)
            if profiler:
                profiler.disable()
        elapsed = time.perf_counter() - start
        total += elapsed
        first_line = next((line for line in source.splitlines() if line and not line.startswith(("#", "from",
                                                                                                  "import"))), "")
        print(f"  cell {i}: {elapsed:7.2f} s   {first_line[:90]}", flush=True)
    import matplotlib.pyplot as plt

    plt.close("all")
    print(f"  step total {total:.2f} s, max RSS so far {max_rss_mb():.0f} MB")
    if profiler is None:
        return total
    stats = pstats.Stats(profiler, stream=sys.stdout)
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        stats.dump_stats(dump / f"{notebook.stem}.prof")
    stats.sort_stats("cumulative").print_stats(r"mbcrt|pandas/io|matplotlib/backends|scipy", top)
    stats.sort_stats("tottime").print_stats(top)
    return total


def prepare_study(source: str, n: int, folder: Path) -> Path:
    """Write an ``n``-patient cohort and its study file into ``folder``."""
    start = time.perf_counter()
    if source == "her2_rt":
        cohorts.write_her2_rt(folder, n)  # the export and its course table
    else:
        cohorts.gbsg2_like(n).to_csv(folder / "data.csv", index=False, lineterminator="\n")
    make = cohorts.her2_rt_study_file if source == "her2_rt" else cohorts.gbsg2_study_file
    study_file = make(folder, "data.csv")
    print(f"{source} cohort of {n:,} patients written in {time.perf_counter() - start:.1f} s")
    return study_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--source", choices=("gbsg2", "her2_rt"), default="gbsg2")
    parser.add_argument("--config", type=Path, default=None, help="profile this study file instead")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", type=Path, default=None, help="write one .prof file per step here")
    parser.add_argument("--no-profile", action="store_true", help="cell times only, without cProfile's overhead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mbcrt-profile-") as tmp:
        folder = Path(tmp)
        study_file = args.config.resolve() if args.config else prepare_study(args.source, args.n, folder)
        study = load_study(study_file)
        totals = {}
        for step, notebook in study.notebooks():
            totals[step] = profile_step(paths.NOTEBOOKS_DIR / notebook, study_file, folder / "out", args.top,
                                        args.dump, profile=not args.no_profile)
        print("\nseconds per step (in process, no kernel or rendering):")
        print(json.dumps({k: round(v, 2) for k, v in totals.items()}, indent=1))
        print(f"total {sum(totals.values()):.1f} s; max RSS {max_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
