"""Incremental milestone state (SEMANTICS.md, "Incremental state"): after new calls arrive, only the entities they
can change are recomputed, and the stored state equals a full rebuild.

Each state is stored with its marks: how far it read each append-only table (a rowid watermark), the `as_of` and
the latest stored call it was built with, and the identity links it resolved with. A later state for the same
definitions reads only the rows past the marks to find the entities they touch (`touched`); `state.build` then
recomputes those entities through the same engine expressions, over their events only, and splices them in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from aha.analyses import counted_users
from aha.definitions import Definitions
from aha.definitions.models import Milestone
from aha.engine import columns as c
from aha.engine.tracked import counted_milestones, has_accounts, longest_window, tracked
from aha.store import Store, schema
from aha.store.database import timestamp_sql

MARKS = "state_marks"  # key in aha_meta: the JSON of `Marks` for the stored state
LINKS_KEPT = "aha_state_links"  # the identity links (anonymous_id, linked_user) the stored state resolved with
TRAITS_KEPT = "aha_state_traits"  # (user_id, h): a hash of each user's traits the stored state read (scopes)
APPENDED = (schema.EVENTS, schema.IDENTITIES, schema.MEMBERSHIPS)  # tables writers only append to
NEW_EVENTS = "aha_new_events"  # the events past the mark, up to as_of, with their resolved user `cu` (temp)
STORED_USERS = "aha_stored_users"  # (id, t0): the stored users those events resolve to (temp)
MOVED = "aha_moved"  # ids whose identity link changed (temp)
TOUCHED_USERS = "aha_touched_users"  # (id): users to recompute (temp)
TOUCHED_ACCOUNTS = "aha_touched_accounts"  # (id): accounts likewise (temp)
COUNTED_ACCOUNTS = "aha_counted_accounts"  # (id): accounts brought up to date from their stored counts (temp)
CREDITED = "aha_credited"  # (id, direct, event, timestamp): new events credited to stored accounts (temp)
MEMBER_MOVES = "aha_member_moves"  # (id, signed_at): ids of users with a new signup (its time) or moved links
RETRAITED = "aha_retraited"  # (id, h, gone): users whose traits changed, with their new hash (temp)
GROUPS = "aha_touched_groups"  # group calls of the users new events resolve to, and new ones (temp)
RAW_IDS = "aha_touched_ids"  # (id): every user or anonymous id whose events the recomputed entities read (temp)
TOUCHED_EVENTS = "aha_touched_events"  # their events (temp view)
SCRATCH_VIEWS = (TOUCHED_EVENTS,)
SCRATCH_TABLES = (NEW_EVENTS, STORED_USERS, MOVED, TOUCHED_USERS, TOUCHED_ACCOUNTS, GROUPS, RAW_IDS, RETRAITED,
                  MEMBER_MOVES, COUNTED_ACCOUNTS, CREDITED)
LARGEST_SHARE = 0.10  # more new events than this share of the stored ones: a full rebuild costs about as much
# Fewer stored events than this: a full build from kept statements costs less CPU than a refresh, whose ~175 small
# statements cost ~0.6 s whatever the history (docs/engine.md, "The refresh's floor and the full build's choice").
SMALLEST_HISTORY = 750_000
SMALLEST_HISTORY_ENV = "AHA_INCREMENTAL_FROM"  # another floor (stored events): tests refresh their small logs


def smallest_history() -> int:
    """The stored events below which a refresh builds the state whole instead (SMALLEST_HISTORY, or the
    environment's AHA_INCREMENTAL_FROM: an integer ≥ 0)."""
    text = os.environ.get(SMALLEST_HISTORY_ENV, "").strip()
    try:
        return max(int(text), 0) if text else SMALLEST_HISTORY
    except ValueError:
        return SMALLEST_HISTORY


@dataclass(frozen=True)
class Marks:
    """What a stored state read: its key, definitions (`prefix`: layout and content hash), `as_of`, the latest stored
    call when it was built, and per appended table (rowid watermark, rows below it)."""

    key: str
    prefix: str
    as_of: datetime
    latest: datetime | None
    rows: dict[str, tuple[int, int]]

    def dump(self) -> str:
        return json.dumps({"key": self.key, "prefix": self.prefix, "as_of": self.as_of.isoformat(),
                           "latest": self.latest.isoformat() if self.latest else None,
                           "rows": {t: list(v) for t, v in self.rows.items()}})

    @staticmethod
    def load(text: str) -> Marks:
        d: dict[str, Any] = json.loads(text)
        return Marks(d["key"], d["prefix"], datetime.fromisoformat(d["as_of"]),
                     datetime.fromisoformat(d["latest"]) if d["latest"] else None,
                     {t: (int(v[0]), int(v[1])) for t, v in d["rows"].items()})


def watermarks(store: Store) -> dict[str, tuple[int, int]]:
    """Per appended table: one past its highest rowid, and its row count (rows are appended, never deleted, so the
    rows past a watermark are exactly those written after it was read; a deletion shows as a smaller count)."""
    marks = {}
    for table in APPENDED:
        row = store.raw.execute(f"SELECT coalesce(max(rowid) + 1, 0), count(*) FROM {table}").fetchall()[0]
        marks[table] = (int(row[0]), int(row[1]))
    return marks


def stored_marks(store: Store) -> Marks | None:
    text = store.scalar(f"SELECT value FROM {schema.META} WHERE key = ?", [MARKS])
    return Marks.load(text) if text else None


def why_not(store: Store, marks: Marks | None, prefix: str, as_of: datetime, stored_key: str | None) -> str | None:
    """Why the stored state cannot be brought up to date incrementally (None: it can). The rules of SEMANTICS.md:
    the same layout and definitions; `as_of` unchanged, or moved forward from a state that had seen every stored
    call (otherwise rows it left out for being after its `as_of` would now count, and they are not past any mark);
    no stored row deleted; at least `smallest_history()` stored events (outside a transaction: below it a full
    build costs less); fewer new events than LARGEST_SHARE of the stored ones."""
    if marks is None or marks.key != stored_key or not store.exists(LINKS_KEPT):
        return "no marks for the stored state"
    if marks.prefix != prefix:
        return "the definitions or the state's layout changed"
    if as_of < marks.as_of:
        return "as_of moved back"
    if as_of > marks.as_of and marks.latest is not None and marks.latest > marks.as_of:
        return "as_of moved forward from a state that left out stored calls after its as_of"
    for table, (mark, count) in marks.rows.items():
        if store.scalar(f"SELECT count(*) FROM {table} WHERE rowid < ?", [mark]) != count:
            return f"rows of {table} were deleted or rewritten"
    if marks.rows[schema.EVENTS][1] < smallest_history() and not store.in_transaction:  # (the server's reads,
        return "a history this small is built whole faster than refreshed"  # in a transaction, write the file)
    new = store.scalar(f"SELECT count(*) FROM {schema.EVENTS} WHERE rowid >= ?", [marks.rows[schema.EVENTS][0]])
    if new > LARGEST_SHARE * max(marks.rows[schema.EVENTS][1], 1):
        return "too many new events for an incremental update"
    return None


def _signup_test(definitions: Definitions, column: str) -> str:
    names = definitions.signup.defining
    return "TRUE" if names is None else f"{column} IN ({', '.join(_quoted(n) for n in names)})"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def touched(store: Store, definitions: Definitions, marks: Marks, as_of: datetime, links: str,
            entities: str) -> None:
    """Fill TOUCHED_USERS, TOUCHED_ACCOUNTS and RAW_IDS (temp tables) with the entities the rows past `marks` can
    change, as of `as_of`; `links` names the table of the links as of `as_of`, `entities` the stored state.

    A user is touched by a new event that resolves to them inside their candidate window (before `t0` + the longest
    user window; an earlier signup moves `t0`), by a new signup-defining event if they had none, by any change of
    an identity link naming them or their ids, and (with scoped milestones) by a change of their traits. An account
    is touched by a new event of a name its milestones count credited to it inside its window, by a new member
    who signed up before its `t0`, by a new group call, by a member's new signup earlier than its `t0` (the
    account's `t0` is its earliest member's), and by any change of a member's identity links."""
    raw = store.raw
    b = timestamp_sql(as_of)
    ev, ms = marks.rows[schema.EVENTS][0], marks.rows[schema.MEMBERSHIPS][0]
    # Once, as a table (every later step reads it), with only the links the new rows name.
    raw.execute(f"""CREATE OR REPLACE TEMP TABLE {NEW_EVENTS} AS
        WITH e AS (SELECT * FROM {schema.EVENTS} WHERE rowid >= {ev} AND timestamp <= {b}),
        l AS (SELECT anonymous_id, linked_user FROM {links}
              WHERE anonymous_id IN (SELECT user_id FROM e UNION SELECT anonymous_id FROM e))
        SELECT e.*, coalesce(lu.linked_user, e.user_id, la.linked_user) AS cu
        FROM e LEFT JOIN l lu ON lu.anonymous_id = e.user_id LEFT JOIN l la ON la.anonymous_id = e.anonymous_id""")
    # The stored users the new events resolve to (their t0), found by id first: not a join of every stored entity.
    raw.execute(f"""CREATE OR REPLACE TEMP TABLE {STORED_USERS} AS SELECT {c.ENTITY_ID} AS id, {c.T0} AS t0
        FROM {entities} WHERE {c.ENTITY_TYPE} = '{c.USER}' AND {c.ENTITY_ID} IN (SELECT cu FROM {NEW_EVENTS})""")
    raw.execute(f"""CREATE OR REPLACE TEMP TABLE {MOVED} AS
        SELECT coalesce(n.anonymous_id, o.anonymous_id) AS id, o.linked_user AS old_user, n.linked_user AS new_user
        FROM {links} n FULL JOIN {LINKS_KEPT} o ON n.anonymous_id = o.anonymous_id
        WHERE n.linked_user IS DISTINCT FROM o.linked_user AND {"true" if links != LINKS_KEPT else "false"}""")
    user_window = int(longest_window(definitions, c.USER).total_seconds())
    traits = ""
    if any(m.scope for m in definitions.milestones):
        raw.execute(f"""CREATE OR REPLACE TEMP TABLE {RETRAITED} AS SELECT coalesce(u.user_id, k.user_id) AS id,
                   hash(u.traits::VARCHAR) AS h, u.user_id IS NULL AS gone
            FROM {schema.USERS} u FULL JOIN {TRAITS_KEPT} k ON k.user_id = u.user_id
            WHERE hash(u.traits::VARCHAR) IS DISTINCT FROM k.h""")
        traits = f"UNION SELECT id FROM {RETRAITED}"
    raw.execute(f"""CREATE OR REPLACE TEMP TABLE {TOUCHED_USERS} AS
        SELECT n.cu AS id FROM {NEW_EVENTS} n LEFT JOIN {STORED_USERS} s ON s.id = n.cu
        WHERE n.cu IS NOT NULL AND CASE WHEN s.t0 IS NULL THEN {_signup_test(definitions, "n.event")}
              ELSE n.timestamp < s.t0 + INTERVAL {user_window} SECOND END
        UNION SELECT id FROM {MOVED} UNION SELECT old_user FROM {MOVED} WHERE old_user IS NOT NULL
        UNION SELECT new_user FROM {MOVED} WHERE new_user IS NOT NULL {traits}""")
    # Users whose stored progress the new events continue are counted on (aha.analyses.counted_users), not recomputed.
    counted_users.new_rows_view(store, NEW_EVENTS)
    others = f"""SELECT id FROM {MOVED} UNION SELECT old_user FROM {MOVED} WHERE old_user IS NOT NULL
        UNION SELECT new_user FROM {MOVED} WHERE new_user IS NOT NULL {traits}"""
    recounted = ", ".join(_quoted(n) for n in counted_users.recounted_names(definitions))
    counted_users.split(store, definitions, marks.latest, NEW_EVENTS, STORED_USERS, TOUCHED_USERS, others, recounted)
    if has_accounts(definitions):
        _touched_accounts(store, definitions, b, ms, links, entities, marks.latest)
    else:
        for table in (TOUCHED_ACCOUNTS, COUNTED_ACCOUNTS):
            raw.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT NULL::VARCHAR AS id WHERE false")
    # Whose events to read: touched users and every member of a touched account (their t0 is the account's), under
    # every id that resolves to them now.
    raw.execute(f"""CREATE OR REPLACE TEMP TABLE {RAW_IDS} AS
        WITH who AS (
            SELECT id FROM {TOUCHED_USERS}
            UNION SELECT coalesce(l.linked_user, p.user_id) FROM (
                SELECT user_id FROM {schema.SEEN_MEMBERS} WHERE account_id IN (SELECT id FROM {TOUCHED_ACCOUNTS})
                UNION ALL SELECT user_id FROM {schema.MEMBERSHIPS}
                  WHERE account_id IN (SELECT id FROM {TOUCHED_ACCOUNTS})) p
              LEFT JOIN {links} l ON l.anonymous_id = p.user_id)
        SELECT id FROM who UNION SELECT anonymous_id FROM {links} WHERE linked_user IN (SELECT id FROM who)""")
    # Only names the state reads; a view, so that each part of the build reads only its names, columns and times.
    names = definitions.signup.defining
    read = "TRUE" if names is None else "event IN ({})".format(", ".join(
        _quoted(n) for n in sorted({*names, *(e for m in tracked(definitions) for e in m.events)})))
    raw.execute(f"""CREATE OR REPLACE TEMP VIEW {TOUCHED_EVENTS} AS SELECT * FROM {schema.EVENTS}
        WHERE {read} AND (user_id IN (SELECT id FROM {RAW_IDS}) OR anonymous_id IN (SELECT id FROM {RAW_IDS})
           OR account_id IN (SELECT id FROM {TOUCHED_ACCOUNTS}))""")


def _touched_accounts(store: Store, definitions: Definitions, b: str, memberships_mark: int, links: str,
                      entities: str, latest: datetime | None) -> None:
    """TOUCHED_ACCOUNTS and COUNTED_ACCOUNTS (`touched`). Events are credited as the engine credits them
    (engine.state, accounts): an event with a user id and an account id to that account; any other resolved event
    to its account id or else to its user's primary account (the first group call).

    An account is counted on (COUNTED_ACCOUNTS, `count_on`) rather than recomputed from its members' events when
    its milestones are plain counts (`plain_counts`), no identity link moved, and its only reason to change is new
    events carrying its id and a user id (credited without identity resolution), every one later than the latest
    call the stored state had seen (`latest`): then each is later than every event the stored counts hold, its
    `t0` cannot move (a member's signup after it), and the k-th event is the stored count's continuation."""
    window = int(longest_window(definitions, c.ACCOUNT).total_seconds())
    # the names account milestones count: another event credited to an account changes none of its milestones
    counted = ", ".join(_quoted(n) for n in sorted({e for m in counted_milestones(definitions, c.ACCOUNT)
                                                     for e in m.events})) or "NULL"
    moved_anonymous = ""
    if store.scalar(f"SELECT count(*) FROM {MOVED}"):  # anonymous events carrying an account, now (un)resolved
        moved_anonymous = f"""UNION SELECT account_id FROM {schema.EVENTS} WHERE user_id IS NULL
            AND account_id IS NOT NULL AND anonymous_id IN (SELECT id FROM {MOVED})"""
    # The group calls of the users the new events resolve to (their first group call credits their events).
    store.raw.execute(f"""CREATE OR REPLACE TEMP TABLE {GROUPS} AS
        WITH who AS (SELECT cu AS id FROM {NEW_EVENTS}
            UNION SELECT coalesce(k.linked_user, g.user_id) FROM {schema.MEMBERSHIPS} g
              LEFT JOIN {links} k ON k.anonymous_id = g.user_id WHERE g.rowid >= {memberships_mark})
        , ids AS (SELECT id FROM who UNION SELECT anonymous_id FROM {links} WHERE linked_user IN (SELECT id FROM who))
        SELECT coalesce(l.linked_user, m.user_id) AS cu, m.account_id, m.timestamp, m.fresh
        -- by id first (a group call's id is one of them or an id linked to one), then resolved
        FROM (SELECT user_id, account_id, timestamp, rowid >= {memberships_mark} AS fresh FROM {schema.MEMBERSHIPS}
              WHERE timestamp <= {b} AND user_id IN (SELECT id FROM ids)) m
          LEFT JOIN {links} l ON l.anonymous_id = m.user_id
        WHERE coalesce(l.linked_user, m.user_id) IN (SELECT id FROM who)""")
    # A member changes an account's t0 (its earliest signed-up member's) only by signing up earlier than it: with the
    # links unchanged, a user's t0 only moves earlier, to their earliest new signup-defining event. A user whose
    # links moved may gain or lose any event (or stop being a user): every account of theirs is touched. Both under
    # every id that resolves to the user, by the old links or the new.
    moved = f"""SELECT id FROM {MOVED} UNION SELECT old_user FROM {MOVED} WHERE old_user IS NOT NULL
        UNION SELECT new_user FROM {MOVED} WHERE new_user IS NOT NULL"""
    signed = f"""SELECT cu AS id, min(timestamp) AS signed_at FROM {NEW_EVENTS}
        WHERE cu IS NOT NULL AND {_signup_test(definitions, "event")} GROUP BY cu"""
    kept_too = ("" if links == LINKS_KEPT else  # unrelinked, the links are the kept ones: one join, not two
                f"UNION SELECT k.anonymous_id, w.signed_at FROM {LINKS_KEPT} k JOIN who w ON k.linked_user = w.id")
    store.raw.execute(f"""CREATE OR REPLACE TEMP TABLE {MEMBER_MOVES} AS
        WITH who AS (SELECT id, signed_at FROM ({signed}) UNION ALL SELECT id, NULL FROM ({moved}))
        SELECT id, signed_at FROM who
        UNION SELECT l.anonymous_id, w.signed_at FROM {links} l JOIN who w ON l.linked_user = w.id
        {kept_too}""")
    mover = f"user_id IN (SELECT id FROM {MEMBER_MOVES})"  # in each part: not a union of every pair, then a join
    member_of = f"""SELECT p.account_id FROM (
            SELECT user_id, account_id FROM {schema.SEEN_MEMBERS} WHERE {mover}
            UNION ALL SELECT user_id, account_id FROM {schema.MEMBERSHIPS} WHERE {mover}) p
          JOIN {MEMBER_MOVES} w ON w.id = p.user_id
          LEFT JOIN {entities} a ON a.{c.ENTITY_TYPE} = '{c.ACCOUNT}' AND a.{c.ENTITY_ID} = p.account_id
          WHERE w.signed_at IS NULL OR a.{c.T0} IS NULL OR w.signed_at < a.{c.T0}"""
    store.raw.execute(f"""CREATE OR REPLACE TEMP TABLE {CREDITED} AS
        WITH first_group AS (SELECT cu, arg_min(account_id, timestamp) AS account_id FROM {GROUPS} GROUP BY cu),
        credited AS (
            SELECT CASE WHEN n.user_id IS NOT NULL AND n.account_id IS NOT NULL THEN n.account_id
                        WHEN n.cu IS NOT NULL THEN coalesce(n.account_id, f.account_id) END AS account_id,
                   n.user_id IS NOT NULL AND n.account_id IS NOT NULL AS direct, n.timestamp, n.event
            FROM {NEW_EVENTS} n LEFT JOIN first_group f ON f.cu = n.cu)
        SELECT x.account_id AS id, x.direct, x.event, x.timestamp FROM credited x
          JOIN {entities} a ON a.{c.ENTITY_TYPE} = '{c.ACCOUNT}' AND a.{c.ENTITY_ID} = x.account_id
          WHERE x.timestamp < a.{c.T0} + INTERVAL {window} SECOND AND x.event IN ({counted})""")
    # Counted on only after `latest` (and never with a moved link): otherwise every credited account is recomputed.
    on = (plain_counts(definitions) and latest is not None and not store.scalar(f"SELECT count(*) FROM {MOVED}"))
    after = timestamp_sql(latest) if on and latest is not None else "'infinity'::TIMESTAMP"
    store.raw.execute(f"""CREATE OR REPLACE TEMP TABLE {TOUCHED_ACCOUNTS} AS
        WITH pairs AS (  -- member pairs the new rows bring (an event carrying both ids; a group call)
            SELECT cu, account_id FROM {NEW_EVENTS} WHERE user_id IS NOT NULL AND account_id IS NOT NULL
            UNION SELECT cu, account_id FROM {GROUPS} WHERE fresh)
        SELECT id FROM {CREDITED} WHERE NOT direct
        UNION SELECT id FROM {CREDITED} GROUP BY id HAVING min(timestamp) <= {after}
        UNION SELECT p.account_id FROM pairs p
          JOIN {entities} u ON u.{c.ENTITY_TYPE} = '{c.USER}' AND u.{c.ENTITY_ID} = p.cu
          LEFT JOIN {entities} a ON a.{c.ENTITY_TYPE} = '{c.ACCOUNT}' AND a.{c.ENTITY_ID} = p.account_id
          WHERE a.{c.T0} IS NULL OR u.{c.T0} < a.{c.T0}
        UNION SELECT f.account_id FROM {GROUPS} f WHERE f.cu IN (SELECT cu FROM {GROUPS} WHERE fresh)
        UNION {member_of}
        {moved_anonymous}""")
    store.raw.execute(f"""CREATE OR REPLACE TEMP TABLE {COUNTED_ACCOUNTS} AS SELECT DISTINCT id FROM {CREDITED}
        WHERE id NOT IN (SELECT id FROM {TOUCHED_ACCOUNTS} WHERE id IS NOT NULL)""")


def plain_counts(definitions: Definitions) -> list[tuple[int, Milestone]]:
    """The account milestones (with their positions among `tracked`) when every one is a plain count (no `where`,
    no scope) and none is a composite: what `count_on` can continue. Empty otherwise."""
    accounts = [(k, m) for k, m in enumerate(tracked(definitions)) if m.entity == c.ACCOUNT]
    if any(m.all_of is not None or m.members_reached is not None or m.threshold_kind != "count" or m.where
           or m.scope for _, m in accounts):
        return []
    return accounts


def count_on(con: duckdb.DuckDBPyConnection, definitions: Definitions, entities: str) -> None:
    """Bring COUNTED_ACCOUNTS' rows of `entities` up to date from their stored counts and the new events credited
    to them (CREDITED, all direct and later than every stored event: `_touched_accounts`): per milestone, the new
    events inside its window add to the progress, and an unreached one is reached at the (k − stored progress)-th
    of them when the sum meets k. A reached milestone keeps its reach time (the new events are later)."""
    for k, m in plain_counts(definitions):
        reach, progress, need = c.reach_of(k), c.progress_of(k), int(m.threshold_value)
        names = ", ".join(_quoted(n) for n in m.events)
        con.execute(f"""UPDATE "{entities}" AS a SET {progress} = a.{progress} + d.n,
                {reach} = CASE WHEN a.{reach} IS NULL AND a.{progress} + d.n >= {need}
                               THEN d.times[{need} - a.{progress}] ELSE a.{reach} END
            FROM (SELECT x.id, count(*) AS n, list_sort(list(x.timestamp)) AS times FROM temp.{CREDITED} x
                  JOIN "{entities}" e ON e.{c.ENTITY_TYPE} = '{c.ACCOUNT}' AND e.{c.ENTITY_ID} = x.id
                  WHERE x.id IN (SELECT id FROM temp.{COUNTED_ACCOUNTS}) AND x.event IN ({names})
                    AND x.timestamp >= e.{c.T0}
                    AND x.timestamp < e.{c.T0} + INTERVAL {int(m.within.total_seconds())} SECOND
                  GROUP BY x.id) d
            WHERE a.{c.ENTITY_TYPE} = '{c.ACCOUNT}' AND a.{c.ENTITY_ID} = d.id""")


def keep_traits(store: Store) -> None:
    """Bring the kept trait hashes up to date with RETRAITED (`touched`), row by row: a table of users, not events."""
    store.raw.execute(f"DELETE FROM {TRAITS_KEPT} WHERE user_id IN (SELECT id FROM temp.{RETRAITED})")
    store.raw.execute(f"INSERT INTO {TRAITS_KEPT} SELECT id, h FROM temp.{RETRAITED} WHERE NOT gone")


def drop_scratch(store: Store) -> None:
    counted_users.drop_scratch(store)
    for name in SCRATCH_VIEWS:
        store.raw.execute(f"DROP VIEW IF EXISTS temp.{name}")
    for name in SCRATCH_TABLES:
        store.raw.execute(f"DROP TABLE IF EXISTS temp.{name}")
