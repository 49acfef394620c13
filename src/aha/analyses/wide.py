"""One row per user with each step's reach time and window end: the shape funnels and cohorts read.

Built from the small materialised state by conditional aggregation, never from the events.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from aha.engine import columns as c
from aha.engine.segments import SEGMENT, segment_column


def reach_col(milestone_id: str) -> str:
    return f"reach__{milestone_id}"


def end_col(milestone_id: str) -> str:
    return f"end__{milestone_id}"


def applicable_col(milestone_id: str) -> str:
    return f"applicable__{milestone_id}"


def users_wide(entities: ir.Table, state: ir.Table, milestone_ids: Sequence[str], segment: str | None) -> ir.Table:
    """Signed-up users with `t0`, `segment`, and per milestone: reach time, window end and scope applicability."""
    users = entities.filter(entities[c.ENTITY_TYPE] == c.USER)
    users = users.select(c.ENTITY_KEY, c.ENTITY_ID, c.T0, **{SEGMENT: segment_column(users, segment)})
    rows = state.filter(state[c.ENTITY_TYPE] == c.USER, state[c.MILESTONE_ID].isin(list(milestone_ids)))
    metrics = {}
    for mid in milestone_ids:
        this = rows[c.MILESTONE_ID] == mid
        metrics[reach_col(mid)] = rows[c.REACH_TIME].max(where=this)
        metrics[end_col(mid)] = rows[c.WINDOW_END].max(where=this)
        metrics[applicable_col(mid)] = rows[c.APPLICABLE].cast("int8").min(where=this)
    wide = rows.group_by(c.ENTITY_KEY).aggregate(**metrics)
    return users.join(wide, c.ENTITY_KEY)
