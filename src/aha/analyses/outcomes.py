"""Materialise the retention outcome and daily activity beside the milestone state, each on demand.

Only the questions that need retention (validation, discovery) pay for the pass over all events, and only retention
curves pay for the daily-activity table; the activation report pays for neither. Each is keyed like the state, so it
is reused until data, definitions or as_of change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis.expr.types as ir

from aha.analyses.state import MilestoneState, event_source
from aha.definitions import content_hash
from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.outcomes import activity_days_query, retention_query
from aha.store import Store

RETENTION_TABLE = "aha_retention"
ACTIVITY_TABLE = "aha_activity_days"
LAYOUT = 3  # bumped when a cached table gains columns, so that a file written by an older aha is rebuilt


@dataclass(frozen=True)
class Outcomes:
    retention: ir.Table  # entity_id, t0, window_start, window_end, retained_at, active_before
    activity: ir.Table  # entity_id, day


def _cached(store: Store, ms: MilestoneState, table: str,
            query: Callable[[EventSource, ir.Table], ir.Table]) -> ir.Table:
    # The users it is computed for are the state's entities, restricted to a signup range when one is given
    # (analyses.signups): the range is part of the key, or an unrestricted answer would reuse a restricted table.
    signups = ms.signups if ms.signups is not None and not ms.signups.unbounded else None
    span = f"|{signups.start}..{signups.end}" if signups is not None else ""
    key = f"{LAYOUT}|{content_hash(ms.definitions)}|{store.data_version}|{ms.as_of.isoformat()}{span}"
    meta_key = f"{table}_key"
    if store.meta(meta_key) != key:
        store.settle()  # one writer at a time: a rebuilt state may still be being written (analyses.state.build)
        source = event_source(store, ms.as_of)
        users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
        store.materialise(table, query(source, users))
        store.set_meta({meta_key: key})
    return store.table(table)


def retention(store: Store, ms: MilestoneState) -> ir.Table:
    return _cached(store, ms, RETENTION_TABLE, lambda src, users: retention_query(src, users, ms.definitions))


def activity(store: Store, ms: MilestoneState) -> ir.Table:
    return _cached(store, ms, ACTIVITY_TABLE, lambda src, users: activity_days_query(src, users, ms.definitions))


def build(store: Store, ms: MilestoneState) -> Outcomes:
    return Outcomes(retention(store, ms), activity(store, ms))
