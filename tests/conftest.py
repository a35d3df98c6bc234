"""Shared test data: GBSG2 as R has it, and the matched samples MatchIt made from it."""

from pathlib import Path

import pandas as pd

from mbcrt.paths import PUBLIC_DIR

DATA = Path(__file__).parent / "data"


def gbsg2() -> pd.DataFrame:
    """GBSG2 (686 rows, R's row order, ``id`` 1..686)."""
    return pd.read_csv(PUBLIC_DIR / "gbsg2.csv")


def gbsg2_matched(setting: str = "nocaliper") -> pd.DataFrame:
    """The rows MatchIt 4.5.5 matched with ``setting`` (tests/data/gbsg2_pairs_<setting>.csv), data order."""
    pairs = pd.read_csv(DATA / f"gbsg2_pairs_{setting}.csv").dropna()
    d = gbsg2()
    return d[d["id"].isin(pd.concat([pairs["treated_id"], pairs["control_id"]]))]
