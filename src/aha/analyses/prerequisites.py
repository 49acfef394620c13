"""Which candidate events are steps of paying rather than milestones on the way to it?

On a shop's log `payment_choice`, `payment_card` and `delivery_choice` predict buying with lifts of 5–33×, because
nobody buys without them: they are the checkout, not an activation milestone. SEMANTICS.md, "Prerequisites of
paying": among converters (users with a paid moment as of `as_of`), by each converter's *first* occurrence of the
event in `[t0, paid]`, an event is a prerequisite when
- **a step of paying**: at least JUST_BEFORE_SHARE of converters first did it in the JUST_BEFORE before paying and
  nearer paying than signup (so a one-session buyer's first page view, at signup, is no step of paying), or
- **necessary and late**: at least NECESSARY_SHARE of converters did it before paying, and at least
  JUST_BEFORE_SHARE first did it nearer paying than signup,
and at least MIN_CONVERTERS converters were seen (fewer: no flag; too few to tell a step from a habit). The first
occurrence, not the last, is what is judged: a frequent milestone (an output generated every day) always has an
occurrence shortly before paying, but it began near signup; a checkout step begins at the checkout.
Discovery keeps ranking them, marked; scoring keeps them out of the shortlist, with the reason shown.
`discovery.not_prerequisite` in the definitions file lifts the flag for named events; `discovery.exclude` drops
events from discovery altogether.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import ibis.expr.types as ir

from aha.analyses.state import MilestoneState, event_source
from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.results import Rate
from aha.store import Store

JUST_BEFORE = timedelta(minutes=60)
JUST_BEFORE_SHARE = 0.5
NECESSARY_SHARE = 0.95
MIN_CONVERTERS = 30


@dataclass(frozen=True, slots=True)
class Prerequisite:
    event: str
    did_before: Rate  # converters who did it between signup and paying / converters
    late: Rate  # converters whose first occurrence was nearer paying than signup / converters
    just_before: Rate  # of those, first within JUST_BEFORE before paying / converters
    reason: str  # plain words: which rule, with the numbers


def prerequisites_query(source: EventSource, state: ir.Table, excluded: Sequence[str]) -> ir.Table:
    """(event, did_before, late, just_before) over converters: one row per event, from one pass over their events."""
    paid = state.filter(state[c.MILESTONE_ID] == c.PAID, state[c.ENTITY_TYPE] == c.USER, state[c.REACH_TIME].notnull())
    converters = paid.select(c.ENTITY_ID, _t0=paid[c.T0], _paid_at=paid[c.REACH_TIME])
    events = source.select()
    events = events.filter(~events.event.isin(sorted(set(excluded))))
    joined = events.join(converters, events.user_id == converters[c.ENTITY_ID])
    joined = joined.filter(joined.timestamp >= joined._t0, joined.timestamp <= joined._paid_at)
    first = joined.group_by([c.ENTITY_ID, "event", "_t0", "_paid_at"]).aggregate(_first=joined.timestamp.min())
    to_paid = first._paid_at.epoch_seconds() - first._first.epoch_seconds()
    late = to_paid < first._first.epoch_seconds() - first._t0.epoch_seconds()
    near = late & (to_paid <= int(JUST_BEFORE.total_seconds()))
    return first.group_by("event").aggregate(did_before=first.count(), late=late.cast("int64").sum(),
                                             just_before=near.cast("int64").sum())


def converters_query(state: ir.Table) -> ir.Table:
    paid = state.filter(state[c.MILESTONE_ID] == c.PAID, state[c.ENTITY_TYPE] == c.USER, state[c.REACH_TIME].notnull())
    return paid.aggregate(converters=paid.count())


def summarise(rows: list[dict[str, object]], converters: int, keep: Sequence[str] = ()) -> tuple[Prerequisite, ...]:
    """The flagged events, most converters first; `keep` (discovery.not_prerequisite) are never flagged."""
    if converters < MIN_CONVERTERS:
        return ()
    minutes = int(JUST_BEFORE.total_seconds() // 60)
    out = []
    for row in rows:
        event = str(row["event"])
        before, late, near = (Rate.of(_int(row[k]), converters) for k in ("did_before", "late", "just_before"))
        if event in keep or before.value is None or late.value is None or near.value is None:
            continue
        if near.value >= JUST_BEFORE_SHARE:
            reason = (f"a step of paying: {near.value:.0%} of {converters:,} converters first did it in the {minutes} "
                      "minutes before paying")
        elif before.value >= NECESSARY_SHARE and late.value >= JUST_BEFORE_SHARE:
            reason = (f"almost nobody pays without it, and it comes late: {before.value:.0%} of {converters:,} "
                      f"converters did it before paying, {late.value:.0%} first nearer paying than signup")
        else:
            continue
        out.append(Prerequisite(event, before, late, near, reason))
    return tuple(sorted(out, key=lambda p: (-p.did_before.numerator, p.event)))


def _int(value: object) -> int:
    return 0 if value is None else int(value)  # type: ignore[call-overload]


def run(store: Store, ms: MilestoneState, excluded: Sequence[str]) -> tuple[Prerequisite, ...]:
    """Prerequisites of the paid event among `ms`'s converters; none without a `paid:` section."""
    if ms.definitions.paid is None:
        return ()
    converters = int(store.execute(converters_query(ms.state)).iloc[0]["converters"] or 0)
    if converters < MIN_CONVERTERS:
        return ()
    rows = store.records(prerequisites_query(event_source(store, ms.as_of), ms.state, excluded))
    return summarise(rows, converters, ms.definitions.discovery.not_prerequisite)
