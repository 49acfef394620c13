"""Unbounded retention (`retention: {day: 7, unbounded: true}`: active at or after day 7) counts a user once a bracket
(default 1 day) after day 7 has been observed, as the bounded rule does; a user whose day 7 began an hour before
`as_of` has had no time to come back and is open, not lost.

As of 2026-03-20 00:00; m1 = A within 1d (every window closed); hand-counted:
  u1  signup Mar 1, A at once, active Mar 15 (day 14)     eligible, retained (any day from 7 on counts)
  u2  signup Mar 1, nothing                               eligible, not retained
  u3  signup Mar 12 12:00, A at once, nothing              day 7 began Mar 19 12:00, 12 h before as_of: open
  u4  signup Mar 12 00:00, active Mar 19 06:00 (day 7)     its bracket ends Mar 20 00:00 = as_of: eligible, retained
  u5  signup Mar 13, nothing                              day 7 begins at as_of itself: open
Retention among m1's closed windows: reached u1 (1 of 1 retained), not reached u2, u4 (1 of 2): a/b/c/d = 1/0/1/1.
Before, the bracket of the unbounded rule "ended" at its start: u3 and u5 were eligible and counted as not retained
(a/b/c/d = 1/1/1/2), a failure after 12 hours, or none, of observation.
"""

from __future__ import annotations

import pytest

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events

DEFINITIONS = parse("""
signup: {event: Signed Up}
retention: {day: 7, unbounded: true}
milestones:
  - {id: m1, event: A, within: 1d, level: primary}
""")
AS_OF = "2026-03-20T00:00:00"
JOURNEYS = [
    ("u1", "Signed Up", "2026-03-01T00:00"), ("u1", "A", "2026-03-01T00:10"), ("u1", "View", "2026-03-15T00:00"),
    ("u2", "Signed Up", "2026-03-01T00:00"),
    ("u3", "Signed Up", "2026-03-12T12:00"), ("u3", "A", "2026-03-12T12:10"),
    ("u4", "Signed Up", "2026-03-12T00:00"), ("u4", "View", "2026-03-19T06:00"),
    ("u5", "Signed Up", "2026-03-13T00:00"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    store = open_store(tmp_path_factory.mktemp("unbounded") / "aha.duckdb")
    write_events(store, JOURNEYS)
    return Project(store, DEFINITIONS)


def test_a_user_whose_day_n_just_began_is_not_counted_as_lost(project: Project) -> None:
    result = project.evaluate(as_of=AS_OF)
    row = next(r for g in result.groups for r in g.rows if r.outcome == "retention")
    assert (row.a, row.b, row.c, row.d) == (1, 0, 1, 1)


def test_the_retention_command_counts_the_same_users(project: Project) -> None:
    result = project.retention(as_of=AS_OF)
    m1 = result.groups[0].milestones[0]
    assert (m1.rule_reached.numerator, m1.rule_reached.denominator) == (1, 1)
    assert (m1.rule_not_reached.numerator, m1.rule_not_reached.denominator) == (1, 2)
