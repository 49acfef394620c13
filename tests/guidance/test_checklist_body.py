"""What makes a checklist answer cheap on the server, shown to change nothing: the msgspec body is the bytes
JSONResponse wrote from `to_jsonable` (every user and account of a sample, and hand-made edge values); the lookup's
`Layout` gives what the definitions gave per call; the definitions file is looked at once a second and a change is
still picked up (an injectable clock: no sleeps)."""

from __future__ import annotations

import math
import os
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from fastapi.responses import JSONResponse

import aha
from aha.definitions import parse
from aha.guidance.checklist import ChecklistItem, ChecklistResult, Layout
from aha.guidance.lookup import ChecklistLookup
from aha.results import to_jsonable
from aha.surfaces.api.state import DefinitionsFile, checklist_body


def old_body(result: ChecklistResult) -> bytes:
    """What the server answered before: JSONResponse (json.dumps, compact, UTF-8) of the generic serialiser."""
    return bytes(JSONResponse(to_jsonable(result, "checklist")).body)


def test_every_checklist_of_a_sample_is_the_same_bytes(sample_db: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = aha.open(str(sample_db), str(sample_db.parent / "aha.yaml"))
        frame = project.state().to_frame()
        lookup = ChecklistLookup(clock=lambda: datetime(2026, 2, 1, 12, 30, 15, 250_000))  # some windows open
        entities = sorted(set(zip(frame.entity_type, frame.entity_id, strict=True)))
        bodies = [lookup.checklist(project.store, project.definitions, kind, i) for kind, i in entities]
        project.close()
    assert {kind for kind, _ in entities} == {"user", "account"} and len(entities) > 300
    assert {i.status for b in bodies for i in b.items} >= {"reached", "in_progress", "missed"}
    assert [checklist_body(b) for b in bodies] == [old_body(b) for b in bodies]


def test_edge_values_are_written_as_to_jsonable_writes_them() -> None:
    """Microseconds dropped, an aware datetime's wall time with Z, NaN as null, None, non-ASCII and control
    characters, an account's `activated` None."""
    moment = datetime(2026, 3, 4, 5, 6, 7, 890_123)
    item = ChecklistItem("m1", "Prêt — “ready” ✓\n\x01", "primary", "in_progress", None, 2.0, 3.0, "events",
                         moment.replace(tzinfo=timezone(timedelta(hours=2))), None)
    reached = ChecklistItem("m2", "b", "secondary", "reached", moment, math.nan, math.inf, "distinct plan",
                            moment.replace(tzinfo=UTC), "Ask \"why\" \\ now")
    for result in (ChecklistResult("user", "ü-1", moment, moment, None, True, 66.7, "m1", (item, reached)),
                   ChecklistResult("account", "a", moment, moment, moment, None, math.nan, None, ())):
        assert checklist_body(result) == old_body(result)
    assert b'"deadline":"2026-03-04T05:06:07Z"' in checklist_body(
        ChecklistResult("user", "u", moment, moment, None, False, 0.0, None, (item,)))


def test_a_layout_gives_the_checklist_the_definitions_give() -> None:
    definitions = parse("""
version: 1
signup: {event: Signed Up}
funnel: [connected, exported]
milestones:
  - {id: invited, event: Invite, within: 7d, level: expansion}
  - {id: exported, level: primary, event: Export, count: 2, within: 7d, guidance: Export twice}
  - {id: connected, event: Connect, within: 3d}
""")
    layout = Layout(definitions, "user")
    assert [i[:5] for i in layout.items] == [("connected", "connected", "secondary", 1.0, "events"),
                                             ("exported", "exported", "primary", 2.0, "events"),
                                             ("invited", "invited", "expansion", 1.0, "events")]
    assert layout.items[1][5] == "Export twice"
    assert layout.funnel == {"connected", "exported"} and layout.primary == "exported"
    assert Layout(definitions, "account").items == () and Layout(definitions, "account").primary is None


def test_the_definitions_file_is_looked_at_once_a_second_and_a_change_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "aha.yaml"
    one = "version: 1\nsignup: {event: Signed Up}\nmilestones:\n  - {id: a, event: A, within: 7d, level: primary}\n"
    path.write_text(one, encoding="utf-8")
    now = [100.0]
    definitions = DefinitionsFile(path, clock=lambda: now[0])
    first = definitions.get()
    assert [m.id for m in first.milestones] == ["a"]
    path.write_text(one + "  - {id: b, event: B, within: 7d}\n", encoding="utf-8")
    os.utime(path, (1_900_000_000, 1_900_000_000))  # a later modification time, whatever the file system's grain
    now[0] += 0.5
    assert definitions.get() is first  # within a second of the last look: not looked at
    now[0] += 0.5
    assert [m.id for m in definitions.get().milestones] == ["a", "b"]
    again = definitions.get()
    now[0] += 5
    assert definitions.get() is again  # looked at, unchanged: not parsed again
