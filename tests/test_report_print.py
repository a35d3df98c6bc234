"""The study report prints to PDF from a browser (headless Chromium, "Save as PDF") with no table row
cut across pages and no figure split from its caption.

Rows: for every table row of the page, every word of its cells must be found on one same page of the
PDF (``pdftotext -layout`` page by page; words counted, so a row is not "found" on words from two
pages). A control page whose row is forced across a page break shows the check finds a split row.
Figures: a figure's caption follows its drawing, so an unsplit figure has its whole drawing above
its caption on the caption's page: the caption's top (``pdftotext -bbox``) lies at least the
drawing's printed height below the top margin. Skipped without chromium and poppler, except in CI.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from browser import print_pdf, pdf_pages, require
from report_roots import BUNDLED, make_root

pytestmark = pytest.mark.integration

MM = 72 / 25.4
#: The print stylesheet's page: A4, 16 mm top margin, 14 mm side margins; figures at most 235 mm high.
PAGE_WIDTH, TOP_MARGIN, SIDE_MARGIN, FIGURE_MAX_HEIGHT = 210 * MM, 16 * MM, 14 * MM, 235 * MM


def words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).lower())


class Rows(HTMLParser):
    """Every table row of a page as the list of its cells' texts (SVG and style text left out)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self._row, self._cell, self._skip = [], None, None, 0

    def handle_starttag(self, tag, attrs):
        if tag in ("svg", "style"):
            self._skip += 1
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("svg", "style"):
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if any(self._row):
                self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None and not self._skip:
            self._cell.append(data)


def table_rows(page: Path) -> list[list[str]]:
    parser = Rows()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.rows


def split_rows(page: Path, pdf: Path) -> list[list[str]]:
    """The rows of ``page`` whose words are on no single page of ``pdf``."""
    pages = [Counter(words(text)) for text in pdf_pages(pdf)]
    split = []
    for row in table_rows(page):
        need = Counter(w for cell in row for w in words(cell))
        if need and not any(all(p[w] >= n for w, n in need.items()) for p in pages):
            split.append(row)
    return split


def caption_tops(pdf: Path, work: Path) -> dict[int, float]:
    """``{figure number: top of its caption below the page's top edge (pt)}`` from ``pdftotext -bbox``."""
    out = work / "bbox.html"
    subprocess.run(["pdftotext", "-bbox", str(pdf), str(out)], check=True, capture_output=True)
    tops = {}
    for page in re.findall(r"<page .*?</page>", out.read_text(encoding="utf-8"), re.S):
        found = re.findall(r'<word xMin="([^"]+)" yMin="([^"]+)"[^>]*>([^<]*)</word>', page)
        for (x, y, w), (_, _, nxt) in zip(found, found[1:]):
            # a caption starts at the left margin ("Figure 2." in a table or a list is not one)
            if w == "Figure" and re.fullmatch(r"\d+\.", nxt) and float(x) < SIDE_MARGIN + 2:
                tops.setdefault(int(nxt[:-1]), float(y))
    return tops


def printed_heights(page: Path) -> dict[int, float]:
    """``{figure number: height (pt) its drawing takes in print}``: its natural size, narrowed to the
    page's width and capped at the stylesheet's maximum height."""
    text = page.read_text(encoding="utf-8")
    heights = {}
    for n, svg in re.findall(r"<figure id='figure-(\d+)' class='mbcrt-figure'>(<svg[^>]*>)", text):
        width = float(re.search(r'max-width:([\d.]+)pt', svg).group(1))
        _, _, vw, vh = map(float, re.search(r'viewBox="([^"]+)"', svg).group(1).split())
        shown = min(width, PAGE_WIDTH - 2 * SIDE_MARGIN)
        heights[int(n)] = min(shown * vh / vw, FIGURE_MAX_HEIGHT)
    return heights


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    require("chromium", "pdftotext", "pdfinfo")
    root = make_root(tmp_path_factory.mktemp("print"), index=False)
    work = tmp_path_factory.mktemp("browser")
    return {name: (root / "reports" / name / "report.html",
                   print_pdf(root / "reports" / name / "report.html", work / f"{name}.pdf", work / name))
            for name in BUNDLED}


@pytest.mark.parametrize("name", BUNDLED)
def test_no_table_row_is_cut_across_pages(printed, name):
    page, pdf = printed[name]
    assert len(table_rows(page)) > 50 and len(pdf_pages(pdf)) > 3
    assert split_rows(page, pdf) == []


@pytest.mark.parametrize("name", BUNDLED)
def test_no_figure_is_split_from_its_caption(printed, name, tmp_path):
    page, pdf = printed[name]
    heights, tops = printed_heights(page), caption_tops(pdf, tmp_path)
    assert sorted(tops) == sorted(heights) and heights
    short = {n: (round(tops[n] - TOP_MARGIN), round(h)) for n, h in heights.items() if tops[n] - TOP_MARGIN < h - 4}
    assert short == {}, "figure: (room above its caption, drawing height) in pt"


def test_the_report_prints_without_navigation_and_with_margins(printed):
    page, pdf = printed["her2_rt"]
    first = pdf_pages(pdf)[0]
    assert "All studies" not in first and "Contents" not in first   # navigation is for the screen
    assert "SYNTHETIC DATA" in first
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert re.search(r"Page size:\s+59[45]\.\d+ x 841\.\d+ pts \(A4\)", info)


def test_the_check_finds_a_row_cut_across_pages(tmp_path):
    """Control: without the print stylesheet, a tall row placed across a page break is cut, and seen."""
    require("chromium", "pdftotext", "pdfinfo")
    lines = "<br>".join(f"line{i}" for i in range(60))
    page = tmp_path / "split.html"
    page.write_text("<html><body><div style='height:230mm'></div><table><tr><td>first cell</td>"
                    f"<td>{lines}</td></tr><tr><td>next row</td><td>fine</td></tr></table></body></html>")
    pdf = print_pdf(page, tmp_path / "split.pdf", tmp_path / "browser")
    assert len(pdf_pages(pdf)) >= 2
    assert [row[0] for row in split_rows(page, pdf)] == ["first cell"]


def test_the_check_finds_a_figure_split_from_its_caption(printed, tmp_path):
    """Control: the same report without ``break-inside: avoid`` on figures has a figure cut from its caption."""
    page, _ = printed["her2_rt"]
    text = page.read_text(encoding="utf-8")
    assert "figure,tr,li," in text
    loose = page.with_name("loose_figures.html")
    loose.write_text(text.replace("figure,tr,li,", "tr,li,"), encoding="utf-8")
    pdf = print_pdf(loose, tmp_path / "loose.pdf", tmp_path / "browser")
    heights, tops = printed_heights(loose), caption_tops(pdf, tmp_path)
    assert any(tops[n] - TOP_MARGIN < h - 4 for n, h in heights.items())
