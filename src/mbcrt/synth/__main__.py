"""``python -m mbcrt.synth <study> [--n N] [--seed S] [--out PATH]``: write a synthetic cohort as CSV.

Without options the module's default cohort is (re)written to ``data/synthetic/<study>.csv`` through its
``write()``, byte for byte what the project ships. With ``--n`` or ``--seed`` the cohort differs from the
shipped one, so ``--out`` is required (the shipped file is never silently replaced by a variant).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from mbcrt.synth import available, load_generator


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mbcrt.synth",
                                description="Write a seeded synthetic cohort as CSV.")
    p.add_argument("study", help=f"generator name ({', '.join(available())})")
    p.add_argument("--n", type=int, default=None, help="number of patients (default: the paper's size)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the module's own)")
    p.add_argument("--out", type=Path, default=None,
                   help="output CSV (default: data/synthetic/<study>.csv; required with --n or --seed)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        module = load_generator(args.study)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = {k: v for k, v in (("n", args.n), ("seed", args.seed)) if v is not None}
    if options and args.out is None:
        print("error: --n/--seed make a cohort that differs from the shipped one; give --out", file=sys.stderr)
        return 2
    accepted = inspect.signature(module.write).parameters
    if all(k in accepted for k in options):
        path = module.write(args.out, **options)
    else:  # the module's write() only writes its default cohort: generate, then write plainly
        frame = module.generate(**options)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out, index=False, lineterminator="\n")
        path = args.out
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
