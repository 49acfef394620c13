"""An incremental update of the stored milestone state (docs/semantics.md, "Incremental state"): the entities the
new calls touch recomputed from their own events over the same steps as a full build (aha.analyses.state), users
and accounts counted on from their stored progress where the rules allow, and their rows replaced in one
transaction. Split from state.py, which calls it when `incremental.why_not` finds nothing against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import duckdb

from aha.analyses import compiled, counted_users, incremental, state
from aha.analyses.state import (
    DELTA_TABLE,
    ENTITIES_TABLE,
    LINKS_TABLE,
    SEGMENTS_TABLE,
    SINCE_SQL,
    STATE_TABLE,
    WITHOUT_SIGNUP,
)
from aha.definitions import Definitions
from aha.engine import columns as c
from aha.store import Store, schema
from aha.store.database import one_row

if TYPE_CHECKING:
    import ibis.expr.types as ir


def refresh(store: Store, definitions: Definitions, before: incremental.Marks,
             marks: incremental.Marks) -> tuple[int, frozenset[tuple[str, str]]]:
    """Bring the stored state (`before`) up to `marks`: recompute the entities the new calls touch from their own
    events, over the same expressions as a full build, and replace their rows. Returns the users-without-signup
    count (every user id seen: a table of users, not of events) and the touched (entity_type, entity_id) pairs."""
    # Compiled once per definitions and kind of update (aha.analyses.compiled): `as_of` as a sentinel, the entities
    # to recompute as the temp tables `incremental.touched` fills.
    at, prefix = marks.as_of, (marks.prefix, str(schema.SCHEMA_VERSION))
    # No identity call past the mark: the links are the kept ones (the rules admit no stored link after as_of).
    relinked = marks.rows[schema.IDENTITIES][0] != before.rows[schema.IDENTITIES][0]
    if relinked:
        compiled.run(store, (*prefix, "links"), at, "", lambda: store.materialise(
            LINKS_TABLE, state.event_source(store, compiled.AS_OF).identity_links(), temp=True))
    links = f"temp.{LINKS_TABLE}" if relinked else incremental.LINKS_KEPT
    incremental.touched(store, definitions, before, at, links, ENTITIES_TABLE)

    def delta() -> None:
        touched_users = store.ibis.table(incremental.TOUCHED_USERS, database="temp")
        touched_accounts = store.ibis.table(incremental.TOUCHED_ACCOUNTS, database="temp")

        def keep(entities: ir.Table) -> ir.Table:
            kind, ident = entities[c.ENTITY_TYPE], entities[c.ENTITY_ID]
            return entities.filter(((kind == c.USER) & ident.isin(touched_users.id))
                                   | ((kind == c.ACCOUNT) & ident.isin(touched_accounts.id)))

        linked = (store.ibis.table(LINKS_TABLE, database="temp") if relinked
                  else store.table(incremental.LINKS_KEPT))
        # The ids whose events are read (every member of a touched account among them): their seen pairs, group
        # calls and merges are all the recomputed entities can use, so the rest are not read (nor resolved).
        ids = store.ibis.table(incremental.RAW_IDS, database="temp").id
        source = state.event_source(store, compiled.AS_OF)
        assert source.seen_users is not None and source.seen_members is not None
        narrowed = replace(source, linked=linked, events=store.ibis.table(incremental.TOUCHED_EVENTS, database="temp"),
                           seen_users=source.seen_users.filter(source.seen_users.user_id.isin(ids)),
                           seen_members=source.seen_members.filter(source.seen_members.user_id.isin(ids)))
        memberships = store.table(schema.MEMBERSHIPS)
        state._spread(store, narrowed, definitions, lambda q: store.materialise(DELTA_TABLE, q, temp=True), keep,
                memberships.filter(memberships.user_id.isin(ids)))
        counted_users.qualifying_rows(store, definitions, store.table(ENTITIES_TABLE), linked, compiled.AS_OF)

    compiled.run(store, (*prefix, "delta", str(relinked)), at, SINCE_SQL, delta)

    def without_sql() -> str:
        stored = store.table(ENTITIES_TABLE)
        signed_up = stored.filter(stored[c.ENTITY_TYPE] == c.USER)
        users = replace(state.event_source(store, compiled.AS_OF), linked=store.table(incremental.LINKS_KEPT)).users()
        return str(store.ibis.compile(users.anti_join(signed_up, users.user_id == signed_up[c.ENTITY_ID]).count()))

    stored_without = store.meta(WITHOUT_SIGNUP)
    fresh = None if stored_without is None else counted_users.first_seen(
        store, before.as_of, before.latest, f"temp.{incremental.NEW_EVENTS}", links, f"temp.{incremental.MOVED}")
    count_sql = compiled.text(store, (*prefix, "without"), at, without_sql)  # kept even when not run here
    signed = f"SELECT count(*) FROM \"{ENTITIES_TABLE}\" WHERE {c.ENTITY_TYPE} = '{c.USER}'"
    view = compiled.text(store, (*prefix, "view"), at, lambda: store.union_sql(
        state._view_parts(store.table(ENTITIES_TABLE), definitions, compiled.AS_OF)))
    with one_transaction(store) as con:
        offset = con.execute(f'SELECT coalesce(max({c.ENTITY_KEY}) + 1, 0) FROM "{ENTITIES_TABLE}"').fetchall()[0][0]
        signed_before = con.execute(signed).fetchall()[0][0]
        con.execute(f"""DELETE FROM "{ENTITIES_TABLE}" WHERE
            ({c.ENTITY_TYPE} = '{c.USER}' AND {c.ENTITY_ID} IN (SELECT id FROM temp.{incremental.TOUCHED_USERS}))
            OR ({c.ENTITY_TYPE} = '{c.ACCOUNT}'
                AND {c.ENTITY_ID} IN (SELECT id FROM temp.{incremental.TOUCHED_ACCOUNTS}))""")
        con.execute(f'INSERT INTO "{ENTITIES_TABLE}" SELECT * REPLACE ({c.ENTITY_KEY} + {offset} AS {c.ENTITY_KEY}) '
                    f"FROM temp.{DELTA_TABLE}")
        incremental.count_on(con, definitions, ENTITIES_TABLE)
        counted_users.count_on(con, definitions, ENTITIES_TABLE)
        if relinked:
            state._keep_links(store)
        if any(m.scope for m in definitions.milestones):
            incremental.keep_traits(store)
        con.execute(f"DROP TABLE IF EXISTS {SEGMENTS_TABLE}")
        if fresh is None:
            row = one_row(con, count_sql)
            without = int(row[0]) if row else 0
        else:  # the stored count, the users seen first now, less the growth of the signed-up (all of them seen)
            assert stored_without is not None
            without = int(stored_without) + fresh + signed_before - con.execute(signed).fetchall()[0][0]
        con.execute(f'CREATE OR REPLACE VIEW "{STATE_TABLE}" AS {view}')  # incremental: a DuckDB file only
        state._write_key(store, marks.key, marks, without)
    touched = frozenset(store.raw.execute(
        f"SELECT '{c.USER}', id FROM temp.{incremental.TOUCHED_USERS} WHERE id IS NOT NULL UNION ALL "
        f"SELECT '{c.USER}', id FROM temp.{counted_users.COUNTED_USERS} WHERE id IS NOT NULL UNION ALL "
        f"SELECT '{c.ACCOUNT}', id FROM temp.{incremental.TOUCHED_ACCOUNTS} WHERE id IS NOT NULL UNION ALL "
        f"SELECT '{c.ACCOUNT}', id FROM temp.{incremental.COUNTED_ACCOUNTS} WHERE id IS NOT NULL").fetchall())
    for temp in (DELTA_TABLE, LINKS_TABLE):
        store.raw.execute(f"DROP TABLE IF EXISTS temp.{temp}")
    incremental.drop_scratch(store)
    return without, touched


@contextmanager
def one_transaction(store: Store) -> Iterator[duckdb.DuckDBPyConnection]:
    """A transaction of its own, or the one the caller is in (the server's reads)."""
    if store.in_transaction:
        yield store.raw
    else:
        with store.transaction() as con:
            yield con
