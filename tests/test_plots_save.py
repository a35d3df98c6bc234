"""save_figure: byte-identical PNG and SVG across reruns and processes, nothing that dates or locates them."""

import os
import re
import struct
import subprocess
import sys
import textwrap

import matplotlib
import pytest

from mbcrt.report.figures.style import PNG_DPI, new_figure, save_figure

# A figure exercising text, lines, fills, markers and clipping, built the same way in every process.
FIGURE_SCRIPT = textwrap.dedent("""
    import sys
    import pandas as pd
    from mbcrt.report.figures import forest_plot, plot_km, save_figure
    from mbcrt.stats.survival import kaplan_meier

    curves = {"No RT": kaplan_meier([1, 2, 2, 3, 4, 5, 7, 9], [1, 1, 0, 1, 0, 1, 0, 1]),
              "RT": kaplan_meier([0.5, 1.5, 2.5, 6, 8, 9.5], [0, 1, 0, 1, 0, 0])}
    at_risk = pd.DataFrame([[8, 5, 2, 1], [6, 2, 2, 1]], index=list(curves), columns=[0, 3, 6, 9])
    fig = plot_km(curves, at_risk=at_risk, xlabel="Months since diagnosis", annotation="Log-rank p = 0.31")
    save_figure(fig, sys.argv[1] + "/km")
    rows = pd.DataFrame({"label": ["Age < 50", "Age >= 50"], "hr": [0.6, 0.9], "lower": [0.4, 0.6],
                         "upper": [0.9, 1.4], "HR (95% CI)": ["0.60 (0.40-0.90)", "0.90 (0.60-1.40)"]})
    save_figure(forest_plot(rows, right_text="HR (95% CI)"), sys.argv[1] + "/forest")
""")


def _render_in_fresh_process(folder, hash_seed: str) -> None:
    folder.mkdir()
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, MPLBACKEND="Agg")
    subprocess.run([sys.executable, "-c", FIGURE_SCRIPT, str(folder)], check=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    _render_in_fresh_process(root / "run1", "1")
    _render_in_fresh_process(root / "run2", "2")
    return root / "run1", root / "run2"


@pytest.mark.parametrize("name", ["km.png", "km.svg", "forest.png", "forest.svg"])
def test_two_processes_write_identical_bytes(two_runs, name):
    first, second = two_runs
    assert (first / name).read_bytes() == (second / name).read_bytes()


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        chunks.append((data[i + 4:i + 8], data[i + 8:i + 8 + length]))
        i += 12 + length
    return chunks


def test_png_has_no_text_chunks_and_is_300_dpi(two_runs):
    chunks = _png_chunks((two_runs[0] / "km.png").read_bytes())
    assert {kind for kind, _ in chunks} == {b"IHDR", b"pHYs", b"IDAT", b"IEND"}  # no tEXt/tIME
    (phys,) = [body for kind, body in chunks if kind == b"pHYs"]
    x_per_metre, y_per_metre, unit = struct.unpack(">IIB", phys)
    assert unit == 1 and x_per_metre == y_per_metre == round(PNG_DPI / 0.0254)


def test_svg_carries_no_date_creator_version_or_path(two_runs):
    svg = (two_runs[0] / "km.svg").read_text(encoding="utf-8")
    assert "<dc:date>" not in svg and "<dc:creator>" not in svg
    assert not re.search(r"(19|20)\d\d-\d\d-\d\d", svg)
    assert matplotlib.__version__ not in svg
    # No path of this machine: output folder, working directory, home, Python and matplotlib installs.
    for place in (two_runs[0], os.getcwd(), os.path.expanduser("~"), sys.prefix, matplotlib.get_data_path()):
        assert len(str(place)) <= 1 or str(place) not in svg  # "/" as home would match any URL
    assert "site-packages" not in svg


def test_svg_text_is_outlined_in_bundled_font(two_runs):
    svg = (two_runs[0] / "km.svg").read_text(encoding="utf-8")
    assert "<text" not in svg  # glyphs are paths: no reader's fonts change the figure
    glyph_fonts = set(re.findall(r'id="([A-Za-z-]+)-[0-9a-f]+"', svg))
    assert glyph_fonts and glyph_fonts <= {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique"}


def test_font_resolves_to_the_copy_bundled_with_matplotlib():
    from matplotlib import font_manager

    from mbcrt.report.figures.style import style_context

    with style_context():
        path = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]), fallback_to_default=False)
    assert os.path.commonpath([path, matplotlib.get_data_path()]) == matplotlib.get_data_path()


def test_save_returns_both_paths_keeps_dots_in_stem_and_creates_folder(tmp_path):
    fig = new_figure(2, 2)
    fig.add_subplot().plot([0, 1], [0, 1])
    png, svg = save_figure(fig, tmp_path / "nested" / "figure_2.1")
    assert png == tmp_path / "nested" / "figure_2.1.png" and png.stat().st_size > 0
    assert svg == tmp_path / "nested" / "figure_2.1.svg" and svg.read_text().startswith("<?xml")


def test_saving_twice_in_one_process_is_identical_and_closes_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(3, 2))
    fig.add_subplot().bar(["a", "b"], [1, 2])
    number = fig.number
    png1, svg1 = save_figure(fig, tmp_path / "one")
    assert not plt.fignum_exists(number)
    png2, svg2 = save_figure(fig, tmp_path / "two")
    assert png1.read_bytes() == png2.read_bytes()
    assert svg1.read_bytes() == svg2.read_bytes()
