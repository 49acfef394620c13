"""Materialisable milestone state per user and per account (SEMANTICS.md, "Milestones" and "Accounts").

The plan has two stages so the events are read once: `relevant_parts` is the single pass over the event table
(events of signed-up entities whose name some milestone or the paid event uses, inside the longest window), one small
table per entity type; `state_query` then derives every milestone's reach time and progress from those tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

import ibis
import ibis.expr.types as ir

from aha.definitions import Definitions, milestone_hash
from aha.definitions.loader import paid_hash
from aha.definitions.models import Milestone
from aha.engine import accounts, matchers
from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.members_reached import members_reached_query
from aha.engine.milestones import (
    all_of_query,
    event_codes,
    extract_properties,
    needs_t0,
    null_properties,
    property_uses,
    reach_query,
)
from aha.engine.relations import union_all
from aha.engine.signups import signups_query
from aha.engine.tracked import counted_milestones, has_accounts, longest_window, tracked

ENTITY_COLUMNS = [c.ENTITY_TYPE, c.ENTITY_ID, c.T0]


def scope_column(key: int) -> str:
    return f"_scope_{key}"


def user_sources_query(source: EventSource, users: ir.Table, definitions: Definitions) -> ir.Table:
    """Signed-up users with t0 and the two JSON sources segments and scopes read: the first signup event's
    properties and the user's traits."""
    signups = signups_query(source.select(definitions.signup.defining), definitions)
    with_traits = signups.left_join(users.select("user_id", "traits"), signups[c.ENTITY_ID] == users.user_id)
    return with_traits.select(
        **{c.ENTITY_TYPE: ibis.literal(c.USER), c.ENTITY_ID: with_traits[c.ENTITY_ID], c.T0: with_traits[c.T0],
           c.SIGNUP_PROPERTIES: with_traits[c.SIGNUP_PROPERTIES], c.TRAITS: with_traits.traits}
    )


def entities_query(source: EventSource, users: ir.Table, memberships: ir.Table,
                   definitions: Definitions) -> ir.Table:
    """Users with their t0; accounts (when an account milestone or a signal exists: `has_accounts`) likewise; a
    boolean per scoped milestone.

    Each entity gets an integer `entity_key`: every later join, group and window runs on it rather than on the
    (type, id) strings, which is most of the state's cost at ten million events. The JSON a scope reads is used
    here and not kept: segment breakdowns read it from `segments_query`'s table, built when first asked for.
    """
    scoped = {k: m for k, m in enumerate(tracked(definitions)) if m.scope}
    if scoped:
        rows = user_sources_query(source, users, definitions)
    else:  # no JSON at all: the signup properties are not even aggregated
        signups = signups_query(source.select(definitions.signup.defining), definitions,
                                properties=False)
        rows = signups.select(**{c.ENTITY_TYPE: ibis.literal(c.USER), c.ENTITY_ID: signups[c.ENTITY_ID],
                                 c.T0: signups[c.T0]})
    if has_accounts(definitions):
        found = accounts.account_entities_query(accounts.account_pairs(source, memberships, users, definitions), rows)
        if scoped:  # an account has neither traits nor signup properties: every scope leaves it out
            found = found.mutate(**{c.SIGNUP_PROPERTIES: ibis.null("json"), c.TRAITS: ibis.null("json")})
        rows = union_all([rows, found])
    rows = rows.select(*ENTITY_COLUMNS, **{
        scope_column(k): matchers.scope(rows[c.TRAITS], rows[c.SIGNUP_PROPERTIES], m.scope) for k, m in scoped.items()
    })
    # Any numbering will do (keys live as long as the state): no sort of every entity id for it.
    return rows.mutate(**{c.ENTITY_KEY: ibis.row_number()})


def segments_query(source: EventSource, users: ir.Table, definitions: Definitions, entities: ir.Table) -> ir.Table:
    """(entity_key, signup_properties, traits) of every signed-up user: what `--segment` reads."""
    sources = user_sources_query(source, users, definitions)
    keys = entities.filter(entities[c.ENTITY_TYPE] == c.USER).select(c.ENTITY_ID, c.ENTITY_KEY)
    joined = sources.join(keys, c.ENTITY_ID)
    return joined.select(c.ENTITY_KEY, c.SIGNUP_PROPERTIES, c.TRAITS)


UNTIL = "_until"  # owners' end of the candidate window (t0 + the type's longest window)


def owners_query(entities: ir.Table, definitions: Definitions, entity: str) -> ir.Table:
    """(entity_id, entity_key, t0, _until) of one entity type: what candidate events are joined to. The window's end
    is computed once per entity here, not once per event in the candidate pass (a tenth of its filter's cost)."""
    rows = entities.filter(entities[c.ENTITY_TYPE] == entity)
    longest = int(longest_window(definitions, entity).total_seconds())
    return rows.select(c.ENTITY_ID, c.ENTITY_KEY, c.T0, **{UNTIL: rows[c.T0] + ibis.interval(seconds=longest)})


def relevant_parts(source: EventSource, owners: Mapping[str, ir.Table], memberships: ir.Table,
                   definitions: Definitions, users: ir.Table | None = None) -> dict[str, list[ir.Table]]:
    """The one pass over events: per entity type, relations with the same columns (to be stored as one table),
    one per whether the events' properties are read, joined to `owners[type]` (`owners_query`).
    DuckDB plans each part better alone and against a materialised owners table: in one statement, or joined to
    the entities filtered by type, it guessed the sizes wrong and built its hash table on the events (4× slower).

    Only what that type's milestones read is kept, as narrow columns: an integer entity key and event code, the
    message id only where a running sum orders ties, the property values its filters, sums and distincts read (an
    account table of ten million messages carries no empty property columns). `users` (traits) is needed when
    accounts come from email domains.
    """
    parts: dict[str, list[ir.Table]] = {}
    codes = event_codes([name for m in tracked(definitions) for name in m.events])
    for entity in (c.USER, c.ACCOUNT):
        ms = counted_milestones(definitions, entity)
        if not ms:
            continue
        uses = property_uses(ms)
        summed = sorted({name for m in ms if m.sum is not None for name in m.events})
        names = sorted({name for m in ms for name in m.events})
        # Events whose properties no milestone reads are read apart, without their JSON column: it is most of the
        # bytes of an event, and on this side nothing parses it.
        read = {name for names_read in uses.values() for name in names_read}
        plain, parsed = [n for n in names if n not in read], [n for n in names if n in read]
        # Each event's t0, only where a milestone's window is shorter than the longest (which bounds the rows
        # already): the account table of ten million messages is a column narrower.
        kept = [c.T0] if any(needs_t0(m, longest_window(definitions, entity)) for m in ms) else []
        for group, with_properties in ((plain, False), (parsed, True)):
            if not group:
                continue
            if entity == c.USER:  # the part with properties reads each name apart (`EventSource.select`)
                candidates = source.select(group, joined_next=True, apart=with_properties)
            elif definitions.accounts_from == "email_domain":
                assert users is not None, "accounts from email domains need the users' traits"
                candidates = accounts.email_candidates(
                    source, accounts.account_pairs(source, memberships, users, definitions), group)
            else:
                candidates = _account_candidates(source, memberships, group)
            owner = owners[entity]
            joined = candidates.join(owner, candidates.user_id == owner[c.ENTITY_ID])
            joined = joined.filter(joined.timestamp >= joined[c.T0], joined.timestamp < joined[UNTIL])
            code = ibis.cases(*[(joined.event == name, i) for name, i in codes.items() if name in group])
            columns: dict[str, ir.Value] = {c.EVENT_CODE: code.cast("int16")}
            if summed:
                ordered = [n for n in summed if n in group]
                columns["message_id"] = (joined.event.isin(ordered).ifelse(joined.message_id, ibis.null("string"))
                                         if ordered else ibis.null("string"))
            columns |= extract_properties(joined, uses) if with_properties else null_properties(uses)
            parts.setdefault(entity, []).append(joined.select(c.ENTITY_KEY, *kept, "timestamp", **columns))
    return parts


def _account_candidates(source: EventSource, memberships: ir.Table, names: list[str]) -> ir.Table:
    """Candidate events credited to accounts, with the account id in `user_id` (the owner key of the join).

    An event carrying both a user id and an account id (the bulk of account events: "Message Sent" in a workspace)
    needs neither identity resolution nor a membership lookup, so it skips both joins; only the rest take them.
    """
    raw = source.raw(names)
    known = raw.account_id.notnull() & raw.user_id.notnull()
    direct = raw.filter(known).mutate(user_id=raw.account_id)
    # The rest as two filters DuckDB checks against each row group's null counts (`NOT known` it tests row by row):
    # where every such event carries both ids, they skip every row group instead of reading them all again.
    rest = union_all([raw.filter(raw.account_id.isnull()), raw.filter(raw.account_id.notnull() & raw.user_id.isnull())])
    # Only events without a user id read the identity links: the links are narrowed to those events' anonymous
    # ids, by a filter of its own (pruned like the two above), so that where every event carries a user id DuckDB
    # does not build a hash table of every link for nothing.
    anonymous = raw.filter(raw.user_id.isnull())
    links = source.linked if source.linked is not None else source.identity_links()
    links = links.semi_join(anonymous, links.anonymous_id == anonymous.anonymous_id)
    rest = replace(source, linked=links, merged=source.merged if source.merged is not None else source.merges()
                   ).resolve(rest)
    resolved = accounts.events_with_account(rest, memberships).mutate(user_id=ibis._.account_id)
    return union_all([direct.select(*resolved.columns), resolved])


def state_query(relevant: Mapping[str, ir.Table], entities: ir.Table, definitions: Definitions,
                named: Callable[[int, ir.Table], ir.Table] | None = None,
                members: ir.Table | None = None) -> ir.Table:
    """The state, one row per entity: the entity's columns, then per tracked milestone `k` its reach time, progress
    and applicability (`columns.reach_of(k)` …). `state_view_parts` unpivots it into the documented long shape.

    Wide rather than one row per (entity, milestone): the table written to the file is ten times shorter and carries
    no repeated keys, the funnel and activation read their columns without a pivot, and every milestone's reach is
    spread over the entities by one hash join on the integer key (the hand-written SQL's shape). Reach is computed
    sparsely first (only entities with qualifying events).

    `named(i, reach)` may stand each milestone's reach in for a named relation (the caller registers it): Ibis then
    compiles the spreading statement against names instead of one expression of every aggregate. `members`
    (`members_reached.member_keys_query`) is needed when a `members_reached` milestone is defined.
    """
    codes = event_codes([name for m in tracked(definitions) for name in m.events])
    reaches: dict[str, ir.Table] = {}
    for m in tracked(definitions):
        if m.all_of is None and m.members_reached is None:
            reach = reach_query(relevant[m.entity], m, codes, bounded=longest_window(definitions, m.entity))
            reaches[m.id] = named(len(reaches), reach) if named else reach
    # User composites, then what members reached (of any user milestone), then account composites (of either).
    for stage in ("user all_of", "members_reached", "account all_of"):
        for m in definitions.milestones:
            if m.all_of is not None and stage == f"{m.entity} all_of":
                reaches[m.id] = all_of_query(entities, reaches, m)
            if m.members_reached is not None and stage == "members_reached":
                assert members is not None, "a members_reached milestone needs the members table"
                target = m.members_reached.milestone
                reaches[m.id] = members_reached_query(_in_scope(reaches[target], entities, definitions, target),
                                                      members, entities, m)
    return spread_query(entities, reaches, definitions)


def _in_scope(reach: ir.Table, entities: ir.Table, definitions: Definitions, milestone_id: str) -> ir.Table:
    """A milestone's sparse reach without the entities its scope leaves out (`spread_query` does the same)."""
    ms = tracked(definitions)
    k = next(i for i, m in enumerate(ms) if m.id == milestone_id)
    if not ms[k].scope:
        return reach
    inside = entities.filter(entities[scope_column(k)].fill_null(False)).select(c.ENTITY_KEY)
    return reach.semi_join(inside, c.ENTITY_KEY)


def spread_query(entities: ir.Table, reaches: Mapping[str, ir.Table], definitions: Definitions) -> ir.Table:
    """Every milestone's sparse reach spread over the entities: `state_query`'s last step.

    Entity keys are unique across types and a reach only holds entities of its milestone's type, so an entity of
    another type finds no reach: no per-column type test (eleven string compares per entity). Applicability is a
    stored column only for scoped milestones; for the rest it is the entity type (`applicable`). Progress is an
    integer except for sums (an integer column compresses in half the time of a float one when the state is
    written)."""
    ms = tracked(definitions)
    wide = entities
    for k, m in enumerate(ms):
        r = reaches[m.id]
        r = r.select(**{f"_key_{k}": r[c.ENTITY_KEY], f"_reach_{k}": r[c.REACH_TIME], f"_progress_{k}": r[c.PROGRESS]})
        wide = wide.left_join(r, wide[c.ENTITY_KEY] == r[f"_key_{k}"])
    columns: dict[str, ir.Value] = {}
    for k, m in enumerate(ms):
        reach, progress = wide[f"_reach_{k}"], wide[f"_progress_{k}"].fill_null(0.0)
        progress = progress.cast("float64" if m.threshold_kind == "sum" else "int64")
        if m.scope:  # out of scope means no reach
            in_scope = ((wide[c.ENTITY_TYPE] == m.entity) & wide[scope_column(k)]).fill_null(False)
            reach = in_scope.ifelse(reach, ibis.null("timestamp"))
            progress = in_scope.ifelse(progress, 0)
            columns[c.applicable_of(k)] = in_scope
        columns[c.reach_of(k)] = reach
        columns[c.progress_of(k)] = progress
    return wide.select(*ENTITY_COLUMNS, c.ENTITY_KEY, **columns)


def applicable(wide: ir.Table, k: int, milestone: Milestone) -> ir.BooleanValue:
    """Whether milestone `k` applies to each entity of the wide state: its entity type, and its scope if any."""
    if milestone.scope:
        return wide[c.applicable_of(k)]
    return wide[c.ENTITY_TYPE] == milestone.entity


def state_view_parts(wide: ir.Table, definitions: Definitions, as_of: datetime) -> list[ir.Table]:
    """The state as readers want it, one row per (entity, milestone of its type): ids, t0, window end, reach,
    progress, applicability, status as of `as_of` and the milestone's content hash, unpivoted from `state_query`.

    One relation per milestone, with the same columns and types; their UNION ALL is the long state (the store
    compiles them apart and unions the SQL: cheaper than compiling the union)."""
    parts = []
    for k, m in enumerate(tracked(definitions)):
        rows = wide.filter(wide[c.ENTITY_TYPE] == m.entity)
        window_end = rows[c.T0] + ibis.interval(seconds=int(m.within.total_seconds()))
        reach, applies = rows[c.reach_of(k)], applicable(rows, k, m)
        status = ibis.cases(
            (~applies, c.NOT_APPLICABLE),
            (reach.notnull(), c.REACHED),
            (window_end > ibis.literal(as_of), c.IN_PROGRESS),
            else_=c.MISSED,
        )
        parts.append(rows.select(
            c.ENTITY_TYPE, c.ENTITY_ID, c.ENTITY_KEY,
            **{c.MILESTONE_ID: ibis.literal(m.id), c.T0: rows[c.T0], c.WINDOW_END: window_end, c.REACH_TIME: reach,
               c.PROGRESS: rows[c.progress_of(k)].cast("float64"), c.APPLICABLE: applies, c.STATUS: status,
               c.DEFINITION_HASH: ibis.literal(_hash(definitions, m))},
        ))
    return parts


def _hash(definitions: Definitions, m: Milestone) -> str:
    return paid_hash(definitions) if m.id == c.PAID else milestone_hash(definitions, m.id)
