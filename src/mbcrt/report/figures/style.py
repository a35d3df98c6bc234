"""One look for every figure, and a save that writes the same bytes on every rerun.

The look is a clean "ticks" style (no top/right spines, no grid, outward ticks) in the bundled
DejaVu Sans at sizes that stay readable when a figure is printed at column width. Colours come from
the Okabe-Ito palette, which stays distinguishable under the common colour-vision deficiencies;
the control arm is always blue and the treated arm always vermillion (orange-red).

Determinism: figures are drawn on an Agg canvas of their own (no pyplot state), PNG files carry no
"Software" entry and SVG files no date or creator, SVG ids come from a fixed hash salt, and text is
written as glyph outlines so no reader's installed fonts change the picture.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Okabe-Ito colours by name.
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish_green": "#009E73",
    "reddish_purple": "#CC79A7",
    "sky_blue": "#56B4E9",
    "orange": "#E69F00",
    "yellow": "#F0E442",
    "black": "#000000",
}
CONTROL_COLOR = OKABE_ITO["blue"]
TREATED_COLOR = OKABE_ITO["vermillion"]
NEUTRAL_COLOR = "#7F7F7F"
#: Colours in the order groups receive them: control, treated, then the rest of the palette
#: (yellow last: it is faint on white).
PALETTE = (CONTROL_COLOR, TREATED_COLOR, OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"],
           OKABE_ITO["sky_blue"], OKABE_ITO["orange"], OKABE_ITO["black"], OKABE_ITO["yellow"])

PNG_DPI = 300
SVG_HASH_SALT = "mbcrt"
FONT_FAMILY = "DejaVu Sans"

#: rcParams of the house style; every figure of the package is drawn and saved under them.
STYLE = {
    # Fonts: the DejaVu Sans that ships with matplotlib, also for mathtext.
    "font.family": "sans-serif",
    "font.sans-serif": [FONT_FAMILY],
    "mathtext.fontset": "dejavusans",
    "font.size": 10,
    "axes.labelsize": 10,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
    # "ticks": white background, left/bottom spines only, outward ticks, no grid.
    "axes.facecolor": "white",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.edgecolor": "#262626",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.labelcolor": "#262626",
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "xtick.direction": "out",
    "ytick.direction": "out",
    "xtick.major.size": 4,
    "ytick.major.size": 4,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "xtick.color": "#262626",
    "ytick.color": "#262626",
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
    "lines.linewidth": 1.6,
    "lines.solid_capstyle": "butt",
    "patch.linewidth": 0.8,
    "legend.frameon": False,
    "text.color": "#262626",
    # Reproducible files.
    "svg.fonttype": "path",
    "svg.hashsalt": SVG_HASH_SALT,
    "svg.image_inline": True,
    "savefig.dpi": PNG_DPI,
    "savefig.bbox": "standard",
    "savefig.transparent": False,
    "path.simplify": True,
    "path.simplify_threshold": 1.0 / 9.0,
    "agg.path.chunksize": 0,
}

#: Metadata written into the files: nothing that changes between runs or machines.
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}


def apply_style() -> None:
    """Make the house style the default for all later matplotlib figures of this process.

    The package's own plotting functions do not need this (they draw under the style anyway);
    it is for figures a notebook draws by hand, so they match.
    """
    mpl.rcParams.update(STYLE)


def _prefer_bundled_dejavu() -> None:
    """Let the font manager see only matplotlib's own DejaVu files.

    A system copy of DejaVu (Debian installs one with a browser) is another version with other
    glyph outlines, and matplotlib then lists it instead of its own: every figure's bytes would
    depend on the machine. The bundled files are added back and the system ones hidden.
    """
    from matplotlib import font_manager

    fm = font_manager.fontManager
    bundled = os.path.join(mpl.get_data_path(), "fonts", "ttf", "")
    if all(f.fname.startswith(bundled) for f in fm.ttflist if f.name.startswith("DejaVu")) and any(
            f.fname.startswith(bundled) for f in fm.ttflist):
        return
    fm.ttflist = [f for f in fm.ttflist if not f.name.startswith("DejaVu")]
    for name in sorted(os.listdir(bundled)):
        if name.startswith("DejaVu") and name.endswith(".ttf"):
            fm.addfont(bundled + name)
    font_manager.FontManager._findfont_cached.cache_clear()


#: Fonts with Chinese, Japanese and Korean glyphs, used (when installed) only for the characters DejaVu
#: lacks, so a label from a GB18030 export draws as text, not boxes; Latin text is unchanged.
CJK_FALLBACKS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
                 "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN")


def _installed_fallbacks() -> list[str]:
    from matplotlib import font_manager

    present = {f.name for f in font_manager.fontManager.ttflist}
    return [name for name in CJK_FALLBACKS if name in present]


@contextmanager
def style_context():
    """Draw (or save) under the house style without changing the caller's rcParams.

    Starts from matplotlib's defaults, not the caller's settings (a matplotlibrc, a notebook's
    ``rcParams`` changes), so the package's figures are the same wherever they are made.
    """
    _prefer_bundled_dejavu()
    with mpl.rc_context():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rcdefaults may warn about deprecated keys in the defaults
            mpl.rcdefaults()
        mpl.rcParams.update(STYLE)
        fallbacks = _installed_fallbacks()
        if fallbacks:  # glyph by glyph fallback needs the families named, not the generic "sans-serif"
            mpl.rcParams["font.family"] = [FONT_FAMILY, *fallbacks]
        # A fallback font without a bold face makes the font manager log a line for every bold title;
        # the glyphs it serves are drawn all the same, so the line would only clutter a report.
        log = logging.getLogger("matplotlib.font_manager")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            log.setLevel(level)


def new_figure(width: float, height: float, **kwargs) -> Figure:
    """A figure on its own Agg canvas, outside pyplot (no global state, nothing to leak).

    Parameters
    ----------
    width, height : float
        Size in inches.
    **kwargs
        Passed to :class:`matplotlib.figure.Figure` (e.g. ``layout="constrained"``).
    """
    fig = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def group_colors(labels: Iterable, colors: Sequence | dict | None = None) -> dict:
    """Colour of each group label, in order: given ``colors`` (list or mapping), else :data:`PALETTE`.

    With the default palette the first group is drawn blue and the second vermillion, so listing
    the control arm first keeps the arms' colours the same in every figure.
    """
    labels = list(labels)
    if isinstance(colors, dict):
        missing = [lab for lab in labels if lab not in colors]
        if missing:
            raise ValueError(f"no colour given for group(s) {missing}")
        return {lab: colors[lab] for lab in labels}
    palette = list(colors) if colors is not None else list(PALETTE)
    if len(labels) > len(palette):
        raise ValueError(f"{len(labels)} groups but only {len(palette)} colours")
    return dict(zip(labels, palette))


def _with_suffix(stem: Path, suffix: str) -> Path:
    # Not Path.with_suffix: a stem like "figure_2.1" must keep its dot.
    return stem.parent / f"{stem.name}{suffix}"


def save_figure(fig: Figure, stem: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<stem>.png`` (300 dpi) and ``<stem>.svg`` reproducibly, then close the figure.

    Parameters
    ----------
    fig : Figure
        The figure (one of this package's, or any matplotlib figure).
    stem : path-like
        Output path without extension; its folder is created if needed.

    Returns
    -------
    (Path, Path)
        The PNG and SVG paths.

    Notes
    -----
    Two saves of the same figure with the same pinned packages give byte-identical files: the PNG
    has no "Software" text chunk, the SVG no date or creator, SVG element ids are derived from a
    fixed salt and text is stored as outlines. The PNG is rendered by Agg whatever the session's
    interactive backend.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = _with_suffix(stem, ".png"), _with_suffix(stem, ".svg")
    with style_context():
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata=PNG_METADATA)
        fig.savefig(svg, format="svg", metadata=SVG_METADATA)
    _close(fig)
    return png, svg


def _close(fig: Figure) -> None:
    """Close a figure pyplot manages (the package's own figures live outside pyplot)."""
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")  # only if the caller already uses pyplot
    if pyplot is not None:
        pyplot.close(fig)
