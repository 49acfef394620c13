"""The server's checklist lookup (aha.guidance.lookup): the same checklist as `Project.user_state`, read by primary
key from a copy of the state, refreshed at once for new definitions and at most once per `max_stale` seconds for new
data (an injectable clock: no sleeps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aha.definitions import parse
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
]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "aha.duckdb")
    write_events(s, ROWS)
    return s


def _items(result: object) -> list[tuple[str, str, float]]:
    return [(i.id, i.status, i.progress) for i in result.items]  # type: ignore[attr-defined]


def test_the_lookup_answers_what_user_state_answers_and_honours_max_stale(store: Store) -> None:
    definitions = parse(DEFINITIONS)
    clock = Clock()
    lookup = ChecklistLookup(max_stale=1.0, clock=clock)
    first = lookup.checklist(store, definitions, "user", "u1")
    assert first == Project(store, definitions).user_state("u1")
    assert _items(first) == [("exported", "in_progress", 1.0), ("invited", "in_progress", 0.0)]
    assert lookup.checklist(store, definitions, "user", "u2") == Project(store, definitions).user_state("u2")
    assert lookup.refreshes == 1

    # New data within max_stale of the copy: the answer is the copy's (its as_of says how old).
    write_events(store, [("u1", "Export", "2026-01-03T09:00:00")])
    clock.now += 0.5
    stale = lookup.checklist(store, definitions, "user", "u1")
    assert (stale, lookup.refreshes) == (first, 1)
    # Once the copy is max_stale old, the next request refreshes it: exactly user_state again.
    clock.now += 0.5
    fresh = lookup.checklist(store, definitions, "user", "u1")
    assert lookup.refreshes == 2
    assert fresh == Project(store, definitions).user_state("u1")
    assert _items(fresh)[0] == ("exported", "reached", 2.0) and fresh.as_of > first.as_of

    # No new data: no refresh, however old the copy.
    clock.now += 60
    lookup.checklist(store, definitions, "user", "u2")
    assert lookup.refreshes == 2
    # Other definitions: refreshed at once.
    other = parse(DEFINITIONS.replace("count: 2", "count: 3"))
    assert _items(lookup.checklist(store, other, "user", "u1"))[0] == ("exported", "in_progress", 2.0)
    assert lookup.refreshes == 3


def test_an_unknown_id_is_the_same_clear_error(store: Store) -> None:
    lookup = ChecklistLookup()
    with pytest.raises(UnknownEntity, match="no signed-up user 'nobody' as of 2026-01-02 12:00 UTC"):
        lookup.checklist(store, parse(DEFINITIONS), "user", "nobody")
