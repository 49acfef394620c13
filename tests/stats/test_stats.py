"""aha.stats against published or hand-computed reference values; each source is written beside its case."""

from __future__ import annotations

import json

import pytest

from aha.results import to_jsonable
from aha.stats.contingency import benjamini_hochberg, compare, p_value, relative_risk
from aha.stats.intervals import wilson
from aha.stats.survival import kaplan_meier

WILSON = [
    pytest.param(3, 10, (0.1077913, 0.6032219), id="3_of_10"),
    # STYLE.md: scipy binomtest(3, 10).proportion_ci(method="wilson"); Wilson (1927) by hand; abs=1e-7
    pytest.param(0, 10, (0.0, 0.2775328), id="0_of_10"),  # upper = z²/(n+z²) = 3.8415/13.8415; lower exactly 0
    pytest.param(10, 10, (0.7224672, 1.0), id="10_of_10"),  # mirror of 0 of 10; upper exactly 1
    pytest.param(1, 1, (0.2065493, 1.0), id="1_of_1"),  # lower = 1/(1+z²) = 1/4.8415
]


@pytest.mark.parametrize(("k", "n", "expected"), WILSON)
def test_wilson(k, n, expected):
    assert wilson(k, n) == pytest.approx(expected, abs=1e-7)


def test_wilson_without_trials_is_none():
    assert wilson(0, 0) is None


def test_relative_risk_katz_by_hand():
    # RR = (30/100)/(10/100) = 3; Katz: exp(ln 3 ± 1.959964·√(1/30 − 1/100 + 1/10 − 1/100)) = (1.550830, 5.803345)
    lift, low, high, code = relative_risk(30, 70, 10, 90)
    assert (lift, low, high, code) == (pytest.approx(3.0), pytest.approx(1.550830, abs=1e-6),
                                       pytest.approx(5.803345, abs=1e-6), "ok")


ZERO_CELLS = [
    pytest.param((3, 2, 0, 10), (None, None, None, "infinite"), id="nobody_who_missed_it_converted"),
    pytest.param((0, 5, 3, 7), (0.0, None, None, "zero"), id="nobody_who_reached_it_converted"),
    pytest.param((0, 5, 0, 7), (None, None, None, "undefined"), id="nobody_converted"),
    pytest.param((5, 0, 0, 0), (None, None, None, "undefined"), id="everyone_reached_it"),
]


@pytest.mark.parametrize(("cells", "expected"), ZERO_CELLS)
def test_relative_risk_zero_cells_are_codes_not_numbers(cells, expected):
    assert relative_risk(*cells) == expected


def test_comparison_reference_values():
    r = compare(30, 70, 10, 90)
    # Newcombe (1998) method 10 by hand from the two Wilson intervals:
    # 0.2 − √((0.3 − 0.2189489)² + (0.1743657 − 0.1)²) = 0.0900021; 0.2 + √((0.3958485 − 0.3)² + (0.1 − 0.0552291)²)
    assert (r.difference_low, r.difference_high) == (pytest.approx(0.0900021, abs=1e-6),
                                                     pytest.approx(0.3057893, abs=1e-6))
    # Pearson χ² without Yates: χ² = 12.5 on 1 df → p = 4.0695e-4 (scipy.stats.chi2.sf(12.5, 1)); abs=1e-8
    assert (r.p_value, r.test) == (pytest.approx(4.0695202e-4, abs=1e-9), "chi2")
    # behaviour ratio: P(reached | outcome) = 30/40, P(reached | ¬outcome) = 70/160 → 0.75 / 0.4375
    assert r.behaviour_ratio == pytest.approx(0.75 / 0.4375)
    json.dumps(to_jsonable(r), allow_nan=False)


def test_fisher_when_an_expected_cell_is_small():
    # [[3, 2], [0, 10]]: the only tables as or more extreme have a = 3: C(5,3)·C(10,0)/C(15,3) = 10/455
    assert p_value(3, 2, 0, 10) == (pytest.approx(10 / 455), "fisher")


def test_no_test_without_both_groups():
    assert p_value(5, 5, 0, 0) == (None, "none")


def test_benjamini_hochberg():
    # by hand: sorted p 0.01, 0.03, 0.04, 0.5 (m = 4): q = min over ranks ≥ i of p·m/rank
    # → 0.04, 0.0533, 0.0533, 0.5; the untestable candidate stays None and does not count in m
    assert benjamini_hochberg([0.01, 0.04, None, 0.03, 0.5]) == [
        pytest.approx(0.04), pytest.approx(0.16 / 3), None, pytest.approx(0.16 / 3), pytest.approx(0.5)]


def test_kaplan_meier_by_hand():
    # times 1..5, events at 1, 2, 4 (3 and 5 censored): S(1)=4/5, S(2)=3/5, S(4)=3/5·1/2=0.3
    km = kaplan_meier([1, 2, 3, 4, 5], [True, True, False, True, False], [1, 1, 1, 1, 1])
    assert km.median == 4 and km.reached_by_end == pytest.approx(0.7) and (km.n, km.events) == (5, 3)


def test_kaplan_meier_grouped_rows_equal_individual_rows():
    grouped = kaplan_meier([1, 2, 3], [True, False, True], [5, 10, 1])
    single = kaplan_meier([1] * 5 + [2] * 10 + [3], [True] * 5 + [False] * 10 + [True], [1] * 16)
    assert grouped == single


def test_kaplan_meier_nobody_reached():
    km = kaplan_meier([1, 2], [False, False], [3, 3])
    assert (km.median, km.reached_by_end, km.n, km.events) == (None, 0.0, 6, 0)


def test_compare_many_equals_compare_one_by_one():
    """The vectorised path must give the same numbers as the per-table one, zero cells and small tables included."""
    import random

    from aha.stats.contingency import compare_many

    rng = random.Random(3)
    tables = [(30, 70, 10, 90), (3, 2, 0, 10), (0, 5, 3, 7), (0, 5, 0, 7), (5, 0, 0, 0), (1, 1, 1, 1)]
    tables += [tuple(rng.randint(0, 60) for _ in range(4)) for _ in range(60)]
    for table, fast in zip(tables, compare_many(tables), strict=True):
        slow = compare(*table)
        for field in slow.__dataclass_fields__:
            expected, got = getattr(slow, field), getattr(fast, field)
            if isinstance(expected, float):
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (table, field)
            else:
                assert got == expected, (table, field)


def test_wilson_closed_form_equals_statsmodels():
    """The closed form against statsmodels' `proportion_confint(method="wilson")` (the implementation it replaced),
    at three levels, over every k of a few n and some large n."""
    from statsmodels.stats.proportion import proportion_confint

    cases = [(k, n) for n in (1, 2, 7, 30, 101) for k in range(n + 1)] + [(4_871, 14_409), (46, 14_409), (1, 10**7)]
    for level in (0.9, 0.95, 0.99):
        for k, n in cases:
            low, high = proportion_confint(k, n, alpha=1 - level, method="wilson")
            got = wilson(k, n, level)
            assert got is not None
            assert got == (pytest.approx(float(low), abs=1e-12), pytest.approx(float(high), abs=1e-12)), (k, n, level)


def test_kaplan_meier_equals_statsmodels_survfunc_right():
    """The numpy estimate against statsmodels' `SurvfuncRight` (the implementation it replaced) on random grouped
    rows: median, its 95% interval and the share reached by the end."""
    import numpy as np
    from statsmodels.duration.survfunc import SurvfuncRight

    rng = np.random.default_rng(7)
    for trial in range(300):
        rows = int(rng.integers(1, 40))
        durations = rng.integers(0, 30, rows).astype(float)  # ties on purpose
        reached = rng.random(rows) < rng.uniform(0.05, 0.95)
        weights = rng.integers(1, 50, rows)
        got = kaplan_meier(durations, reached, weights)
        if not reached.any():
            assert got.events == 0
            continue
        sf = SurvfuncRight(durations, reached.astype(float), freq_weights=weights.astype(float))
        median = sf.quantile(0.5)
        with np.errstate(divide="ignore", invalid="ignore"):
            low, high = sf.quantile_ci(0.5)

        def finite(v):
            return float(v) if np.isfinite(v) else None

        assert (got.median, got.median_low, got.median_high) == (finite(median), finite(low), finite(high)), trial
        assert got.reached_by_end == pytest.approx(1 - float(sf.surv_prob[-1]), abs=1e-12)


def test_rates_and_kaplan_meier_do_not_import_scipy_or_statsmodels():
    """A report's statistics must not pay for scipy and statsmodels at startup (a second or more of imports)."""
    import subprocess
    import sys

    code = ("import sys; from aha.results import Rate; from aha.stats.survival import kaplan_meier; "
            "Rate.of(3, 10); kaplan_meier([1, 2, 3], [True, False, True], [5, 10, 1]); "
            "print(sorted(m for m in ('scipy', 'statsmodels', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_kaplan_meier_curve_is_the_step_function_read_at_even_times():
    # hand-counted: reaches at 60, 120, 240; one censored at 180. S = 3/4 from 60, 1/2 from 120, 0 from 240.
    from aha.stats.survival import CURVE_POINTS, kaplan_meier

    km = kaplan_meier([60, 120, 180, 240], [True, True, False, True], [1, 1, 1, 1])
    curve = dict(km.curve)
    assert len(km.curve) == CURVE_POINTS + 1 and km.curve[0] == (0.0, 0.0) and km.curve[-1] == (240.0, 1.0)
    assert curve[58.0] == 0.0 and curve[60.0] == pytest.approx(0.25) and curve[118.0] == pytest.approx(0.25)
    assert curve[120.0] == pytest.approx(0.5) and curve[238.0] == pytest.approx(0.5)
