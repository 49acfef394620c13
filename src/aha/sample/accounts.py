"""The B2B sample (`aha sample --b2b`, docs/sample.md "Accounts"): members' email domains (some at free-mail
providers) and a planted effect of the team signal on account conversion.

With `--b2b` the per-user payments are replaced by one payment per converting account, drawn at the account level:
an account whose team signal holds (two members reached the core workflow inside the account's first 30 days)
converts with probability TEAM_PAID, any other with BASE_PAID, so the true lift of the team signal on account
conversion is TEAM_PAID / BASE_PAID exactly (among accounts whose 30-day horizon has closed).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aha.sample import catalog as c
from aha.sample.population import Population
from aha.sample.truth import DAY, NEVER, EventArrays, reach

TEAM_PAID, BASE_PAID = 0.30, 0.10  # account conversion within 30 days, with and without the team signal
HORIZON = 30 * DAY  # the sample's paid.within, and the team milestone's window
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com")
FREE_MAIL_SHARE = 0.15  # members who sign up with a free-mail address
DEFINITIONS = """
  - id: team_core
    name: Two members completed the core workflow
    level: secondary
    entity: account
    members_reached: {milestone: core_workflow, at_least: 2}
    within: 30d

signals:
  - {id: team, name: Team, milestones: [team_core]}
"""


def team_entry(pop: Population, ev: EventArrays) -> tuple[np.ndarray, np.ndarray]:
    """Per account: t0 (the earliest member's signup) and the team signal's entry time (the second member's core
    workflow reach inside [t0, t0 + 30d); NEVER when it does not hold)."""
    got = reach(ev, pop.n)
    k = len(pop.acc_size)
    t0 = np.full(k, NEVER, dtype=np.int64)
    np.minimum.at(t0, pop.account, got.t0)
    entry = np.full(k, NEVER, dtype=np.int64)
    counted = (got.core_workflow != NEVER) & (got.core_workflow < t0[pop.account] + HORIZON)
    users = np.flatnonzero(counted)
    order = np.lexsort((got.core_workflow[users], pop.account[users]))
    users = users[order]
    acc = pop.account[users]
    rank = np.arange(len(users)) - np.searchsorted(acc, acc)  # position within the account, by reach time
    second = users[rank == 1]
    entry[pop.account[second]] = got.core_workflow[second]
    return t0, entry


def plant_account_conversion(rng: np.random.Generator, pop: Population, arrays: tuple[np.ndarray, ...],
                             end_s: int) -> tuple[np.ndarray, ...]:
    """The chunk's events with every user-level payment replaced by account-level ones (the owner pays)."""
    user, anon, code, ts, prop, retained = arrays  # `retained` is per user
    keep = code != c.CODE[c.PAID]
    user, anon, code, ts, prop = (a[keep] for a in (user, anon, code, ts, prop))
    t0, entry = team_entry(pop, EventArrays(user=user, code=code, ts=ts, prop=prop))
    team = entry != NEVER
    pays = rng.random(len(t0)) < np.where(team, TEAM_PAID, BASE_PAID)
    start = np.where(team, entry, t0)
    end = np.where(t0 == NEVER, 0, t0) + HORIZON
    when = start + (rng.random(len(t0)) * np.maximum(end - start, 1)).astype(np.int64)
    paying = np.flatnonzero(pays & (t0 != NEVER) & (when < end_s))
    owners = np.flatnonzero(pop.is_owner)[paying]
    k = len(paying)
    return (np.concatenate([user, owners]), np.concatenate([anon, np.full(k, -1, dtype=np.int64)]),
            np.concatenate([code, np.full(k, c.CODE[c.PAID], dtype=code.dtype)]),
            np.concatenate([ts, when[paying]]),
            np.concatenate([prop, np.full(k, c.PROPERTY_OFFSET[c.PAID], dtype=prop.dtype)]), retained)


def with_emails(rng: np.random.Generator, pop: Population, traits: pa.Array, user_ids: pa.Array,
                account_ids: pa.Array) -> pa.Array:
    """The users' JSON traits with an `email`: `<user id>@<account id>.example.com`, or for FREE_MAIL_SHARE of the
    members (never an owner) the same at a free-mail provider."""
    free = ~pop.is_owner & (rng.random(pop.n) < FREE_MAIL_SHARE)
    company = pc.binary_join_element_wise(account_ids.take(pa.array(pop.account)), pa.scalar(".example.com"), "")
    provider = pa.array(FREE_MAIL).take(pa.array(rng.integers(0, len(FREE_MAIL), pop.n)))
    domain = pc.if_else(pa.array(free), provider, company)
    email = pc.binary_join_element_wise(user_ids, domain, "@")
    body = pc.utf8_slice_codeunits(traits, 0, -1)  # the JSON object without its closing brace
    return pc.binary_join_element_wise(body, pa.scalar(', "email": "'), email, pa.scalar('"}'), "")
