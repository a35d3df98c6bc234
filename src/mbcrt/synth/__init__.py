"""Seeded generators of the synthetic cohorts the bundled studies run on.

The individual patient data of the reproduced papers is not public, so each bundled study ships a
synthetic cohort (``data/synthetic/<study>.csv``) made by a module of this package,
``mbcrt.synth.<study>``. Every such module provides

``generate(n=None, seed=...) -> pandas.DataFrame``
    The raw export, one row per patient (or per course), seeded and deterministic; ``n=None`` gives the
    size that reproduces the paper.
``write(path=None) -> pathlib.Path``
    Write the default cohort (to ``data/synthetic/<study>.csv`` when ``path`` is None).

Run one from the command line with ``python -m mbcrt.synth <study> [--n N] [--seed S] [--out PATH]``.
Synthetic data is never a substitute for the paper's patients: every report made from it says so.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["available", "load_generator"]


def available() -> list[str]:
    """Names of the generator modules shipped in this package (sorted)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load_generator(name: str) -> ModuleType:
    """Import ``mbcrt.synth.<name>`` by name.

    Raises
    ------
    ValueError
        No such generator (the message lists the available ones).
    """
    names = available()
    if name not in names:
        raise ValueError(f"no synthetic generator '{name}'; available: {', '.join(names) or 'none'}")
    return importlib.import_module(f"{__name__}.{name}")
