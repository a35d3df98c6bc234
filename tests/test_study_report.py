"""The study report (reports/<study>/report.html): a paper's results section built from a run's outputs.

Built here from each bundled study's committed tables and figures (tests/report_roots.py), as the
pipeline builds it from its staging folder; tests/test_pipeline_*.py run it end to end."""

import html
import re
import shutil

import pandas as pd
import pytest

from mbcrt import paths
from mbcrt.report import format as fmt
from mbcrt.report import study_report, tables
from mbcrt.study.config import load_study
from report_roots import make_root

WARNINGS = {"her2_rt": {"cox": ["Proportional hazards may not hold for T stage T3.", "Few events per variable."],
                        "matching": ["72 of 207 treated patients had no control within the caliper."]}}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_root(tmp_path_factory.mktemp("reports"), warnings=WARNINGS, index=False)


def page(root, name) -> str:
    return (root / "reports" / name / "report.html").read_text(encoding="utf-8")


def visible_text(markup: str) -> str:
    """What a reader sees: no style, no SVG drawing, no tags."""
    markup = re.sub(r"<(style|svg)\b.*?</\1>", " ", markup, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def section_ids(markup: str) -> list[str]:
    return re.findall(r"<h2 id='([^']+)'", markup)


#: Every section a report may have, in reading order.
ORDER = ["design", "patients", "baseline", "matching", "survival", "cox", "imputation", "subgroups", "sensitivity",
         "persistence", "reproduction", "other-figures", "warnings", "steps"]


def in_order(ids: list[str], must: list[str]) -> bool:
    """``ids`` holds ``must`` and every section it has is in reading order."""
    return set(must) <= set(ids) and ids == sorted(ids, key=ORDER.index)


def test_a_two_arm_study_reads_like_a_results_section(root):
    ids = section_ids(page(root, "her2_rt"))
    assert in_order(ids, ["design", "patients", "baseline", "matching", "survival", "cox", "subgroups",
                          "reproduction", "warnings", "steps"]), ids
    assert "persistence" not in ids and "other-figures" not in ids


def test_a_persistence_study_has_its_persistence_results_and_no_comparison(root):
    text = page(root, "op_mdrt")
    ids = section_ids(text)
    assert in_order(ids, ["design", "patients", "survival", "persistence", "reproduction", "steps"]), ids
    assert not {"matching", "cox", "subgroups"} & set(ids)
    assert "A single-arm cohort" in text
    persistence = pd.read_csv(paths.PROJECT_ROOT / "tables" / "op_mdrt" / "persistence.csv")
    study = load_study(paths.STUDIES_DIR / "op_mdrt" / "study.yaml")
    # the primary proportion (all patients, first horizon), as the publication table prints it
    first = tables.persistence_table(persistence, study).cells()[1]
    assert re.search(r"\s+".join(re.escape(c) for c in first if c), visible_text(text))


@pytest.mark.parametrize("name", ["gbsg2", "her2_rt", "op_mdrt"])
def test_figures_and_tables_are_numbered_in_reading_order_and_captioned(root, name):
    text = page(root, name)
    figures = [int(n) for n in re.findall(r"<figcaption><b>Figure (\d+)\.</b> [A-Z]", text)]
    tables = [int(n) for n in re.findall(r"<p class='mbcrt-caption'><b>Table (\d+)\.</b> [A-Z]", text)]
    assert figures == list(range(1, len(figures) + 1)) and len(figures) >= 3
    assert tables == list(range(1, len(tables) + 1)) and len(tables) >= 2
    # every figure the run drew is in the report, inline (missing values only where some are missing)
    drawn = [p for p in (root / "figures" / name).glob("*.svg") if p.stem != "missingness"]
    assert text.count("<figure ") == len(drawn)
    assert "No analysis variable has a missing value." in text


def test_the_papers_names_label_the_outputs_they_name(root):
    text = page(root, "her2_rt")
    caption = re.search(r"<b>Figure \d+\.</b> ([^<]*after matching by arm[^<]*)<span class='mbcrt-paper'>In the "
                        r"paper: ([^<]*)</span>", text)
    assert caption and caption.group(2) == "Figure 1B."
    assert re.search(r"<b>Table \d+\.</b> Univariable and multivariable Cox[^<]*<span class='mbcrt-paper'>In the "
                     r"paper: Table 2\.</span>", text)
    assert re.search(r"<b>Table \d+\.</b> Baseline characteristics before and after propensity score matching\."
                     r"<span class='mbcrt-paper'>In the paper: Table 1\.</span>|<b>Table \d+\.</b> Baseline "
                     r"characteristics before and after propensity score matching\. <span class='mbcrt-paper'>"
                     r"In the paper: Table 1\.</span>", text)


def test_the_design_paragraph_states_cohort_comparison_endpoint_methods_and_readings(root):
    study = load_study(paths.STUDIES_DIR / "her2_rt" / "study.yaml")
    text = visible_text(page(root, "her2_rt"))
    assert "488 of 562 records assessed form the analysis cohort" in text
    assert "RT (207 patients) versus No RT (281 patients)" in text
    assert "Endpoint. Overall survival; time in months" in text
    assert "Breslow ties" in text and "median \u00b1 1.96 standard errors" in text    # the study's SPSS methods
    assert "caliper of 0.2 standard deviation of the logit" in text
    for reading in study.readings:
        assert html.unescape(reading["topic"]) in text


@pytest.mark.parametrize("name,label", [("her2_rt", "SYNTHETIC DATA."), ("op_mdrt", "SYNTHETIC DATA."),
                                        ("gbsg2", "REAL DATA.")])
def test_the_data_label_is_on_the_page(root, name, label):
    text = page(root, name)
    assert label in text
    assert ("SYNTHETIC DATA" in text) == (name != "gbsg2")


@pytest.mark.parametrize("name", ["gbsg2", "her2_rt", "op_mdrt"])
def test_the_page_is_static_and_self_contained(root, name):
    text = page(root, name)
    assert "<script" not in text.lower() and "<img" not in text.lower() and "@import" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    # several inline figures in one page never share an element id
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))
    for ref in set(re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', text)):
        target = ref[0] or ref[1]
        assert f'id="{target}"' in text, f"dangling reference #{target}"


@pytest.mark.parametrize("name", ["gbsg2", "her2_rt", "op_mdrt"])
def test_no_raw_float_nan_or_exponent_for_the_reader(root, name):
    # the numbers the page prints (the study file's own words, e.g. "a relative 1e-3", left aside)
    text = visible_text(re.sub(r"<ul class='mbcrt-readings'>.*?</ul>", "", page(root, name), flags=re.S))
    assert fmt.no_exponent(text)
    assert not re.search(r"\bnan\b|\bNaN\b|\bNone\b", text)
    assert not re.search(r"\d\.\d{6,}", text), re.search(r"\d\.\d{6,}", text)


@pytest.mark.parametrize("name", ["her2_rt", "op_mdrt"])
def test_no_patient_id_or_patient_level_date(root, name):
    study = load_study(paths.STUDIES_DIR / name / "study.yaml")
    raw = pd.read_csv(study.data_path, dtype=str, keep_default_na=False)
    needles = set(raw[study.id]) | {v for col in study.dates for v in raw[col] if v}
    text = page(root, name)
    assert [n for n in needles if n in text] == []
    assert "study.yaml" not in text


def test_the_step_pages_are_linked(root):
    text = page(root, "her2_rt")
    study = load_study(paths.STUDIES_DIR / "her2_rt" / "study.yaml")
    for _, notebook in study.notebooks():
        stem = notebook.removesuffix(".ipynb")
        assert f"href='{stem}.html'" in text and f"href='{stem}.analyst.html'" in text
    assert "href='../index.html'" in text


def test_warnings_are_grouped_by_step_and_open_for_print(root):
    text = page(root, "her2_rt")
    assert re.search(r"<details open><summary><b>Propensity score matching</b>: 1 warning</summary>", text)
    assert re.search(r"<details open><summary><b>Cox regression</b>: 2 warnings</summary><ul>"
                     r"<li>Proportional hazards may not hold for T stage T3\.</li><li>Few events", text)


def test_the_page_shows_what_the_tables_say(tmp_path):
    """Built from the outputs, not recomputed: a changed median in km_summary.csv is what the page shows,
    and a figure the run did not draw is left out with the numbering closed up."""
    root = make_root(tmp_path, ["her2_rt"], report=False, index=False)
    km = root / "tables" / "her2_rt" / "km_summary.csv"
    df = pd.read_csv(km)
    row = (df["cohort"] == "matched") & (df["group"] == "RT")
    df.loc[row, ["median", "median_lower", "median_upper"]] = [77.7777, 66.6111, 88.8222]
    df.to_csv(km, index=False)
    (root / "figures" / "her2_rt" / "km_os_all.svg").unlink()
    markup = study_report.build_study_report(root, "her2_rt")
    text = visible_text(markup)
    assert f"77.8 (66.6{fmt.DASH}88.8)" in text
    figures = [int(n) for n in re.findall(r"<figcaption><b>Figure (\d+)\.", markup)]
    assert figures == list(range(1, len(figures) + 1))
    assert "In the paper: Figure 1A" not in text and "In the paper: Figure 1B" in text


def test_a_study_without_optional_outputs_still_gets_a_report(tmp_path):
    """Only the cohort and survival steps (as a user's first run might be): no empty sections."""
    root = make_root(tmp_path, ["gbsg2"], report=False, index=False)
    for f in (root / "tables" / "gbsg2").glob("*.csv"):
        if f.stem not in {"attrition", "cohort_overview", "km_summary", "landmarks", "logrank", "followup"}:
            f.unlink()
    for f in (root / "figures" / "gbsg2").glob("*.svg"):
        if not f.stem.startswith(("flow", "km_rfs_all")):
            f.unlink()
    shutil.rmtree(root / "reports" / "gbsg2")
    study = load_study(paths.STUDIES_DIR / "gbsg2" / "study.yaml", ["steps=[cohort, survival]"])
    from mbcrt.report import pages

    pages.write_run_metadata(study, root, [], [{"notebook": nb} for _, nb in study.notebooks()])
    text = study_report.build_study_report(root, "gbsg2")
    assert section_ids(text) == ["design", "patients", "survival", "steps"]
    assert "Reproduction" not in visible_text(text)


def test_a_rebuild_is_byte_identical(root):
    assert study_report.build_study_report(root, "her2_rt") == page(root, "her2_rt")


def test_outputs_of_later_steps_are_shown_never_lost(tmp_path):
    """A sensitivity table gets its section; a figure no section knows is shown under "Other figures"."""
    root = make_root(tmp_path, ["gbsg2"], report=False, index=False)
    pd.DataFrame({"analysis": ["naive", "time_varying"], "landmark": [None, None], "hr": [0.6951234, 0.7712345],
                  "lower": [0.5441, 0.6012], "upper": [0.8882, 0.9893], "p": [0.0036, 0.0402], "n": [686, 686],
                  "events": [299, 299], "note": ["", ""]}).to_csv(
        root / "tables" / "gbsg2" / "sensitivity.csv", index=False)
    shutil.copy2(root / "figures" / "gbsg2" / "flow.svg", root / "figures" / "gbsg2" / "new_view.svg")
    markup = study_report.build_study_report(root, "gbsg2")
    ids = section_ids(markup)
    assert "sensitivity" in ids and "other-figures" in ids and ids == sorted(ids, key=ORDER.index)
    text = visible_text(markup)
    assert "Treatment as time-varying (reference)" in text and "0.77 (0.60" in text
    assert "0.7712345" not in text and "time_varying" not in text   # rounded, in words
    assert "New view." in text
