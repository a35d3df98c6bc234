"""Large cohorts for the benchmarks, and study files pointing at them.

Two sources:

``gbsg2_like(n)``
    GBSG2 (data/public/gbsg2.csv, 686 patients) resampled with replacement to ``n`` rows, with small
    seeded jitter on the continuous columns so that times and covariates are not 686 repeated
    values. Ties in time still occur (times are whole days), as in registry data. Used when no
    larger generator is available, and for the R comparison (R reads the same CSV).
``her2_rt(n)``
    The HER2 RT synthetic generator (``mbcrt.synth.her2_rt.generate(n=...)``), when it is installed,
    with its own study file ``studies/her2_rt/study.yaml`` re-pointed at the big CSV.

Everything is seeded: the same ``n`` gives the same bytes.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mbcrt import paths

SEED = 20240101

GBSG2_COVARIATES = ["age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]


def gbsg2_like(n: int, seed: int = SEED) -> pd.DataFrame:
    """GBSG2 resampled to ``n`` patients with seeded jitter (same columns and codes as gbsg2.csv).

    Parameters
    ----------
    n : int
        Number of patients.
    seed : int
        Seed of the resampling and the jitter.

    Returns
    -------
    DataFrame
        Columns ``id, horTh, age, menostat, tsize, tgrade, pnodes, progrec, estrec, time, cens``;
        ``id`` is 1..n, every numeric column an integer as in the source.
    """
    source = pd.read_csv(paths.PUBLIC_DIR / "gbsg2.csv")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(source), size=n)
    out = source.iloc[rows].reset_index(drop=True)
    out["id"] = np.arange(1, n + 1)
    # Integer jitter keeps the values plausible and the types as in the source.
    out["age"] = np.clip(out["age"] + rng.integers(-2, 3, n), 21, 80)
    out["tsize"] = np.clip(out["tsize"] + rng.integers(-3, 4, n), 3, 120)
    out["pnodes"] = np.clip(out["pnodes"] + rng.integers(-1, 2, n), 1, 51)
    out["progrec"] = np.maximum(out["progrec"] + rng.integers(-5, 6, n), 0)
    out["estrec"] = np.maximum(out["estrec"] + rng.integers(-5, 6, n), 0)
    out["time"] = np.maximum(out["time"] + rng.integers(-30, 31, n), 1)
    return out


def gbsg2_study_file(folder: Path, csv_name: str, name: str = "gbsg2_scale") -> Path:
    """Write a study file for a GBSG2-like CSV in ``folder``: the bundled GBSG2 study without its
    published numbers (they are for 686 patients) and without the reproduction step."""
    config = yaml.safe_load((paths.STUDIES_DIR / "gbsg2" / "study.yaml").read_text(encoding="utf-8"))
    config.update(name=name, title=f"GBSG2 resampled (benchmark, {name})", data=csv_name, synthetic=True,
                  synthetic_note="GBSG2 resampled with replacement and jittered, for timing only.")
    config.pop("published", None)
    config["steps"] = [s for s in config["steps"] if s != "reproduction"]
    return _write(folder, config)


def her2_rt_available() -> bool:
    """True when the HER2 RT generator and its study file exist."""
    try:
        from mbcrt.synth import her2_rt  # noqa: F401
    except Exception:  # noqa: BLE001 - half-finished module: fall back to GBSG2-like data
        return False
    return (paths.STUDIES_DIR / "her2_rt" / "study.yaml").exists()


def her2_rt(n: int) -> pd.DataFrame:
    """The HER2 RT synthetic export with ``n`` patients (the generator's own seed)."""
    from mbcrt.synth import her2_rt as generator

    return generator.generate(n=n)


def write_her2_rt(folder: Path, n: int, csv_name: str = "data.csv") -> Path:
    """Write the HER2 RT export with ``n`` patients and its course table beside it (``<stem>_courses.csv``)."""
    from mbcrt.synth import her2_rt as generator

    folder.mkdir(parents=True, exist_ok=True)
    return generator.write(folder / csv_name, n=n)


def her2_rt_study_file(folder: Path, csv_name: str, name: str = "her2_rt_scale") -> Path:
    """The bundled HER2 RT study file re-pointed at ``csv_name`` in ``folder``, without published
    numbers (they are for the paper's size) and without the reproduction step."""
    config = yaml.safe_load((paths.STUDIES_DIR / "her2_rt" / "study.yaml").read_text(encoding="utf-8"))
    config = copy.deepcopy(config)
    config.update(name=name, data=csv_name)
    for table in (config.get("linked") or {}).values():  # the course table written beside the export
        table["data"] = f"{Path(csv_name).stem}_courses.csv"
    config.pop("published", None)
    config["steps"] = [s for s in config["steps"] if s != "reproduction"]
    return _write(folder, config)


def _write(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
