"""Who is who, by default and across ids (SEMANTICS.md, "Time and people"): the default `as_of` covers every stored
call, and an alias between two identified users merges them. Hand-counted journeys, imported by the real importer."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from aha.definitions import parse
from aha.engine.identity import links
from aha.project import Project
from aha.store import open_store
from aha.store.importer import import_files
from tests.journeys import write_identities

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


MERGES = """
version: 1
signup: {event: Signed Up}
milestones:
  - {id: two_a, level: primary, event: A, count: 2, within: 2d}
  - {id: did_b, event: B, within: 1d}
"""


def _call(kind: str, when: str, **ids: str) -> dict[str, Any]:
    row: dict[str, Any] = {"type": kind, "timestamp": f"2026-01-0{when}Z"}
    names = {"user": "userId", "anonymous": "anonymousId", "previous": "previousId", "event": "event"}
    return row | {names[k]: v for k, v in ids.items()}


ALIASED = [
    _call("track", "1T10:00:00", user="u_old", event="Signed Up"),
    _call("track", "1T10:30:00", user="u_old", event="A"),
    _call("track", "1T10:45:00", anonymous="a9", event="B"),
    _call("identify", "1T11:00:00", user="u_old", anonymous="a9"),  # a9 → u_old, then u_old → u_new: a9 → u_new
    _call("track", "2T09:00:00", user="u_new", event="Signed Up"),  # a later signup: t0 stays u_old's
    _call("track", "2T09:10:00", user="u_new", event="A"),  # the merged user's second A
    _call("alias", "2T12:00:00", user="u_new", previous="u_old"),
    _call("track", "2T13:00:00", user="u_lone", event="A"),  # never signed up, merged with nobody
    _call("track", "2T13:00:00", user="u_p", event="Signed Up"),
    _call("alias", "2T14:00:00", user="u_q", previous="u_p"),  # u_p → u_q ...
    _call("alias", "2T15:00:00", user="u_p", previous="u_q"),  # ... and back, later: ignored (no cycle)
    _call("track", "2T16:00:00", user="u_q", event="B"),
]


def test_an_alias_between_two_identified_users_merges_them(tmp_path: Path) -> None:
    """alias(previousId=u_old, userId=u_new): every event of u_old (and of a9, linked to u_old) is u_new's; t0 is
    the earliest signup of the two (Jan 1 10:00, not u_new's Jan 2 09:00); A at 10:30 and 09:10 are the merged
    user's two A; B at 10:45 (a9) is within a day of that t0. u_p was aliased to u_q, then u_q back to u_p: the
    later link is ignored, so u_q has u_p's signup and its own B. Before, u_old and u_new stayed two users."""
    project = _project(tmp_path, ALIASED, MERGES)
    t0 = datetime(2026, 1, 1, 10)
    t0_q = datetime(2026, 1, 2, 13)
    assert _reached(project) == {
        ("user", "u_new", "two_a"): (t0, "reached"), ("user", "u_new", "did_b"): (t0, "reached"),
        ("user", "u_q", "two_a"): (t0_q, "in_progress"), ("user", "u_q", "did_b"): (t0_q, "reached"),
    }
    frame = project.state().state.execute()
    assert frame.loc[frame.entity_id == "u_new", "reach_time"].dt.to_pydatetime().tolist() == [
        datetime(2026, 1, 2, 9, 10), datetime(2026, 1, 1, 10, 45)]
    assert project.state().users_without_signup == 1  # u_lone; u_old is u_new now, not a user without signup


def test_an_alias_after_as_of_does_not_apply(tmp_path: Path) -> None:
    """As of Jan 2 11:00 the alias has not happened: u_old and u_new are two users, each with its own t0, and
    a9's B (linked to u_old at 11:00 on Jan 1) is u_old's."""
    project = _project(tmp_path, ALIASED, MERGES)
    old, new = datetime(2026, 1, 1, 10), datetime(2026, 1, 2, 9)
    assert _reached(project, "2026-01-02T11:00:00") == {
        ("user", "u_old", "two_a"): (old, "in_progress"), ("user", "u_old", "did_b"): (old, "reached"),
        ("user", "u_new", "two_a"): (new, "in_progress"), ("user", "u_new", "did_b"): (new, "in_progress"),
    }


def test_a_long_chain_of_links_ends_at_its_last_id(tmp_path: Path) -> None:
    """a0 → u1 → u2 → u3 → u4 → u5, the calls in shuffled order: every id is u5's (8 links are followed). Each
    doubling pass must join the previous pass's result to itself; a self-join Ibis folded into the previous join
    once stopped every chain at two links."""
    store = open_store(tmp_path / "aha.duckdb")
    chain = [("a0", "u1"), ("u1", "u2"), ("u2", "u3"), ("u3", "u4"), ("u4", "u5")]
    write_identities(store, [(a, u, f"2026-01-0{n}T00:00:00") for n, (a, u) in zip((3, 1, 5, 2, 4), chain,
                                                                                   strict=True)])
    got = store.execute(links(store.table("identities")))
    assert dict(zip(got.anonymous_id, got.linked_user, strict=True)) == {a: "u5" for a, _ in chain}


def test_a_full_build_resolves_the_identity_calls_once(tmp_path: Path) -> None:
    """The users-without-signup count reads the links the build resolved for its events, not the identity calls
    again (docs/engine.md, "Cold report: where the CPU goes"): one statement of a cold build reads the identities
    table, on any connection (DuckDB's query log covers the writing one too). Before, the background write
    resolved every identity call a second time for the count. The count itself is the hand-counted 1 (u_lone)."""
    project = _project(tmp_path, ALIASED, MERGES)
    project.store.raw.execute("CALL enable_logging('QueryLog')")
    ms = project.state()
    project.store.settle()
    queries = [m for (m,) in project.store.raw.execute(
        "SELECT message FROM duckdb_logs WHERE type = 'QueryLog'").fetchall()]
    assert ms.rebuilt and ms.users_without_signup == 1
    assert sum('FROM "identities"' in q for q in queries) == 1


def test_a_full_build_keeps_its_links_with_the_state_key(tmp_path: Path) -> None:
    """The identity links kept for incremental updates (`aha_state_links`) are the build's (hand-counted: a9 was
    u_old, aliased into u_new; u_p aliased into u_q, the alias back ignored) and are written by the state's
    background write, in the transaction that writes its key (docs/engine.md, "Cold report: the links kept off
    the report's connection"). Before, the report's own connection wrote them while the analyses waited (at ten
    million events 0.2 s of CPU and up to a second of file writes), in a transaction of their own."""
    project = _project(tmp_path, ALIASED, MERGES)
    project.store.raw.execute("CALL enable_logging('QueryLog')")
    assert project.state().rebuilt
    project.store.settle()
    logs = project.store.raw.execute(
        "SELECT connection_id, transaction_id, message FROM duckdb_logs WHERE type = 'QueryLog'").fetchall()
    made = ('CREATE OR REPLACE TEMP TABLE "aha_links"', 'CREATE OR REPLACE TABLE aha_mem."aha_links"')
    built = {(con, tx) for con, tx, m in logs if m.startswith(made)}
    kept = {(con, tx) for con, tx, m in logs if m.startswith("CREATE") and "TABLE aha_state_links" in m}
    key = {(con, tx) for con, tx, m in logs if m.startswith("INSERT OR REPLACE INTO aha_meta")}
    assert len(built) == 1 and len(kept) == 1
    assert kept <= key and not {con for con, _ in kept} & {con for con, _ in built}
    expected = [("a9", "u_new"), ("u_old", "u_new"), ("u_p", "u_q")]
    assert project.store.rows("SELECT * FROM aha_state_links ORDER BY ALL") == expected
    # inside a transaction (the server's reads) the state is written there, links and all
    with project.store.transaction():
        assert project.state(force=True).rebuilt
    assert project.store.rows("SELECT * FROM aha_state_links ORDER BY ALL") == expected
