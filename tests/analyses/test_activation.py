"""Activation rate by cohort: users not yet observed N days are in neither numerator nor denominator."""

from __future__ import annotations

from datetime import date

from tests.analyses.conftest import AS_OF


def cells(cohort):
    return [None if r is None else (r.numerator, r.denominator) for r in cohort.rates]


def test_daily_cohorts_hand_counted(project):
    result = project.activation(period="day", days=(1, 7), as_of=AS_OF)
    (group,) = result.groups
    by = {c.cohort: cells(c) for c in group.cohorts}
    assert by == {
        date(2026, 1, 1): [(4, 5), (4, 5)],   # f1, f2, f3, f5 reach m1 within a day; f4 never
        date(2026, 1, 2): [(0, 1), (0, 1)],   # f7's A comes after its 1d window
        date(2026, 1, 8): [(1, 1), None],     # f6 is observed 1 day, not 7: no Day-7 cell at all
    }
    assert cells(group.total) == [(5, 7), (4, 6)]
    assert group.total.signups == 7


def test_weekly_cohorts_start_on_monday(project):
    result = project.activation(period="week", days=(1,), as_of=AS_OF)
    assert [c.cohort for c in result.groups[0].cohorts] == [date(2025, 12, 29), date(2026, 1, 5)]


def test_segment_breakdown(project):
    result = project.activation(period="month", days=(1,), segment="plan", as_of=AS_OF)
    assert {g.segment: cells(g.total) for g in result.groups} == {"pro": [(3, 3)], "free": [(2, 4)]}
