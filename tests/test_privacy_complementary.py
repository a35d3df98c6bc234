"""No blanked count can be worked out from what is shown.

Checked independently of the suppression code: for seeded random tables, the arithmetic a reader
can do is written out here (arms add up to "All", levels to the cohort, attrition steps to the
previous step, the analysis cohort's size printed elsewhere), and a linear programme finds the smallest
and largest value every blank count could take given the shown ones. A blank whose smallest and
largest possible values coincide is revealed.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from mbcrt.report.privacy import suppress

M = 5
RNG_SEED = 20240101


def counts(rng, size, small_share=0.4):
    """Counts where about ``small_share`` are 1-4 and the others 5-60."""
    small = rng.random(size) < small_share
    return np.where(small, rng.integers(1, 5, size), rng.integers(5, 61, size))


def bounds_of_blanks(true: dict, shown: dict, equations: list[tuple[dict, float]]):
    """(cell, min, max) of every blank cell over non-negative solutions of ``equations``.

    ``equations`` are (coefficients by cell, right-hand side) over the true values; shown cells are
    fixed to their values.
    """
    blanks = [c for c in true if c not in shown]
    if not blanks:
        return []
    pos = {c: j for j, c in enumerate(blanks)}
    A, b = [], []
    for coefs, rhs in equations:
        row = np.zeros(len(blanks))
        rest = rhs
        for cell, coef in coefs.items():
            if cell in pos:
                row[pos[cell]] += coef
            else:
                rest -= coef * true[cell]   # shown: a reader knows it
        if row.any():
            A.append(row)
            b.append(rest)
    out = []
    for cell in blanks:
        if not A:
            out.append((cell, 0.0, np.inf))
            continue
        c = np.zeros(len(blanks))
        c[pos[cell]] = 1.0
        lo = linprog(c, A_eq=np.array(A), b_eq=np.array(b), bounds=(0, None), method="highs")
        hi = linprog(-c, A_eq=np.array(A), b_eq=np.array(b), bounds=(0, None), method="highs")
        assert lo.status == 0, "the true values must be a solution"
        out.append((cell, lo.fun, np.inf if hi.status == 3 else -hi.fun))
    return out


def cells_of(df, columns):
    return {(i, c): float(df[c].iat[i]) for c in columns for i in range(len(df))}


def assert_nothing_revealed(before, after, columns, equations):
    true = cells_of(before, columns)
    shown = {k: v for k, v in cells_of(after, columns).items() if not np.isnan(v)}
    assert all(true[k] == v for k, v in shown.items()), "shown counts are the true counts"
    small = [k for k, v in true.items() if 0 < v < M]
    assert all(k not in shown for k in small), "every small count is blank"
    revealed = [(cell, lo) for cell, lo, hi in bounds_of_blanks(true, shown, equations) if hi - lo < 0.5]
    assert revealed == []


@pytest.mark.parametrize("seed", range(40))
def test_arms_and_all_row(seed):
    rng = np.random.default_rng(RNG_SEED + seed)
    k = int(rng.integers(2, 5))
    n = counts(rng, k)
    events = np.minimum(counts(rng, k), n)
    km = pd.DataFrame({"endpoint": "os", "cohort": "all", "group": ["All"] + [f"g{j}" for j in range(k)],
                       "n": np.r_[n.sum(), n], "events": np.r_[events.sum(), events]})
    km["event_pct"] = 100 * km["events"] / km["n"]
    km["median"] = km["median_lower"] = km["median_upper"] = 1.0
    out = suppress(km, "km_summary", M)
    eqs = [({(0, c): 1.0, **{(j, c): -1.0 for j in range(1, k + 1)}}, 0.0) for c in ("n", "events")]
    assert_nothing_revealed(km, out, ["n", "events"], eqs)
    # A percentage shown beside a blank count would give it back.
    assert (out["event_pct"].isna() | (out["n"].notna() & out["events"].notna())).all()


@pytest.mark.parametrize("seed", range(40))
def test_attrition_chain(seed):
    rng = np.random.default_rng(RNG_SEED + 100 + seed)
    k = int(rng.integers(1, 6))
    excluded = counts(rng, k, small_share=0.5)
    start = int(excluded.sum() + rng.integers(20, 200))
    remaining = start - np.cumsum(excluded)
    att = pd.DataFrame({"order": range(k + 2), "criterion": ["Records assessed", *[f"c{j}" for j in range(k)],
                                                              "Analysis cohort"],
                        "excluded": np.r_[0, excluded, 0], "remaining": np.r_[start, remaining, remaining[-1]]})
    out = suppress(att, "attrition", M)
    last = k + 1
    eqs = [({(i, "remaining"): 1.0, (i - 1, "remaining"): -1.0, (i, "excluded"): 1.0}, 0.0)
           for i in range(1, k + 2)]
    eqs.append(({(last, "remaining"): 1.0}, float(remaining[-1])))      # printed in every other table
    assert_nothing_revealed(att, out, ["excluded", "remaining"], eqs)


@pytest.mark.parametrize("seed", range(40))
def test_subgroup_levels_and_arms(seed):
    rng = np.random.default_rng(RNG_SEED + 200 + seed)
    k = int(rng.integers(2, 5))
    treated, control = counts(rng, k), counts(rng, k)
    n = treated + control
    events = np.minimum(counts(rng, k), n)
    sub = pd.DataFrame({"cohort": "all", "variable": "v", "level": [f"l{j}" for j in range(k)], "n": n,
                        "events": events, "n_treated": treated, "n_control": control, "median_treated": 1.0,
                        "median_control": 1.0, "logrank_p": 0.5, "hr": 1.0, "lower": 0.5, "upper": 2.0, "p": 0.5,
                        "interaction_p": 0.5})
    out = suppress(sub, "subgroups", M)
    eqs = [({(i, "n"): 1.0, (i, "n_treated"): -1.0, (i, "n_control"): -1.0}, 0.0) for i in range(k)]
    # The arms' and the cohort's totals (and events) are printed by the survival tables.
    eqs += [({(i, c): 1.0 for i in range(k)}, float(sub[c].sum())) for c in ("n", "n_treated", "n_control", "events")]
    assert_nothing_revealed(sub, out, ["n", "events", "n_treated", "n_control"], eqs)


def test_the_lp_check_can_fail():
    """Primary suppression alone (the plain "<5" rule) does reveal counts: the check above sees it."""
    km = pd.DataFrame({"n": [40.0, 37.0, 3.0]})
    naive = km.assign(n=[40.0, 37.0, np.nan])
    eqs = [({(0, "n"): 1.0, (1, "n"): -1.0, (2, "n"): -1.0}, 0.0)]
    with pytest.raises(AssertionError):
        assert_nothing_revealed(km, naive, ["n"], eqs)
