"""The reproduction ledger: every published number beside the reproduced one, with a status.

``published.yaml`` lists claims; each names where its reproduced value lives with a *locator*
``table[col=value, ...].column`` into the study's tables, a tolerance and a kind of check:

- ``value`` (default): ``|reproduced - published| <= tolerance`` (``exact: true`` for counts,
  ``rel_tolerance`` for relative ones; ``multiply`` scales the reproduced value, e.g. 100 for %).
- ``pvalue``: "<0.0001"-style bounds must hold; other p-values within a factor of 1.5 and on the
  published side of 0.05.
- ``side``: on the published side of 0.05 (``alpha`` to change it).
- ``significance``: "significant" / "not significant" at 0.05.
- ``not_reached``: the published value is not reached (R prints NA): the reproduced one must be missing too.

A claim marked ``inconsistent`` (the paper contradicts itself) gets the status
"inconsistent in source"; it is then compared with ``score_against`` (what can be inferred), and
the note says whether that agrees.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import yaml

from mbcrt.errors import InputError

STATUSES = ("reproduced", "not reproduced", "inconsistent in source")
COLUMNS = ["claim_id", "quantity", "published", "reproduced", "difference", "tolerance", "status", "source", "note"]
_LOCATOR = re.compile(r"^\s*(?P<table>[\w-]+)\s*(?:\[(?P<filters>[^\]]*)\])?\s*\.\s*(?P<column>[^\[\]]+?)\s*$")


def load_claims(path: Path) -> tuple[dict, list[dict]]:
    """Read ``published.yaml``; check ids are unique and each claim has what it needs."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    claims = doc.get("claims") or []
    seen = set()
    for c in claims:
        for key in ("id", "quantity", "published", "value"):
            if key not in c:
                raise InputError(f"claim {c.get('id', '?')} lacks '{key}'", file=Path(path).name)
        if c["id"] in seen:
            raise InputError(f"duplicate claim id '{c['id']}'", file=Path(path).name)
        seen.add(c["id"])
    return doc, claims


def parse_locator(locator: str) -> tuple[str, dict[str, str], str]:
    """Split ``table[a=x, b=y].column`` into its parts."""
    m = _LOCATOR.match(locator)
    if not m:
        raise InputError(f"bad locator '{locator}' (expected table[col=value, ...].column)")
    filters = {}
    for part in filter(None, (p.strip() for p in (m["filters"] or "").split(","))):
        key, _, val = part.partition("=")
        filters[key.strip()] = val.strip()
    return m["table"], filters, m["column"]


def locate(locator: str, tables_dir: Path, cache: dict | None = None) -> float | str | None:
    """The value a locator points at, or None when the table, row or column is not there."""
    table, filters, column = parse_locator(locator)
    cache = {} if cache is None else cache
    if table not in cache:
        path = tables_dir / f"{table}.csv"
        cache[table] = pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None
    df = cache[table]
    if df is None or column not in df.columns or any(k not in df.columns for k in filters):
        return None
    mask = pd.Series(True, index=df.index)
    for key, val in filters.items():
        mask &= df[key].str.strip() == val
    values = df.loc[mask, column].tolist()
    if len(values) != 1:
        return None  # no row, or an ambiguous locator: never guess which row was meant
    value = values[0]
    if value == "":
        return math.nan  # the row is there, the value is missing (e.g. a median not reached)
    try:
        return float(value)
    except ValueError:
        return value


def _bound(text) -> tuple[str, float] | None:
    m = re.match(r"^\s*([<>]=?)\s*([0-9.eE+-]+)\s*$", str(text))
    return (m[1], float(m[2])) if m else None


def score(claim: dict, reproduced) -> tuple[str, str, str, str]:
    """Compare one claim with its reproduced value.

    Returns
    -------
    status, difference, tolerance, note : str
    """
    if claim.get("check") == "not_reached":
        ok = isinstance(reproduced, float) and math.isnan(reproduced)
        return ("reproduced" if ok else "not reproduced"), "", "not reached", claim.get("note", "")
    if reproduced is None:
        return "not reproduced", "", _tolerance_text(claim), "no single row of the tables matches the locator"
    if isinstance(reproduced, float) and math.isnan(reproduced):
        return "not reproduced", "", _tolerance_text(claim), "not estimable in this run (e.g. not reached)"
    if isinstance(reproduced, str):
        return "not reproduced", "", _tolerance_text(claim), f"reproduced value is not a number: {reproduced}"
    rep = reproduced * claim.get("multiply", 1)
    target = claim.get("score_against", claim["published"])
    ok, diff = _check(claim, target, rep)
    note = claim.get("note", "")
    status = "reproduced" if ok else "not reproduced"
    if claim.get("inconsistent"):
        verdict = "agrees" if ok else "does not agree"
        inferred = f" with the inferred value {target}" if "score_against" in claim else ""
        note = f"{claim['inconsistent']}. Reproduced value {verdict}{inferred}." + (f" {note}" if note else "")
        status = "inconsistent in source"
    return status, diff, _tolerance_text(claim), note


def _check(claim: dict, target, rep: float) -> tuple[bool, str]:
    kind = claim.get("check", "value")
    alpha = claim.get("alpha", 0.05)
    if kind == "value":
        target = float(target)
        diff = rep - target
        if claim.get("exact"):
            return rep == target, _fmt(diff)
        if "rel_tolerance" in claim:
            return abs(diff) <= claim["rel_tolerance"] * abs(target), _fmt(diff)
        return abs(diff) <= claim.get("tolerance", 0) + 1e-12, _fmt(diff)
    if kind == "pvalue":
        bound = _bound(target)
        if bound:
            op, b = bound
            ok = {"<": rep < b, "<=": rep <= b, ">": rep > b, ">=": rep >= b}[op]
            return ok, ""
        t = float(target)
        factor = claim.get("factor", 1.5)
        same_side = (rep < alpha) == (t < alpha)
        return (t / factor <= rep <= t * factor) and same_side, f"x{rep / t:.2f}" if t else ""
    if kind == "side":
        bound = _bound(target)
        t = bound[1] if bound else float(target)
        return (rep < alpha) == (t < alpha), ""
    if kind == "significance":
        want = str(target).strip().lower() == "significant"
        return (rep < alpha) == want, ""
    raise InputError(f"claim {claim['id']}: unknown check '{kind}'")


def _tolerance_text(claim: dict) -> str:
    kind = claim.get("check", "value")
    if kind == "pvalue":
        return "bound" if _bound(claim.get("score_against", claim["published"])) else \
            f"factor {claim.get('factor', 1.5)}, same side of {claim.get('alpha', 0.05)}"
    if kind == "side":
        return f"same side of {claim.get('alpha', 0.05)}"
    if kind == "significance":
        return f"p vs {claim.get('alpha', 0.05)}"
    if claim.get("exact"):
        return "exact"
    if "rel_tolerance" in claim:
        return f"relative {claim['rel_tolerance']:g}"
    return f"{claim.get('tolerance', 0):g}"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def reproduction_table(published: Path, tables_dir: Path) -> pd.DataFrame:
    """Score every claim of ``published`` against the tables in ``tables_dir``."""
    _, claims = load_claims(published)
    cache: dict = {}
    rows = []
    for c in claims:
        rep = locate(c["value"], tables_dir, cache)
        status, diff, tol, note = score(c, rep)
        shown = "" if rep is None else ("not reached" if isinstance(rep, float) and math.isnan(rep) else
                                        f"{rep * c.get('multiply', 1):.6g}" if isinstance(rep, float) else rep)
        rows.append({"claim_id": c["id"], "quantity": c["quantity"], "published": str(c["published"]),
                     "reproduced": shown, "difference": diff, "tolerance": tol, "status": status,
                     "source": c.get("location", ""), "note": note})
    return pd.DataFrame(rows, columns=COLUMNS)
