"""Materialisable milestone state per user and per account (SEMANTICS.md, "Milestones" and "Accounts").

The plan has two stages so the events are read once: `relevant_query` is the single pass over the event table
(events of signed-up entities whose name some milestone or the paid event uses, inside the longest window);
`state_query` then derives every milestone's reach time, progress and status from that small table.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from aha.definitions import Definitions, milestone_hash
from aha.definitions.loader import paid_hash
from aha.definitions.models import Milestone
from aha.engine import accounts, matchers
from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.milestones import KEYS, all_of_query, extract_properties, property_keys, reach_query
from aha.engine.relations import union_all
from aha.engine.signups import signups_query

ENTITY_COLUMNS = [c.ENTITY_TYPE, c.ENTITY_ID, c.T0, c.SIGNUP_PROPERTIES, c.TRAITS]


def paid_milestone(definitions: Definitions) -> Milestone | None:
    """The paid event as a count-1 milestone with the conversion horizon as its window."""
    if definitions.paid is None:
        return None
    return Milestone.model_construct(
        id=c.PAID, name="Paid", level="secondary", entity="user", event=definitions.paid.events, all_of=None,
        where={}, count=1, distinct=None, sum=None, within=definitions.paid.within, scope={},
    )


def tracked(definitions: Definitions) -> list[Milestone]:
    """Every milestone state is kept for: the definitions' milestones plus the paid pseudo-milestone."""
    paid = paid_milestone(definitions)
    return [*definitions.milestones, *([paid] if paid else [])]


def entities_query(source: EventSource, users: ir.Table, memberships: ir.Table,
                   definitions: Definitions) -> ir.Table:
    """Users with their t0, signup properties and traits; accounts (when an account milestone exists) likewise."""
    signups = signups_query(source.select(definitions.signup.events), definitions)
    with_traits = signups.left_join(users.select("user_id", "traits"), signups[c.ENTITY_ID] == users.user_id)
    user_rows = with_traits.select(
        **{c.ENTITY_TYPE: ibis.literal(c.USER), c.ENTITY_ID: with_traits[c.ENTITY_ID], c.T0: with_traits[c.T0],
           c.SIGNUP_PROPERTIES: with_traits[c.SIGNUP_PROPERTIES], c.TRAITS: with_traits.traits}
    )
    if not any(m.entity == c.ACCOUNT for m in definitions.milestones):
        return user_rows
    return union_all([user_rows, accounts.account_entities_query(source.events, memberships, user_rows)])


def relevant_query(source: EventSource, entities: ir.Table, memberships: ir.Table,
                   definitions: Definitions) -> ir.Table:
    """The one pass over events: qualifying candidates for every milestone, inside the longest window."""
    parts = []
    keys = property_keys([m for m in tracked(definitions) if m.all_of is None])
    for entity in (c.USER, c.ACCOUNT):
        ms = [m for m in tracked(definitions) if m.entity == entity and m.all_of is None]
        if not ms:
            continue
        names = sorted({name for m in ms for name in m.events})
        longest = max(m.within for m in ms)
        candidates = source.select(names)
        if entity == c.ACCOUNT:
            candidates = accounts.events_with_account(candidates, memberships).mutate(user_id=ibis._.account_id)
        owners = entities.filter(entities[c.ENTITY_TYPE] == entity).select(c.ENTITY_TYPE, c.ENTITY_ID, c.T0)
        joined = candidates.join(owners, candidates.user_id == owners[c.ENTITY_ID])
        joined = joined.filter(
            joined.timestamp >= joined[c.T0],
            joined.timestamp < joined[c.T0] + ibis.interval(seconds=int(longest.total_seconds())),
        )
        extracted = extract_properties(joined, keys)
        parts.append(joined.select(*KEYS, c.T0, "message_id", "event", "timestamp", **extracted))
    return union_all(parts)


def state_query(relevant: ir.Table, entities: ir.Table, definitions: Definitions, as_of: datetime) -> ir.Table:
    """One row per (entity, milestone): reach time, progress, applicability (scope), status as of `as_of`."""
    reaches: dict[str, ir.Table] = {}
    for m in tracked(definitions):
        if m.all_of is None:
            reaches[m.id] = reach_query(relevant, m)
    for m in definitions.milestones:
        if m.all_of is not None:
            owners = entities.filter(entities[c.ENTITY_TYPE] == m.entity)
            reaches[m.id] = all_of_query(owners, reaches, m)
    rows = [_state_rows(entities, reaches[m.id], m, definitions, as_of) for m in tracked(definitions)]
    return union_all(rows)


def _state_rows(entities: ir.Table, reach: ir.Table, m: Milestone, definitions: Definitions,
                as_of: datetime) -> ir.Table:
    owners = entities.filter(entities[c.ENTITY_TYPE] == m.entity)
    joined = owners.left_join(reach.drop(c.MILESTONE_ID), KEYS)
    window_end = joined[c.T0] + ibis.interval(seconds=int(m.within.total_seconds()))
    applicable_expr: ir.BooleanValue = (
        matchers.scope(joined[c.TRAITS], joined[c.SIGNUP_PROPERTIES], m.scope) if m.scope else ibis.literal(True)
    )
    reached = joined[c.REACH_TIME].notnull()
    status = ibis.cases(
        (~applicable_expr, c.NOT_APPLICABLE),
        (reached, c.REACHED),
        (window_end > ibis.literal(as_of), c.IN_PROGRESS),
        else_=c.MISSED,
    )
    measured = applicable_expr.ifelse(joined[c.REACH_TIME], ibis.null("timestamp"))  # out of scope: not measured
    return joined.select(
        joined[c.ENTITY_TYPE], joined[c.ENTITY_ID],
        **{c.MILESTONE_ID: ibis.literal(m.id), c.T0: joined[c.T0], c.WINDOW_END: window_end,
           c.REACH_TIME: measured, c.PROGRESS: applicable_expr.ifelse(joined[c.PROGRESS].fill_null(0.0), 0.0),
           c.APPLICABLE: applicable_expr, c.STATUS: status,
           c.DEFINITION_HASH: ibis.literal(_hash(definitions, m))},
    )


def _hash(definitions: Definitions, m: Milestone) -> str:
    return paid_hash(definitions) if m.id == c.PAID else milestone_hash(definitions, m.id)
