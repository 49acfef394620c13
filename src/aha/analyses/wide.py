"""One row per user with each step's reach time and window end: the shape funnels and cohorts read.

Read straight from the wide state table (`aha_entities`), never from the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aha.analyses.state import MilestoneState
from aha.engine import columns as c
from aha.engine.columns import SEGMENT
from aha.engine.tracked import tracked

if TYPE_CHECKING:
    import ibis.expr.types as ir


def reach_col(milestone_id: str) -> str:
    return f"reach__{milestone_id}"


def end_col(milestone_id: str) -> str:
    return f"end__{milestone_id}"


def applicable_col(milestone_id: str) -> str:
    return f"applicable__{milestone_id}"


def users_wide(ms: MilestoneState, milestone_ids: Sequence[str], segment: str | None) -> ir.Table:
    """Signed-up users with `t0`, `segment`, and per milestone: reach time, window end and scope applicability.

    Funnel steps and the primary milestone are user milestones (the definitions refuse anything else)."""
    import ibis

    from aha.engine.segments import segment_column
    from aha.engine.state import applicable


    ours = {m.id: (k, m) for k, m in enumerate(tracked(ms.definitions))}
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    columns: dict[str, ir.Value] = {SEGMENT: segment_column(users, segment)}
    for mid in milestone_ids:
        k, m = ours[mid]
        columns[reach_col(mid)] = users[c.reach_of(k)]
        columns[applicable_col(mid)] = applicable(users, k, m).cast("int8")
        columns[end_col(mid)] = users[c.T0] + ibis.interval(seconds=int(m.within.total_seconds()))
    return users.select(c.ENTITY_KEY, c.ENTITY_ID, c.T0, **columns)
