"""Numbers and p-values for people (mbcrt.report.format): journal rules, checked on hand-computed examples."""

import math

import numpy as np
import pytest

from mbcrt.report import format as fmt

NAN = float("nan")
EN = "\u2013"


@pytest.mark.parametrize("p, text", [
    (0.0207, "0.021"),            # 3 decimals
    (0.3091261165, "0.309"),
    (2.08337e-09, "<0.001"),      # never exponent notation
    (0.000999, "<0.001"),
    (0.001, "0.001"),
    (0.0496, "0.0496"),           # 3 decimals would print 0.050: a 4th keeps it below 0.05
    (0.0504, "0.050"),
    (0.9999, "1.000"),
    (NAN, ""),
    (None, ""),
])
def test_p_values_as_journals_print_them(p, text):
    assert fmt.format_p(p) == text


def test_p_values_on_figures_read_as_in_the_tables():
    assert fmt.format_p(0.00034, smallest=0.0001) == "0.0003"
    assert fmt.format_p(3e-5, smallest=0.0001) == "<0.0001"
    assert fmt.format_p_label(3e-5) == "p < 0.001"
    assert fmt.format_p_label(0.00034) == "p < 0.001"
    assert fmt.format_p_label(0.0034) == "p = 0.003"
    assert fmt.format_p_label(NAN) == "p not estimable"


@pytest.mark.parametrize("value, text", [
    (51.8439, "51.8"), (0.13409399481101789, "0.134"), (1807.0, "1,807"), (1234.5, "1,234"),
    (2.08337e-09, "<0.0001"), (-0.0021, "-0.0021"), (0.2, "0.200"), (NAN, ""),
])
def test_numbers_of_unknown_scale(value, text):
    assert fmt.format_number(value) == text


def test_counts_percent_and_n_pct():
    assert fmt.format_count(1234.0) == "1,234" and fmt.format_count(NAN) == ""
    assert fmt.format_percent(52.5) == "52.5" and fmt.format_percent(0.525, proportion=True, sign=True) == "52.5%"
    assert fmt.format_n_pct(231, 100 * 231 / 440) == "231 (52.5)"  # 52.50
    assert fmt.format_n_pct(59, 100 * 59 / 246) == "59 (24.0)"      # 23.98 -> 24.0
    assert fmt.format_n_pct(5, NAN) == "5"


def test_hazard_ratio_two_decimals_three_when_two_hide_the_interval():
    # GBSG2, univariable hormone therapy: 0.6949 (0.5438-0.8879)
    assert fmt.format_hr(0.694884327, 0.5438440546, 0.8878725874) == f"0.69 (0.54{EN}0.89)"
    # per fmol/l of progesterone receptor: 0.9972 (0.9961-0.9984) would read 1.00 (1.00-1.00)
    assert fmt.format_hr(0.9972318566, 0.996106815, 0.9983581688) == f"0.997 (0.996{EN}0.998)"
    assert fmt.hr_decimals(1.5, 1.2, 1.9) == 2


def test_intervals_medians_and_survival():
    assert fmt.format_ci(-0.5, -1.2, 0.3, 1) == "-0.5 (-1.2 to 0.3)"  # a dash would read as a minus sign
    assert fmt.format_ci(0.667, 0.509, 0.874, 3, dash="-") == "0.667 (0.509-0.874)"
    assert fmt.format_median(NAN) == "not reached"
    assert fmt.format_median(2018, 1918, NAN, 0) == f"2,018 (1,918{EN}NR)"
    assert fmt.format_median(33.64271047, 27.66854335, 39.6168776) == f"33.6 (27.7{EN}39.6)"
    # GBSG2, all patients, RFS at 365 days: 0.91556 (0.89168-0.93437)
    assert fmt.format_survival(0.9155581043, 0.8916767781, 0.9343687147) == f"91.6 (89.2{EN}93.4)"
    assert fmt.format_median_iqr(50, 45, 59) == f"50.0 (45.0{EN}59.0)"
    # op_mdrt, 6 months: 28 of 47 on the same therapy, Wilson 45.3-72.4%
    assert fmt.format_percent_ci(28 / 47, 0.4534212295, 0.7235996548) == f"60% (45{EN}72)"
    assert fmt.format_percent_ci(NAN, NAN, NAN) == "not estimable"


def test_smd_and_time():
    assert fmt.format_smd(0.5742110569) == "0.57" and fmt.format_smd(-0.001) == "0.00"  # never "-0.00"
    assert fmt.format_time(365, "days") == "365 days" and fmt.format_time(1, "years") == "1 year"
    assert fmt.format_time(1095, "days") == "1,095 days"


def test_no_exponent_notation_anywhere():
    values = np.concatenate([np.logspace(-12, 12, 97), -np.logspace(-12, 12, 97)])
    for v in values:
        for text in (fmt.format_number(v), fmt.format_p(abs(v)), fmt.format_decimal(v, 2), fmt.format_count(v),
                     fmt.format_ci(v, v / 2, v * 2, 2)):
            assert fmt.no_exponent(text), (v, text)
            assert "nan" not in text.lower() and "inf" not in text.lower()
    assert not fmt.no_exponent("2.08337e-09") and fmt.no_exponent("Age (years)")
    assert math.isnan(NAN)
