"""Numbers and p-values as people read them: one place for every table, figure label and page.

The rules are those of the clinical journals (NEJM, Lancet, JCO style guides):

- p-values with 3 decimals, "<0.001" below that; 4 decimals where 3 would round a p below 0.05 onto
  0.050 (so "significant" never reads as "0.050");
- hazard ratios with 2 decimals and their 95% CI as "0.69 (0.54-0.89)" (an en dash between the bounds,
  " to " when a bound is negative); 3 decimals when 2 would print a per-unit HR as "1.00 (1.00-1.00)";
- percentages with 1 decimal; counts with thousands separators ("1,234");
- a median that is not reached reads "not reached", an upper bound that is not reached "NR";
- missing values are blank, never "nan"; no number is ever printed in exponent notation.

A statistic never formats: the steps write full-precision CSV tables and everything for people goes
through these functions.
"""

from __future__ import annotations

import math

import pandas as pd

#: Between the bounds of an interval, as journals print it.
DASH = "\u2013"
#: A median (or a bound) the Kaplan-Meier curve never reaches.
NOT_REACHED = "not reached"
NOT_REACHED_SHORT = "NR"
#: A cell blanked by small-cell suppression (see :mod:`mbcrt.report.privacy`).
SUPPRESSED_MARK = "suppressed"


def is_missing(value) -> bool:
    """True for None, NaN, NaT, pandas' NA and the empty string."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fixed(value: float, decimals: int, thousands: bool = True) -> str:
    """``value`` with ``decimals`` decimals, never "-0.0", never an exponent."""
    text = f"{float(value):,.{decimals}f}" if thousands else f"{float(value):.{decimals}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]
    return text


def format_p(p: float, smallest: float = 0.001) -> str:
    """A p-value for reading: "<0.001", "0.021", "0.0496" (3 decimals would print 0.050).

    Parameters
    ----------
    p : float
        The p-value; missing gives "".
    smallest : float
        Below it the p-value reads "<smallest" (0.001, in tables and figures alike). Between
        ``smallest`` and 0.001 four decimals are shown.
    """
    if is_missing(p):
        return ""
    p = float(p)
    if p < smallest:
        return "<" + _fixed(smallest, max(3, -int(math.floor(math.log10(smallest)))), thousands=False)
    if p < 0.001 or (p < 0.05 and round(p, 3) >= 0.05):
        return f"{p:.4f}"
    return f"{p:.3f}"


def format_p_label(p: float, smallest: float = 0.001) -> str:
    """A p-value as a clinician reads it on a figure, as in the tables: "p < 0.001", "p = 0.0496", "p = 0.210"."""
    if is_missing(p):
        return "p not estimable"
    text = format_p(p, smallest)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def format_count(n) -> str:
    """A count: ``1,234``; blank when missing."""
    if is_missing(n):
        return ""
    return f"{int(round(float(n))):,}"


def format_decimal(value, decimals: int = 1) -> str:
    """A number with fixed decimals and thousands separators ("1,807.0"); blank when missing."""
    if is_missing(value):
        return ""
    return _fixed(float(value), decimals)


def format_number(value: float, digits: int = 3) -> str:
    """A number of unknown scale for reading: whole numbers as counts, others with ``digits`` significant
    digits (at least 1 decimal, at most 4); never exponent notation; blank when missing.

    Examples: 51.8439 -> "51.8", 0.13409 -> "0.134", 1234.5 -> "1,234", 2.08e-9 -> "<0.0001".
    """
    if is_missing(value):
        return ""
    value = float(value)
    if not math.isfinite(value):
        return "infinite" if value > 0 else "minus infinite"
    if value.is_integer():
        return f"{value:,.0f}"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size < 0.0001:
        return "<0.0001" if value > 0 else ">-0.0001"
    decimals = digits - 1 - int(math.floor(math.log10(size)))
    return _fixed(value, min(max(decimals, 1), 4))


def format_percent(value, decimals: int = 1, *, proportion: bool = False, sign: bool = False) -> str:
    """A percentage: 52.5 (``proportion=True`` takes 0.525); "52.5%" with ``sign``; blank when missing."""
    if is_missing(value):
        return ""
    text = _fixed(100 * float(value) if proportion else float(value), decimals)
    return text + "%" if sign else text


def format_n_pct(n, pct, decimals: int = 1) -> str:
    """"n (%)": "231 (52.5)"; the count alone when the percentage is missing; blank when both are."""
    if is_missing(n):
        return ""
    if is_missing(pct):
        return format_count(n)
    return f"{format_count(n)} ({format_percent(pct, decimals)})"


def format_ci(estimate, lower, upper, decimals: int = 2, *, missing_bound: str = NOT_REACHED_SHORT,
              missing_estimate: str = "", dash: str = DASH, thousands: bool = True) -> str:
    """An estimate with its interval: "0.69 (0.54\u20130.89)"; " to " between the bounds when one is negative.

    A missing bound prints ``missing_bound``; a missing estimate ``missing_estimate`` (and no interval).
    ``dash`` is what goes between the bounds (a hyphen in machine-readable CSV text and figure labels
    that must keep their bytes); ``thousands=False`` leaves out the thousands separators.
    """
    if is_missing(estimate):
        return missing_estimate
    lo = missing_bound if is_missing(lower) else _fixed(lower, decimals, thousands)
    hi = missing_bound if is_missing(upper) else _fixed(upper, decimals, thousands)
    negative = any(not is_missing(b) and _fixed(b, decimals).startswith("-") for b in (lower, upper))
    between = " to " if negative else dash
    return f"{_fixed(estimate, decimals, thousands)} ({lo}{between}{hi})"


def format_percent_ci(proportion, lower, upper, decimals: int = 0, *, sign: bool = True,
                      missing: str = "not estimable", dash: str = DASH) -> str:
    """A proportion and its CI as percentages: "60% (45\u201372)" (``sign=False``: "60 (45\u201372)")."""
    if is_missing(proportion):
        return missing
    text = format_ci(*(None if is_missing(v) else 100 * float(v) for v in (proportion, lower, upper)),
                     decimals=decimals, missing_bound="", dash=dash)
    if sign:
        head, _, rest = text.partition(" ")
        text = f"{head}% {rest}"
    return text


def hr_decimals(hr, lower, upper, decimals: int = 2) -> int:
    """Decimals for a hazard ratio: 2, or 3 when 2 would print the interval as one number (a per-unit HR)."""
    values = [v for v in (hr, lower, upper) if not is_missing(v)]
    if len(values) == 3 and len({_fixed(v, decimals) for v in values}) < 3 and decimals < 3:
        return decimals + 1
    return decimals


def format_hr(hr, lower, upper, decimals: int = 2) -> str:
    """A hazard ratio with its 95% CI: "0.69 (0.54\u20130.89)", "0.997 (0.996\u20130.998)"; blank when missing."""
    return format_ci(hr, lower, upper, hr_decimals(hr, lower, upper, decimals))


def format_median(median, lower=None, upper=None, decimals: int = 1) -> str:
    """A Kaplan-Meier median with its CI: "33.6 (27.7\u201339.6)", "2,018 (1,918\u2013NR)", "not reached"."""
    if is_missing(median):
        return NOT_REACHED
    if lower is None and upper is None:
        return _fixed(median, decimals)
    return format_ci(median, lower, upper, decimals)


def format_survival(surv, lower, upper, decimals: int = 1) -> str:
    """Survival (a proportion) as a percentage with its CI: "91.6 (89.2\u201393.4)"; blank when missing."""
    scale = [None if is_missing(v) else 100 * float(v) for v in (surv, lower, upper)]
    return format_ci(*scale, decimals=decimals, missing_bound="")


def format_smd(smd) -> str:
    """A standardized mean difference with 2 decimals ("0.57", "-0.05"); blank when missing."""
    return "" if is_missing(smd) else _fixed(smd, 2)


def format_median_iqr(median, q1, q3, decimals: int = 1) -> str:
    """"median (IQR)" as one cell: "50.0 (45.0\u201359.0)"; blank when missing."""
    if is_missing(median):
        return ""
    return format_ci(median, q1, q3, decimals, missing_bound="")


def format_time(value, unit: str, decimals: int = 1) -> str:
    """A time with its unit: "6 months", "1,645 days", "4.5 years"."""
    if is_missing(value):
        return ""
    value = float(value)
    text = f"{value:,.0f}" if value.is_integer() else _fixed(value, decimals)
    if value == 1 and unit.endswith("s"):
        unit = unit[:-1]
    return f"{text} {unit}"


def format_hr_label(hr, lower, upper, ci: str = "95% CI") -> str:
    """A hazard ratio as printed on a figure: "HR 0.62 (95% CI 0.48\u20130.80)"; blank when missing."""
    if is_missing(hr):
        return ""
    text = format_hr(hr, lower, upper)
    estimate, interval = text.split(" (", 1)
    return f"HR {estimate} ({ci} {interval}"


def no_exponent(text: str) -> bool:
    """True when ``text`` holds no number in exponent notation (for tests and checks of rendered pages)."""
    import re

    return re.search(r"\d[eE][+-]?\d", text) is None


__all__ = ["DASH", "NOT_REACHED", "NOT_REACHED_SHORT", "SUPPRESSED_MARK", "format_ci", "format_count",
           "format_decimal", "format_hr", "format_hr_label", "format_median", "format_median_iqr", "format_n_pct",
           "format_number", "format_p", "format_p_label", "format_percent", "format_percent_ci", "format_smd",
           "format_survival", "format_time", "hr_decimals", "is_missing", "no_exponent"]
