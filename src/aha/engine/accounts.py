"""Accounts (SEMANTICS.md, "Accounts"): an account's t0 is its earliest member's, and members' events count together."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.relations import union_all


def members_query(source: EventSource, memberships: ir.Table) -> ir.Table:
    """user → account pairs from group calls and from the account id events carry (a pair may appear twice)."""
    return union_all([source.members(), memberships.select("user_id", "account_id")])


def primary_account(memberships: ir.Table) -> ir.Table:
    """The account an event without an account id is credited to: the user's first group call."""
    return memberships.group_by("user_id").aggregate(_account=memberships.account_id.argmin(memberships.timestamp))


def events_with_account(events: ir.Table, memberships: ir.Table) -> ir.Table:
    first = primary_account(memberships)
    joined = events.left_join(first, "user_id")
    out = joined.mutate(account_id=ibis.coalesce(joined.account_id, joined._account))
    out = out.filter(out.account_id.notnull())
    return out.select(*events.columns)


def account_entities_query(source: EventSource, memberships: ir.Table, users: ir.Table) -> ir.Table:
    """Accounts with t0 = the earliest signed-up member's t0 (members who never signed up do not start the clock).

    The member pairs are not made distinct first: a pair seen twice changes no minimum."""
    members = members_query(source, memberships)
    joined = members.join(users.select(c.ENTITY_ID, c.T0), members.user_id == users[c.ENTITY_ID])
    acc = joined.group_by("account_id").aggregate(**{c.T0: joined[c.T0].min()})
    return acc.select(**{c.ENTITY_TYPE: ibis.literal(c.ACCOUNT), c.ENTITY_ID: acc.account_id, c.T0: acc[c.T0]})
