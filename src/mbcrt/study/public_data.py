"""Real public data bundled with the package: GBSG2 (German Breast Cancer Study Group 2).

686 women with node-positive breast cancer, hormone therapy yes/no, recurrence-free survival in
days (Schumacher et al., J Clin Oncol 1994). lifelines ships it; this module writes it to
``data/public/gbsg2.csv`` with a row ``id`` 1..686 in R's row order (``TH.data::GBSG2``), so the
package's results can be checked against R's on identical input.

Usage: ``python -m mbcrt.study.public_data``
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mbcrt import paths

GBSG2_COLUMNS = ["id", "horTh", "age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec",
                 "time", "cens"]


def gbsg2() -> pd.DataFrame:
    """GBSG2 as lifelines ships it, with a leading ``id`` column (1..686)."""
    from lifelines.datasets import load_gbsg2

    df = load_gbsg2()
    df.insert(0, "id", range(1, len(df) + 1))
    return df[GBSG2_COLUMNS]


def write_gbsg2(path: Path | None = None) -> Path:
    """Write GBSG2 to ``data/public/gbsg2.csv`` (or ``path``) and return the path."""
    path = path or paths.PUBLIC_DIR / "gbsg2.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    gbsg2().to_csv(path, index=False, lineterminator="\n")
    return path


if __name__ == "__main__":
    print(paths.relative(write_gbsg2()))
