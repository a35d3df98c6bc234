"""Headless Chromium for the tests that look at rendered pages: open offline, print to PDF, screenshot.

Where no chromium is installed these tests skip, except in CI (``CI=true``, set by ``.ci/run``), where
they fail: the real-browser checks must run on every submission.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOTEXT = shutil.which("pdftotext")
PDFINFO = shutil.which("pdfinfo")
IN_CI = os.environ.get("CI", "").lower() == "true"

#: Flags for a quiet, offline, reproducible headless browser.
BASE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


def require(*tools: str) -> None:
    """Skip (fail in CI) unless every tool (``"chromium"``, ``"pdftotext"``) is installed."""
    have = {"chromium": CHROMIUM, "pdftotext": PDFTOTEXT, "pdfinfo": PDFINFO}
    missing = [t for t in tools if not have[t]]
    if missing:
        message = f"{', '.join(missing)} not installed (Debian: apt-get install chromium poppler-utils)"
        if IN_CI:
            pytest.fail(f"{message}: the real-browser checks must run in CI")
        pytest.skip(message)


def run_chromium(page: Path, work: Path, *action: str, window: str = "1280,900") -> subprocess.CompletedProcess:
    """Run headless Chromium on ``page`` with a profile under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    return subprocess.run([CHROMIUM, *BASE_FLAGS, f"--user-data-dir={work / 'profile'}", f"--window-size={window}",
                           *action, Path(page).as_uri()], capture_output=True, text=True, timeout=180)


def print_pdf(page: Path, out: Path, work: Path) -> Path:
    """Print ``page`` to ``out`` as a browser's "Save as PDF" does (no header or footer)."""
    run_chromium(page, work, "--no-pdf-header-footer", f"--print-to-pdf={out}")
    assert out.exists() and out.stat().st_size > 1000, f"chromium printed nothing for {page.name}"
    return out


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page of ``pdf`` (``pdftotext -layout`` page by page)."""
    info = subprocess.run([PDFINFO, str(pdf)], capture_output=True, text=True, check=True).stdout
    n = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    return [subprocess.run([PDFTOTEXT, "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout for i in range(1, n + 1)]


def page_height(page: Path, work: Path, width: int) -> int:
    """The rendered height of ``page`` at ``width`` px: a copy of it with one script reporting it."""
    work.mkdir(parents=True, exist_ok=True)
    probe = work / "probe.html"
    text = Path(page).read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", "<script>document.title='HEIGHT:'+"
                                  "document.documentElement.scrollHeight</script></body>", 1), encoding="utf-8")
    dom = run_chromium(probe, work, "--dump-dom", "--virtual-time-budget=3000", window=f"{width},900").stdout
    found = re.search(r"HEIGHT:(\d+)", dom)
    assert found, "could not measure the page"
    return int(found.group(1))


def screenshot(page: Path, out: Path, work: Path, width: int = 1280, max_height: int = 30000) -> Path:
    """A screenshot of the whole of ``page`` at ``width`` px (up to ``max_height`` px)."""
    height = min(page_height(page, work, width), max_height)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_chromium(page, work, f"--screenshot={out}", window=f"{width},{height}")
    assert out.exists(), f"chromium made no screenshot of {page.name}"
    return out
