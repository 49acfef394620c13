"""Reach time of one milestone per entity (SEMANTICS.md, "Milestones"), as an Ibis expression.

Input is the small `relevant` table (entity_type, entity_id, t0, message_id, event, timestamp, properties) that one
pass over the events produced; every milestone is then a cheap aggregate over it.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from aha.definitions.models import Milestone
from aha.engine import columns as c
from aha.engine import matchers
from aha.engine.relations import union_all

KEYS = [c.ENTITY_TYPE, c.ENTITY_ID]
ORDER = ["timestamp", "message_id"]  # ties in timestamp are ordered by message id


def qualifying(relevant: ir.Table, milestone: Milestone) -> ir.Table:
    """Matching events with t0 ≤ timestamp < t0 + W (the lower bound holds already in `relevant`)."""
    window_end = relevant[c.T0] + ibis.interval(seconds=int(milestone.within.total_seconds()))
    return relevant.filter(
        relevant.event.isin(milestone.events),
        matchers.where(relevant.properties, milestone.where),
        relevant.timestamp < window_end,
    )


def reach_query(relevant: ir.Table, milestone: Milestone) -> ir.Table:
    """Per entity with qualifying events: `reach_time` (null while the threshold is unmet) and `progress` so far.

    Reach time is the moment the running count, distinct count or running sum first meets the threshold.
    """
    q = qualifying(relevant, milestone)
    kind, k = milestone.threshold_kind, milestone.threshold_value
    if kind == "count" and k == 1:
        out = q.group_by(KEYS).aggregate(
            **{c.REACH_TIME: q.timestamp.min(), c.PROGRESS: q.count().cast("float64")}
        )
    elif kind == "count":
        ranked = q.mutate(_rank=ibis.row_number().over(group_by=KEYS, order_by=ORDER))
        out = ranked.group_by(KEYS).aggregate(
            **{c.REACH_TIME: ranked.timestamp.min(where=ranked._rank == int(k) - 1),
               c.PROGRESS: ranked.count().cast("float64")}
        )
    elif kind == "sum":
        assert milestone.sum is not None
        valued = q.mutate(_value=matchers.number(q.properties, milestone.sum.property).fill_null(0.0))
        running = valued._value.sum().over(ibis.window(group_by=KEYS, order_by=ORDER, rows=(None, 0)))
        ran = valued.mutate(_running=running)
        out = ran.group_by(KEYS).aggregate(
            **{c.REACH_TIME: ran.timestamp.min(where=ran._running >= k), c.PROGRESS: ran._value.sum()}
        )
    else:
        assert milestone.distinct is not None
        valued = q.mutate(_value=matchers.text(q.properties, milestone.distinct.property))
        valued = valued.filter(valued._value.notnull())
        firsts = valued.group_by([*KEYS, "_value"]).aggregate(_first=valued.timestamp.min())
        ranked = firsts.mutate(_rank=ibis.row_number().over(group_by=KEYS, order_by=["_first", "_value"]))
        out = ranked.group_by(KEYS).aggregate(
            **{c.REACH_TIME: ranked._first.min(where=ranked._rank == int(k) - 1),
               c.PROGRESS: ranked.count().cast("float64")}
        )
    return out.mutate(**{c.MILESTONE_ID: ibis.literal(milestone.id)})


def all_of_query(entities: ir.Table, part_reaches: Mapping[str, ir.Table], milestone: Milestone) -> ir.Table:
    """Reached when every part is, at the latest part's reach time, and that time is inside the composite's window.

    `progress` counts the parts reached inside the composite's window.
    """
    parts = union_all([part_reaches[p] for p in milestone.all_of or []])
    window = ibis.interval(seconds=int(milestone.within.total_seconds()))
    joined = parts.join(entities.select(*KEYS, c.T0), KEYS)
    in_window = joined[c.REACH_TIME].notnull() & (joined[c.REACH_TIME] < joined[c.T0] + window)
    agg = joined.group_by(KEYS).aggregate(
        _n=in_window.cast("int64").sum(),
        _latest=joined[c.REACH_TIME].max(where=in_window),
    )
    n_parts = len(milestone.all_of or [])
    return agg.select(
        *KEYS,
        **{c.REACH_TIME: ibis.cases((agg._n == n_parts, agg._latest), else_=ibis.null("timestamp")),
           c.PROGRESS: agg._n.cast("float64"),
           c.MILESTONE_ID: ibis.literal(milestone.id)},
    )
