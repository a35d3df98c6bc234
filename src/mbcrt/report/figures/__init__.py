"""Figures of the package: Kaplan-Meier curves, forest plots, balance, flow diagrams, swimmer plots.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` drawn in the house style
(:mod:`mbcrt.report.figures.style`) on its own Agg canvas; :func:`save_figure` writes it as a 300 dpi PNG
and an SVG that are byte-identical across reruns.
"""

from mbcrt.report.figures.balance import love_plot, ps_overlap
from mbcrt.report.figures.flow import flow_diagram
from mbcrt.report.figures.forest import forest_plot
from mbcrt.report.figures.km import km_panels, plot_km
from mbcrt.report.figures.style import (
    CONTROL_COLOR,
    TREATED_COLOR,
    apply_style,
    save_figure,
)
from mbcrt.report.figures.swimmer import swimmer_plot

__all__ = [
    "CONTROL_COLOR", "TREATED_COLOR", "apply_style", "flow_diagram", "forest_plot", "km_panels", "love_plot",
    "plot_km", "ps_overlap", "save_figure", "swimmer_plot",
]
