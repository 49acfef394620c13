"""Who is who, by default and across ids (SEMANTICS.md, "Time and people"): the default `as_of` covers every stored
call, and an alias between two identified users merges them. Hand-counted journeys, imported by the real importer."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from aha.store.importer import import_files

ACCOUNTS = """
version: 1
signup: {event: Signed Up}
milestones:
  - {id: did_a, level: primary, event: A, within: 1d}
  - {id: team_a, entity: account, event: A, within: 1d}
"""


def _project(tmp_path: Path, rows: list[dict[str, Any]], yaml_text: str = ACCOUNTS) -> Project:
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = open_store(tmp_path / "aha.duckdb")
    import_files(store, [path])
    return Project(store, parse(yaml_text))


def _reached(project: Project, as_of: str | None = None) -> dict[tuple[str, str, str], object]:
    frame = project.state(as_of).state.execute()
    return {(r.entity_type, r.entity_id, r.milestone_id): (r.t0.to_pydatetime(), r.status)
            for r in frame.itertuples()}


def test_the_default_as_of_covers_identify_and_group_calls_after_the_last_event(tmp_path: Path) -> None:
    """The last event is at 10:10; the identify that makes a1's events u1's comes at 10:20 and the group call that
    puts u2 in g1 at 10:30. By default both apply: as_of is 10:30, u1 is signed up (t0 10:00 from its anonymous
    signup) and g1 exists (t0 = u2's 10:00, its A at 10:10 reached). Before, as_of was 10:10 and both were left out."""
    project = _project(tmp_path, [
        {"type": "track", "event": "Signed Up", "anonymousId": "a1", "timestamp": "2026-01-01T10:00:00Z"},
        {"type": "track", "event": "A", "anonymousId": "a1", "timestamp": "2026-01-01T10:05:00Z"},
        {"type": "track", "event": "Signed Up", "userId": "u2", "timestamp": "2026-01-01T10:00:00Z"},
        {"type": "track", "event": "A", "userId": "u2", "timestamp": "2026-01-01T10:10:00Z"},
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "timestamp": "2026-01-01T10:20:00Z"},
        {"type": "group", "userId": "u2", "groupId": "g1", "timestamp": "2026-01-01T10:30:00Z"},
    ])
    assert project.as_of() == datetime(2026, 1, 1, 10, 30)
    t0 = datetime(2026, 1, 1, 10)
    assert _reached(project) == {
        ("user", "u1", "did_a"): (t0, "reached"), ("user", "u2", "did_a"): (t0, "reached"),
        ("account", "g1", "team_a"): (t0, "reached"),
    }
    # An explicit as_of before the calls still leaves them out: as-of is honoured, only its default moved.
    assert _reached(project, "2026-01-01T10:15:00") == {("user", "u2", "did_a"): (t0, "reached")}
