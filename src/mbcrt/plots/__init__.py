"""Figures of the package: Kaplan-Meier curves, forest plots, balance, flow diagrams, swimmer plots.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` drawn in the house style
(:mod:`mbcrt.plots.style`) on its own Agg canvas; :func:`save_figure` writes it as a 300 dpi PNG
and an SVG that are byte-identical across reruns.
"""

from mbcrt.plots.balance import love_plot, ps_overlap
from mbcrt.plots.flow import flow_diagram
from mbcrt.plots.forest import forest_plot
from mbcrt.plots.km import km_panels, plot_km
from mbcrt.plots.style import CONTROL_COLOR, TREATED_COLOR, apply_style, save_figure
from mbcrt.plots.swimmer import swimmer_plot

__all__ = [
    "CONTROL_COLOR", "TREATED_COLOR", "apply_style", "flow_diagram", "forest_plot", "km_panels", "love_plot",
    "plot_km", "ps_overlap", "save_figure", "swimmer_plot",
]
