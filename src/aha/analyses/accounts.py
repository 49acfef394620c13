"""Which accounts should sales talk to? Each account's signals (since when), PQL score and usage summary, and one
account's members and signal timeline (docs/semantics.md, "Accounts": signals and the PQL score).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from aha.analyses.defaults import ACCOUNTS_TOP
from aha.analyses.state import MilestoneState, event_source
from aha.definitions import Definitions
from aha.definitions.signals import Signal
from aha.engine import accounts as account_pairs
from aha.engine import columns as c
from aha.engine.signals import ACCOUNT_ID, USER_ID, entered_of, members_query, signals_query
from aha.engine.tracked import tracked
from aha.errors import UserError
from aha.results import ResultMixin
from aha.store import Store, schema

TOP = ACCOUNTS_TOP  # accounts listed by default
MEMBERS_TABLE = "aha_account_members"  # members_of's result (temporary, in memory)
# PQL score weights (docs/semantics.md): highest signal, account milestones reached, members active in 30 days.
SIGNAL_WEIGHT, MILESTONE_WEIGHT, ACTIVE_WEIGHT = 50.0, 30.0, 20.0


@dataclass(frozen=True, slots=True)
class AccountSignal:
    id: str
    name: str
    entered_at: datetime


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account_id: str
    signed_up_at: datetime
    highest_signal: str | None
    signals: tuple[AccountSignal, ...]  # every signal that holds, in entry order
    score: float  # PQL score 0–100
    members: int
    active_members_7d: int
    active_members_30d: int
    events_30d: int
    milestones_reached: int
    milestones: int


@dataclass(frozen=True, slots=True)
class AccountsResult(ResultMixin):
    kind: ClassVar[str] = "accounts"
    as_of: datetime
    signal_filter: str | None
    total: int  # accounts matching the filter (all are ranked; `accounts` holds the top ones)
    accounts: tuple[AccountSummary, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{"account_id": a.account_id, "highest_signal": a.highest_signal, "score": a.score,
                 "members": a.members, "active_members_7d": a.active_members_7d,
                 "active_members_30d": a.active_members_30d, "events_30d": a.events_30d,
                 "milestones_reached": a.milestones_reached, "signed_up_at": a.signed_up_at} for a in self.accounts]


@dataclass(frozen=True, slots=True)
class AccountMember:
    user_id: str
    signed_up_at: datetime
    email_domain: str | None
    milestones_reached: tuple[str, ...]  # user milestone ids, in file order


@dataclass(frozen=True, slots=True)
class AccountDetailResult(ResultMixin):
    kind: ClassVar[str] = "account"
    as_of: datetime
    summary: AccountSummary
    members: tuple[AccountMember, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{"signal": s.id, "name": s.name, "entered_at": s.entered_at} for s in self.summary.signals]


def account_milestone_columns(definitions: Definitions) -> dict[str, str]:
    """Account milestone id → its reach column in the wide state."""
    return {m.id: c.reach_of(k) for k, m in enumerate(tracked(definitions)) if m.entity == c.ACCOUNT}


def members_of(store: Store, ms: MilestoneState) -> ir.Table:
    """Signed-up members of every account (engine.signals.members_query) as of the state's `as_of`, computed once
    into an in-memory table: the signals, the counts and the activity each read it (inlined, the membership
    resolution ran once per reader)."""
    source = event_source(store, ms.as_of)
    memberships = source.canonical_members(source.upto(store.table(schema.MEMBERSHIPS)))
    pairs = account_pairs.account_pairs(source, memberships, store.table(schema.USERS), ms.definitions)
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    members = members_query(pairs, users, store.table(schema.USERS))
    return (store.materialise(MEMBERS_TABLE, members, temp=True) if store.in_transaction
            else store.memory_table(MEMBERS_TABLE, members))


def facts_query(store: Store, ms: MilestoneState, members: ir.Table) -> ir.Table:
    """One row per account: signal entry times, highest signal rank, PQL score and usage summary."""
    signals = ms.definitions.signals or []
    reach = account_milestone_columns(ms.definitions)
    accounts = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.ACCOUNT)
    entered = signals_query(accounts, members, store.table(schema.ACCOUNTS), signals, reach)
    counts = members.group_by(ACCOUNT_ID).aggregate(_members=members.count(), _domains=members.domain.nunique())
    as_of = ibis.literal(ms.as_of)
    source = event_source(store, ms.as_of)
    raw = source.upto(source.events)
    recent = source.resolve(raw.filter(raw.timestamp > as_of - ibis.interval(days=30)))
    who = members.select(_acc=members.account_id, _uid=members.user_id)
    # Each user's latest event and event count in the 30 days first (one pass over the events, no distinct counts),
    # then per account: members active in 30 and 7 days, their events.
    per_user = recent.group_by(_uid=recent.user_id).aggregate(_last=recent.timestamp.max(), _n=recent.count())
    acted = per_user.join(who, per_user._uid == who._uid)
    activity = acted.group_by(_acc=acted._acc).aggregate(
        _active_30=acted.count(), _active_7=(acted._last > as_of - ibis.interval(days=7)).sum(),
        _events_30=acted._n.sum())
    reached = [accounts[col].notnull().cast("int64") for col in reach.values()]
    milestones = accounts.select(_aid=accounts[c.ENTITY_ID],
                                 _reached=sum(reached[1:], reached[0]) if reached else ibis.literal(0))
    j = entered
    for other, key in ((counts, ACCOUNT_ID), (activity, "_acc"), (milestones, "_aid")):
        step = j.left_join(other, j[ACCOUNT_ID] == other[key])
        j = step.select(*j.columns, *[name for name in other.columns if name not in (key, ACCOUNT_ID)])
    highest: ir.IntegerValue = ibis.literal(0)
    for i in range(len(signals)):
        highest = j[entered_of(i)].notnull().ifelse(i + 1, highest)
    active_30, n_members = j._active_30.fill_null(0), j._members.fill_null(0)
    score = (SIGNAL_WEIGHT * highest / max(len(signals), 1)
             + MILESTONE_WEIGHT * j._reached.fill_null(0) / max(len(reach), 1)
             + ACTIVE_WEIGHT * (n_members > 0).ifelse(active_30 / n_members, 0.0))
    return j.select(ACCOUNT_ID, c.T0, *[entered_of(i) for i in range(len(signals))], _highest=highest,
                    _score=score.round(1), _members=n_members, _active_7=j._active_7.fill_null(0),
                    _active_30=active_30, _events_30=j._events_30.fill_null(0),
                    _reached=j._reached.fill_null(0))


def _summary(row: dict[str, Any], signals: list[Signal], milestones: int) -> AccountSummary:
    held = sorted((row[entered_of(i)], i) for i in range(len(signals)) if row[entered_of(i)] is not None)
    rank = int(row["_highest"])
    return AccountSummary(
        account_id=row[ACCOUNT_ID], signed_up_at=row[c.T0],
        highest_signal=signals[rank - 1].id if rank else None,
        signals=tuple(AccountSignal(signals[i].id, signals[i].label, at) for at, i in held),
        score=float(row["_score"]), members=int(row["_members"]), active_members_7d=int(row["_active_7"]),
        active_members_30d=int(row["_active_30"]), events_30d=int(row["_events_30"]),
        milestones_reached=int(row["_reached"]), milestones=milestones)


def run(store: Store, ms: MilestoneState, signal: str | None = None, top: int = TOP) -> AccountsResult:
    """Accounts by highest signal, then score; `signal` keeps those holding it."""
    signals = ms.definitions.signals or []
    facts = facts_query(store, ms, members_of(store, ms))
    if signal is not None:
        ids = [s.id for s in signals]
        if signal not in ids:
            known = ", ".join(ids) or "(none: add `signals:` to the definitions file)"
            raise UserError(f"--signal {signal!r}: no such signal; known: {known}.")
        facts = facts.filter(facts[entered_of(ids.index(signal))].notnull())
    # One query: the total rides along as a window count (a separate count evaluated the facts twice).
    counted = facts.mutate(_total=facts[ACCOUNT_ID].count().over(ibis.window()))
    ranked = counted.order_by([ibis.desc("_highest"), ibis.desc("_score"), ACCOUNT_ID]).limit(top)
    rows = store.records(ranked)
    n = len(account_milestone_columns(ms.definitions))
    return AccountsResult(ms.as_of, signal, int(rows[0]["_total"]) if rows else 0,
                          tuple(_summary(r, signals, n) for r in rows))


def detail(store: Store, ms: MilestoneState, account_id: str) -> AccountDetailResult:
    """One account: its summary, members (with the user milestones each reached) and signal timeline."""
    members = members_of(store, ms)
    facts = facts_query(store, ms, members)
    rows = store.records(facts.filter(facts[ACCOUNT_ID] == account_id))
    if not rows:
        raise UserError(f"no account {account_id!r} with a signed-up member as of {ms.as_of:%Y-%m-%d %H:%M} UTC.")
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    user_ms = [(k, m) for k, m in enumerate(tracked(ms.definitions)) if m.entity == c.USER and m.id != c.PAID]
    ours = members.filter(members[ACCOUNT_ID] == account_id)
    joined = ours.join(users, ours[USER_ID] == users[c.ENTITY_ID])
    listed = joined.select(USER_ID, ours[c.T0], "domain", **{f"_r{k}": joined[c.reach_of(k)] for k, _ in user_ms})
    people = [AccountMember(r[USER_ID], r[c.T0], r["domain"],
                            tuple(m.id for k, m in user_ms if r[f"_r{k}"] is not None))
              for r in store.records(listed.order_by([c.T0, USER_ID]))]
    n = len(account_milestone_columns(ms.definitions))
    return AccountDetailResult(ms.as_of, _summary(rows[0], ms.definitions.signals or [], n), tuple(people))



def summaries(store: Store, ms: MilestoneState, account_ids: list[str]) -> dict[str, AccountSummary]:
    """The summaries (signals, score, usage) of the named accounts, as `aha accounts` lists them; absent ids are left
    out (an account whose members left the data)."""
    if not account_ids:
        return {}
    facts = facts_query(store, ms, members_of(store, ms))
    rows = store.records(facts.filter(facts[ACCOUNT_ID].isin(sorted(set(account_ids)))))
    n = len(account_milestone_columns(ms.definitions))
    return {r[ACCOUNT_ID]: _summary(r, ms.definitions.signals or [], n) for r in rows}
