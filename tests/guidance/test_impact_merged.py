"""The impact of a rule counts every recorded user, also one an alias later merged into another user: the firing is
measured on the user it belongs to now (intention to treat), not dropped.

Rule `nudge`: Connected not reached 1 h after signup, holdout 0.5 (sha256: old1 and u2 are nudged, old2 and u1 held
out). Rules run as of 2026-01-01 02:00; every signup is at 00:00 unless noted:
  old1  nudged; aliased into new1 at 03:00 (new1 signs up at 05:00, connects at 06:00: inside the merged user's
        window, from the merged t0 00:00, and after the moment 01:00)          → nudged, reached
  u2    nudged; connects at 04:00                                               → nudged, reached
  old2  held out; never connects                                                → held out, not reached
  u1    held out; connects at 04:00                                             → held out, reached
As of 2026-01-10 every 3-day window has closed: nudged 2 of 2, held out 1 of 2, +50 points.
Before, old1's firing found no state row (its events are new1's) and was dropped from the arms: nudged 1 of 1, an
arm that lost exactly the user the nudge may have brought back on another device.
"""

from __future__ import annotations

import pytest

from aha.definitions import parse
from aha.guidance.rules import held_out
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_identities

DEFINITIONS = parse("""
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 3d, level: primary}
rules:
  - id: nudge
    when: {not_reached: connected, after: 1h}
    then: {in_app: "Connect a data source."}
    holdout: 0.5
""")


def test_a_firing_of_a_since_merged_user_counts_for_the_user_it_belongs_to(tmp_path) -> None:
    assert [held_out("nudge", u, 0.5) for u in ("old1", "u2", "old2", "u1")] == [False, False, True, True]
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(u, "Signed Up", "2026-01-01T00:00") for u in ("old1", "u2", "old2", "u1")]
                 + [("u2", "Connected", "2026-01-01T04:00"), ("u1", "Connected", "2026-01-01T04:00")])
    project = Project(store, DEFINITIONS)
    run = project.run_rules(as_of="2026-01-01T02:00")
    assert (run.rules[0].nudged, run.rules[0].held_out) == (2, 2)
    write_identities(store, [("old1", "new1", "2026-01-01T03:00")])  # alias(previousId=old1, userId=new1)
    write_events(store, [("new1", "Signed Up", "2026-01-01T05:00"), ("new1", "Connected", "2026-01-01T06:00")])
    result = project.impact("nudge", as_of="2026-01-10")
    assert (result.nudged.eligible, result.nudged.reached.numerator, result.nudged.reached.denominator) == (2, 2, 2)
    assert (result.held_out.eligible, result.held_out.reached.numerator,
            result.held_out.reached.denominator) == (2, 1, 2)
    assert result.difference_points == pytest.approx(50.0)
