"""Writing one parsed import file into the store: one transaction holding its dead letters, events, identity links,
memberships, traits, the seen tables, the default `as_of` and its `imports` log row (see `store/importer.py` for what
is counted how).

Events are new when their message id is in no stored event: one semi-join streams the stored ids past a hash
table of the file's ids and marks the (usually no) rows found (`_stored`); the file's new rows are then inserted
sorted by `schema.EVENTS_ORDER`. The seen tables and the default `as_of` read the same new rows of the parsed file:
the rows this file stored, and only those (a duplicate refused for its message id may carry another time than the
row that was kept), without scanning the stored events again. Files of events alone (Parquet, CSV, JSON lines
without Segment calls) skip the statements about identify, alias and group calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from aha.store import schema
from aha.store.database import Store, one_row
from aha.store.rows import PARSED, scalar_int
from aha.store.traits import upsert_traits

# A parsed row that is a new event: accepted, its message id's first line in the file, and not stored before.
_NEW = "_kind = 'event' AND _ok AND _first AND NOT _stored"
_SEEN = "aha_import_seen"  # the new rows' ids with their earliest and latest times (temporary)


@dataclass(frozen=True, slots=True)
class Written:
    rows_read: int
    imported: int
    duplicates: int
    rejected: int
    events: int
    identities: int
    users_updated: int
    accounts_updated: int
    before: int  # earlier imports of this file (and kind) that stored rows


def write_file(store: Store, file_text: str, kind: str, source: str, now: datetime) -> Written:
    """Store PARSED (one file's parsed rows) in one transaction; returns what was counted."""
    con = store.raw
    counts = one_row(
        con,
        f"""SELECT count(*), count(*) FILTER (WHERE _reason IS NOT NULL),
                   count(*) FILTER (WHERE _kind <> 'event' OR previous_id IS NOT NULL),
                   count(*) FILTER (WHERE _ok AND _kind <> 'event' AND _first AND NOT _same),
                   count(*) FILTER (WHERE _kind = 'event' AND _ok AND _first)
            FROM {PARSED}""",
    )
    rows_read, rejected, calls, others, firsts = (int(v) for v in counts)
    with store.transaction():
        if rejected:
            _dead_letters(con, file_text, source, now)
        events = _events(con, source, now, firsts)
        identities = users = accounts = 0
        if calls:  # identify, alias, group calls (Segment lines), a users file, or events with a previous_id
            identities, users, accounts = _calls(con, source)
        imported = events + others
        before = scalar_int(  # an earlier import that stored rows (not one whose every row was refused)
            con, f"SELECT count(*) FROM {schema.IMPORTS} WHERE file = ? AND kind = ? AND imported > 0",
            [file_text, kind])
        con.execute(
            f"INSERT INTO {schema.IMPORTS} VALUES (?, ?, ?, ?, ?, ?, ?)",
            [file_text, kind, rows_read, imported, rows_read - rejected - imported, rejected, now],
        )
    return Written(rows_read=rows_read, imported=imported, duplicates=rows_read - rejected - imported,
                   rejected=rejected, events=events, identities=identities, users_updated=users,
                   accounts_updated=accounts, before=before)


def _dead_letters(con: duckdb.DuckDBPyConnection, file_text: str, source: str, now: datetime) -> None:
    con.execute(
        f"""INSERT INTO {schema.DEAD_LETTERS} (received_at, source, file, line, field, reason, raw)
            SELECT $now, $source, $file, p._line, p._field, p._reason, p._raw FROM {PARSED} p
            WHERE p._reason IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {schema.DEAD_LETTERS} d WHERE d.file = $file AND d.line = p._line
                AND d.reason = p._reason AND d.raw IS NOT DISTINCT FROM p._raw)""",
        {"now": now, "source": source, "file": file_text},
    )


def _events(con: duckdb.DuckDBPyConnection, source: str, now: datetime, firsts: int) -> int:
    """Insert the file's new events (of `firsts`, its accepted events that are their message id's first line);
    returns how many."""
    # The stored ids among the file's: the history streams past a hash table of the file's ids (usually no match;
    # all of them on a re-import), and only the matching rows are marked; the rest of `firsts` are new.
    found = scalar_int(
        con,
        f"""UPDATE {PARSED} SET _stored = TRUE WHERE _kind = 'event' AND _ok AND _first AND message_id IN (
                SELECT e.message_id FROM {schema.EVENTS} e SEMI JOIN {PARSED} p ON e.message_id = p.message_id)"""
    )
    events = firsts - found
    if not events:
        return 0
    con.execute(
        f"""INSERT INTO {schema.EVENTS}
            SELECT message_id, event, user_id, anonymous_id, account_id, ts, $now, properties, $source
            FROM {PARSED} WHERE {_NEW} ORDER BY event, ts""",  # schema.EVENTS_ORDER
        {"now": now, "source": source},
    )
    # The seen tables keep each id's earliest time: one grouped pass over the new rows gives every (user, anonymous,
    # account) its earliest time, from which the three upserts read (a few rows per user, not one per event);
    # the default `as_of` needs the latest time, kept beside it.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {_SEEN} AS SELECT user_id, anonymous_id, account_id,
                        min(ts) AS timestamp, max(ts) AS latest FROM {PARSED} WHERE {_NEW} GROUP BY ALL""")
    for statement in (*schema.record_seen(_SEEN), schema.latest_event(f"(SELECT latest AS timestamp FROM {_SEEN})")):
        con.execute(statement)
    con.execute(f"DROP TABLE {_SEEN}")  # in the file's transaction: a failure rolls its creation back too
    return events


def _calls(con: duckdb.DuckDBPyConnection, source: str) -> tuple[int, int, int]:
    """Identity links, memberships and traits of the file's identify, alias, group (and users-file) rows."""
    identities = _insert_count(
        con,
        f"""INSERT INTO {schema.IDENTITIES}
            SELECT DISTINCT anon, user_id, ts, $source FROM (
                SELECT CASE WHEN _kind = 'identify' THEN anonymous_id ELSE previous_id END AS anon, user_id, ts
                -- an event's previous_id (--map previous_id=...) links as an alias does; never to itself
                FROM {PARSED} WHERE _ok AND (_kind IN ('identify', 'alias') OR (_kind = 'event'
                    AND previous_id <> user_id))
            ) n WHERE anon IS NOT NULL AND user_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {schema.IDENTITIES} i
                WHERE i.anonymous_id = n.anon AND i.user_id = n.user_id AND i.timestamp = n.ts)""",
        {"source": source},
    )
    con.execute(
        f"""INSERT INTO {schema.MEMBERSHIPS}
            SELECT DISTINCT member, account_id, ts FROM (
                SELECT coalesce(user_id, anonymous_id) AS member, account_id, ts FROM {PARSED}
                WHERE _ok AND _kind = 'group') n  -- an anonymous visitor's group call: theirs once identified
            WHERE member IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {schema.MEMBERSHIPS} m
                WHERE m.user_id = n.member AND m.account_id = n.account_id AND m.timestamp = n.ts)"""
    )
    con.execute(schema.latest_call(PARSED))
    users = upsert_traits(con, schema.USERS, "user_id", "user_id", ("identify", "user"))
    accounts = upsert_traits(con, schema.ACCOUNTS, "account_id", "account_id", ("group",))
    return identities, users, accounts


def _insert_count(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> int:
    row = one_row(con, sql, params)
    return int(row[0]) if row else 0
