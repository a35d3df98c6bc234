"""Median follow-up by reverse Kaplan-Meier against R's survival 3.5.3 (R 4.2.2)."""


import numpy as np
import pytest
from conftest import gbsg2, gbsg2_matched  # noqa: F401

from mbcrt.stats.survival import median_followup


@pytest.mark.parametrize("cohort,want", [("all", 1645), ("matched", 1702)])
def test_reverse_km_median_matches_r(cohort, want):
    # R (make_reference.R): rk <- survfit(Surv(time, 1 - cens) ~ 1, data = data)
    #    summary(rk)$table["median"]: all 1645, matched (no caliper) 1702
    d = gbsg2() if cohort == "all" else gbsg2_matched()
    assert median_followup(d["time"], d["cens"]).median == pytest.approx(want, rel=1e-12)


def test_reverse_km_with_ties_matches_r():
    # R: tt <- c(1, 2, 2, 2, 3, 3, 4, 5, 5, 6); ee <- c(1, 1, 1, 0, 0, 1, 1, 0, 1, 0)
    #    f <- survfit(Surv(tt, 1 - ee) ~ 1); f$surv = 1 0.888888888889 0.740740740741
    #    0.740740740741 0.493827160494 0; summary(f)$table: median 5, 0.95LCL 3, 0.95UCL NA
    fit = median_followup([1, 2, 2, 2, 3, 3, 4, 5, 5, 6], [1, 1, 1, 0, 0, 1, 1, 0, 1, 0],
                          conf_type="log")
    np.testing.assert_allclose(fit.table["surv"], [1, 0.888888888889, 0.740740740741,
                                                    0.740740740741, 0.493827160494, 0], rtol=1e-9)
    assert fit.events == 4  # the censorings
    np.testing.assert_allclose([fit.median, fit.median_lower, fit.median_upper], [5, 3, np.nan],
                               equal_nan=True)

