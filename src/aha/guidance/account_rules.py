"""Sales assist: rules triggered by an account entering a signal (`when: {signal: team}`; docs/semantics.md, "Rules
and holdouts": signal rules).

The unit is the account. The moment is the account's entry time into the signal (engine.signals), so each account
fires once per rule, and a rule names one signal: once per (rule, account, signal), kept by the outbox's key across
restarts. `scope` reads the account's traits (group-call traits, the latest known), as a signal's `trait` does. The
holdout is the hash of rule and account id (guidance.rules.held_out). The payload carries the account's usage summary
(`aha accounts`: members, active members in 7 and 30 days, events in 30 days, milestones reached, score, signals) and
the signal with its entry time; an email goes to the account trait `email.to` (default `owner_email`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import ibis

from aha.analyses.accounts import AccountSummary, account_milestone_columns, members_of
from aha.analyses.state import MilestoneState
from aha.definitions.rules import Rule
from aha.engine import columns as c
from aha.engine.matchers import scope as scope_filter
from aha.engine.signals import ACCOUNT_ID, entered_of, signals_query
from aha.guidance import email
from aha.guidance.rules import ACCOUNT_CONVERSION
from aha.results import to_jsonable
from aha.store import Store, one_row, schema


def eligible(store: Store, ms: MilestoneState, rule: Rule) -> list[tuple[str, datetime]]:
    """(account id, entry time) of every account that entered the rule's signal by the state's as_of, in scope."""
    signals = ms.definitions.signals or []
    i = next(k for k, s in enumerate(signals) if s.id == rule.when.signal)
    accounts = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.ACCOUNT)
    entered = signals_query(accounts, members_of(store, ms), store.table(schema.ACCOUNTS), [signals[i]],
                            account_milestone_columns(ms.definitions))
    at = entered[entered_of(0)]
    rows = entered.filter(at.notnull() & (at <= ibis.literal(ms.as_of)))
    if rule.scope:
        traits = store.table(schema.ACCOUNTS)
        rows = rows.left_join(traits, rows[ACCOUNT_ID] == traits.account_id)
        rows = rows.filter(scope_filter(rows.traits, rows.traits, rule.scope))
    table = store.to_pyarrow(rows.select(_id=rows[ACCOUNT_ID], _at=rows[entered_of(0)]))
    return list(zip(table["_id"].to_pylist(), table["_at"].to_pylist(), strict=True))


def payload(ms: MilestoneState, rule: Rule, account_id: str, eligible_at: datetime, msg_id: str,
            summary: AccountSummary | None) -> dict[str, Any]:
    """What the receiver gets: the rule, the signal and when the account entered it, and the account's usage summary
    as of now (None when the account left the data)."""
    signal = next(s for s in ms.definitions.signals or [] if s.id == rule.when.signal)
    return {"type": "aha.rule.fired", "id": msg_id,
            "data": {"rule_id": rule.id, "unit": "account", "account_id": account_id,
                     "milestone_id": ACCOUNT_CONVERSION, "eligible_at": eligible_at.isoformat() + "Z",
                     "holdout": rule.holdout,
                     "signal": {"id": signal.id, "name": signal.label, "entered_at": eligible_at.isoformat() + "Z"},
                     "summary": to_jsonable(summary) if summary is not None else None}}


def email_context(store: Store, rule: Rule, account_id: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(address, template context) of a signal rule's email: to the account trait `email.to` (default owner_email).
    A missing address raises ValueError naming the trait and how to set it (a failed attempt, listed by
    `aha interventions`)."""
    spec = rule.then.email
    assert spec is not None
    trait = spec.address_trait("account")
    row = one_row(store.raw, f"SELECT traits FROM {schema.ACCOUNTS} WHERE account_id = ?", [account_id])
    traits = json.loads(row[0]) if row and row[0] else {}
    to = traits.get(trait) if isinstance(traits, dict) else None
    if not isinstance(to, str) or "@" not in to:
        raise ValueError(f"no email address: account {account_id!r} has no {trait!r} trait holding one (send it in "
                         f"a group call's traits, or name another account trait with `email.to`)")
    to = email.one_address(to, f"account {account_id!r}'s {trait!r} trait")
    return to, {"account": traits, "account_id": account_id, "summary": data["summary"], "signal": data["signal"],
                "rule": rule.id}
