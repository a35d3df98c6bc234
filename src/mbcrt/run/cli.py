"""Command line: ``python -m mbcrt run [--study NAME ...] [--config FILE] [--set key=value ...]``.

Exit codes: 0 success; 1 a step failed (a bug or the environment); 2 bad command line;
3 the study file or the data break a rule (the message says which file, column and rule);
4 the study is being run by another run right now (the message names it; nothing was done).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from mbcrt import paths
from mbcrt.errors import EXIT_BUSY, EXIT_FAILURE, EXIT_INPUT, EXIT_OK, EXIT_USAGE, InputError, RunBusy


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mbcrt", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run studies end to end and render their reports")
    run.add_argument("--study", action="append", default=[], metavar="NAME",
                     help="a bundled study (folder under studies/); repeat for several; default: all")
    run.add_argument("--config", action="append", default=[], metavar="FILE",
                     help="a study file of your own (YAML); repeat for several")
    run.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                     help="override a study-file value for this run, e.g. matching.caliper=0.1")
    run.add_argument("--out", metavar="DIR", default=None,
                     help="write tables/, figures/, build/ and reports/ under DIR instead of the project")
    run.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                     help="studies run at once (default: up to 2)")
    sub.add_parser("list", help="list the bundled studies")
    return p


def _progress(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    from mbcrt.run import pipeline

    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    bundled = {f.parent.name: f for f in pipeline.bundled_studies()}
    if args.command == "list":
        for name in bundled:
            print(name)
        return EXIT_OK
    files = []
    for name in args.study:
        if name not in bundled:
            print(f"mbcrt: no bundled study '{name}' (have: {', '.join(bundled)})", file=sys.stderr)
            return EXIT_USAGE
        files.append(bundled[name])
    files += [paths.resolve(c, Path.cwd()) for c in args.config]
    files = files or list(bundled.values())
    t0 = time.perf_counter()
    root = paths.resolve(args.out, Path.cwd()) if args.out else paths.PROJECT_ROOT
    try:
        pipeline.run_many(files, args.overrides, progress=_progress, root=root, jobs=max(1, args.jobs))
    except InputError as exc:
        print(f"mbcrt: input error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except pipeline.RunFailed as exc:
        for failure in exc.failures:
            if isinstance(failure, RunBusy):
                print(f"mbcrt: busy: {failure}", file=sys.stderr)
                continue
            input_error = isinstance(failure, InputError) or failure.is_input_error
            print(f"mbcrt: {'input error' if input_error else 'step failed'}: {failure}", file=sys.stderr)
            if isinstance(failure, pipeline.StepFailed):
                failed = root / "reports" / failure.study / "failed"
                print(f"mbcrt: the failed notebook's HTML is in {failed}; earlier results of "
                      f"'{failure.study}' are unchanged.", file=sys.stderr)
        if exc.busy_only:
            return EXIT_BUSY
        return EXIT_INPUT if exc.input_errors_only else EXIT_FAILURE
    except KeyboardInterrupt:
        print("mbcrt: interrupted; earlier results are unchanged.", file=sys.stderr)
        return 130
    index = root / "reports" / "index.html"
    shown = index.relative_to(paths.PROJECT_ROOT) if index.is_relative_to(paths.PROJECT_ROOT) else index
    print(f"mbcrt: done in {time.perf_counter() - t0:.1f} s; open {shown}", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
