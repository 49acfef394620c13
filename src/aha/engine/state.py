"""Materialisable milestone state per user and per account (SEMANTICS.md, "Milestones" and "Accounts").

The plan has two stages so the events are read once: `relevant_query` is the single pass over the event table
(events of signed-up entities whose name some milestone or the paid event uses, inside the longest window);
`state_query` then derives every milestone's reach time, progress and status from that small table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import ibis
import ibis.expr.types as ir

from aha.definitions import Definitions, milestone_hash
from aha.definitions.loader import paid_hash
from aha.definitions.models import Milestone
from aha.engine import accounts, matchers
from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.milestones import all_of_query, event_codes, extract_properties, property_keys, reach_query
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
    """Users with their t0, signup properties and traits; accounts (when an account milestone exists) likewise.

    Each entity gets an integer `entity_key`: every later join, group and window runs on it rather than on the
    (type, id) strings, which is most of the state's cost at ten million events.
    """
    signups = signups_query(source.select(definitions.signup.events), definitions)
    with_traits = signups.left_join(users.select("user_id", "traits"), signups[c.ENTITY_ID] == users.user_id)
    rows = with_traits.select(
        **{c.ENTITY_TYPE: ibis.literal(c.USER), c.ENTITY_ID: with_traits[c.ENTITY_ID], c.T0: with_traits[c.T0],
           c.SIGNUP_PROPERTIES: with_traits[c.SIGNUP_PROPERTIES], c.TRAITS: with_traits.traits}
    )
    if any(m.entity == c.ACCOUNT for m in definitions.milestones):
        rows = union_all([rows, accounts.account_entities_query(source, memberships, rows)])
    return rows.mutate(**{c.ENTITY_KEY: ibis.row_number().over(order_by=[c.ENTITY_TYPE, c.ENTITY_ID])})


def owners_query(entities: ir.Table, entity: str) -> ir.Table:
    """(entity_id, entity_key, t0) of one entity type: what candidate events are joined to."""
    return entities.filter(entities[c.ENTITY_TYPE] == entity).select(c.ENTITY_ID, c.ENTITY_KEY, c.T0)


def relevant_query(source: EventSource, entities: ir.Table, memberships: ir.Table,
                   definitions: Definitions) -> ir.Table:
    """The one pass over events: qualifying candidates for every milestone, inside the longest window."""
    owners = {e: owners_query(entities, e) for e in (c.USER, c.ACCOUNT)}
    return union_all(relevant_parts(source, owners, memberships, definitions))


def relevant_parts(source: EventSource, owners: Mapping[str, ir.Table], memberships: ir.Table,
                   definitions: Definitions) -> list[ir.Table]:
    """`relevant_query` as one relation per entity type (same columns), joined to `owners[type]` (`owners_query`).
    DuckDB plans each part better alone and against a materialised owners table: in one statement, or joined to
    the entities filtered by type, it guessed the sizes wrong and built its hash table on the events (4× slower).

    Only what some milestone reads is kept, as narrow columns: an integer entity key and event code, the message id
    only on events a running sum orders (ties), property values only on the events whose milestones read them.
    """
    parts = []
    keys = property_keys([m for m in tracked(definitions) if m.all_of is None])
    codes = event_codes([name for m in tracked(definitions) for name in m.events])
    summed = sorted({name for m in tracked(definitions) if m.sum is not None for name in m.events})
    for entity in (c.USER, c.ACCOUNT):
        ms = [m for m in tracked(definitions) if m.entity == entity and m.all_of is None]
        if not ms:
            continue
        names = sorted({name for m in ms for name in m.events})
        longest = max(m.within for m in ms)
        candidates = (_account_candidates(source, memberships, names) if entity == c.ACCOUNT
                      else source.select(names, joined_next=True))
        owner = owners[entity]
        joined = candidates.join(owner, candidates.user_id == owner[c.ENTITY_ID])
        joined = joined.filter(
            joined.timestamp >= joined[c.T0],
            joined.timestamp < joined[c.T0] + ibis.interval(seconds=int(longest.total_seconds())),
        )
        code = ibis.cases(*[(joined.event == name, i) for name, i in codes.items() if name in names]).cast("int16")
        order = joined.event.isin(summed).ifelse(joined.message_id, ibis.null("string")) if summed else \
            ibis.null("string")
        parts.append(joined.select(c.ENTITY_KEY, c.T0, "timestamp", message_id=order,
                                   **{c.EVENT_CODE: code}, **extract_properties(joined, keys)))
    return parts


def _account_candidates(source: EventSource, memberships: ir.Table, names: list[str]) -> ir.Table:
    """Candidate events credited to accounts, with the account id in `user_id` (the owner key of the join).

    An event carrying both a user id and an account id (the bulk of account events: "Message Sent" in a workspace)
    needs neither identity resolution nor a membership lookup, so it skips both joins; only the rest take them.
    """
    raw = source.raw(names)
    known = raw.account_id.notnull() & raw.user_id.notnull()
    direct = raw.filter(known).mutate(user_id=raw.account_id)
    rest = source.resolve(raw.filter(~known))
    resolved = accounts.events_with_account(rest, memberships).mutate(user_id=ibis._.account_id)
    return union_all([direct.select(*resolved.columns), resolved])


def milestones_table(definitions: Definitions) -> ir.Table:
    """One row per tracked milestone: its integer key, id, entity, window and content hash."""
    ms = tracked(definitions)
    return ibis.memtable({
        c.MILESTONE_KEY: list(range(len(ms))),
        c.MILESTONE_ID: [m.id for m in ms],
        c.ENTITY_TYPE: [m.entity for m in ms],
        "window_seconds": [int(m.within.total_seconds()) for m in ms],
        c.DEFINITION_HASH: [_hash(definitions, m) for m in ms],
    })


def state_query(relevant: ir.Table, entities: ir.Table, definitions: Definitions) -> ir.Table:
    """One narrow row per (entity, milestone): reach time, progress, applicability (scope). Integer keys only, so
    the materialised table is cheap to write; `state_view` adds ids, windows and status for readers.

    Reach is computed sparsely (only entities with qualifying events), then a join per milestone spreads it over
    every entity of the milestone's type.
    """
    ms = tracked(definitions)
    codes = event_codes([name for m in ms for name in m.events])
    reaches: dict[str, ir.Table] = {}
    for m in ms:
        if m.all_of is None:
            reaches[m.id] = reach_query(relevant, m, codes)
    for m in definitions.milestones:
        if m.all_of is not None:
            reaches[m.id] = all_of_query(entities, reaches, m)
    key_of = {m.id: i for i, m in enumerate(ms)}
    # Scope is evaluated once per entity (it reads JSON traits), before each milestone's rows are spread over the
    # entities, which then carry a boolean per scoped milestone instead of the JSON columns.
    slim = entities.select(c.ENTITY_KEY, c.ENTITY_TYPE, **{
        f"_scope_{key_of[m.id]}": matchers.scope(entities[c.TRAITS], entities[c.SIGNUP_PROPERTIES], m.scope)
        for m in ms if m.scope
    })
    parts = []
    for m in ms:
        # One single-key join per milestone (on the entity key), rather than one two-key join of the whole
        # entity × milestone product: the rows come out grouped by milestone, which readers filter on.
        owners = slim.filter(slim[c.ENTITY_TYPE] == m.entity)
        joined = owners.left_join(reaches[m.id], c.ENTITY_KEY)
        applicable = joined[f"_scope_{key_of[m.id]}"] if m.scope else ibis.literal(True)
        parts.append(joined.select(
            joined[c.ENTITY_KEY].name(c.ENTITY_KEY),
            ibis.literal(key_of[m.id]).cast("int16").name(c.MILESTONE_KEY),
            **{c.REACH_TIME: applicable.ifelse(joined[c.REACH_TIME], ibis.null("timestamp")),  # out of scope
               c.PROGRESS: applicable.ifelse(joined[c.PROGRESS].fill_null(0.0), 0.0).cast("float32"),
               c.APPLICABLE: applicable},
        ))
    return union_all(parts)


def state_view(slim: ir.Table, entities: ir.Table, milestones: ir.Table, as_of: datetime) -> ir.Table:
    """The state as readers want it: ids, t0, window end and status as of `as_of`, over the narrow table."""
    joined = slim.join(milestones, c.MILESTONE_KEY).join(
        entities.select(c.ENTITY_KEY, c.ENTITY_ID, c.T0), c.ENTITY_KEY
    )
    window_end = joined[c.T0] + joined.window_seconds.as_interval("s")
    status = ibis.cases(
        (~joined[c.APPLICABLE], c.NOT_APPLICABLE),
        (joined[c.REACH_TIME].notnull(), c.REACHED),
        (window_end > ibis.literal(as_of), c.IN_PROGRESS),
        else_=c.MISSED,
    )
    return joined.select(
        c.ENTITY_TYPE, c.ENTITY_ID, c.ENTITY_KEY, c.MILESTONE_ID, c.T0,
        **{c.WINDOW_END: window_end, c.REACH_TIME: joined[c.REACH_TIME],
           c.PROGRESS: joined[c.PROGRESS].cast("float64"), c.APPLICABLE: joined[c.APPLICABLE], c.STATUS: status,
           c.DEFINITION_HASH: joined[c.DEFINITION_HASH]},
    )


def _hash(definitions: Definitions, m: Milestone) -> str:
    return paid_hash(definitions) if m.id == c.PAID else milestone_hash(definitions, m.id)
