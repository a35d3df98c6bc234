"""Independent recomputation of every number of the MDRT abstract from the shipped synthetic CSV.

Everything here is computed from ``data/synthetic/op_mdrt.csv`` with pandas, scipy and lifelines only
(no mbcrt analysis code), and compared with (1) the paper's abstract within the study's tolerances,
(2) R's output on the same file, and (3) what the package computes. It also checks that the English
and Chinese abstracts carry the same numbers and that ``studies/op_mdrt/published.yaml`` holds every
number of the English Results.

R golden values (R 4.2, survival 3.5-3) on the shipped file, after the same exclusions:

    d <- read.csv("data/synthetic/op_mdrt.csv", na.strings = "")        # dates as.Date(); brain and
    # out-of-window MDRT removed; first course per id; months = days / 30.4375
    survfit(Surv(ttnt, ttnt_e) ~ 1, data = d, conf.type = "log-log")
    #   median 6.965092402464, 95% CI 5.486652977413 - 14.948665297741
    survfit(Surv(pfs, pfs_e) ~ 1, data = d, conf.type = "log-log")
    #   median 6.340862422998, 95% CI 3.975359342916 - 10.217659137577
    survfit(..., conf.type = "log")   # ttnt 5.650924024641 - 15.211498973306; pfs 4.008213552361 - 10.579055441478
    tb6 <- matrix(c(22,12, 5,4, 1,3), ncol = 2, byrow = TRUE)
    chisq.test(tb6, correct = FALSE)$p.value    # 0.298565820701
    fisher.test(tb6)$p.value                    # 0.334510146014
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import product

import numpy as np
import pandas as pd
import pytest
import yaml
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from scipy import special, stats

from mbcrt import paths

MONTH = 30.4375
DATA = paths.SYNTHETIC_DIR / "op_mdrt.csv"
STUDY_DIR = paths.STUDIES_DIR / "op_mdrt"
SUBTYPES = ["HR+/HER2-", "HER2+", "TNBC"]

# The abstract's Results and Methods (the paper's own words, English then Chinese).
EN_METHODS = ("This retrospective cohort study included patients with MBC who received MDRT for OP disease "
              "between December 2017 and March 2023. Patients who received MDRT to the brain were excluded. "
              "Medical records were reviewed through July 2024.")
EN_RESULTS = (
    "In total, 52 patients with OP MBC treated with MDRT were included, with 36 (69%) with HR+/HER2- disease, "
    "10 (19%) with HER2+ disease, and 6 (12%) with TNBC. Among the 47 patients with follow-up data available, "
    "28 (60%) remained on their systemic therapy at 6 months, including 65% (22/34) of patients with HR+/HER2- "
    "disease, 56% (5/9) with HER2+ disease, and 25% (1/4) with TNBC (p= 0.30). Among the 38 patients with a "
    "follow-up time of at least 1 year post-MDRT, 47% (18/38) remained on the same systemic therapy. The median "
    "time to next systemic therapy and median PFS were 6.9 months (95% CI, 5.7\u201314.7) and 6.2 months "
    "(95% CI, 4.1\u20139.7), respectively.")
ZH_METHODS = ("本回顾性队列研究纳入了2017年12月至2023年3月期间因OP疾病接受MDRT的MBC患者。排除了接受脑部MDRT的患者。"
              "病历资料回顾截至2024年7月。")
ZH_RESULTS = (
    "共纳入52例接受MDRT治疗的OP MBC患者,其中36例(69%)为HR+/HER2-疾病,10例(19%)为HER2+疾病,6例(12%)为三阴性"
    "乳腺癌(TNBC)。在47例有随访数据的患者中,28例(60%)在6个月时仍在接受原全身治疗,包括HR+/HER2-疾病患者的65%"
    "(22/34)、HER2+疾病患者的56%(5/9)和TNBC患者的25%(1/4)(p=0.30)。在MDRT后随访时间至少1年的38例患者中,47%"
    "(18/38)仍在接受相同的全身治疗。至下一次全身治疗的中位时间和中位无进展生存期(PFS)分别为6.9个月(95% CI,"
    "5.7\u201314.7)和6.2个月(95% CI,4.1\u20139.7)。")

# The paper's numbers and the study's tolerances (counts exact, % to the paper's rounding).
PAPER = {
    "n": 52, "n_subtype": {"HR+/HER2-": 36, "HER2+": 10, "TNBC": 6},
    "pct_subtype": {"HR+/HER2-": 69, "HER2+": 19, "TNBC": 12},
    "eval_6m": 47, "same_6m": 28, "pct_6m": 60,
    "subtype_6m": {"HR+/HER2-": (22, 34, 65), "HER2+": (5, 9, 56), "TNBC": (1, 4, 25)},
    "p_6m": 0.30, "eval_1y": 38, "same_1y": 18, "pct_1y": 47,
    "ttnt": (6.9, 5.7, 14.7), "pfs": (6.2, 4.1, 9.7),
}
PCT_TOL, P_TOL, MEDIAN_TOL, CI_TOL = 0.5, 0.02, 0.3, 1.0
R_KM = {("ttnt", "log-log"): (6.965092402464, 5.486652977413, 14.948665297741),
        ("pfs", "log-log"): (6.340862422998, 3.975359342916, 10.217659137577),
        ("ttnt", "log"): (6.965092402464, 5.650924024641, 15.211498973306),
        ("pfs", "log"): (6.340862422998, 4.008213552361, 10.579055441478)}
R_P = {"chisq": 0.298565820701, "fisher": 0.334510146014}


# ---- the independent computation -------------------------------------------------------------------------

def analysis_cohort() -> pd.DataFrame:
    """Exclusions and derived times, written out plainly from the data dictionary."""
    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    df = raw.copy()
    for col in [c for c in df.columns if c.startswith("date_")]:
        df[col] = pd.to_datetime(df[col].replace("", None), format="%Y-%m-%d")
    df = df[df["mdrt_site"] != "brain"]
    df = df[(df["date_mdrt"] >= "2017-12-01") & (df["date_mdrt"] <= "2023-03-31")]
    df = df.sort_values(["id", "date_mdrt"]).drop_duplicates("id", keep="first").copy()

    def months(end):
        return (end - df["date_mdrt"]).dt.days / MONTH

    df["ttnt"] = months(df[["date_next_therapy", "date_death", "date_last_followup"]].min(axis=1))
    df["ttnt_e"] = (df["date_next_therapy"].notna() | df["date_death"].notna()).astype(int)
    df["pfs"] = months(df[["date_progression", "date_death", "date_last_followup"]].min(axis=1))
    df["pfs_e"] = (df["date_progression"].notna() | df["date_death"].notna()).astype(int)
    df["followup"] = months(df[["date_death", "date_last_followup"]].min(axis=1))
    return df


def persistence(df: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """Per subtype and overall: followed >= horizon (evaluable) and on the same therapy at it."""
    evaluable = df["followup"] >= horizon
    same = evaluable & (df["ttnt"] >= horizon)
    out = pd.DataFrame({"n": df.groupby("subtype").size(), "evaluable": evaluable.groupby(df["subtype"]).sum(),
                        "same": same.groupby(df["subtype"]).sum()}).reindex(SUBTYPES)
    out.loc["All"] = [len(df), evaluable.sum(), same.sum()]
    return out.astype(int)


def freeman_halton_p(table: np.ndarray) -> float:
    """Exact p of an r x 2 table by enumerating every table with its margins (R's 1e-7 relative slack)."""
    rows, col0 = table.sum(axis=1), table[:, 0].sum()

    def log_prob(first_column):
        return sum(special.gammaln(r + 1) - special.gammaln(x + 1) - special.gammaln(r - x + 1)
                   for r, x in zip(rows, first_column))

    observed = log_prob(table[:, 0])
    total, extreme = 0.0, 0.0
    for cells in product(*(range(r + 1) for r in rows[:-1])):
        last = col0 - sum(cells)
        if 0 <= last <= rows[-1]:
            lp = log_prob((*cells, last))
            total += math.exp(lp)
            if lp <= observed + math.log1p(1e-7):
                extreme += math.exp(lp)
    return extreme / total


def km_median(df: pd.DataFrame, endpoint: str) -> tuple[float, float, float]:
    """Median and its 95% CI read off lifelines' log-log (exponential Greenwood) band."""
    km = KaplanMeierFitter().fit(df[endpoint], df[f"{endpoint}_e"])
    ci = median_survival_times(km.confidence_interval_)
    return float(km.median_survival_time_), float(ci.iloc[0, 0]), float(ci.iloc[0, 1])


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return analysis_cohort()


@pytest.fixture(scope="module")
def at_6m(cohort) -> pd.DataFrame:
    return persistence(cohort, 6)


# ---- against the paper -----------------------------------------------------------------------------------

def test_cohort_and_subtypes(cohort):
    assert len(cohort) == PAPER["n"]
    counts = cohort["subtype"].value_counts()
    for s in SUBTYPES:
        assert counts[s] == PAPER["n_subtype"][s]
        assert abs(100 * counts[s] / len(cohort) - PAPER["pct_subtype"][s]) <= PCT_TOL


def test_same_therapy_at_6_months(at_6m):
    assert at_6m.loc["All", "evaluable"] == PAPER["eval_6m"] and at_6m.loc["All", "same"] == PAPER["same_6m"]
    assert abs(100 * PAPER["same_6m"] / PAPER["eval_6m"] - PAPER["pct_6m"]) <= PCT_TOL
    for s, (k, n, pct) in PAPER["subtype_6m"].items():
        assert (at_6m.loc[s, "same"], at_6m.loc[s, "evaluable"]) == (k, n)
        assert abs(100 * k / n - pct) <= PCT_TOL


def test_same_therapy_at_1_year(cohort):
    at_1y = persistence(cohort, 12)
    assert (at_1y.loc["All", "same"], at_1y.loc["All", "evaluable"]) == (PAPER["same_1y"], PAPER["eval_1y"])
    assert abs(100 * PAPER["same_1y"] / PAPER["eval_1y"] - PAPER["pct_1y"]) <= PCT_TOL


def test_the_paper_p_is_pearson_chi_square_not_the_exact_test(at_6m):
    table = np.column_stack([at_6m.loc[SUBTYPES, "same"], at_6m.loc[SUBTYPES, "evaluable"]
                             - at_6m.loc[SUBTYPES, "same"]])
    chi2, p_chisq, dof, _ = stats.chi2_contingency(table, correction=False)
    p_exact = freeman_halton_p(table)
    assert dof == 2
    np.testing.assert_allclose([p_chisq, p_exact], [R_P["chisq"], R_P["fisher"]], rtol=1e-9)
    assert abs(p_chisq - PAPER["p_6m"]) <= P_TOL
    assert abs(p_exact - PAPER["p_6m"]) > P_TOL  # 0.335: the exact test does not give the paper's 0.30


@pytest.mark.parametrize("endpoint", ["ttnt", "pfs"])
def test_medians_and_their_intervals(cohort, endpoint):
    median, lower, upper = km_median(cohort, endpoint)
    want = PAPER[endpoint]
    assert abs(median - want[0]) <= MEDIAN_TOL
    assert abs(lower - want[1]) <= CI_TOL and abs(upper - want[2]) <= CI_TOL
    np.testing.assert_allclose([median, lower, upper], R_KM[(endpoint, "log-log")], rtol=1e-9)


@pytest.mark.parametrize("endpoint", ["ttnt", "pfs"])
def test_r_log_band_also_within_tolerance(endpoint):
    median, lower, upper = R_KM[(endpoint, "log")]
    want = PAPER[endpoint]
    assert abs(median - want[0]) <= MEDIAN_TOL and abs(lower - want[1]) <= CI_TOL and abs(upper - want[2]) <= CI_TOL


# ---- the two abstracts and published.yaml -----------------------------------------------------------------

def numbers(text: str) -> Counter:
    """Every number in ``text`` (as floats), ignoring the "2" of "HER2"."""
    return Counter(float(x) for x in re.findall(r"\d+(?:\.\d+)?", text.replace("HER2", "")))


def test_chinese_abstract_carries_the_same_numbers():
    assert numbers(ZH_RESULTS) == numbers(EN_RESULTS)
    years = {y for y in numbers(ZH_METHODS) if y > 1900}
    assert years == {y for y in numbers(EN_METHODS) if y > 1900} == {2017.0, 2023.0, 2024.0}
    # Months of the window: December, March, July.
    assert re.search(r"2017年12月至2023年3月", ZH_METHODS) and "2024年7月" in ZH_METHODS


def test_paper_numbers_here_are_the_abstract_numbers():
    mine = Counter([float(PAPER["n"]), *map(float, PAPER["n_subtype"].values()),
                    *map(float, PAPER["pct_subtype"].values()), float(PAPER["eval_6m"]), float(PAPER["same_6m"]),
                    float(PAPER["pct_6m"]), *(float(v) for t in PAPER["subtype_6m"].values() for v in t),
                    PAPER["p_6m"], float(PAPER["eval_1y"]), float(PAPER["same_1y"]), float(PAPER["pct_1y"]),
                    *PAPER["ttnt"], *PAPER["pfs"]])
    # Left over in the text: "6 months", "1 year", "95% CI" twice and the 38 of "18/38" again.
    assert numbers(EN_RESULTS) - mine == Counter({6.0: 1, 1.0: 1, 95.0: 2, 38.0: 1})
    assert not mine - numbers(EN_RESULTS)


def test_published_yaml_holds_every_number_of_the_english_results():
    doc = yaml.safe_load((STUDY_DIR / "published.yaml").read_text(encoding="utf-8"))
    claims = doc["claims"]
    published = Counter(float(c["published"]) for c in claims)
    # The exact-test claim repeats p = 0.30 (the same number under the alternative reading).
    assert published - numbers(EN_RESULTS) == Counter({0.30: 1})
    assert numbers(EN_RESULTS) - published == Counter({6.0: 1, 1.0: 1, 95.0: 2, 38.0: 1})
    assert all(c.get("location") for c in claims)
    assert "doi:10.3390/cancers17132153" in doc["source"]


# ---- against the package -----------------------------------------------------------------------------------

def independent_values(cohort: pd.DataFrame) -> dict[str, float]:
    """The reproduced value of each claim of published.yaml, computed here."""
    at6, at12 = persistence(cohort, 6), persistence(cohort, 12)
    key = {"HR+/HER2-": "hr", "HER2+": "her2", "TNBC": "tnbc"}
    out = {"n_patients": len(cohort), "n_eval_6m": at6.loc["All", "evaluable"], "n_same_6m": at6.loc["All", "same"],
           "pct_same_6m": 100 * at6.loc["All", "same"] / at6.loc["All", "evaluable"],
           "n_eval_1y": at12.loc["All", "evaluable"], "n_same_1y": at12.loc["All", "same"],
           "pct_same_1y": 100 * at12.loc["All", "same"] / at12.loc["All", "evaluable"]}
    for s, k in key.items():
        out[f"n_{k}"] = at6.loc[s, "n"]
        out[f"pct_{k}"] = 100 * at6.loc[s, "n"] / len(cohort)
        out[f"n_eval_6m_{k}"], out[f"n_same_6m_{k}"] = at6.loc[s, "evaluable"], at6.loc[s, "same"]
        out[f"pct_same_6m_{k}"] = 100 * at6.loc[s, "same"] / at6.loc[s, "evaluable"]
    table = np.column_stack([at6.loc[SUBTYPES, "same"], at6.loc[SUBTYPES, "evaluable"] - at6.loc[SUBTYPES, "same"]])
    out["p_6m_subtype"] = stats.chi2_contingency(table, correction=False)[1]
    out["p_6m_subtype_exact"] = freeman_halton_p(table)
    for ep in ("ttnt", "pfs"):
        out[f"median_{ep}"], out[f"median_{ep}_lower"], out[f"median_{ep}_upper"] = km_median(cohort, ep)
    return {k: float(v) for k, v in out.items()}


def test_package_computes_the_same_numbers(cohort):
    from mbcrt.stats import survival
    from mbcrt.steps.persistence import persistence_tables, step_settings
    from mbcrt.study.cohort import build_cohort
    from mbcrt.study.config import load_study

    study = load_study(STUDY_DIR / "study.yaml")
    built = build_cohort(study)
    df = built.cohort
    summary, tests, _ = persistence_tables(study, df, step_settings(study))
    mine = independent_values(cohort)

    def row(h, g):
        return summary[(summary.horizon == h) & (summary.group == g)].iloc[0]

    assert built.attrition.iloc[-1]["remaining"] == mine["n_patients"]
    assert row(6, "All").n_evaluable == mine["n_eval_6m"] and row(6, "All").n_persisting == mine["n_same_6m"]
    assert row(12, "All").n_evaluable == mine["n_eval_1y"] and row(12, "All").n_persisting == mine["n_same_1y"]
    for s, k in {"HR+/HER2-": "hr", "HER2+": "her2", "TNBC": "tnbc"}.items():
        assert (row(6, s).n_patients, row(6, s).n_evaluable, row(6, s).n_persisting) == \
            (mine[f"n_{k}"], mine[f"n_eval_6m_{k}"], mine[f"n_same_6m_{k}"])
    p = tests[tests.horizon == 6].set_index("test")["p"]
    np.testing.assert_allclose([p["chisq"], p["fisher"]], [mine["p_6m_subtype"], mine["p_6m_subtype_exact"]],
                               rtol=1e-9)
    for ep, time, event in (("ttnt", "_time", "_event"), ("pfs", "pfs_months", "pfs_event")):
        km = survival.kaplan_meier(df[time], df[event], conf_type="log-log", median_ci="brookmeyer-crowley")
        np.testing.assert_allclose([km.median, km.median_lower, km.median_upper],
                                   [mine[f"median_{ep}"], mine[f"median_{ep}_lower"], mine[f"median_{ep}_upper"]],
                                   rtol=1e-9)


def test_committed_reproduction_table_agrees(cohort):
    path = paths.PROJECT_ROOT / "tables" / "op_mdrt" / "reproduction.csv"
    if not path.exists():
        pytest.skip("tables/op_mdrt/reproduction.csv not generated yet (./run_all.sh --study op_mdrt)")
    rep = pd.read_csv(path, dtype={"reproduced": str}).set_index("claim_id")
    mine = independent_values(cohort)
    assert set(rep.index) == set(mine)
    for claim, value in mine.items():
        # The table prints 6 significant digits.
        np.testing.assert_allclose(float(rep.loc[claim, "reproduced"]), value, rtol=1e-5, err_msg=claim)
    assert (rep["status"] == "reproduced").all(), rep.loc[rep["status"] != "reproduced", "status"]
