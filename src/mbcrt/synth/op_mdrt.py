"""Synthetic chart-review export for the oligoprogression MDRT study (study ``op_mdrt``).

SYNTHETIC DATA. The patients of the paper are not public; this module makes a seeded stand-in with
the paper's design (one row per course of metastasis-directed radiotherapy, MDRT, for oligoprogressive
metastatic breast cancer) whose analysis reproduces the abstract's numbers: 52 patients after the
exclusions (36 HR+/HER2-, 10 HER2+, 6 TNBC), 28/47 on the same systemic therapy at 6 months
(22/34, 5/9, 1/4), 18/38 at 1 year, median time to next systemic therapy 6.9 months and median PFS
6.2 months. See ``data/dictionaries/op_mdrt.md`` for every column.

How it is made
--------------
The analysis cohort is a mix of outcome *profiles* (:data:`PROFILES`): each profile fixes how many
patients of each subtype (per 52) follow one course, e.g. "switched therapy before 6 months, alive
at the data cut-off", with a range of months for each event. Profile sizes scale with ``n`` (largest
remainder, so the default ``n`` gives the counts exactly), and times inside a profile are drawn by
stratified (Latin hypercube) sampling, so every size reproduces the same shape. Three kinds of
records are added that the study's criteria must remove: MDRT to the brain, MDRT outside the
inclusion window (December 2017 to March 2023), and later MDRT courses of included patients (a
repeat course for a new oligoprogression while staying on the same therapy). Covariates (age, line,
regimen, site, lesions, dose) are drawn independently of the outcome profile. Everything is
vectorised (one million patients take seconds) and seeded: the same ``(n, seed)`` gives the same
bytes.

Readings built in (stated also in ``studies/op_mdrt/study.yaml``): "same systemic therapy" ends at
the start of the next systemic therapy or at death; the follow-up of a patient runs from MDRT to
death or last contact (``date_last_followup`` equals the death date for patients who died).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mbcrt import paths

#: Seed of the shipped file.
SEED = 20240701
#: Size of the analysis cohort in the paper (patients left after the exclusions).
N_PAPER = 52
DAYS_PER_MONTH = 30.4375
WINDOW_START = np.datetime64("2017-12-01")
WINDOW_END = np.datetime64("2023-03-31")
DATA_CUTOFF = np.datetime64("2024-07-31")
SUBTYPES = ("HR+/HER2-", "HER2+", "TNBC")
FILE_NAME = "op_mdrt.csv"

# Outcome profiles of the analysis cohort, as counts per 52 patients (HR+/HER2-, HER2+, TNBC) and
# ranges in months after MDRT. switch: start of the next systemic therapy (NaN: none). end: how
# follow-up ends -- "lost" (alive, last contact in [end_lo, end_hi]), "cutoff" (alive, seen shortly
# before the data cut-off), "death" (dies in [end_lo, end_hi]). prog: progression -- "lead" (that
# many months before the switch), "repeat" (a new oligoprogression in [prog_lo, prog_hi] treated by a
# second MDRT course while the therapy continues), "none".
_PROFILE_ROWS = [
    # name              hr her2 tnbc switch_lo hi    end     end_lo hi     prog     prog_lo hi
    ("lost_early",       2, 1, 2, np.nan, np.nan, "lost",   1.0,  4.8,  "none",   np.nan, np.nan),
    ("switch_3m",        4, 1, 1, 1.5,   4.6,    "cutoff", np.nan, np.nan, "lead",  0.2,   1.6),
    ("switch_3m_die",    2, 1, 1, 1.5,   4.6,    "death",  12.5, 30.0, "lead",   0.2,   1.6),
    ("switch_5m",        4, 1, 0, 5.0,   5.85,   "cutoff", np.nan, np.nan, "lead",  1.0,   2.0),
    ("switch_5m_die",    2, 1, 1, 5.0,   5.85,   "death",  6.4,  11.6, "lead",   1.0,   2.0),
    ("switch_6m",        3, 1, 0, 6.4,   7.0,    "cutoff", np.nan, np.nan, "lead",  0.3,   0.7),
    ("switch_6m_die",    1, 0, 0, 6.4,   7.0,    "death",  7.5,  11.6, "lead",   0.3,   0.7),
    ("switch_mid",       1, 0, 0, 7.5,   11.0,   "cutoff", np.nan, np.nan, "lead",  0.3,   1.5),
    ("switch_mid_die",   1, 1, 0, 7.0,   9.0,    "death",  9.5,  11.6, "lead",   0.3,   1.5),
    ("lost_mid",         2, 0, 0, np.nan, np.nan, "lost",   7.5,  11.5, "repeat", 2.5,   4.0),
    ("switch_1y",        4, 1, 0, 13.5,  16.0,   "cutoff", np.nan, np.nan, "lead",  0.3,   1.5),
    ("switch_late",      4, 1, 0, 16.0,  40.0,   "cutoff", np.nan, np.nan, "repeat", 10.0, 15.0),
    ("on_therapy_9m",    2, 0, 0, np.nan, np.nan, "cutoff", np.nan, np.nan, "repeat", 9.2,  9.9),
    ("on_therapy",       2, 1, 1, np.nan, np.nan, "cutoff", np.nan, np.nan, "repeat", 11.0, 20.0),
    ("die_on_therapy",   2, 0, 0, np.nan, np.nan, "death",  14.0, 40.0, "none",   np.nan, np.nan),
]
PROFILES = pd.DataFrame(_PROFILE_ROWS, columns=[
    "profile", *SUBTYPES, "switch_lo", "switch_hi", "end", "end_lo", "end_hi", "prog", "prog_lo",
    "prog_hi"])

# Records the criteria remove, per 52 included patients.
N_BRAIN = 6
N_BEFORE_WINDOW = 4
N_AFTER_WINDOW = 3

_SITES = {"bone": 0.45, "lymph node": 0.25, "lung": 0.12, "liver": 0.08, "soft tissue": 0.10}
_LESIONS = {1: 0.55, 2: 0.27, 3: 0.12, 4: 0.04, 5: 0.02}
_LINES = {1: 0.40, 2: 0.30, 3: 0.18, 4: 0.08, 5: 0.04}
# Dose (Gy) / fractions by site, equally likely.
_SCHEDULES = {
    "bone": [(8.0, 1), (20.0, 5), (30.0, 10), (24.0, 2), (30.0, 5), (35.0, 5)],
    "lymph node": [(35.0, 5), (40.0, 5), (45.0, 15), (30.0, 10)],
    "lung": [(50.0, 5), (48.0, 4), (54.0, 3)],
    "liver": [(50.0, 5), (45.0, 3), (40.0, 5)],
    "soft tissue": [(30.0, 5), (30.0, 10), (35.0, 5)],
    "brain": [(30.0, 10), (21.0, 1), (27.0, 3), (30.0, 5)],
}
# Regimen at MDRT by subtype and line (1, 2, 3+), equally likely; with its class.
_REGIMENS = {
    ("HR+/HER2-", 1): ["CDK4/6 inhibitor + aromatase inhibitor", "CDK4/6 inhibitor + fulvestrant"],
    ("HR+/HER2-", 2): ["CDK4/6 inhibitor + fulvestrant", "Fulvestrant", "Everolimus + exemestane"],
    ("HR+/HER2-", 3): ["Capecitabine", "Trastuzumab deruxtecan", "Sacituzumab govitecan", "Fulvestrant"],
    ("HER2+", 1): ["Trastuzumab + pertuzumab", "Trastuzumab + pertuzumab + endocrine therapy"],
    ("HER2+", 2): ["Trastuzumab deruxtecan", "Trastuzumab emtansine"],
    ("HER2+", 3): ["Tucatinib + trastuzumab + capecitabine", "Trastuzumab deruxtecan"],
    ("TNBC", 1): ["Pembrolizumab + chemotherapy", "Capecitabine"],
    ("TNBC", 2): ["Sacituzumab govitecan", "Capecitabine"],
    ("TNBC", 3): ["Eribulin", "Sacituzumab govitecan"],
}
_REGIMEN_CLASS = {
    "CDK4/6 inhibitor + aromatase inhibitor": "Endocrine + CDK4/6 inhibitor",
    "CDK4/6 inhibitor + fulvestrant": "Endocrine + CDK4/6 inhibitor",
    "Fulvestrant": "Endocrine",
    "Everolimus + exemestane": "Endocrine",
    "Capecitabine": "Chemotherapy",
    "Eribulin": "Chemotherapy",
    "Pembrolizumab + chemotherapy": "Immunotherapy + chemotherapy",
    "Trastuzumab deruxtecan": "Antibody-drug conjugate",
    "Trastuzumab emtansine": "Antibody-drug conjugate",
    "Sacituzumab govitecan": "Antibody-drug conjugate",
    "Trastuzumab + pertuzumab": "Anti-HER2 antibodies",
    "Trastuzumab + pertuzumab + endocrine therapy": "Anti-HER2 antibodies",
    "Tucatinib + trastuzumab + capecitabine": "Anti-HER2 TKI + chemotherapy",
}
_AGE = {"HR+/HER2-": (58.0, 11.0), "HER2+": (54.0, 11.0), "TNBC": (50.0, 12.0)}

COLUMNS = ["id", "subtype", "age", "systemic_therapy", "therapy_class", "therapy_line",
           "date_therapy_start", "date_mdrt", "mdrt_site", "n_lesions", "dose_gy", "fractions",
           "date_progression", "date_next_therapy", "date_death", "date_last_followup"]


def allocate(total: int, weights) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder, ties by order).

    The default size returns the weights themselves when they are counts summing to ``total``.
    """
    w = np.asarray(weights, dtype=np.float64)
    exact = total * w / w.sum()
    counts = np.floor(exact + 1e-9).astype(np.int64)
    short = total - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def stratified_uniform(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform draw per element, stratified within each group (Latin hypercube sampling).

    Within a group of ``m`` elements each of the ``m`` equal slices of (0, 1) receives exactly one
    draw, in random order, so even a group of three spans its range.
    """
    n = groups.size
    order = np.lexsort((rng.random(n), groups))
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    u = np.empty(n)
    u[order] = (rank + rng.random(n)) / np.repeat(sizes, sizes)
    return u


def _between(lo, hi, u):
    return lo + (hi - lo) * u


def _outcomes(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Profile, subtype and event times (months after MDRT) of the ``n`` included patients."""
    cells = PROFILES.melt(id_vars=["profile"], value_vars=list(SUBTYPES), var_name="subtype",
                          value_name="weight").merge(PROFILES.drop(columns=list(SUBTYPES)), on="profile")
    counts = allocate(n, cells["weight"].to_numpy())
    pat = cells.loc[cells.index.repeat(counts)].drop(columns="weight").reset_index(names="cell")
    cell = pat["cell"].to_numpy()
    switch = _between(pat["switch_lo"].to_numpy(), pat["switch_hi"].to_numpy(),
                      stratified_uniform(cell, rng))
    end_u = stratified_uniform(cell, rng)
    end = _between(pat["end_lo"].to_numpy(), pat["end_hi"].to_numpy(), end_u)
    prog_u = stratified_uniform(cell, rng)
    lead = _between(pat["prog_lo"].to_numpy(), pat["prog_hi"].to_numpy(), prog_u)
    mode = pat["prog"].to_numpy()
    # A progression shortly before the switch, never in the first half of the time on therapy.
    before_switch = np.maximum(switch - lead, 0.5 * switch)
    prog = np.where(mode == "lead", before_switch, np.where(mode == "repeat", lead, np.nan))
    death = np.where(pat["end"].to_numpy() == "death", end, np.nan)
    lost = np.where(pat["end"].to_numpy() == "lost", end, np.nan)
    return pd.DataFrame({"profile": pat["profile"], "subtype": pat["subtype"], "switch": switch,
                         "death": death, "lost": lost, "prog": prog,
                         "repeat": mode == "repeat", "to_cutoff": pat["end"].to_numpy() == "cutoff"})


def _mdrt_dates(out: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """MDRT date inside the window leaving room for every event before the cut-off.

    Returns the MDRT dates and the months from MDRT to the last contact of patients alive at the
    cut-off (NaN for the others): seen 0 to 1.5 months before the cut-off, always at least
    1 year and 2 weeks after MDRT so the 1-year status is known as designed.
    """
    n = len(out)
    gap = rng.random(n) * 1.5
    # A repeat course follows its progression by up to a month.
    repeat_course = np.where(out["repeat"], out["prog"] + 1.0, np.nan)
    needed = np.nanmax(np.c_[out["switch"], out["death"], out["lost"], repeat_course], axis=1)
    needed = np.where(out["to_cutoff"], np.fmax(np.nan_to_num(needed) + 0.5, 12.5) + gap, needed + 0.5)
    window_days = (WINDOW_END - WINDOW_START).astype(int)
    latest = np.minimum(window_days, (DATA_CUTOFF - WINDOW_START).astype(int)
                        - np.ceil(needed * DAYS_PER_MONTH))
    offset = np.floor(rng.random(n) * (latest + 1)).astype(np.int64)
    mdrt = WINDOW_START + offset.astype("timedelta64[D]")
    fu_cutoff = np.where(out["to_cutoff"], (DATA_CUTOFF - mdrt).astype(int) / DAYS_PER_MONTH - gap,
                         np.nan)
    return mdrt, fu_cutoff


def _pick(options: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    keys = list(options)
    p = np.asarray(list(options.values()), dtype=np.float64)
    return np.asarray(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def _covariates(subtype: np.ndarray, site: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Age, line, regimen, lesions and dose schedule (independent of the outcome)."""
    n = subtype.size
    mean = np.array([_AGE[s][0] for s in SUBTYPES])
    sd = np.array([_AGE[s][1] for s in SUBTYPES])
    k = pd.Categorical(subtype, categories=SUBTYPES).codes
    age = np.clip(np.rint(mean[k] + sd[k] * rng.standard_normal(n)), 28, 88).astype(np.int64)
    line = _pick(_LINES, n, rng).astype(np.int64)
    line_bucket = np.minimum(line, 3)
    regimen = np.empty(n, dtype=object)
    choice = rng.random(n)
    for (sub, bucket), names in _REGIMENS.items():
        m = (subtype == sub) & (line_bucket == bucket)
        regimen[m] = np.asarray(names, dtype=object)[(choice[m] * len(names)).astype(int)]
    lesions = _pick(_LESIONS, n, rng).astype(np.int64)
    dose = np.empty(n)
    fractions = np.empty(n, dtype=np.int64)
    pick = rng.random(n)
    for name, schedules in _SCHEDULES.items():
        m = site == name
        j = (pick[m] * len(schedules)).astype(int)
        dose[m] = np.array([s[0] for s in schedules])[j]
        fractions[m] = np.array([s[1] for s in schedules])[j]
    # Months on the regimen before MDRT: oligoprogression follows a period of control.
    on_therapy = 3.0 + rng.gamma(2.0, 5.0, n)
    return pd.DataFrame({"age": age, "therapy_line": line, "systemic_therapy": regimen,
                         "therapy_class": pd.Series(regimen).map(_REGIMEN_CLASS).to_numpy(),
                         "n_lesions": lesions, "dose_gy": dose, "fractions": fractions,
                         "months_on_therapy": on_therapy})


def _to_date(start: np.ndarray, months) -> np.ndarray:
    """``start`` plus ``months`` (NaN stays missing), rounded to whole days."""
    months = np.asarray(months, dtype=np.float64)
    days = np.where(np.isnan(months), 0, np.rint(months * DAYS_PER_MONTH)).astype(np.int64)
    out = start + days.astype("timedelta64[D]")
    return np.where(np.isnan(months), np.datetime64("NaT"), out).astype("datetime64[D]")


def _records(mdrt, subtype, out, rng) -> pd.DataFrame:
    """Date columns of one course per patient from times in months after MDRT."""
    fu_end = np.fmin(out["death"].to_numpy(), np.fmin(out["lost"].to_numpy(), out["fu_cutoff"].to_numpy()))
    site = _pick(_SITES, len(mdrt), rng)
    cov = _covariates(subtype, site, rng)
    frame = pd.DataFrame({
        "subtype": subtype,
        "date_mdrt": mdrt,
        "mdrt_site": site,
        "date_progression": _to_date(mdrt, out["prog"]),
        "date_next_therapy": _to_date(mdrt, out["switch"]),
        "date_death": _to_date(mdrt, out["death"]),
        "date_last_followup": _to_date(mdrt, fu_end),
    })
    frame = pd.concat([frame, cov], axis=1)
    frame["date_therapy_start"] = _to_date(mdrt, -frame.pop("months_on_therapy").to_numpy())
    return frame


def _censor_at_cutoff(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop events after the data cut-off (they are not yet known) and stop follow-up there."""
    frame = frame.copy()
    for col in ("date_progression", "date_next_therapy", "date_death"):
        frame.loc[frame[col] > DATA_CUTOFF, col] = pd.NaT
    last = frame[["date_last_followup", "date_progression", "date_next_therapy"]].max(axis=1)
    frame["date_last_followup"] = last.where(last <= DATA_CUTOFF, DATA_CUTOFF)
    return frame


def _repeat_courses(frame: pd.DataFrame, out: pd.DataFrame, rng) -> pd.DataFrame:
    """Second MDRT course, 2-4 weeks after the progression it treats, same regimen; its own events."""
    rep = frame.loc[out["repeat"].to_numpy()].copy()
    delay = np.rint(14 + rng.random(len(rep)) * 14).astype("timedelta64[D]")
    rep["date_mdrt"] = (rep["date_progression"].to_numpy().astype("datetime64[D]") + delay)
    rep["mdrt_site"] = _pick(_SITES, len(rep), rng)
    cov = _covariates(rep["subtype"].to_numpy(), rep["mdrt_site"].to_numpy(), rng)
    rep["n_lesions"] = cov["n_lesions"].to_numpy()
    rep["dose_gy"] = cov["dose_gy"].to_numpy()
    rep["fractions"] = cov["fractions"].to_numpy()
    # The progression that prompted this course is before it; the next one is not recorded.
    rep["date_progression"] = pd.NaT
    return rep


def _excluded(n_brain: int, n_before: int, n_after: int, rng) -> pd.DataFrame:
    """Records the criteria remove: brain MDRT, MDRT before or after the inclusion window."""
    total = n_brain + n_before + n_after
    donor = _outcomes(total, rng)
    donor = donor.iloc[rng.permutation(total)].reset_index(drop=True)
    window = (WINDOW_END - WINDOW_START).astype(int)
    offset = np.r_[rng.integers(0, window, n_brain),
                   -rng.integers(30, 700, n_before),
                   window + rng.integers(15, 300, n_after)]
    mdrt = WINDOW_START + offset.astype("timedelta64[D]")
    donor["fu_cutoff"] = np.where(donor["to_cutoff"], (DATA_CUTOFF - mdrt).astype(int) / DAYS_PER_MONTH
                                  - rng.random(total), np.nan)
    frame = _records(mdrt, donor["subtype"].to_numpy(), donor, rng)
    brain = np.r_[np.ones(n_brain, bool), np.zeros(n_before + n_after, bool)]
    frame.loc[brain, "mdrt_site"] = "brain"
    schedule = np.asarray(_SCHEDULES["brain"])[rng.integers(0, len(_SCHEDULES["brain"]), total)]
    frame.loc[brain, "dose_gy"] = schedule[brain, 0]
    frame.loc[brain, "fractions"] = schedule[brain, 1].astype(np.int64)
    return _censor_at_cutoff(frame)


def _iso(values) -> np.ndarray:
    """ISO dates as text, blank when missing (through a table of the few thousand distinct days)."""
    arr = np.asarray(values, dtype="datetime64[D]")
    valid = ~np.isnat(arr)
    out = np.full(arr.size, "", dtype=object)
    if valid.any():
        days = arr[valid].astype(np.int64)
        first = days.min()
        table = np.datetime_as_string(np.arange(first, days.max() + 1).astype("datetime64[D]"), unit="D")
        out[valid] = table.astype(object)[days - first]
    return out


def _as_text_dates(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in [c for c in COLUMNS if c.startswith("date_")]:
        frame[col] = _iso(frame[col])
    return frame


def generate(n: int | None = None, seed: int = SEED) -> pd.DataFrame:
    """Generate the synthetic MDRT export.

    Parameters
    ----------
    n : int, optional
        Patients in the analysis cohort (after the exclusions); default 52, the paper's size, which
        reproduces the abstract's numbers. The file holds about a quarter more records: brain MDRT,
        MDRT outside the inclusion window, and repeat courses.
    seed : int
        Seed of the random generator; the same ``(n, seed)`` gives the same table.

    Returns
    -------
    DataFrame
        One row per MDRT course, columns :data:`COLUMNS`, dates as ISO text (blank when missing),
        sorted by ``id`` then ``date_mdrt``. Ids are pseudonymous (``OP`` and a number in random order).
    """
    n = N_PAPER if n is None else int(n)
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    out = _outcomes(n, rng)
    mdrt, out["fu_cutoff"] = _mdrt_dates(out, rng)
    included = _records(mdrt, out["subtype"].to_numpy(), out, rng)
    repeat = _repeat_courses(included, out, rng)
    extra = allocate(round(n * (N_BRAIN + N_BEFORE_WINDOW + N_AFTER_WINDOW) / N_PAPER),
                     [N_BRAIN, N_BEFORE_WINDOW, N_AFTER_WINDOW])
    excluded = _excluded(*extra, rng)
    n_patients = n + len(excluded)
    number = rng.permutation(n_patients) + 1
    included["number"] = number[:n]
    repeat["number"] = number[:n][out["repeat"].to_numpy()]
    excluded["number"] = number[n:]
    parts = [part[[*COLUMNS[1:], "number"]] for part in (included, repeat, excluded)]
    day = np.concatenate([p["date_mdrt"].to_numpy().astype("datetime64[D]").astype(np.int64) for p in parts])
    frame = pd.concat([_as_text_dates(p) for p in parts], ignore_index=True)
    # Patient, then course order.
    frame = frame.iloc[np.lexsort((day, frame["number"].to_numpy()))].reset_index(drop=True)
    width = max(4, len(str(n_patients)))
    frame.insert(0, "id", np.char.add("OP", np.char.zfill(frame.pop("number").to_numpy().astype(str), width)))
    frame["id"] = frame["id"].astype(object)
    return frame


def write(path: str | Path | None = None, n: int | None = None, seed: int = SEED) -> Path:
    """Write :func:`generate` ``(n, seed)`` as CSV (default: the shipped ``data/synthetic/op_mdrt.csv``).

    Returns
    -------
    Path
        The file written.
    """
    target = Path(path) if path is not None else paths.SYNTHETIC_DIR / FILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    generate(n=n, seed=seed).to_csv(target, index=False, lineterminator="\n")
    return target
