"""Build (or reuse) the materialised per-entity milestone state every analysis reads.

The state is keyed by the definitions' content hash, the store's data version and `as_of`: it is recomputed only
when one of them changes, so a second report on unchanged data reads a small table, not the events.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

import ibis.expr.types as ir

from aha.definitions import Definitions, content_hash
from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.state import (
    entities_query,
    milestones_table,
    owners_query,
    relevant_parts,
    state_query,
    state_view,
)
from aha.errors import UserError
from aha.store import Store, schema

ENTITIES_TABLE = "aha_entities"
RELEVANT_TABLE = "aha_relevant"
STATE_TABLE = "aha_state"  # a view over the narrow table, with ids and status
NARROW_TABLE = "aha_state_narrow"
MILESTONES_TABLE = "aha_milestones"
STATE_KEY = "state_key"


@dataclass(frozen=True)
class MilestoneState:
    """Bound tables of one computed state; `entities` has t0 and segment sources, `state` one row per milestone."""

    definitions: Definitions
    as_of: datetime
    entities: ir.Table
    state: ir.Table
    users_without_signup: int
    rebuilt: bool
    narrow: ir.Table  # the materialised integer-keyed rows `state` is a view over (engine.state)


def segment_keys(store: Store) -> list[str]:
    """Every user trait and signup-event property name in the state, the values `--segment` accepts."""
    rows = store.raw.execute(
        f"""SELECT DISTINCT k FROM (
              SELECT unnest(json_keys(traits)) AS k FROM {ENTITIES_TABLE} WHERE traits IS NOT NULL
              UNION ALL
              SELECT unnest(json_keys(signup_properties)) FROM {ENTITIES_TABLE} WHERE signup_properties IS NOT NULL
            ) ORDER BY k"""
    ).fetchall()
    return [r[0] for r in rows]


def check_segment(store: Store, segment: str | None) -> None:
    """An unknown segment would put everyone in "(none)": say so instead, with the names that exist."""
    if segment is None:
        return
    known = segment_keys(store)
    if segment not in known:
        close = difflib.get_close_matches(segment, known, n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        raise UserError(f"--segment {segment!r}: no user trait or signup-event property of that name. {hint}"
                        f"Known: {', '.join(known) or '(none)'}.")


def event_source(store: Store, as_of: datetime | None) -> EventSource:
    """The store's events as the engine reads them, with the per-user tables writers keep beside them."""
    return EventSource(store.table(schema.EVENTS), store.table(schema.IDENTITIES), as_of,
                       store.table(schema.SEEN_USERS), store.table(schema.SEEN_MEMBERS))


def default_as_of(store: Store) -> datetime | None:
    """SEMANTICS.md: `as_of` defaults to the latest event timestamp in the data."""
    value = store.scalar(f"SELECT max(timestamp) FROM {schema.EVENTS}")
    return value if isinstance(value, datetime) else None


def build(store: Store, definitions: Definitions, as_of: datetime, force: bool = False) -> MilestoneState:
    key = f"{content_hash(definitions)}|{store.data_version}|{as_of.isoformat()}"
    cached = store.scalar(f"SELECT value FROM {schema.META} WHERE key = ?", [STATE_KEY])
    rebuilt = force or cached != key
    if rebuilt:
        source = event_source(store, as_of)
        memberships = store.table(schema.MEMBERSHIPS)
        entities = store.materialise(
            ENTITIES_TABLE, entities_query(source, store.table(schema.USERS), memberships, definitions)
        )
        owners = {kind: store.materialise(f"aha_owners_{kind}", owners_query(entities, kind), temp=True)
                  for kind in (c.USER, c.ACCOUNT)}
        first, *rest = relevant_parts(source, owners, memberships, definitions)
        relevant = store.materialise(RELEVANT_TABLE, first, temp=True)
        for part in rest:
            store.append(RELEVANT_TABLE, part, temp=True)
        narrow = store.materialise(NARROW_TABLE, state_query(relevant, entities, definitions))
        milestones = store.materialise(MILESTONES_TABLE, milestones_table(definitions))
        store.ibis.create_view(STATE_TABLE, state_view(narrow, entities, milestones, as_of), overwrite=True)
        without = store.execute(source.users().count()) - store.execute(
            entities.filter(entities.entity_type == "user").count()
        )
        store.raw.execute(f"DROP TABLE IF EXISTS temp.{RELEVANT_TABLE}")
        for kind in owners:
            store.raw.execute(f"DROP TABLE IF EXISTS temp.aha_owners_{kind}")
        store.raw.execute(
            f"INSERT OR REPLACE INTO {schema.META} VALUES (?, ?), ('users_without_signup', ?)",
            [STATE_KEY, key, str(int(without))],
        )
    without_signup = int(store.scalar(f"SELECT value FROM {schema.META} WHERE key = 'users_without_signup'") or 0)
    return MilestoneState(
        definitions=definitions, as_of=as_of, entities=store.table(ENTITIES_TABLE), state=store.table(STATE_TABLE),
        users_without_signup=without_signup, rebuilt=rebuilt, narrow=store.table(NARROW_TABLE),
    )
