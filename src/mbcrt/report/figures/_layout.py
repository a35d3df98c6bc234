"""Small layout helpers: measure text and place axes in inches.

Figures whose parts are sized by their text (forest plot columns, flow-diagram boxes, the labels of
an at-risk table) are laid out by hand in inches, which is exact and the same on every run.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties


def text_size(fig: Figure, text: str, *, size: float | None = None, weight: str = "normal") -> tuple[float, float]:
    """Width and height in inches that ``text`` (possibly several lines) takes in ``fig``.

    Measured with the figure's Agg renderer under the current rcParams (call it inside
    :func:`mbcrt.report.figures.style.style_context`).
    """
    renderer = fig.canvas.get_renderer()
    prop = FontProperties(size=size, weight=weight)
    lines = str(text).split("\n") or [""]
    widths, heights = [], []
    for line in lines:
        w, h, _ = renderer.get_text_width_height_descent(line or " ", prop, ismath=False)
        widths.append(w)
        heights.append(h)
    # matplotlib spaces lines at 1.2 x the font size.
    line_height = 1.2 * prop.get_size_in_points() / 72.0
    height = max(heights) / fig.dpi + (len(lines) - 1) * line_height
    return max(widths) / fig.dpi, height


def max_text_width(fig: Figure, texts, **kwargs) -> float:
    """Widest of ``texts`` in inches (0 when there are none)."""
    return max((text_size(fig, t, **kwargs)[0] for t in texts), default=0.0)


def add_axes_inches(fig: Figure, left: float, bottom: float, width: float, height: float, **kwargs) -> Axes:
    """Add axes at a rectangle given in inches from the figure's lower-left corner."""
    fw, fh = fig.get_size_inches()
    return fig.add_axes((left / fw, bottom / fh, width / fw, height / fh), **kwargs)


def format_count(n) -> str:
    """A count as clinicians read it: ``1,234``; blank when missing."""
    if pd.isna(n):
        return ""
    return f"{int(n):,}"
