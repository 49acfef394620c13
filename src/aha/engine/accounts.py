"""Accounts (SEMANTICS.md, "Accounts"): an account's t0 is its earliest member's, and members' events count together."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aha.definitions import Definitions
from aha.engine import columns as c
from aha.engine.email_accounts import email_members_query
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


def account_pairs(source: EventSource, memberships: ir.Table, users: ir.Table, definitions: Definitions) -> ir.Table:
    """(user_id, account_id) membership pairs, possibly repeated: from group calls and events' account ids, or with
    `accounts: {from: email_domain}` from users' company email domains (and then from nothing else)."""
    if definitions.accounts_from == "email_domain":
        return source.canonical(email_members_query(users))
    return members_query(source, memberships)


def account_entities_query(members: ir.Table, users: ir.Table) -> ir.Table:
    """Accounts with t0 = the earliest signed-up member's t0 (members who never signed up do not start the clock).

    `members` are `account_pairs`; they are not made distinct first: a pair seen twice changes no minimum."""
    joined = members.join(users.select(c.ENTITY_ID, c.T0), members.user_id == users[c.ENTITY_ID])
    acc = joined.group_by("account_id").aggregate(**{c.T0: joined[c.T0].min()})
    return acc.select(**{c.ENTITY_TYPE: ibis.literal(c.ACCOUNT), c.ENTITY_ID: acc.account_id, c.T0: acc[c.T0]})


def email_candidates(source: EventSource, members: ir.Table, names: list[str]) -> ir.Table:
    """Candidate events credited to email-domain accounts, with the account id in `user_id`: each resolved event of
    a member goes to the member's one account (an event's own account_id is not read)."""
    events = source.select(names)
    owned = members.select(_uid=members.user_id, _account=members.account_id).distinct()
    joined = events.join(owned, events.user_id == owned._uid)
    return joined.mutate(user_id=joined._account).select(*events.columns)
