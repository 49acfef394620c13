"""One user's timeline: their events as identity resolution assigns them, bounded, with milestone marks. Hand-counted.

u1 browsed anonymously as a1 (linked by an identify), signed up, and was also `u_old` (aliased into u1); u2's event
carries a1 too, but a user id wins. Definitions: m1 = A within 1d (primary), m2 = B within 2d; paid within 3d.
"""

from __future__ import annotations

import pytest

from aha.definitions import parse
from aha.guidance.checklist import UnknownEntity
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_identities

DEFINITIONS = parse("""
signup: {event: Signed Up}
paid: {event: Paid, within: 3d}
milestones:
  - {id: m1, event: A, within: 1d, level: primary}
  - {id: m2, event: B, within: 2d}
""")
EVENTS = [
    (None, "Page Viewed", "2026-01-01T09:00", {"path": "/"}, {"anonymous_id": "a1"}),  # before signup, anonymous
    ("u1", "Signed Up", "2026-01-01T10:00"),
    ("u1", "A", "2026-01-01T11:00"),
    ("u_old", "X", "2026-01-01T12:00"),  # aliased into u1
    ("u2", "Signed Up", "2026-01-01T10:00", {}, {"anonymous_id": "a1"}),  # u2's, though it carries a1
    ("u1", "<script>alert(1)</script>", "2026-01-02T09:00", {"note": "<b>" + "x" * 300}),
    ("u1", "Paid", "2026-01-03T09:00"),
    ("u1", "A", "2026-01-20T09:00"),  # after as_of: not shown
]
AS_OF = "2026-01-10"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    store = open_store(tmp_path_factory.mktemp("timeline") / "aha.duckdb")
    write_events(store, EVENTS)
    write_identities(store, [("a1", "u1", "2026-01-01T10:00"), ("u_old", "u1", "2026-01-01T12:30")])
    return Project(store, DEFINITIONS)


def test_the_users_events_in_order_with_marks(project: Project):
    t = project.user_timeline("u1", as_of=AS_OF)
    assert (t.events, t.shown, t.truncated) == (6, 6, False)
    got = [(e.at.isoformat(timespec="minutes"), e.kind, e.label, e.detail) for e in t.entries]
    cut = got[6][3]
    assert got == [
        ("2026-01-01T09:00", "event", "Page Viewed", '{"path": "/"}'),  # a1's, linked to u1 by the identify
        ("2026-01-01T10:00", "signup", "signed up", None),
        ("2026-01-01T10:00", "event", "Signed Up", None),
        ("2026-01-01T11:00", "event", "A", None),
        ("2026-01-01T11:00", "reached", "m1", "primary"),  # after the event that reached it
        ("2026-01-01T12:00", "event", "X", None),  # u_old's, aliased into u1
        ("2026-01-02T09:00", "event", "<script>alert(1)</script>", cut),
        ("2026-01-03T09:00", "event", "Paid", None),
        ("2026-01-03T09:00", "paid", "paid", None),
        ("2026-01-03T10:00", "window_end", "m2", "missed"),  # B never done: t0 + 2d
    ]
    assert cut is not None and len(cut) == 200 and cut.startswith('{"note": "<b>xxx') and cut.endswith("…")
    assert [e.seconds_since_signup for e in t.entries[:2]] == [-3600.0, 0.0]


def test_bounded_with_the_total_and_no_marks_past_the_last_event_shown(project: Project):
    t = project.user_timeline("u1", as_of=AS_OF, limit=3)
    assert (t.events, t.shown, t.truncated) == (6, 3, True)
    assert [(e.kind, e.label) for e in t.entries] == [
        ("event", "Page Viewed"), ("signup", "signed up"), ("event", "Signed Up"), ("event", "A"), ("reached", "m1")]


def test_the_other_user_keeps_their_event_and_an_unknown_user_is_refused(project: Project):
    t = project.user_timeline("u2", as_of=AS_OF)
    assert [(e.kind, e.label) for e in t.entries if e.kind == "event"] == [("event", "Signed Up")]
    with pytest.raises(UnknownEntity):
        project.user_timeline("nobody", as_of=AS_OF)
