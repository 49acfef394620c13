"""Candidate milestones for discovery (SEMANTICS.md, "Discovery and scoring"), as one pass over the events.

Per (user, event): how many times the user did it within each candidate window after signup, and how many of those
came before the user's first paid moment. Every threshold of every candidate is then read from these counts; no
query per candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from aha.engine import columns as c
from aha.engine.identity import EventSource

WINDOWS = (1, 3, 7, 14)  # days


def counts_query(source: EventSource, users: ir.Table, paid_at: ir.Table, excluded: Sequence[str],
                 windows: Sequence[int] = WINDOWS) -> ir.Table:
    """(entity_key, event, n_<w>, pre_<w>) per window w in days; `pre` counts only events before the user's first
    paid moment, so a conversion candidate is never something users do because they paid."""
    events = source.select()
    events = events.filter(~events.event.isin(sorted(set(excluded))))
    owners = users.select(c.ENTITY_ID, c.ENTITY_KEY, c.T0).left_join(paid_at, c.ENTITY_KEY)
    joined = events.join(owners, events.user_id == owners[c.ENTITY_ID])
    longest = ibis.interval(days=max(windows))
    joined = joined.filter(joined.timestamp >= joined[c.T0], joined.timestamp < joined[c.T0] + longest)
    before_paid = joined._paid_at.isnull() | (joined.timestamp < joined._paid_at)
    metrics = {}
    for w in windows:
        inside = joined.timestamp < joined[c.T0] + ibis.interval(days=w)
        metrics[f"n_{w}"] = inside.cast("int32").sum()
        metrics[f"pre_{w}"] = (inside & before_paid).cast("int32").sum()
    return joined.group_by([c.ENTITY_KEY, "event"]).aggregate(**metrics)


def dose_query(counts: ir.Table, outcome: ir.Table, window: int, before_paid: bool) -> ir.Table:
    """Users and outcome users per (event, count) among eligible users: the dose–response raw material.

    Users with a count of 0 for an event are absent here; the caller gets them from the population totals.
    """
    column = f"{'pre' if before_paid else 'n'}_{window}"
    joined = counts.join(outcome, c.ENTITY_KEY)
    joined = joined.filter(joined[column] > 0)
    return joined.group_by(["event", joined[column].name("count")]).aggregate(
        users=joined.count(), outcome_users=joined._outcome.cast("int64").sum()
    ).mutate(window=ibis.literal(window))


def population_query(outcome: ir.Table) -> ir.Table:
    return outcome.aggregate(users=outcome.count(), outcome_users=outcome._outcome.cast("int64").sum())
