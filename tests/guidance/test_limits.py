"""The per-user cap and quiet hours (`nudges:`), on the injected clock and a real webhook receiver: a nudge that may
not go now is deferred to the moment it may, never dropped and never counted as a failed attempt."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

from aha.definitions import parse
from aha.guidance.rules import FIRINGS
from aha.project import Project
from aha.store import open_store
from tests.guidance.conftest import SECRET
from tests.journeys import write_events, write_traits

START = datetime(2026, 1, 1)


def make(tmp_path, url: str) -> Project:
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("ny", "Signed Up", "2026-01-01T00:00"), ("mars", "Signed Up", "2026-01-01T00:00")])
    write_traits(store, {"ny": {"timezone": "America/New_York"}, "mars": {"timezone": "Mars/Olympus_Mons"}})
    hook = f'then: {{webhook: "{url}", secret: "{SECRET}"}}'
    return Project(store, parse(f"""
signup: {{event: Signed Up}}
nudges: {{cap: 1, per: 1d, quiet_hours: {{start: "22:00", end: "08:00"}}}}
milestones:
  - {{id: connected, event: Connected, within: 3d, level: primary}}
  - {{id: invited, event: Invited, within: 3d}}
rules:
  - {{id: a_connect, when: {{not_reached: connected, after: 1h}}, {hook}}}
  - {{id: b_invite, when: {{not_reached: invited, after: 2h}}, {hook}}}
"""))


def run(project: Project, now: datetime):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return project.run_rules(as_of="2026-01-01T12:00", now=now)


def sent_to(receiver) -> list[str]:  # the receiver fixture of conftest
    import json

    return [json.loads(body)["data"]["user_id"] + ":" + json.loads(body)["data"]["rule_id"]
            for _, body in receiver.received]


def test_quiet_hours_then_the_cap(tmp_path, receiver):
    project = make(tmp_path, receiver.url)
    # 12:00 UTC is 07:00 in New York: quiet until 08:00 local (13:00 UTC). Mars is no zone: UTC, 12:00, not quiet.
    first = run(project, START + timedelta(hours=12))
    assert sent_to(receiver) == ["mars:a_connect"] and first.deferred == 3  # ny ×2 quiet, mars's second capped
    waits = dict(project.store.raw.execute(
        f"SELECT user_id || ':' || rule_id, next_attempt_at FROM {FIRINGS} WHERE status = 'pending'").fetchall())
    assert waits["ny:a_connect"] == datetime(2026, 1, 1, 13, 0)
    assert waits["mars:b_invite"] == datetime(2026, 1, 2, 12, 0)  # a day after mars's first nudge was delivered
    run(project, datetime(2026, 1, 1, 12, 59))
    assert len(receiver.received) == 1  # nothing is due before 13:00
    run(project, datetime(2026, 1, 1, 13, 0))
    assert sent_to(receiver) == ["mars:a_connect", "ny:a_connect"]
    run(project, datetime(2026, 1, 2, 12, 0))
    assert sorted(sent_to(receiver)[2:]) == ["mars:b_invite"]
    run(project, datetime(2026, 1, 2, 13, 0))
    assert sent_to(receiver)[3:] == ["ny:b_invite"]
    attempts = project.store.raw.execute(f"SELECT max(attempts) FROM {FIRINGS}").fetchone()[0]
    assert attempts == 1  # deferrals are not attempts


def test_the_cap_counts_a_person_under_every_id(tmp_path, receiver):
    """cap 1 per day. old1 signs up at 00:00 and is nudged by a_connect at 02:00; at 03:00 an alias makes old1 new1.
    b_invite (not invited 4 h after signup) is new1's at 04:00: the person had a nudge 2 h ago, so it waits until
    02:00 the next day. Before, the cap counted by id: new1 had none, and the person got two nudges in two hours."""
    from tests.journeys import write_identities

    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("old1", "Signed Up", "2026-01-01T00:00")])
    hook = f'then: {{webhook: "{receiver.url}", secret: "{SECRET}"}}'
    project = Project(store, parse(f"""
signup: {{event: Signed Up}}
nudges: {{cap: 1, per: 1d}}
milestones:
  - {{id: connected, event: Connected, within: 3d, level: primary}}
  - {{id: invited, event: Invited, within: 3d}}
rules:
  - {{id: a_connect, when: {{not_reached: connected, after: 1h}}, {hook}}}
  - {{id: b_invite, when: {{not_reached: invited, after: 4h}}, {hook}}}
"""))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project.run_rules(as_of="2026-01-01T02:00", now=datetime(2026, 1, 1, 2, 0))
        assert sent_to(receiver) == ["old1:a_connect"]
        write_identities(store, [("old1", "new1", "2026-01-01T03:00")])
        write_events(store, [("new1", "Page Viewed", "2026-01-01T03:30")])
        later = project.run_rules(as_of="2026-01-01T04:00", now=datetime(2026, 1, 1, 4, 0))
    assert sent_to(receiver) == ["old1:a_connect"] and later.deferred == 1
    waits = dict(store.raw.execute(
        f"SELECT user_id || ':' || rule_id, next_attempt_at FROM {FIRINGS} WHERE status = 'pending'").fetchall())
    assert waits == {"new1:b_invite": datetime(2026, 1, 2, 2, 0)}  # a day after old1's nudge was delivered
