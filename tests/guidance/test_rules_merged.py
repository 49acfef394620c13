"""A rule fires once per person, also across a merge: `aha rules run` reads the ids it recorded through the identity
links (as of its clock), as the impact does (docs/semantics.md, "Rules and holdouts").

Rule `nudge`: Connected not reached 1 h after signup, holdout 0.5 (sha256: old1 and new4 nudged, old2 held out).
  00:00  old1, old2 sign up
  02:00  rules run: old1 nudged, old2 held out (2 recorded)
  03:00  alias old1 → new1, alias old2 → new4 (new1 and new4 are old1 and old2 now, t0 00:00, Connected not reached)
  04:00  rules run: new1 and new4 are eligible (moment 01:00, inside late_after 1d), but each is a person already
         recorded → 0 new, 2 already; nothing recorded for new1, and new4 (nudged by its own hash) stays held out.
Before, the second run recorded new1 and new4 as new: old1's person was nudged twice, and old2's held-out person
was nudged under the new id, leaving the holdout.
"""

from __future__ import annotations

import json

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


def recorded(store) -> list[tuple[str, str]]:
    return [(u, s) for u, s in store.raw.execute("SELECT user_id, status FROM aha_firings ORDER BY 1").fetchall()]


def test_a_person_merged_after_a_firing_is_not_fired_again(tmp_path) -> None:
    assert [held_out("nudge", u, 0.5) for u in ("old1", "old2", "new1", "new4")] == [False, True, False, False]
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(u, "Signed Up", "2026-01-01T00:00") for u in ("old1", "old2")])
    project = Project(store, DEFINITIONS)
    first = project.run_rules(as_of="2026-01-01T02:00").rules[0]
    assert (first.new, first.nudged, first.held_out) == (2, 1, 1)
    write_identities(store, [("old1", "new1", "2026-01-01T03:00"), ("old2", "new4", "2026-01-01T03:00")])
    write_events(store, [("new1", "Page Viewed", "2026-01-01T03:30"), ("new4", "Page Viewed", "2026-01-01T03:30")])
    dry = project.run_rules(as_of="2026-01-01T04:00", dry_run=True).rules[0]
    assert (dry.new, dry.already, dry.too_late) == (0, 2, 0)
    again = project.run_rules(as_of="2026-01-01T04:00").rules[0]
    assert (again.new, again.nudged, again.held_out, again.already) == (0, 0, 0, 2)
    assert recorded(store) == [("old1", "pending"), ("old2", "held_out")]


def test_a_merge_after_the_clock_is_not_read(tmp_path) -> None:
    """A link made after the run's `as_of` is data the run did not have: as of 02:30, new1 is another person."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("old1", "Signed Up", "2026-01-01T00:00"), ("new1", "Signed Up", "2026-01-01T01:00")])
    project = Project(store, DEFINITIONS)
    assert project.run_rules(as_of="2026-01-01T01:30").rules[0].new == 1  # old1 (new1's moment is 02:00)
    write_identities(store, [("old1", "new1", "2026-01-01T03:00")])
    assert project.run_rules(as_of="2026-01-01T02:30").rules[0].new == 1  # new1, on its own as of 02:30
    assert project.run_rules(as_of="2026-01-01T04:00").rules[0].new == 0  # merged: both recorded, one person
    assert [u for u, _ in recorded(store)] == ["new1", "old1"]


def test_a_webhook_recorded_before_a_merge_carries_the_merged_users_checklist(tmp_path, receiver) -> None:
    """old1 is recorded at 02:00 (not sent yet), merged into new1 at 03:00, sent at 06:00: the body names the
    recorded id (`user_id: old1`, where the delivery goes) and carries the checklist of the user its events belong
    to now (new1: signed up 00:00, connected still in progress). Before, old1 had no checklist of its own and the
    body's `state` was null."""
    from datetime import datetime

    from tests.guidance.conftest import SECRET

    definitions = parse(f"""
signup: {{event: Signed Up}}
milestones:
  - {{id: connected, event: Connected, within: 3d, level: primary}}
rules:
  - id: hook
    when: {{not_reached: connected, after: 1h}}
    then: {{webhook: "{receiver.url}", secret: "{SECRET}"}}
""")
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("old1", "Signed Up", "2026-01-01T00:00")])
    project = Project(store, definitions)
    assert project.run_rules(as_of="2026-01-01T02:00", deliver=False).rules[0].new == 1
    write_identities(store, [("old1", "new1", "2026-01-01T03:00")])
    write_events(store, [("new1", "Page Viewed", "2026-01-01T05:00")])
    sent = project.run_rules(as_of="2026-01-01T06:00", now=datetime(2026, 1, 1, 6))
    assert (sent.rules[0].new, sent.rules[0].already, sent.delivered) == (0, 1, 1)
    (_, body), = receiver.received
    data = json.loads(body)["data"]
    assert data["user_id"] == "old1"
    assert data["state"]["entity_id"] == "new1"
    assert data["state"]["signed_up_at"] == "2026-01-01T00:00:00Z"
    assert [(i["id"], i["status"]) for i in data["state"]["items"]] == [("connected", "in_progress")]
