"""A rendered report opens in a headless browser with the network cut off and shows everything: the
index with its study and steps, the study report with its figures, a step page with its tables and
figures; and the page asks the network for nothing (the browser's request log is read). Skipped
where no chromium is installed, except in CI (``CI=true``), where a missing chromium fails.
That no page needs JavaScript is checked where the pages are made (no script in any page)."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from browser import CHROMIUM, require
from mbcrt import paths
from mbcrt.run import pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def chromium():
    require("chromium")


STUDY = paths.STUDIES_DIR / "gbsg2" / "study.yaml"
#: Hosts the browser itself calls (updates, time, accounts, dictionaries), whatever the page.
BROWSER_OWN = re.compile(r"(^|\.)(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)$")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline")
    pipeline.run_many([STUDY], ["steps=[cohort, survival]"], root=root, progress=lambda m: None)
    return root / "reports"


def browse(page: Path, work: Path, *action: str) -> tuple[str, list[str]]:
    """Open ``page`` headless with every host resolving to nothing and a dead proxy.

    Returns the browser's output and the URLs the page asked the network for.
    """
    work.mkdir(parents=True, exist_ok=True)
    netlog = work / "net.json"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={work / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--proxy-server=127.0.0.1:9", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--log-net-log={netlog}", "--window-size=1200,2400", "--virtual-time-budget=5000",
         *action, page.as_uri()],
        capture_output=True, text=True, timeout=120)
    urls = set(re.findall(r'"url":"(https?://[^"/]+)[^"]*"', netlog.read_text(errors="replace")))
    asked = sorted(u for u in urls if not BROWSER_OWN.search(u.split("://", 1)[1].split(":")[0]))
    return proc.stdout, asked


def test_index_renders_with_the_study_and_its_steps(reports, tmp_path):
    dom, asked = browse(reports / "index.html", tmp_path, "--dump-dom")
    assert "mbcrt: study reports" in dom
    assert "GBSG2: hormone therapy" in dom and "gbsg2/04_survival.html" in dom
    assert "Patients:" in dom and "gbsg2/report.html" in dom
    assert "Reproduction scorecard:" not in dom   # this run checks no published number
    assert asked == []


def test_the_study_report_renders_offline_with_its_figures(reports, tmp_path):
    dom, asked = browse(reports / "gbsg2" / "report.html", tmp_path, "--dump-dom")
    assert "SYNTHETIC DATA" not in dom and "REAL DATA." in dom
    assert re.search(r"<figure id=.figure-1. class=.mbcrt-figure.><svg ", dom)    # inline, drawn by the browser
    assert "Figure 2." in dom and "Table 1." in dom and "04_survival.html" in dom
    assert asked == []


def test_a_step_page_renders_its_tables_and_figures(reports, tmp_path):
    dom, asked = browse(reports / "gbsg2" / "04_survival.html", tmp_path, "--dump-dom")
    assert "Patients, events, median survival" in dom
    assert dom.count("<table") >= 1 and "Hormone therapy" in dom and "Median follow-up" in dom
    assert re.search(r'<img[^>]+src="data:image/svg\+xml', dom)   # the Kaplan-Meier figure, inline
    assert asked == []


def test_a_step_page_screenshot_is_not_blank(reports, tmp_path):
    from PIL import Image

    shot = tmp_path / "page.png"
    browse(reports / "gbsg2" / "04_survival.html", tmp_path, f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    dark = (pixels < 200).mean()
    assert pixels.shape[0] >= 1000 and 0.01 < dark < 0.6, f"{dark:.3%} dark pixels"


def test_the_request_log_sees_a_page_that_loads_from_the_network(tmp_path):
    page = tmp_path / "control.html"
    page.write_text("<html><body><img src='https://example.org/logo.png'><p>x</p></body></html>")
    _, asked = browse(page, tmp_path / "browser", "--dump-dom")
    assert asked == ["https://example.org"]
