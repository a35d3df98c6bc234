"""reports/index.html: one card per study with its headline results read from the run's tables, the
data label, the scorecard (none when nothing is scored), links, warnings grouped by step, and the
run metadata kept in <details>. Built from the committed outputs (tests/report_roots.py)."""

import html
import json
import re

import pandas as pd
import pytest

from mbcrt import paths
from mbcrt.report import format as fmt
from mbcrt.report import pages
from report_roots import make_root

WARNINGS = {"gbsg2": {"cox": [f"Proportional hazards may not hold for term {i}." for i in range(7)],
                      "matching": ["3 of 246 treated patients had no control within the caliper."]}}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_root(tmp_path_factory.mktemp("index"), warnings=WARNINGS)


def card(root, name) -> str:
    text = (root / "reports" / "index.html").read_text(encoding="utf-8")
    found = re.search(rf"<section class='mbcrt-card' id='{name}'>.*?</section>", text, re.S)
    assert found, f"no card for {name}"
    return found.group(0)


def text_of(markup: str) -> str:
    markup = re.sub(r"<style\b.*?</style>", " ", markup, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split()).replace(" ,", ",")


def table(name, study):
    return pd.read_csv(paths.PROJECT_ROOT / "tables" / study / f"{name}.csv")


def test_one_card_per_study_with_its_data_label(root):
    text = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<section class='mbcrt-card' id='(\w+)'>", text) == ["gbsg2", "her2_rt", "op_mdrt"]
    assert "mbcrt-badge-real'>REAL DATA" in card(root, "gbsg2")
    for name in ("her2_rt", "op_mdrt"):
        assert "mbcrt-badge-synthetic'>SYNTHETIC DATA" in card(root, name)


def test_a_two_arm_card_gives_patients_pairs_medians_and_the_hazard_ratio(root):
    text = text_of(card(root, "her2_rt"))
    assert "Patients: 488 (RT 207, No RT 281)" in text
    pairs = table("matching_summary", "her2_rt").set_index("quantity")["value"]["n_pairs"]
    assert f"Matched pairs: {int(float(pairs))}" in text
    km = table("km_summary", "her2_rt")
    rt = km[(km.cohort == "matched") & (km.group == "RT")].iloc[0]
    no = km[(km.cohort == "matched") & (km.group == "No RT")].iloc[0]
    assert (f"Overall survival, median (after matching; months, 95% CI): RT 57.1 (44.8{fmt.DASH}69.4); "
            f"No RT 34.0 (27.5{fmt.DASH}40.6)") in text
    assert round(rt["median"], 1) == 57.1 and round(no["median"], 1) == 34.0   # the CSV says what the card says
    hr = table("cox_matched", "her2_rt").set_index("model").loc["naive"]
    assert round(hr["hr"], 2) == 0.48 and round(hr["lower"], 2) == 0.36 and round(hr["upper"], 2) == 0.65
    assert f"Hazard ratio, RT vs No RT (after matching): 0.48 (0.36{fmt.DASH}0.65), p < 0.001" in text


def test_medians_in_days_are_whole_days(root):
    text = text_of(card(root, "gbsg2"))
    assert f"Hormone therapy 2,018 (1,918{fmt.DASH}NR)" in text   # upper bound not reached


def test_a_persistence_card_gives_the_proportions_with_their_ci(root):
    text = text_of(card(root, "op_mdrt"))
    p = table("persistence", "op_mdrt")
    first = p[p.group == "All"].iloc[0]
    assert (first.n_persisting, first.n_evaluable) == (28, 47)
    assert (f"On the same therapy at 6 months: 59.6% (95% CI 45.3{fmt.DASH}72.4; 28 of 47 evaluable patients)"
            in text)
    assert "Patients: 52" in text and "Hazard ratio" not in text and "Matched pairs" not in text


def test_the_scorecard_counts_the_statuses(root):
    rep = table("reproduction", "her2_rt")
    counts = rep["status"].value_counts()
    text = text_of(card(root, "her2_rt"))
    assert (f"Reproduction scorecard: {len(rep)} numbers: {counts['reproduced']} reproduced, "
            f"{counts['inconsistent in source']} inconsistent in source") in text


def test_no_scorecard_line_when_there_is_nothing_to_score(tmp_path):
    root = make_root(tmp_path, ["gbsg2"], report=False, index=False)
    (root / "tables" / "gbsg2" / "reproduction.csv").unlink()
    pages.write_index(root)
    assert "scorecard:" not in card(root, "gbsg2").lower()
    empty = root / "tables" / "gbsg2" / "reproduction.csv"
    empty.write_text("claim_id,quantity,published,reproduced,difference,tolerance,status,source,note\n")
    pages.write_index(root)
    assert "scorecard:" not in card(root, "gbsg2").lower() and "0 numbers" not in card(root, "gbsg2")


def test_links_to_the_study_report_and_every_step_page(root):
    c = card(root, "her2_rt")
    assert "href='her2_rt/report.html'" in c
    meta = json.loads((root / "reports" / "her2_rt" / "run.json").read_text())
    for notebook in meta["steps"]:
        stem = notebook.removesuffix(".ipynb")
        assert f"href='her2_rt/{stem}.html'" in c and f"href='her2_rt/{stem}.analyst.html'" in c


def test_warnings_are_grouped_by_step_one_line_each_in_details(root):
    c = card(root, "gbsg2")
    groups = re.findall(r"<details><summary><b>([^<]+)</b>: (\d+) warnings?</summary><ul>(.*?)</ul></details>", c)
    assert [(g, int(n)) for g, n, _ in groups] == [("Propensity score matching", 1), ("Cox regression", 7)]
    assert [len(re.findall("<li>", items)) for _, _, items in groups] == [1, 7]
    assert "mbcrt-warnings" not in card(root, "op_mdrt")


def test_run_metadata_is_kept_in_details(root):
    c = card(root, "her2_rt")
    meta = json.loads((root / "reports" / "her2_rt" / "run.json").read_text())
    details = re.search(r"<details class='mbcrt-meta'>.*?</details>", c, re.S).group(0)
    outside = c.replace(details, "")
    for needle in (meta["data_sha256"], meta["git_commit"], f"pandas {meta['versions']['pandas']}", "caliper_scale"):
        assert needle in details and needle not in outside


def test_the_index_is_static(root):
    text = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert "<script" not in text.lower() and "@import" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert fmt.no_exponent(text_of(re.sub(r"<details class='mbcrt-meta'>.*?</details>", "", text, flags=re.S)))
