"""The writer's dedupe rule, counted by hand on a real DuckDB file (store/calls.py `stored_sql`, issue 17 item 6).

A call is new when its message id was not stored by any path (the ledger of HTTP calls, or the events table, which
`aha import` fills) within the last DEDUPE_DAYS of receipt, and it is the first of its id in its batch. The query
that finds the stored ids was rewritten for speed (semi-joins against the batch's ids instead of EXISTS per row);
these counts are the rule's, whatever the query.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from aha.ingest.payloads import Call
from aha.ingest.records import calls_table, dead_table
from aha.store.calls import DEDUPE_DAYS, already_stored, write_calls
from aha.store.database import Store

NOW = datetime(2026, 12, 4, 12, 0)


def call(message_id: str, received_at: datetime, kind: str = "track") -> Call:
    return Call(type=kind, message_id=message_id, event="E" if kind == "track" else None, user_id="u",
                anonymous_id=None, account_id=None, previous_id=None, timestamp=received_at,
                original_timestamp=None, received_at=received_at, properties={} if kind == "track" else None,
                traits={} if kind == "identify" else None, source="web")


def write(store: Store, calls: list[Call], now: datetime) -> tuple[int, int, int]:
    counts = write_calls(store, calls_table(calls), dead_table([]), None, now)
    return counts.calls, counts.events, counts.duplicates


def test_each_message_id_is_stored_once_within_the_window_whichever_table_holds_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "aha.duckdb")
    try:
        old = NOW - timedelta(days=DEDUPE_DAYS, hours=1)  # received just before the window
        recent = NOW - timedelta(days=1)
        assert write(store, [call("a", old), call("b", old)], old) == (2, 2, 0)
        assert write(store, [call("c", recent), call("i", recent, "identify")], recent) == (2, 1, 0)
        store.raw.execute("""INSERT INTO events (message_id, event, user_id, timestamp, received_at, properties,
                             source) VALUES ('imported', 'E', 'u', $t, $t, '{}', 'import')""", {"t": recent})
        # a: outside the window, stored again; c, i (ledger) and imported (events only): stored; d twice: once
        batch = [call("a", NOW), call("c", NOW), call("i", NOW, "identify"), call("imported", NOW), call("d", NOW),
                 call("d", NOW), call("e", NOW, "identify")]
        assert write(store, batch, NOW) == (3, 2, 4)  # a, d, e new (a and d events); c, i, imported, d again not
        assert already_stored(store, ["a", "b", "c", "d", "e", "i", "imported", "x"], NOW) == {
            "a", "c", "d", "e", "i", "imported"}  # b: only before the window
        assert write(store, batch, NOW) == (0, 0, 7)  # a retry of the whole batch changes nothing
        events = store.raw.execute("SELECT message_id, count(*) FROM events GROUP BY 1 ORDER BY 1").fetchall()
        assert events == [("a", 2), ("b", 1), ("c", 1), ("d", 1), ("imported", 1)]
    finally:
        store.close()
