"""Storing calls the ingestion server accepted: events, identity links, memberships, traits, dead letters, checkpoint.

One transaction per batch, idempotent, because the spool may replay a batch after a crash and clients retry. The
dedupe rule is the store's one rule (docs/ingest.md "Dedupe"): a call is stored at most once per message id,
whichever path or key brought it. Here a call is new when its message id is neither in the `ingested` ledger nor
among the events, both over what was received in the last DEDUPE_DAYS: answered by the writer's index in memory
where those days hold many ids (store/recent_ids.py), else by `stored_sql` (zone maps on `received_at` keep its
scan to recent row groups); `aha import` applies the same rule to every stored event (`store/importer.py`).
Identity links and memberships anti-join on the whole row; traits merge last-write-wins by timestamp (the
importer's merge); dead letters anti-join on their content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from aha.store import recent_ids, schema
from aha.store.database import Store, one_row, timestamp_sql
from aha.store.rows import PARSED
from aha.store.traits import upsert_traits

DEDUPE_DAYS = 8  # at least the 7 days promised; Segment promises 24 hours
BATCH = "aha_ingest_batch"
DEAD = "aha_ingest_dead"

CALL_SCHEMA = pa.schema(
    [
        ("type", pa.string()),
        ("message_id", pa.string()),
        ("event", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("account_id", pa.string()),
        ("previous_id", pa.string()),
        ("timestamp", pa.timestamp("us")),
        ("original_timestamp", pa.timestamp("us")),
        ("received_at", pa.timestamp("us")),
        ("properties", pa.string()),
        ("traits", pa.string()),
        ("source", pa.string()),
    ]
)
DEAD_SCHEMA = pa.schema(
    [
        ("received_at", pa.timestamp("us")),
        ("source", pa.string()),
        ("line", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class WriteCounts:
    calls: int  # new calls (not seen before for their source)
    events: int
    duplicates: int
    dead_letters: int


def stored_sql(ids: str) -> str:
    """The dedupe rule as one SQL query: the message ids among `ids` (a query of one column, `message_id`) that
    some path stored within the last DEDUPE_DAYS (`$cutoff`). Events count by the events table, so an imported
    event stops an HTTP one.

    Written as semi-joins of the stored rows against `ids`, so DuckDB builds its hash table on the batch's few ids
    and streams the stored ones past it; the `EXISTS` it replaces built one of every id received in those days for
    each transaction (the writer's largest cost, growing with the recent history: docs/benchmarks.md)."""
    return f"""SELECT i.message_id FROM {schema.INGESTED} i
                WHERE i.received_at >= $cutoff AND i.message_id IN ({ids})
               UNION ALL
               SELECT e.message_id FROM {schema.EVENTS} e
                WHERE e.received_at >= $cutoff AND e.message_id IN ({ids})"""


def prepare_dedupe(store: Store, now: datetime) -> None:
    """Start building the writer's dedupe index (store/recent_ids.py) where the store needs one, so that a server
    starting on a large recent history builds it before the first batch rather than during it. Only a store
    prepared so keeps an index (`recent_ids.serve`)."""
    recent_ids.serve(store)
    recent_ids.index_for(store, now - timedelta(days=DEDUPE_DAYS), store.data_version, check=True)


def already_stored(store: Store, message_ids: list[str], now: datetime) -> set[str]:
    """Which of `message_ids` the dedupe rule counts as stored (what `write_calls` would skip)."""
    if not message_ids:
        return set()
    rows = store.raw.execute(
        stored_sql("SELECT unnest($ids) AS message_id"),
        {"ids": message_ids, "cutoff": now - timedelta(days=DEDUPE_DAYS)},
    ).fetchall()
    return {str(r[0]) for r in rows}


def _count(store: Store, sql: str, params: dict[str, object] | None = None) -> int:
    row = one_row(store.raw, sql, params)
    return int(row[0]) if row and row[0] is not None else 0


def write_calls(
    store: Store, calls: pa.Table, dead: pa.Table, checkpoint: tuple[int, int] | None, now: datetime
) -> WriteCounts:
    """Store a batch of accepted calls (CALL_SCHEMA) and dead letters (DEAD_SCHEMA); record the spool checkpoint."""
    con = store.raw
    cutoff = now - timedelta(days=DEDUPE_DAYS)
    con.register(BATCH, calls.append_column("_idx", pa.array(range(calls.num_rows), pa.int64())))
    con.register(DEAD, dead)
    index: recent_ids.RecentIds | None = None
    entered: recent_ids.Run | None = None
    version = 0
    try:
        with store.transaction():
            # New calls: first of their message id in this batch, and not stored by any path: the dedupe index
            # where it is ready (store/recent_ids.py), else the rule in SQL (stored_sql; message ids are never
            # NULL, so NOT IN is the anti-join).
            version = store.data_version
            index = recent_ids.index_for(store, cutoff, version)
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {PARSED} AS
                SELECT b.* REPLACE (CAST(coalesce(b.traits, '{{}}') AS JSON) AS traits),
                       b.timestamp AS ts, b.type AS _kind, TRUE AS _ok, b._idx AS _line
                FROM {BATCH} b
                WHERE {_not_stored(store, index, version, cutoff)}
                QUALIFY row_number() OVER (PARTITION BY b.message_id ORDER BY b._idx) = 1""")
            if index is not None and not index.failed:  # what this batch adds to the index once committed
                entered = recent_ids.hashes(con, PARSED)
            # what the batch holds decides which statements run: one that would change nothing is not started
            # (each costs ~1-5 ms of planning, and the writer runs one transaction per WRITE_EVERY_SECONDS)
            new, tracked, links, groups, traited = one_row(con, f"""SELECT count(*),
                count(*) FILTER (WHERE type IN ('track', 'page', 'screen')),
                count(*) FILTER (WHERE type IN ('identify', 'alias')), count(*) FILTER (WHERE type = 'group'),
                count(*) FILTER (WHERE type IN ('identify', 'group')) FROM {PARSED}""") or (0, 0, 0, 0, 0)
            if new:
                con.execute(
                    f"""INSERT INTO {schema.INGESTED}
                        SELECT source, message_id, type, received_at, original_timestamp FROM {PARSED}"""
                )
            events = 0
            if tracked:
                events = _count(
                    store,
                    f"""INSERT INTO {schema.EVENTS}
                        (message_id, event, user_id, anonymous_id, account_id, timestamp, received_at, properties,
                         source)
                        SELECT message_id, event, user_id, anonymous_id, account_id, timestamp, received_at,
                               CAST(properties AS JSON), source
                        FROM {PARSED} WHERE type IN ('track', 'page', 'screen')""",
                )
                written = (f"(SELECT user_id, anonymous_id, account_id, timestamp FROM {PARSED} "
                           "WHERE type IN ('track', 'page', 'screen'))")  # the ledger has removed duplicates
                for statement in (*schema.record_seen(written), schema.latest_event(written)):
                    con.execute(statement)
            if links:
                con.execute(
                    f"""INSERT INTO {schema.IDENTITIES}
                        SELECT DISTINCT anon, user_id, ts, source FROM (
                            SELECT CASE WHEN type = 'alias' THEN previous_id ELSE anonymous_id END AS anon,
                                   user_id, ts, source
                            FROM {PARSED} WHERE type IN ('identify', 'alias')) n
                        WHERE anon IS NOT NULL AND user_id IS NOT NULL AND anon <> user_id AND NOT EXISTS (
                            SELECT 1 FROM {schema.IDENTITIES} i
                            WHERE i.anonymous_id = n.anon AND i.user_id = n.user_id AND i.timestamp = n.ts)"""
                )
            if groups:
                con.execute(
                    f"""INSERT INTO {schema.MEMBERSHIPS}
                        SELECT DISTINCT member, account_id, ts FROM (
                            SELECT coalesce(user_id, anonymous_id) AS member, account_id, ts FROM {PARSED}
                            WHERE type = 'group') n  -- an anonymous visitor's group call (store.loading)
                        WHERE member IS NOT NULL AND NOT EXISTS (
                            SELECT 1 FROM {schema.MEMBERSHIPS} m
                            WHERE m.user_id = n.member AND m.account_id = n.account_id AND m.timestamp = n.ts)"""
                )
            if links or groups:
                con.execute(schema.latest_call(PARSED))
            if traited:
                upsert_traits(con, schema.USERS, "user_id", "user_id", ("identify",))
                upsert_traits(con, schema.ACCOUNTS, "account_id", "account_id", ("group",))
            dead_letters = 0
            if dead.num_rows:
                dead_letters = _count(
                    store,
                    f"""INSERT INTO {schema.DEAD_LETTERS} (received_at, source, file, line, field, reason, raw)
                        SELECT d.received_at, d.source, 'http', d.line, d.field, d.reason, d.raw FROM {DEAD} d
                        WHERE NOT EXISTS (SELECT 1 FROM {schema.DEAD_LETTERS} x
                            WHERE x.received_at = d.received_at AND x.source IS NOT DISTINCT FROM d.source
                              AND x.line IS NOT DISTINCT FROM d.line AND x.reason = d.reason
                              AND x.raw IS NOT DISTINCT FROM d.raw)""",
                )
            if checkpoint is not None:
                save_checkpoint(store, *checkpoint)
            if new:
                store.bump_data_version()
        if index is not None:  # committed: the index holds what the store now holds
            if new and entered is not None:
                index.add(*entered, cutoff)
            index.version = version + (1 if new else 0)
    finally:
        con.unregister(BATCH)
        con.unregister(DEAD)
        con.execute(f"DROP TABLE IF EXISTS {PARSED}")
    return WriteCounts(calls=new, events=events, duplicates=calls.num_rows - new, dead_letters=dead_letters)


def _not_stored(store: Store, index: recent_ids.RecentIds | None, version: int, cutoff: datetime) -> str:
    """The batch rows (`b`) whose message id the dedupe rule does not count as stored, as a SQL condition."""
    if index is None or not index.usable(version, cutoff):
        return f"b.message_id NOT IN ({stored_sql(f'SELECT message_id FROM {BATCH}')})".replace(
            "$cutoff", timestamp_sql(cutoff))
    h1, h2, _ = recent_ids.hashes(store.raw, BATCH)
    stored = np.flatnonzero(index.stored(h1, h2, cutoff))
    return f"b._idx NOT IN ({', '.join(str(int(i)) for i in stored)})" if len(stored) else "TRUE"


def save_checkpoint(store: Store, generation: int, offset: int) -> None:
    store.raw.execute(  # one statement (`executemany` plans it once per row)
        f"""INSERT INTO {schema.META} VALUES ('spool_generation', $generation), ('spool_offset', $offset)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
        {"generation": str(generation), "offset": str(offset)},
    )


def load_checkpoint(store: Store) -> tuple[int, int]:
    rows = dict(
        store.raw.execute(
            f"SELECT key, value FROM {schema.META} WHERE key IN ('spool_generation', 'spool_offset')"
        ).fetchall()
    )
    return int(rows.get("spool_generation", 1)), int(rows.get("spool_offset", 0))
