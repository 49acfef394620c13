"""The state with accounts as the unit (`--level account`): every report and validation then counts accounts.

SEMANTICS.md, "Accounts": an account's signup is its earliest member's `t0`; its milestones are the account
milestones (with their reach times, windows and statuses as stored); it converted when any member paid inside the
conversion horizon from the account's `t0`. The state is relabelled, not recomputed: accounts become the rows of a
state whose definitions hold only the account milestones (the activation milestone as primary), so the funnel, time
to value, activation by cohort and validation run unchanged, with every censoring rule they apply to users.
"""

from __future__ import annotations

import difflib
from dataclasses import replace

import ibis
import ibis.expr.types as ir

from aha.analyses.state import MilestoneState, event_source
from aha.definitions import Definitions
from aha.definitions.models import Milestone
from aha.engine import accounts
from aha.engine import columns as c
from aha.engine.relations import union_all
from aha.engine.state import state_view_parts, tracked
from aha.errors import UserError
from aha.store import Store, schema

ACCOUNT_ENTITIES = "aha_account_level"  # the relabelled accounts (in the attached in-memory database)
LEVEL_ORDER = {"primary": 0, "secondary": 1, "expansion": 2}


def activation_milestone(definitions: Definitions, chosen: str | None = None) -> Milestone:
    """The account milestone that stands as primary: `chosen`, else the first secondary one in file order (then the
    first expansion one). Accounts have no primary of their own."""
    ours = [m for m in definitions.milestones if m.entity == c.ACCOUNT]
    if not ours:
        raise UserError("--level account: the definitions have no account milestone; add one with `entity: "
                        "account` (e.g. `members_reached: {milestone: <user milestone>, at_least: 2}`), see "
                        "docs/definitions.md.")
    if chosen is None:
        return min(ours, key=lambda m: LEVEL_ORDER[m.level])
    found = next((m for m in ours if m.id == chosen), None)
    if found is None:
        ids = [m.id for m in ours]
        close = difflib.get_close_matches(chosen, ids, n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        raise UserError(f"--milestone {chosen!r}: no account milestone of that id. {hint}Known: {', '.join(ids)}.")
    return found


def account_definitions(definitions: Definitions, lead: Milestone) -> Definitions:
    """The account milestones as the milestones of a definitions file measured per "user" (the unit), `lead` as
    primary; the paid section is kept (account conversion), targets and segments are per user and left out."""
    ours = [m for m in definitions.milestones if m.entity == c.ACCOUNT]
    parts = {p for m in ours for p in (m.all_of or [])}
    relabelled = [m.model_copy(update={"entity": c.USER, "members_reached": None,
                                       "level": "primary" if m.id == lead.id else m.level}) for m in ours]
    return definitions.model_copy(update={
        "milestones": relabelled, "funnel": [m.id for m in ours if m.id not in parts], "targets": {},
        "segments": [], "rules": [],
    })


def account_level(store: Store, ms: MilestoneState, milestone: str | None = None) -> MilestoneState:
    """`ms` with accounts as the unit (see the module's docstring); `milestone` picks the activation milestone."""
    definitions = account_definitions(ms.definitions, activation_milestone(ms.definitions, milestone))
    old = {m.id: k for k, m in enumerate(tracked(ms.definitions))}
    rows = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.ACCOUNT)
    columns: dict[str, ir.Value] = {}
    for k, m in enumerate(tracked(definitions)):
        if m.id == c.PAID:
            continue
        was = old[m.id]
        columns[c.reach_of(k)] = rows[c.reach_of(was)]
        columns[c.progress_of(k)] = rows[c.progress_of(was)]
        if m.scope:
            columns[c.applicable_of(k)] = rows[c.applicable_of(was)]
    relabelled = rows.select(**{c.ENTITY_TYPE: ibis.literal(c.USER)}, **{
        name: rows[name] for name in (c.ENTITY_ID, c.T0, c.ENTITY_KEY)}, **columns)
    if definitions.paid is not None:
        relabelled = _with_paid(store, ms, relabelled, len(definitions.milestones))
    entities = (store.materialise(ACCOUNT_ENTITIES, relabelled, temp=True) if store.in_transaction
                else store.memory_table(ACCOUNT_ENTITIES, relabelled))
    long = union_all(state_view_parts(entities, definitions, ms.as_of))
    return replace(ms, definitions=definitions, source=entities, long_view=lambda: long,
                   count_without_signup=lambda: 0, unit=c.ACCOUNT)


def account_paid_query(pairs: ir.Table, users: ir.Table, owners: ir.Table, paid_reach: str, horizon_seconds: int
                       ) -> ir.Table:
    """(account id, paid_at): the first payment of any member inside the account's horizon `[t0, t0 + H)`.

    A member's payment counts as it counts for the member (after their own signup, inside their own horizon, which
    ends no earlier than the account's: a member's `t0` is never before the account's)."""
    pairs = pairs.select("user_id", "account_id").distinct()
    paid = users.filter(users[paid_reach].notnull()).select(_uid=users[c.ENTITY_ID], _paid=users[paid_reach])
    joined = pairs.join(paid, pairs.user_id == paid._uid).join(owners, pairs.account_id == owners._aid)
    horizon = ibis.interval(seconds=horizon_seconds)
    joined = joined.filter(joined._paid >= joined._t0, joined._paid < joined._t0 + horizon)
    return joined.group_by("account_id").aggregate(paid_at=joined._paid.min())


def account_paid(store: Store, ms: MilestoneState, rows: ir.Table) -> ir.Table:
    """(account_id, paid_at) of the accounts of `rows` (entity_id, t0) that converted (`account_paid_query`)."""
    assert ms.definitions.paid is not None
    source = event_source(store, ms.as_of)
    memberships = source.canonical_members(source.upto(store.table(schema.MEMBERSHIPS)))
    pairs = accounts.account_pairs(source, memberships, store.table(schema.USERS), ms.definitions)
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    paid_k = len(tracked(ms.definitions)) - 1
    owners = rows.select(_aid=rows[c.ENTITY_ID], _t0=rows[c.T0])
    return account_paid_query(pairs, users, owners, c.reach_of(paid_k),
                              int(ms.definitions.paid.within.total_seconds()))


def account_conversion(store: Store, ms: MilestoneState) -> ir.Table:
    """(entity_id, reach_time, window_end) per account: its conversion (paid_at, or null) and the end of its horizon
    `t0 + paid.within`, the shape of a milestone's state rows (what a signal rule's impact measures)."""
    assert ms.definitions.paid is not None
    rows = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.ACCOUNT)
    paid = account_paid(store, ms, rows)
    joined = rows.left_join(paid, rows[c.ENTITY_ID] == paid.account_id)
    horizon = ibis.interval(seconds=int(ms.definitions.paid.within.total_seconds()))
    return joined.select(entity_id=joined[c.ENTITY_ID], reach_time=joined.paid_at, window_end=joined[c.T0] + horizon)


def _with_paid(store: Store, ms: MilestoneState, rows: ir.Table, k: int) -> ir.Table:
    paid = account_paid(store, ms, rows)
    joined = rows.left_join(paid, rows[c.ENTITY_ID] == paid.account_id)
    return joined.select(*rows.columns, **{c.reach_of(k): joined.paid_at,
                                           c.progress_of(k): joined.paid_at.notnull().cast("int64")})
