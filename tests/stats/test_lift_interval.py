"""The lift's Katz interval where it has no width to give: both arms all had the outcome (b = d = 0)."""

from __future__ import annotations

import math

from aha.stats.contingency import compare, compare_many, relative_risk


def katz(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    rr = (a / (a + b)) / (c / (c + d))
    se = math.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
    return rr, rr * math.exp(-1.959963984540054 * se), rr * math.exp(1.959963984540054 * se)


def test_everyone_with_the_outcome_has_a_lift_of_one_and_no_interval():
    """2 of 2 who reached it paid, 3 of 3 who did not: `aha evaluate` printed "1.00 (1.00–1.00)", a certainty
    from five users (the difference beside it read -65.8 to +56.1 points)."""
    for cmp in (compare(2, 0, 3, 0), compare_many([(2, 0, 3, 0)])[0]):
        assert (cmp.lift, cmp.lift_low, cmp.lift_high, cmp.lift_code) == (1.0, None, None, "ok")
        assert cmp.difference == 0.0 and cmp.difference_low is not None and cmp.difference_low < -0.6
    assert relative_risk(2, 0, 3, 0) == (1.0, None, None, "ok")


def test_one_full_arm_keeps_its_interval():
    """b = 0 alone (everyone who reached it paid) leaves Katz's variance positive: the interval stands."""
    for cells in ((2, 0, 1, 4), (1, 1, 1, 4), (30, 10, 12, 48)):
        rr, low, high = katz(*cells)
        for cmp in (compare(*cells), compare_many([cells])[0]):
            assert cmp.lift is not None and cmp.lift_low is not None and cmp.lift_high is not None
            assert math.isclose(cmp.lift, rr) and math.isclose(cmp.lift_low, low, rel_tol=1e-9)
            assert math.isclose(cmp.lift_high, high, rel_tol=1e-9)
