"""When did each account enter each signal? (docs/semantics.md, "Accounts": signals.)

A signal holds when all its conditions hold; it is entered at the first moment they all held: the latest of the
account's signup, its listed milestones' reach times, the moment its N-th member signed up and the moment the k-th
email domain's first member signed up. A trait condition has no time (traits are the latest known): it only decides
whether the signal holds.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from aha.definitions.signals import Signal
from aha.engine import columns as c
from aha.engine import matchers
from aha.engine.email_accounts import email_domain

ACCOUNT_ID, USER_ID, DOMAIN = "account_id", "user_id", "domain"


def entered_of(i: int) -> str:
    """The column of signal `i` (its position in `signals:`) in `signals_query`."""
    return f"entered_{i}"


def members_query(pairs: ir.Table, users: ir.Table, traits: ir.Table) -> ir.Table:
    """(account_id, user_id, t0, domain): each signed-up member once per account, with its email domain.

    `pairs` are membership pairs (`accounts.account_pairs`), `users` the state's user rows, `traits` the users
    table."""
    pairs = pairs.select(ACCOUNT_ID, USER_ID).distinct()
    people = users.select(_uid=users[c.ENTITY_ID], **{c.T0: users[c.T0]})
    joined = pairs.join(people, pairs.user_id == people._uid)
    domains = traits.select(_tid=traits.user_id, _domain=email_domain(traits.traits))
    joined = joined.left_join(domains, joined.user_id == domains._tid)
    return joined.select(ACCOUNT_ID, USER_ID, c.T0, **{DOMAIN: joined._domain})


def _nth(rows: ir.Table, at: str, needed: set[int], prefix: str) -> ir.Table:
    """Per account: the time of the n-th row by `at` (ties in any order give the same time), for each n needed."""
    ranked = rows.mutate(_rank=ibis.row_number().over(group_by=ACCOUNT_ID, order_by=at))
    return ranked.group_by(ACCOUNT_ID).aggregate(
        **{f"{prefix}{n}": ranked[at].max(where=ranked._rank == n - 1) for n in sorted(needed)})


def signals_query(accounts: ir.Table, members: ir.Table, account_traits: ir.Table, signals: list[Signal],
                  reach_columns: Mapping[str, str]) -> ir.Table:
    """(account_id, entered_0 …): per account of `accounts` (the state's account rows), when it entered each signal
    (null: it does not hold). `reach_columns` maps an account milestone id to its reach column in `accounts`."""
    out = accounts.select(**{ACCOUNT_ID: accounts[c.ENTITY_ID], c.T0: accounts[c.T0]},
                          **{f"_r_{mid}": accounts[col] for mid, col in reach_columns.items()})
    needed_members = {s.members for s in signals if s.members}
    if needed_members:
        nth = _nth(members, c.T0, needed_members, "_m")
        out = out.left_join(nth, ACCOUNT_ID).select(*out.columns, *[f"_m{n}" for n in sorted(needed_members)])
    needed_domains = {s.domains for s in signals if s.domains}
    if needed_domains:
        named = members.filter(members[DOMAIN].notnull())
        firsts = named.group_by([ACCOUNT_ID, DOMAIN]).aggregate(_first=named[c.T0].min())
        nth = _nth(firsts, "_first", needed_domains, "_d")
        out = out.left_join(nth, ACCOUNT_ID).select(*out.columns, *[f"_d{n}" for n in sorted(needed_domains)])
    traits = account_traits.select(_aid=account_traits.account_id, _traits=account_traits.traits)
    out = out.left_join(traits, out[ACCOUNT_ID] == traits._aid)
    entered: dict[str, ir.Value] = {}
    for i, s in enumerate(signals):
        parts = [out[c.T0], *[out[f"_r_{mid}"] for mid in s.milestones],
                 *([out[f"_m{s.members}"]] if s.members else []), *([out[f"_d{s.domains}"]] if s.domains else [])]
        missing = ibis.or_(*[p.isnull() for p in parts])
        if s.trait:
            missing = missing | ~matchers.scope(out._traits, out._traits, s.trait)
        latest = ibis.greatest(*parts) if len(parts) > 1 else parts[0]
        entered[entered_of(i)] = ibis.cases((missing, ibis.null("timestamp")), else_=latest)
    return out.select(ACCOUNT_ID, c.T0, **entered)
