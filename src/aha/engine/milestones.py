"""Reach time of one milestone per entity (SEMANTICS.md, "Milestones"), as an Ibis expression.

Input is the small `relevant` table (entity_type, entity_id, t0, message_id, event, timestamp, and the property values
milestones read, extracted into typed columns) that one pass over the events produced; every milestone is then a
cheap aggregate over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import ibis
import ibis.expr.types as ir

from aha.definitions.models import Milestone
from aha.engine import columns as c
from aha.engine import matchers
from aha.engine.relations import union_all

KEYS = [c.ENTITY_KEY]
ORDER = ["timestamp", "message_id"]  # ties in timestamp are ordered by message id


def event_codes(names: list[str]) -> dict[str, int]:
    """Small integers for event names in the `relevant` table: cheaper to store and compare than the strings."""
    return {name: i for i, name in enumerate(sorted(set(names)))}


def qualifying(relevant: ir.Table, milestone: Milestone, codes: Mapping[str, int],
               bounded: timedelta | None = None) -> ir.Table:
    """Matching events with t0 ≤ timestamp < t0 + W. The lower bound holds already in `relevant`, and so does the
    upper one when `relevant` is bounded by this very window (its entity type's longest): no filter is then spent
    on millions of rows that all pass it."""
    conditions = [relevant[c.EVENT_CODE].isin([codes[name] for name in milestone.events]),
                  matchers.where(matchers.ExtractedProperties(relevant), milestone.where)]
    if needs_t0(milestone, bounded):
        window_end = relevant[c.T0] + ibis.interval(seconds=int(milestone.within.total_seconds()))
        conditions.append(relevant.timestamp < window_end)
    return relevant.filter(*conditions)


def needs_t0(milestone: Milestone, bounded: timedelta | None) -> bool:
    """Whether counting the milestone reads each event's `t0`: only when its window is shorter than the one that
    bounds the candidate events already (`bounded`, its entity type's longest)."""
    return bounded is None or milestone.within < bounded


@dataclass
class _Recorder:
    """A `matchers.Properties` that notes which (key, kind) a filter reads, so the events pass extracts only those."""

    used: set[tuple[str, str]] = field(default_factory=set)

    def text(self, key: str) -> ir.StringValue:
        self.used.add((key, TEXT))
        return ibis.literal("")

    def number(self, key: str) -> ir.FloatingValue:
        self.used.add((key, NUMBER))
        return ibis.literal(0.0)


TEXT, NUMBER = "text", "number"


def property_uses(milestones: list[Milestone]) -> dict[tuple[str, str], set[str]]:
    """(property key, text or number) → the event names whose value some milestone reads that way (filters, sum,
    distinct). Each JSON parse costs, per qualifying event: a filter on `integration_type` needs its text only."""
    uses: dict[tuple[str, str], set[str]] = {}
    for m in milestones:
        recorder = _Recorder()
        matchers.where(recorder, m.where)
        if m.sum is not None:
            recorder.number(m.sum.property)
        if m.distinct is not None:
            recorder.text(m.distinct.property)
        for use in recorder.used:
            uses.setdefault(use, set()).update(m.events)
    return uses


def extract_properties(events: ir.Table, uses: Mapping[tuple[str, str], set[str]]) -> dict[str, ir.Value]:
    """Typed columns for the properties milestones read, parsed only on the events that use them."""
    props = matchers.JsonProperties(events.properties)
    out: dict[str, ir.Value] = {}
    for (key, kind), names in sorted(uses.items()):
        on = events.event.isin(sorted(names))
        if kind == TEXT:
            out[matchers.text_column(key)] = on.ifelse(props.text(key), ibis.null("string"))
        else:
            out[matchers.number_column(key)] = on.ifelse(props.number(key), ibis.null("float64"))
    return out


def null_properties(uses: Mapping[tuple[str, str], set[str]]) -> dict[str, ir.Value]:
    """The columns of `extract_properties`, empty: for rows of events no milestone reads a property of."""
    return {(matchers.text_column(key) if kind == TEXT else matchers.number_column(key)):
            ibis.null("string" if kind == TEXT else "float64") for key, kind in sorted(uses)}


def reach_query(relevant: ir.Table, milestone: Milestone, codes: Mapping[str, int],
                bounded: timedelta | None = None) -> ir.Table:
    """Per entity with qualifying events: `reach_time` (null while the threshold is unmet) and `progress` so far.

    Reach time is the moment the running count, distinct count or running sum first meets the threshold. The
    ordered (window) step runs only for entities whose total can meet the threshold at all: for "2,000 messages"
    that is a handful of accounts, not every event of every account.
    """
    q = qualifying(relevant, milestone, codes, bounded)
    kind, k = milestone.threshold_kind, milestone.threshold_value
    props = matchers.ExtractedProperties(q)
    if kind == "count" and k == 1:
        return q.group_by(KEYS).aggregate(**{c.REACH_TIME: q.timestamp.min(), c.PROGRESS: q.count().cast("float64")})
    if kind == "count":
        totals = q.group_by(KEYS).aggregate(**{c.PROGRESS: q.count().cast("float64")})
        rows = q.semi_join(totals.filter(totals[c.PROGRESS] >= k), KEYS).select(*KEYS, "timestamp")
        reach = kth_time(rows, int(k))
    elif kind == "sum":
        assert milestone.sum is not None
        valued = q.mutate(_value=props.number(milestone.sum.property).fill_null(0.0))
        # The running sum can only reach k if the positive values alone add up to k.
        totals = valued.group_by(KEYS).aggregate(
            **{c.PROGRESS: valued._value.sum()}, _positive=valued._value.clip(lower=0.0).sum()
        )
        rows = valued.semi_join(totals.filter(totals._positive >= k), KEYS)
        running = rows._value.sum().over(ibis.window(group_by=KEYS, order_by=ORDER, rows=(None, 0)))
        ran = rows.mutate(_running=running)
        reach = ran.group_by(KEYS).aggregate(**{c.REACH_TIME: ran.timestamp.min(where=ran._running >= k)})
        totals = totals.drop("_positive")
    else:
        assert milestone.distinct is not None
        valued = q.mutate(_value=props.text(milestone.distinct.property))
        return kth_first(valued.filter(valued._value.notnull()), "_value", "timestamp", int(k))
    out = totals.left_join(reach, KEYS).select(*KEYS, c.REACH_TIME, c.PROGRESS)
    return out


BUCKETED_FROM = 100  # a count threshold from which the k-th time is found through per-day counts first


def kth_time(rows: ir.Table, k: int) -> ir.Table:
    """Per entity of `rows` (entity key, timestamp; every entity with at least `k` rows): the k-th timestamp in time
    order, as `reach_time`. Ties in timestamp may be ordered any way (the k-th time is the same), so the message id
    (a string compare per row) stays out of the sort; the running sum needs it, since negative values make order
    matter.

    From `BUCKETED_FROM` on ("2,000 messages per workspace"), the rows are counted per entity and day first; the
    running count over the days finds the day in which it crosses `k` and how many rows before that day there are,
    and only that day's rows are ranked, not every row of the entity (at ten million events 27k rows, not 715k).
    The day is the timestamp's date, a non-decreasing function of time: where the day boundaries fall (a backend's
    time zone) changes which rows are ranked, never the answer. For a small `k` the per-day count costs more than
    the sort it saves (measured at k = 2), so those rank every row.
    """
    if k < BUCKETED_FROM:
        ranked = rows.mutate(_rank=ibis.row_number().over(group_by=KEYS, order_by="timestamp"))
        return ranked.filter(ranked._rank == k - 1).select(*KEYS, **{c.REACH_TIME: ranked.timestamp})
    dated = rows.mutate(_day=rows.timestamp.date())
    days = dated.group_by([*KEYS, "_day"]).aggregate(_n=dated.count())
    upto = days._n.sum().over(ibis.window(group_by=KEYS, order_by="_day", rows=(None, 0)))
    running = days.mutate(_before=upto - days._n)
    crossing = running.filter(running._before < k, running._before + running._n >= k)
    crossing = crossing.select(*KEYS, "_day", _at=k - crossing._before - 1)  # the k-th's rank within its day, from 0
    inside = dated.join(crossing, [*KEYS, "_day"])
    ranked = inside.mutate(_rank=ibis.row_number().over(group_by=KEYS, order_by="timestamp"))
    return ranked.filter(ranked._rank == ranked._at).select(*KEYS, **{c.REACH_TIME: ranked.timestamp})


def kth_first(rows: ir.Table, unit: str, at: str, k: int) -> ir.Table:
    """Per entity: each value of `unit` at its first `at`; the k-th of those firsts is the reach time (ties in any
    order give the same time) and `progress` is how many values there are."""
    firsts = rows.group_by([*KEYS, unit]).aggregate(_first=rows[at].min())
    totals = firsts.group_by(KEYS).aggregate(**{c.PROGRESS: firsts.count().cast("float64")})
    ranked = firsts.mutate(_rank=ibis.row_number().over(group_by=KEYS, order_by="_first"))
    reach = ranked.filter(ranked._rank == k - 1).select(*KEYS, **{c.REACH_TIME: ranked._first})
    return totals.left_join(reach, KEYS).select(*KEYS, c.REACH_TIME, c.PROGRESS)


def all_of_query(entities: ir.Table, part_reaches: Mapping[str, ir.Table], milestone: Milestone) -> ir.Table:
    """Reached when every part is, at the latest part's reach time, and that time is inside the composite's window.

    `progress` counts the parts reached inside the composite's window.
    """
    parts = union_all([part_reaches[p] for p in milestone.all_of or []])
    window = ibis.interval(seconds=int(milestone.within.total_seconds()))
    joined = parts.join(entities.filter(entities[c.ENTITY_TYPE] == milestone.entity).select(*KEYS, c.T0), KEYS)
    in_window = joined[c.REACH_TIME].notnull() & (joined[c.REACH_TIME] < joined[c.T0] + window)
    agg = joined.group_by(KEYS).aggregate(
        _n=in_window.cast("int64").sum(),
        _latest=joined[c.REACH_TIME].max(where=in_window),
    )
    n_parts = len(milestone.all_of or [])
    return agg.select(
        *KEYS,
        **{c.REACH_TIME: ibis.cases((agg._n == n_parts, agg._latest), else_=ibis.null("timestamp")),
           c.PROGRESS: agg._n.cast("float64")},
    )
