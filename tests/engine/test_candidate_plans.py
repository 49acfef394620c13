"""What the candidate pass reads and keeps (docs/engine.md, "Cold report: where the CPU goes"): DuckDB's own profile
of the statement on a real file, not timings."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aha.definitions import parse
from aha.store import Store, open_store
from tests.engine.test_state import at, candidate_parts
from tests.journeys import write_events, write_memberships

DEFINITIONS = parse("""
signup: {event: Signed Up}
milestones:
  - {id: ws, event: W, within: 1h, level: primary}
  - {id: w3, event: W, count: 3, within: 1d}
  - {id: msgs, event: M, count: 2, within: 1d, entity: account}
""")
AS_OF = datetime(2026, 1, 5)


def candidates(store: Store) -> dict[str, Any]:
    """The first candidate statement of the state build per entity type, over the store's events."""
    return {kind: parts[0] for kind, parts in candidate_parts(store, DEFINITIONS, AS_OF)[1].items()}


def events_scanned(store: Store, sql: str) -> int:
    """Rows DuckDB's scans of the `events` table read for one statement (EXPLAIN ANALYZE's own count)."""
    profile = json.loads(store.raw.execute(f"EXPLAIN (ANALYZE, FORMAT json) {sql}").fetchall()[0][1])

    def scanned(node: dict[str, Any]) -> int:
        table = str(node.get("extra_info", {}).get("Table", ""))
        own = int(node.get("rows_scanned", 0)) if table.endswith(".events") else 0
        return own + sum(scanned(child) for child in node.get("children", []))

    return sum(scanned(node) for node in profile["operator"])


ROW_GROUP = 122_880  # DuckDB's rows per row group


def test_account_events_that_carry_both_ids_are_read_once(tmp_path):
    """The events of account milestones that carry a user id and an account id (the bulk: messages in a workspace)
    need no identity resolution or group-call lookup. The rest (no account id, or no user id) is asked for with
    filters DuckDB checks against each row group's null counts, so where no event lacks either id the second read
    skips the row group: the messages are read once, not twice. Elsewhere in the table anonymous page views lack a
    user id (so the table as a whole has nulls, and DuckDB cannot rule the rest out before it reads)."""
    store = open_store(tmp_path / "aha.duckdb")
    store.raw.execute(f"""INSERT INTO events SELECT 'msg' || i, 'M', 'u1', NULL, 'acme',
        TIMESTAMP '2026-01-01' + INTERVAL (i) MILLISECOND, TIMESTAMP '2026-01-01', '{{}}', 'test'
        FROM range({ROW_GROUP}) AS r(i)""")
    store.raw.execute(f"""INSERT INTO events SELECT 'pv' || i, 'Page Viewed', NULL, 'anon', NULL,
        TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-01', '{{}}', 'test' FROM range({ROW_GROUP}) AS r(i)""")
    write_events(store, [("u1", "Signed Up", at("+0s"), {}, {"account_id": "acme"})])  # after: its own row group
    write_memberships(store, [("u1", "acme", at("+0s"))])
    sql = store.ibis.compile(candidates(store)["account"])
    assert events_scanned(store, sql) == ROW_GROUP  # the messages' row group once; the old plan read it twice
    assert store.raw.execute(f"SELECT count(*) FROM ({sql})").fetchall() == [(ROW_GROUP,)]


def test_events_without_an_account_or_user_id_still_find_their_account(tmp_path):
    """The other side of the split: an event without an account id (credited to the user's first group call) and
    one without a user id (an anonymous id linked later) are candidates of the account, as before."""
    from tests.journeys import write_identities

    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        ("u1", "Signed Up", at("+0s"), {}, {"account_id": "acme"}),
        ("u1", "M", at("+1m")),                                                     # no account id: acme by group
        (None, "M", at("+2m"), {}, {"anonymous_id": "anon-1", "account_id": "acme"}),  # no user id: u1 by identify
        (None, "M", at("+3m"), {}, {"anonymous_id": "anon-2", "account_id": "acme"}),  # never linked: nobody's
    ])
    write_memberships(store, [("u1", "acme", at("+0s"))])
    write_identities(store, [("anon-1", "u1", at("+2m"))])
    sql = store.ibis.compile(candidates(store)["account"])
    rows = store.raw.execute(f"SELECT timestamp FROM ({sql}) ORDER BY timestamp").fetchall()
    assert [r[0] for r in rows] == [datetime.fromisoformat(at(x)) for x in ("+1m", "+2m")]


def test_t0_is_kept_only_where_a_window_is_shorter_than_the_longest(tmp_path):
    """The account table's one milestone has the longest window, which bounds its rows already: no `t0` column
    (a column of ten million timestamps at scale). The users' `ws` (1h) is shorter than `w3` (1d): theirs keeps it."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("u1", "Signed Up", at("+0s"), {}, {"account_id": "acme"}),
                         ("u1", "M", at("+1m"), {}, {"account_id": "acme"})])
    parts = candidates(store)
    assert "t0" not in parts["account"].columns
    assert "t0" in parts["user"].columns
