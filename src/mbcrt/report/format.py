"""Numbers and p-values as people read them: one place for every table, figure label and page."""

from __future__ import annotations

import numpy as np


def format_p(p: float) -> str:
    """A p-value for reading: "<0.0001"; else 3 decimals (4 below 0.001, or where 3 would round onto 0.05)."""
    if p < 0.0001:
        return "<0.0001"
    if p < 0.001 or (p < 0.05 and round(p, 3) >= 0.05):
        return f"{p:.4f}"
    return f"{p:.3f}"


def format_p_label(p: float) -> str:
    """A p-value as a clinician reads it on a figure: "p < 0.0001", "p = 0.0496", "p = 0.21"."""
    if p is None or np.isnan(p):
        return "p not estimable"
    text = format_p(p)
    return "p < 0.0001" if text.startswith("<") else f"p = {text}"


def format_number(value: float, digits: int = 3) -> str:
    """Round for display: p-values and small numbers keep ``digits`` significant figures."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.{max(digits - 1, 1)}f}" if abs(value) < 1000 else f"{value:.0f}"
    if abs(value) < 0.0001:
        return f"{value:.1e}"
    return f"{value:.{digits}g}"
