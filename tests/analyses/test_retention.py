"""Retention outcome and curves, hand-counted: the bracket, eligibility, and days observed."""

from __future__ import annotations

from datetime import datetime

import pytest

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events

AS_OF = datetime(2026, 1, 10)
D = "2026-01-0"
DEFINITIONS = parse("""
signup: {event: Signed Up}
retention: {day: 2, bracket: 1d}
milestones:
  - {id: m, event: A, within: 1d, level: primary}
""")
JOURNEYS = [
    ("r1", "Signed Up", D + "1T00:00"), ("r1", "A", D + "1T01:00"), ("r1", "X", D + "3T05:00"),  # day 2: retained
    ("r2", "Signed Up", D + "1T00:00"), ("r2", "A", D + "1T01:00"), ("r2", "X", D + "4T00:00"),  # day 3: not
    ("r3", "Signed Up", D + "1T00:00"), ("r3", "X", D + "3T01:00"),                              # retained, no m
    ("r4", "Signed Up", D + "1T00:00"),                                                         # nothing
    ("r5", "Signed Up", D + "8T12:00"), ("r5", "A", D + "8T13:00"),  # young: day-2 bracket ends after as_of
    ("r1", "Signed Up", D + "5T00:00"),  # a second signup is not activity and does not move t0
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("retention") / "aha.duckdb")
    write_events(store, JOURNEYS)
    return Project(store, DEFINITIONS)


def test_retention_validation_cells(project):
    result = project.evaluate(as_of=AS_OF, outcomes=("retention",))
    (row,) = result.groups[0].rows
    assert (row.a, row.b, row.c, row.d) == (1, 1, 1, 1)  # r5 is not eligible yet
    assert result.outcomes == ("retention: active on day 2 after signup (bracket 24h)",)


def test_curves_count_only_observed_days(project):
    (m,) = project.retention(as_of=AS_OF).groups[0].milestones
    reached = {p.day: (p.rate.numerator, p.rate.denominator) for p in m.reached}
    missed = {p.day: (p.rate.numerator, p.rate.denominator) for p in m.not_reached}
    # reached: r1 r2 observed through day 8; r5 only through day 0
    assert reached[0] == (3, 3) and reached[2] == (1, 2) and reached[3] == (1, 2) and reached[8] == (0, 2)
    assert 9 not in reached
    assert missed[0] == (0, 2) and missed[2] == (1, 2)
    assert m.gap_points_day_30 is None  # nobody observed to day 30


def test_curves_leave_out_reachers_whose_window_is_still_open(tmp_path):
    """w = A within 7d. o1 (Jan 1) reached it and its window closed on Jan 8: counted. y1 (Jan 5) reached it too, but
    its window is open until Jan 12, like y2's who has not reached it (yet): both are left out, or the reached curve
    would hold young users the not-reached one cannot hold."""
    definitions = parse("""
signup: {event: Signed Up}
retention: {day: 2, bracket: 1d}
milestones:
  - {id: w, event: A, within: 7d, level: primary}
""")
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        ("o1", "Signed Up", D + "1T00:00"), ("o1", "A", D + "1T01:00"), ("o1", "X", D + "2T01:00"),
        ("o2", "Signed Up", D + "1T00:00"),
        ("y1", "Signed Up", D + "5T00:00"), ("y1", "A", D + "5T01:00"), ("y1", "X", D + "6T01:00"),
        ("y2", "Signed Up", D + "5T00:00"),
    ])
    (w,) = Project(store, definitions).retention(as_of=AS_OF).groups[0].milestones
    assert {p.day: (p.rate.numerator, p.rate.denominator) for p in w.reached}[1] == (1, 1)  # o1 alone
    assert {p.day: (p.rate.numerator, p.rate.denominator) for p in w.not_reached}[1] == (0, 1)  # o2 alone
