"""Outcomes a milestone is validated against (SEMANTICS.md, "Outcomes"): conversion and Day-N retention.

Conversion is the `_paid` pseudo-milestone of the state. Retention needs every active event, not only milestone
events, so it is its own pass: per user the first active event in the retention bracket, and the set of days since
signup with any activity (for retention curves).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aha.definitions import Definitions
from aha.engine import columns as c
from aha.engine.identity import EventSource

CURVE_DAYS = 90


def active_events(source: EventSource, definitions: Definitions) -> ir.Table:
    """Events that count as activity: `retention.active.event` if given, else every event but signup and
    `not_event` (SEMANTICS.md default: any event but signup; with `first_seen`, any event)."""
    active = definitions.retention.active
    if active.event:
        return source.select(active.event)
    events = source.select()
    excluded = sorted({*definitions.signup.events, *(active.not_event or [])})
    return events.filter(~events.event.isin(excluded))


def retention_query(source: EventSource, users: ir.Table, definitions: Definitions) -> ir.Table:
    """Per signed-up user: bracket start and end, the first active event inside the bracket (null if none), and the
    last active event between signup and the bracket (`active_before`) and before the conversion horizon ends
    (`active_in_horizon`): discovery's landmark populations read them.

    Bracket `[t0 + N days, t0 + N days + B)`; with `unbounded`, activity at any time from `t0 + N days` counts, and
    the user is eligible (`window_end`) once one bracket after it has been observed, as in the bounded rule: a user
    whose day N began a moment before as_of has had no time to come back (open, not lost), and turning `unbounded`
    on never changes who is counted, only who is retained.
    """
    rule = definitions.retention
    start = users[c.T0] + ibis.interval(days=rule.day)
    bracket = ibis.interval(seconds=int(rule.bracket.total_seconds()))
    horizon = users[c.T0] + ibis.interval(seconds=int(definitions.paid.within.total_seconds())) if definitions.paid \
        else ibis.null("timestamp")
    windows = users.select(c.ENTITY_ID, c.T0, _start=start, _end=start + bracket,
                           _horizon=horizon)
    events = active_events(source, definitions)
    joined = events.join(windows, events.user_id == windows[c.ENTITY_ID])
    inside = joined.timestamp >= joined._start
    if not rule.unbounded:
        inside = inside & (joined.timestamp < joined._end)
    before = (joined.timestamp >= joined[c.T0]) & (joined.timestamp < joined._start)
    in_horizon = (joined.timestamp >= joined[c.T0]) & (joined.timestamp < joined._horizon)
    first = joined.filter(inside | before | in_horizon).group_by(c.ENTITY_ID).aggregate(
        retained_at=joined.timestamp.min(where=inside), active_before=joined.timestamp.max(where=before),
        active_in_horizon=joined.timestamp.max(where=in_horizon))
    out = windows.left_join(first, c.ENTITY_ID)
    return out.select(c.ENTITY_ID, c.T0, window_start=out._start, window_end=out._end,
                      retained_at=out.retained_at, active_before=out.active_before,
                      active_in_horizon=out.active_in_horizon)


def activity_days_query(source: EventSource, users: ir.Table, definitions: Definitions,
                        days: int = CURVE_DAYS) -> ir.Table:
    """Distinct (user, day since signup) with activity, days 0…`days`: the raw material of retention curves."""
    events = active_events(source, definitions)
    joined = events.join(users.select(c.ENTITY_ID, c.T0), events.user_id == users[c.ENTITY_ID])
    offset = (joined.timestamp.epoch_seconds() - joined[c.T0].epoch_seconds()) // 86400
    kept = joined.filter(joined.timestamp >= joined[c.T0], offset <= days)
    return kept.select(c.ENTITY_ID, day=offset.cast("int32")).distinct()
