"""Publication tables (mbcrt.report.tables): journal layout, human labels, no raw numbers, offline HTML.

Checked on the bundled studies' committed CSV tables (tables/gbsg2, tables/her2_rt, tables/op_mdrt) and
on small hand-made frames.
"""

import html
import re

import numpy as np
import pandas as pd
import pytest

from mbcrt.paths import PROJECT_ROOT, STUDIES_DIR
from mbcrt.report import privacy, tables
from mbcrt.report.tables import PubTable, cox_table, generic, scorecard, survival_table, table_one
from mbcrt.run.context import _read
from mbcrt.study.config import load_study

EN = "\u2013"
STUDIES = ["gbsg2", "her2_rt", "op_mdrt"]


def study(name):
    return load_study(STUDIES_DIR / name / "study.yaml")


def committed(name, table):
    return _read(PROJECT_ROOT / "tables" / name / f"{table}.csv")


def reader(name):
    def read(table):
        path = PROJECT_ROOT / "tables" / name / f"{table}.csv"
        if not path.exists():
            raise FileNotFoundError(table)
        return _read(path)
    return read


def visible_text(markup: str) -> str:
    """What a reader sees: the HTML without its style block and tags."""
    body = re.sub(r"<style.*?</style>", " ", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def every_committed_table():
    for name in STUDIES:
        for path in sorted((PROJECT_ROOT / "tables" / name).glob("*.csv")):
            yield name, path.stem


# ---- Table 1 ---------------------------------------------------------------------------------------------

def test_table_one_journal_layout_before_and_after_matching():
    t = table_one(committed("gbsg2", "table1"), study("gbsg2"))
    stub = t.body.iloc[:, 0].tolist()
    assert stub[:4] == ["Age (years), median (IQR)", "Menopausal status, n (%)", "Pre", "Post"]
    assert t.indent[:4] == [0, 0, 1, 1]                        # levels indented under their variable
    assert "n" not in stub                                      # the arm sizes are in the headers
    assert [s for s, _ in t.spanners] == ["Before matching", "After matching"]
    headers = [t.header(c) for c in t.columns]
    assert headers[1:5] == ["No hormone therapy (n = 440)", "Hormone therapy (n = 246)", "p", "SMD"]
    assert headers[5:7] == ["No hormone therapy (n = 243)", "Hormone therapy (n = 243)"]
    assert "Missing, n" not in headers                          # nobody has a missing value
    age = t.body.iloc[0].tolist()
    assert age[1:5] == [f"50.0 (45.0{EN}59.0)", f"58.0 (50.0{EN}63.0)", "<0.001\u1d43", "0.57"]
    pre = t.body.iloc[2].tolist()
    assert pre[1:3] == ["231 (52.5)", "59 (24.0)"] and pre[3] == ""  # p on the variable's row only
    assert t.body.iloc[1, 3] == "<0.001\u1d47"                   # menopausal status: chi-square
    assert any("\u1d43 Mann-Whitney U test" in f and "\u1d47 Pearson chi-square test" in f for f in t.footnotes)


def test_table_one_shows_missing_counts_only_where_some_are_missing():
    t1 = committed("gbsg2", "table1_all")
    t1.loc[t1["variable"] == "tsize", "missing"] = 3
    t = table_one(t1, study("gbsg2"), name="table1_all")
    assert t.header(t.columns[-1]) == "Missing, n"
    missing = dict(zip(t.body.iloc[:, 0], t.body.iloc[:, -1]))
    assert missing["Tumour size (mm), median (IQR)"] == "3" and missing["Age (years), median (IQR)"] == ""
    assert not t.spanners                                       # one cohort: no spanners


def test_table_one_suppressed_cells_read_as_a_marker_with_a_footnote():
    t1 = committed("op_mdrt", "table1_all")
    row = t1.index[(t1["variable"] == "therapy_class") & (t1["level"] == "Endocrine")][0]
    t1.loc[row, ["HER2+", "HER2+__n", "HER2+__pct"]] = ["<5", np.nan, np.nan]
    t = table_one(t1, study("op_mdrt"), name="table1_all")
    assert "<5" in t.body.to_numpy()
    assert any(f.startswith("<5: fewer than 5 patients") for f in t.footnotes)
    assert "nan" not in visible_text(t.to_html()).lower()


# ---- Cox -------------------------------------------------------------------------------------------------

def test_cox_table_paper_layout_with_reference_levels():
    s = study("gbsg2")
    t = cox_table(committed("gbsg2", "cox_univariable"), committed("gbsg2", "cox_multivariable"), s)
    assert [g for g, _ in t.spanners] == ["Univariable", "Multivariable"]
    rows = {(g, r.iloc[0]): r.tolist() for g, (_, r) in zip(t.groups, t.body.iterrows())}
    all_ = "All patients"
    assert rows[(all_, "No hormone therapy")][1:] == ["1 (reference)", "", "1 (reference)", ""]
    # R: coxph(Surv(time, cens) ~ horTh, data = GBSG2): HR 0.6949 (0.5438-0.8879), p = 0.0036
    assert rows[(all_, "Hormone therapy")][1:3] == [f"0.69 (0.54{EN}0.89)", "0.004"]
    assert rows[(all_, "I")][1] == "1 (reference)" and rows[(all_, "III")][1] == f"3.17 (1.90{EN}5.29)"
    assert rows[(all_, "Positive lymph nodes")][2] == "<0.001"
    # a per-unit HR gets a third decimal in both models of its row
    assert rows[(all_, "Progesterone receptor (fmol/l)")][1] == f"0.997 (0.996{EN}0.998)"
    assert rows[(all_, "Progesterone receptor (fmol/l)")][3] == f"0.998 (0.997{EN}0.999)"
    stub = t.body.iloc[:, 0].tolist()
    assert stub.index("Pre") == stub.index("Menopausal status") + 1
    assert t.indent[stub.index("Pre")] == 1 and t.indent[stub.index("Menopausal status")] == 0
    assert set(t.groups) == {"All patients", "Propensity-matched cohort"}


def test_cox_table_from_the_saved_paper_table_reads_both_models():
    t = tables.for_saved_table("cox_table", committed("her2_rt", "cox_table"), study("her2_rt"), reader("her2_rt"))
    assert "1 (reference)" in t.body.to_numpy() and len(t.spanners) == 2


# ---- survival, scorecard, generic -------------------------------------------------------------------------

def test_survival_table_medians_in_the_study_unit_and_landmarks_as_percent():
    s = study("gbsg2")
    t = survival_table(committed("gbsg2", "km_summary"), committed("gbsg2", "landmarks"), s,
                       logrank=committed("gbsg2", "logrank"), followup=committed("gbsg2", "followup"))
    assert t.header("median") == "Median, days (95% CI)"
    first = t.body.iloc[0].tolist()
    assert first[:4] == ["All patients", "686", "299 (43.6)", f"1,807 (1,528{EN}2,018)"]
    assert t.body.iloc[2, 3] == f"2,018 (1,918{EN}NR)"          # upper bound not reached
    assert first[4] == f"91.6 (89.2{EN}93.4)" and t.header("t0") == "365 days"
    assert t.groups[0] == "Recurrence-free survival, all patients (log-rank p = 0.003)"
    assert t.source_notes[0] == ("Median follow-up (reverse Kaplan-Meier) for recurrence-free survival, all patients: "
                                 f"1,645 (1,560{EN}1,714) days.")


def test_survival_table_suppressed_groups_read_suppressed():
    km = pd.DataFrame({"endpoint": "os", "cohort": "all", "group": ["All", "A", "B"], "n": [40, 37, 3],
                       "events": [20, 18, 2], "event_pct": [50.0, 100 * 18 / 37, 100 * 2 / 3],
                       "median": [10.0, 11.0, 4.0], "median_lower": [8.0, 9.0, 1.0], "median_upper": [12, 14, np.nan]})
    s = study("her2_rt")
    s.config["min_cell_count"] = 5
    shown = survival_table(privacy.suppress(km, "km_summary", 5), None, s)
    row_b = shown.body.iloc[2].tolist()
    assert row_b[1:] == ["suppressed", "suppressed", "suppressed"]
    assert any(f.startswith("suppressed: a count of fewer than 5") for f in shown.footnotes)
    assert "nan" not in visible_text(shown.to_html()).lower()


def test_scorecard_precision_status_words_and_colour():
    t = scorecard(committed("op_mdrt", "reproduction"))
    row = t.body[t.body["Quantity"] == "Patients with HR+/HER2- disease (% of 52)"].iloc[0]
    assert row["Published"] == "69" and row["Reproduced"] == "69"  # the paper prints whole percent
    assert row["Status"] == "Reproduced" and row["Tolerance"] == "\u00b10.5"
    i = int(row.name)
    assert t.colours[(i, "Status")] == tables.STATUS_COLOURS["reproduced"]
    g = scorecard(committed("gbsg2", "reproduction"))
    survival = g.body[g.body["Quantity"] == "RFS at 365 days, No hormone therapy, all patients"].iloc[0]
    assert survival["Published"] == "0.8966" and survival["Tolerance"] == "\u00b10.1% (relative)"
    assert "claim_id" not in t.to_html()


def test_generic_maps_headers_drops_ids_and_formats_floats():
    df = pd.DataFrame({"claim_id": ["a"], "event_pct": [43.58600583], "p": [2.08337e-09], "median_lower": [1528.0],
                       "met_bone": [0.518439]})
    t = generic(df, study("gbsg2"), columns={"met_bone": "Bone metastases"}, name="x")
    assert [t.header(c) for c in t.columns] == ["Events (%)", "p", "Median, 95% CI lower", "Bone metastases"]
    assert t.body.iloc[0].tolist() == ["43.6", "<0.001", "1,528", "0.518"]
    dropped = generic(df, columns={"met_bone": None, "claim_id": None})
    assert "Bone" not in dropped.to_html() and len(dropped.columns) == 3


# ---- every builder on every committed table ----------------------------------------------------------------

@pytest.mark.parametrize("name, table", list(every_committed_table()))
def test_rendered_tables_are_for_people_and_offline(name, table):
    df = committed(name, table)
    t = tables.for_saved_table(table, df, study(name), reader(name))
    markup = t.to_html()
    text = visible_text(markup)
    assert re.search(r"\d[eE][+-]?\d", text) is None, "exponent notation"
    assert re.search(r"\d\.\d{5,}", text) is None, "raw float"
    assert re.search(r"\bnan\b|\bNone\b", text, flags=re.I) is None
    internal = [c for c in df.columns if "_" in str(c)]
    shown = [c for c in internal if re.search(rf"(?<![\w.]){re.escape(c)}(?!\w)", text)]
    assert not shown, f"internal column names shown: {shown}"
    for bad in ("http", "<script", "@import", "<link", "googleapis"):
        assert bad not in markup
    assert f'id="{t.element_id}"' in markup and markup == t.to_html()  # fixed id: byte-identical reruns
    assert t.caption


def test_table_styles_are_scoped_to_their_table():
    markup = table_one(committed("gbsg2", "table1_all"), study("gbsg2"), name="table1_all").to_html()
    style = re.search(r"<style>(.*?)</style>", markup, flags=re.S).group(1)
    for rule in re.findall(r"([^{}]+)\{", style):
        for selector in rule.split(","):
            assert selector.strip().startswith("#mbcrt-table1_all") or selector.strip().startswith("@"), selector


def test_pubtable_cells_and_repr():
    t = PubTable(name="demo", caption="Demo", body=pd.DataFrame({"A": ["x", None], "B": [np.nan, "2"]}))
    assert t.cells() == [["A", "B"], ["x", ""], ["", "2"]]
    assert t._repr_html_() == t.to_html() and t.element_id == "mbcrt-demo"


def test_pooled_tables_read_as_the_other_tables():
    """Multiple imputation: pooled HRs as "HR (95% CI)" grouped by cohort and model, the fraction of missing
    information with two decimals; pooled survival as % (95% CI); no internal value shown."""
    s = study("her2_rt")
    cox = pd.DataFrame({"cohort": ["all", "all", "matched"], "model": ["univariable", "multivariable", "cluster_robust"],
                        "term": ["rt", "ki67", "rt"], "label": ["RT vs No RT", "Ki-67 (%)", "RT vs No RT"],
                        "hr": [0.5812, 1.0071, 0.611], "lower": [0.49, 1.0012, 0.5], "upper": [0.68, 1.013, 0.75],
                        "p": [1e-9, 0.031, 2e-6], "fmi": [0.0012, 0.2234, 0.01], "m": 20})
    pt = tables.for_saved_table("mi_cox", cox, s)
    assert pt.groups == ["All patients, univariable models", "All patients, multivariable model",
                         "Propensity-matched cohort, treatment only: Robust SE clustered on the matched pair"]
    assert list(pt.body.iloc[0]) == ["RT vs No RT", f"0.58 (0.49{EN}0.68)", "<0.001", "0.00"]
    assert pt.body.iloc[1, 3] == "0.22" and "20 imputed data sets" in pt.footnotes[0]
    marks = pd.DataFrame({"endpoint": ["os"], "cohort": ["all"], "group": ["RT"], "time": [12.0], "surv": [0.6433],
                          "lower": [0.609], "upper": [0.676], "n_risk": [300], "fmi": [0.05], "m": [20]})
    lm = tables.for_saved_table("mi_landmarks", marks, s)
    assert list(lm.body.iloc[0]) == ["RT", "12 months", f"64.3 (60.9{EN}67.6)", "0.05"]
    assert lm.groups == ["Overall survival, all patients"]
    for text in (pt.to_html(), lm.to_html()):
        visible = html.unescape(re.sub(r"<style.*?</style>|<[^>]+>", " ", text, flags=re.S))
        assert not re.search(r"cluster_robust|\bfmi\b|\bos\b", visible) and "e-0" not in visible
