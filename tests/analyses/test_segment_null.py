"""A segment value that is JSON `null` is no value, as `where` reads it (docs/semantics.md "Property keys"): those
users are in "(none)" with the users who lack the key, not in a segment named "null" (a string "null" still is)."""

from __future__ import annotations

from pathlib import Path

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events

DEFINITIONS = """
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 1d, level: primary}
"""


def test_a_null_segment_value_is_counted_with_the_users_without_one(tmp_path: Path) -> None:
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        ("u1", "Signed Up", "2026-01-01T00:00", {"plan": "pro"}),
        ("u2", "Signed Up", "2026-01-01T00:00", {"plan": None}),
        ("u3", "Signed Up", "2026-01-01T00:00", {}),
        ("u4", "Signed Up", "2026-01-01T00:00", {"plan": "null"}),
        ("u5", "Signed Up", "2026-01-01T00:00", {"plan": None}),
        ("u2", "Connected", "2026-01-01T01:00"),
        ("u9", "Signed Up", "2026-01-05T00:00"),  # moves as_of past everyone's window
    ])
    project = Project(store, parse(DEFINITIONS))
    funnel = project.funnel(segment="plan")
    signed = {g.segment: g.steps[0].entities for g in funnel.groups}
    reached = {g.segment: g.steps[1].entities for g in funnel.groups}
    assert signed == {"pro": 1, "(none)": 3, "null": 1}  # u2, u3, u5 (u9: its window is still open)
    assert reached == {"pro": 0, "(none)": 1, "null": 0}
    store.close()
