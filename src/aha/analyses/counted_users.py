"""Users counted on from their stored progress (SEMANTICS.md, "Incremental state"): a touched user whose every new
event is later than every call the stored state had seen continues their stored counts from the new events alone,
instead of being recomputed from every event since their `t0`.

Three steps of an incremental update (aha.analyses.refresh): `split` (inside `incremental.touched`) moves
such users from TOUCHED_USERS to COUNTED_USERS; `qualifying_rows` (inside the compiled update) keeps, per counted
milestone, the new events that qualify for it, through the engine's own candidate pass and filters (identity
resolution, `where`, windows from the stored `t0`); `count_on` (inside the update's transaction) adds them to the
stored progress and reach times, then derives the `all_of` composites from their parts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from aha.definitions import Definitions
from aha.definitions.models import Milestone
from aha.engine import columns as c
from aha.engine.tracked import longest_window, tracked
from aha.store import Store, schema
from aha.store.database import timestamp_sql

if TYPE_CHECKING:
    import ibis.expr.types as ir

COUNTED_USERS = "aha_counted_users"  # (id): users brought up to date from their stored progress (temp)
NEW_ROWS = "aha_new_rows"  # the raw events past the mark (temp view)
OWNERS = "aha_counted_owners"  # counted users' (entity_id, entity_key, t0, _until) from the stored state (temp)
ROWS = "aha_counted_rows"  # + _k: the new events that qualify for tracked milestone k (temp)
VALUE = "_value"  # a sum milestone's value of each qualifying event


def counted(definitions: Definitions) -> list[tuple[int, Milestone]]:
    """The user milestones continued from their stored progress (with their positions among `tracked`): counts and
    sums. `distinct` counts are not (they would need every value seen): a user with a new event of a name one
    counts is recomputed (`recounted_names`). Empty when users are never counted on (`applies`)."""
    if not applies(definitions):
        return []
    return [(k, m) for k, m in enumerate(tracked(definitions))
            if m.entity == c.USER and m.all_of is None and m.threshold_kind in ("count", "sum")]


def applies(definitions: Definitions) -> bool:
    """An `all_of` of users reads its parts' reach before their scope (engine.state.state_query), which the stored
    state does not keep for a user out of a part's scope: with such a part, every touched user is recomputed."""
    scoped = {m.id for m in definitions.milestones if m.scope}
    return not any(m.all_of is not None and m.entity == c.USER and scoped.intersection(m.all_of)
                   for m in definitions.milestones)


def recounted_names(definitions: Definitions) -> list[str]:
    """Event names of user `distinct` milestones: a new one makes its user recomputed rather than counted on."""
    return sorted({e for m in tracked(definitions) if m.entity == c.USER and m.all_of is None
                   and m.threshold_kind == "distinct" for e in m.events})


def split(store: Store, definitions: Definitions, latest: datetime | None, new_events: str, stored: str,
          touched_users: str, others: str, recounted: str) -> None:
    """Move from TOUCHED_USERS (`incremental.touched`) to COUNTED_USERS the users whose stored progress can be
    continued: in the stored state (`stored`: their ids), touched by new events only (`others`: the ids a moved
    identity link or changed traits touch), every new event resolved to them later than `latest` (the latest call
    the stored state had seen, hence later than their `t0` and every event the stored counts hold), and none of a
    name a `distinct` milestone counts (`recounted`: their SQL list, empty for none). Nobody when `latest` is
    unknown or users are never counted on."""
    raw = store.raw
    distinct = f"n.event IN ({recounted})" if recounted else "false"  # never NULL: NOT NULL would count on nobody
    after = timestamp_sql(latest) if latest is not None and counted(definitions) else "'infinity'"
    raw.execute(f"""CREATE OR REPLACE TEMP TABLE {COUNTED_USERS} AS
        SELECT n.cu AS id FROM {new_events} n JOIN {stored} s ON s.id = n.cu
        WHERE n.cu IN (SELECT id FROM {touched_users})
        GROUP BY n.cu HAVING min(n.timestamp) > {after}::TIMESTAMP AND NOT bool_or({distinct})
        EXCEPT ({others})""")
    raw.execute(f"DELETE FROM {touched_users} WHERE id IN (SELECT id FROM {COUNTED_USERS})")


def new_rows_view(store: Store, new_events: str) -> None:
    """NEW_ROWS: the events written after the stored state (`new_events`, with their resolved user `cu`), with the
    columns of the event table and `user_id` resolved already (anonymous events of nobody left out)."""
    store.raw.execute(f"CREATE OR REPLACE TEMP VIEW {NEW_ROWS} AS SELECT * EXCLUDE (cu) REPLACE (cu AS user_id) "
                      f"FROM {new_events} WHERE cu IS NOT NULL")


def qualifying_rows(store: Store, definitions: Definitions, entities: ir.Table, linked: ir.Table,
                    as_of: datetime) -> None:
    """Per counted milestone k, ROWS_k: (entity_key, timestamp, message_id, _value) of the new events (NEW_ROWS)
    that qualify for it for a counted user, found as a full build finds them (`relevant_parts`, `qualifying`) with
    the user's stored `t0` and key. Unconditional, so that the compiled update runs the same statements each time.
    Only while an update's statements are recorded: Ibis and the engine are imported here, not with the module."""
    import ibis

    from aha.engine import matchers
    from aha.engine.identity import EventSource
    from aha.engine.milestones import event_codes, qualifying
    from aha.engine.relations import union_all
    from aha.engine.state import owners_query, relevant_parts

    ms = counted(definitions)
    if not ms:
        return
    users = definitions.model_copy(update={"milestones": [m for m in definitions.milestones if m.entity == c.USER]})
    chosen = store.ibis.table(COUNTED_USERS, database="temp")
    stored = entities.filter((entities[c.ENTITY_TYPE] == c.USER) & entities[c.ENTITY_ID].isin(chosen.id))
    owners = store.materialise(OWNERS, owners_query(stored, users, c.USER), temp=True)
    rows = store.ibis.table(NEW_ROWS, database="temp")
    # The rows are resolved already (as `incremental.touched` resolved them, by the same links): no link to look up.
    none = linked.filter(ibis.literal(False))
    source = EventSource(rows, store.table(schema.IDENTITIES), as_of, linked=none, merged=none)
    parts = relevant_parts(source, {c.USER: owners}, store.table(schema.MEMBERSHIPS), users)[c.USER]
    relevant = store.materialise(f"{ROWS}_all", union_all(parts), temp=True)
    codes = event_codes([name for m in tracked(users) for name in m.events])
    bounded = longest_window(users, c.USER)
    for k, m in ms:
        q = qualifying(relevant, m, codes, bounded)
        value = (matchers.ExtractedProperties(q).number(m.sum.property).fill_null(0.0) if m.sum is not None
                 else ibis.literal(1.0))
        order = q["message_id"] if "message_id" in q.columns else ibis.null("string")
        store.materialise(f"{ROWS}_{k}", q.select(c.ENTITY_KEY, "timestamp", message_id=order, **{VALUE: value}),
                          temp=True)


def count_on(con: duckdb.DuckDBPyConnection, definitions: Definitions, entities: str) -> None:
    """Bring COUNTED_USERS' rows of `entities` up to date from ROWS_k (`qualifying_rows`; every row later than
    every event the stored progress holds). A count adds the new events, and an unreached one is reached at the
    (k − stored progress)-th of them when the sum meets k; a sum adds their values, and an unreached one is reached
    at the first new event (by time, then message id, as the engine orders a running sum) where the stored total
    plus the running one meets k. A reached milestone keeps its reach time. A scoped milestone changes only where
    it applies (out of scope: no reach, progress 0, as stored). Then each user `all_of`, in the definitions' order:
    its progress is the number of parts reached inside its window from the stored `t0`, its reach the latest of
    them when all are."""
    ms = counted(definitions)
    if not ms:
        return
    for k, m in ms:
        reach, progress, need = c.reach_of(k), c.progress_of(k), m.threshold_value
        within = f" AND a.{c.applicable_of(k)}" if m.scope else ""
        if m.threshold_kind == "count":
            update = f"""{progress} = a.{progress} + d.n,
                {reach} = CASE WHEN a.{reach} IS NULL AND a.{progress} + d.n >= {int(need)}
                               THEN d.times[{int(need)} - a.{progress}] ELSE a.{reach} END"""
            rows = f"""SELECT {c.ENTITY_KEY}, count(*) AS n, list_sort(list(timestamp)) AS times
                FROM temp.{ROWS}_{k} GROUP BY {c.ENTITY_KEY}"""
        else:
            update = f"{progress} = a.{progress} + d.n, {reach} = coalesce(a.{reach}, d.hit)"
            rows = f"""SELECT r.{c.ENTITY_KEY}, sum(r.{VALUE}) AS n,
                    min(r.timestamp) FILTER (WHERE e.{progress} + r.running >= {float(need)}) AS hit
                FROM (SELECT *, sum({VALUE}) OVER (PARTITION BY {c.ENTITY_KEY} ORDER BY timestamp, message_id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM temp.{ROWS}_{k}) r
                JOIN "{entities}" e ON e.{c.ENTITY_KEY} = r.{c.ENTITY_KEY} GROUP BY r.{c.ENTITY_KEY}"""
        con.execute(f"""UPDATE "{entities}" AS a SET {update} FROM ({rows}) d
            WHERE a.{c.ENTITY_KEY} = d.{c.ENTITY_KEY}{within}""")
    positions = {m.id: k for k, m in enumerate(tracked(definitions))}
    for m in definitions.milestones:
        if m.all_of is None or m.entity != c.USER:
            continue
        k, end = positions[m.id], f"a.{c.T0} + INTERVAL {int(m.within.total_seconds())} SECOND"
        inside = [f"(a.{c.reach_of(positions[p])} IS NOT NULL AND a.{c.reach_of(positions[p])} < {end})"
                  for p in m.all_of]
        n = " + ".join(f"{i}::BIGINT" for i in inside)
        latest = f"greatest({', '.join(f'a.{c.reach_of(positions[p])}' for p in m.all_of)})"
        within = f" AND a.{c.applicable_of(k)}" if m.scope else ""
        con.execute(f"""UPDATE "{entities}" AS a SET {c.progress_of(k)} = {n},
                {c.reach_of(k)} = CASE WHEN {" AND ".join(inside)} THEN {latest} END
            WHERE a.{c.ENTITY_TYPE} = '{c.USER}'
              AND a.{c.ENTITY_ID} IN (SELECT id FROM temp.{COUNTED_USERS}){within}""")


def drop_scratch(store: Store) -> None:
    """Drop what `split` and `qualifying_rows` left (ROWS_k for any k)."""
    names = store.raw.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND (table_name LIKE ? "
                              "OR table_name IN (?, ?))", [f"{ROWS}_%", COUNTED_USERS, OWNERS]).fetchall()
    for (name,) in names:
        store.raw.execute(f'DROP TABLE IF EXISTS temp."{name}"')
    store.raw.execute(f"DROP VIEW IF EXISTS temp.{NEW_ROWS}")


def first_seen(store: Store, before_as_of: datetime, latest: datetime | None, new_events: str, links: str,
               moved: str) -> int | None:
    """How many users the new events (`new_events`, resolved) bring that no stored call had shown up to the stored
    state's `as_of`, or None when that cannot be told from the seen tables: a moved identity link (users merge or
    split), no latest call, or a new event stamped at or before it (it may have lowered a `first_seen`).

    Then every id with `first_seen` ≤ the stored `as_of` was seen in a stored call, so a user was seen before iff
    their id, or an id linked or merged into theirs, was. Users without a signup are then the stored count plus
    these, less the growth of the signed-up users (every signed-up user is a seen one): not every seen id counted."""
    raw = store.raw
    if latest is None or int(raw.execute(f"SELECT count(*) FROM {moved}").fetchall()[0][0]):
        return None
    earliest = raw.execute(f"SELECT min(timestamp) FROM {new_events}").fetchall()[0][0]
    if earliest is not None and earliest <= latest:
        return None
    t = timestamp_sql(before_as_of)
    # The seen tables probed by the new ids (a filter their scans take), not hashed whole to test the ids against.
    row = raw.execute(f"""WITH new AS (SELECT DISTINCT cu FROM {new_events} WHERE cu IS NOT NULL),
        aliases AS (SELECT linked_user AS cu, anonymous_id AS x FROM {links} WHERE linked_user IN (SELECT cu FROM new)),
        seen_u AS (SELECT user_id AS x FROM {schema.SEEN_USERS} WHERE first_seen <= {t}
                   AND user_id IN (SELECT cu FROM new UNION SELECT x FROM aliases)),
        seen_a AS (SELECT anonymous_id AS x FROM {schema.SEEN_ANONYMOUS} WHERE first_seen <= {t}
                   AND anonymous_id IN (SELECT x FROM aliases)),
        known AS (SELECT cu FROM new WHERE cu IN (SELECT x FROM seen_u)
            UNION SELECT cu FROM aliases WHERE x IN (SELECT x FROM seen_u) OR x IN (SELECT x FROM seen_a))
        SELECT count(*) FROM new WHERE cu NOT IN (SELECT cu FROM known)""").fetchall()
    return int(row[0][0])
