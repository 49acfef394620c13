"""Materialise the retention outcome and daily activity beside the milestone state, on demand.

Only the questions that need retention (validation, retention curves, discovery) pay for the pass over all events;
the activation report does not. Keyed like the state, so it is reused until data, definitions or as_of change.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir

from aha.analyses.state import MilestoneState
from aha.definitions import content_hash
from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.outcomes import activity_days_query, retention_query
from aha.store import Store, schema

RETENTION_TABLE = "aha_retention"
ACTIVITY_TABLE = "aha_activity_days"
OUTCOMES_KEY = "outcomes_key"


@dataclass(frozen=True)
class Outcomes:
    retention: ir.Table  # entity_id, t0, window_start, window_end, retained_at
    activity: ir.Table  # entity_id, day


def build(store: Store, ms: MilestoneState) -> Outcomes:
    key = f"{content_hash(ms.definitions)}|{store.data_version}|{ms.as_of.isoformat()}"
    cached = store.scalar(f"SELECT value FROM {schema.META} WHERE key = ?", [OUTCOMES_KEY])
    if cached != key:
        source = EventSource(store.table(schema.EVENTS), store.table(schema.IDENTITIES), ms.as_of)
        users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
        store.materialise(RETENTION_TABLE, retention_query(source, users, ms.definitions))
        store.materialise(ACTIVITY_TABLE, activity_days_query(source, users, ms.definitions))
        store.raw.execute(f"INSERT OR REPLACE INTO {schema.META} VALUES (?, ?)", [OUTCOMES_KEY, key])
    return Outcomes(store.table(RETENTION_TABLE), store.table(ACTIVITY_TABLE))
