"""The server's checklist lookup (aha.guidance.lookup): the same checklist as `Project.user_state`, read by primary
key from a copy of the state, made whole for new definitions and updated for new data by replacing only the touched
users' rows; statuses read as of the clock (an injectable clock: no sleeps)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from aha.definitions import parse
from aha.errors import UserNote
from aha.guidance.checklist import UnknownEntity
from aha.guidance.lookup import ChecklistLookup
from aha.project import Project
from aha.store import Store, open_store
from tests.journeys import write_events

DEFINITIONS = """
version: 1
signup: {event: Signed Up}
milestones:
  - {id: exported, level: primary, event: Export, count: 2, within: 7d}
  - {id: invited, event: Invite, within: 7d}
"""

ROWS = [
    ("u1", "Signed Up", "2026-01-01T10:00:00"),
    ("u1", "Export", "2026-01-01T11:00:00"),  # 1 of 2 exports
    ("u2", "Signed Up", "2026-01-02T10:00:00"),
    ("u2", "Invite", "2026-01-02T12:00:00"),
    # others' page views: an update of a few events is then under the share that makes a full rebuild cheaper
    *((f"v{n}", "Page Viewed", f"2026-01-01T0{n % 10}:00:00") for n in range(30)),
]


class Clock:
    """The wall clock the lookup reads checklists at (an injectable clock: no sleeps)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 2, 12, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "aha.duckdb")
    write_events(s, ROWS)
    return s


def _items(result: object) -> list[tuple[str, str, float]]:
    return [(i.id, i.status, i.progress) for i in result.items]  # type: ignore[attr-defined]


def test_the_lookup_answers_what_user_state_answers_and_updates_only_touched_users(store: Store) -> None:
    definitions = parse(DEFINITIONS)
    clock = Clock()
    lookup = ChecklistLookup(clock=clock)
    first = lookup.checklist(store, definitions, "user", "u1")
    assert first == Project(store, definitions).user_state("u1")  # the clock is before the latest event: its as_of
    assert _items(first) == [("exported", "in_progress", 1.0), ("invited", "in_progress", 0.0)]
    assert lookup.checklist(store, definitions, "user", "u2") == Project(store, definitions).user_state("u2")
    assert (lookup.copies, lookup.updates) == (1, 0)

    # New data: the copy answers as it was until it is brought up to date (the server does so after each commit).
    write_events(store, [("u1", "Export", "2026-01-03T09:00:00")])
    assert lookup.checklist(store, definitions, "user", "u1") == first
    lookup.refresh(store, definitions)
    # Only u1 was recomputed and replaced; the answer is exactly user_state's as of the new latest event.
    assert (lookup.copies, lookup.updates, lookup.touched) == (1, 1, 1)
    fresh = lookup.checklist(store, definitions, "user", "u1")
    assert fresh == Project(store, definitions).user_state("u1")
    assert _items(fresh)[0] == ("exported", "reached", 2.0) and fresh.as_of > first.as_of
    # u2 was not touched: its rows are the first copy's, its statuses as of the new moment, as user_state's.
    assert lookup.checklist(store, definitions, "user", "u2") == Project(store, definitions).user_state("u2")

    # No new data: nothing to do.
    lookup.refresh(store, definitions)
    assert (lookup.copies, lookup.updates) == (1, 1)
    # Other definitions: a whole copy at once.
    other = parse(DEFINITIONS.replace("count: 2", "count: 3"))
    assert _items(lookup.checklist(store, other, "user", "u1"))[0] == ("exported", "in_progress", 2.0)
    assert lookup.copies == 2


def test_a_window_that_ends_turns_in_progress_into_missed_without_an_event(store: Store) -> None:
    """u2 signed up 2026-01-02 10:00: both 7-day windows end 2026-01-09 10:00. Read as of the clock, later than the
    latest stored event: in progress just before, missed at the window's end (half-open), as the engine says as of
    those moments."""
    definitions = parse(DEFINITIONS)
    clock = Clock()
    lookup = ChecklistLookup(clock=clock)
    project = Project(store, definitions)
    for now, expected in ((datetime(2026, 1, 9, 9, 59, 59), "in_progress"), (datetime(2026, 1, 9, 10), "missed")):
        clock.now = now
        answer = lookup.checklist(store, definitions, "user", "u2")
        assert answer.as_of == now
        assert [i.status for i in answer.items] == [expected, "reached"]
        assert answer.next_milestone == ("exported" if expected == "in_progress" else None)
        with pytest.warns(UserNote):  # as of a moment past the latest event
            assert answer == project.user_state("u2", as_of=now.isoformat())
    assert lookup.copies == 1  # no event, no update: the moment alone moved


def test_an_unknown_id_is_the_same_clear_error(store: Store) -> None:
    lookup = ChecklistLookup(clock=Clock())
    with pytest.raises(UnknownEntity, match="no signed-up user 'nobody' as of 2026-01-02 12:00 UTC"):
        lookup.checklist(store, parse(DEFINITIONS), "user", "nobody")
