"""Accounts from email domains (`accounts: {from: email_domain}`), hand-counted: the domain rule, the free-mail and
disposable exclusion, a user whose email moved, and the warning when few users have an `email` trait."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import pandas as pd
import pytest

from aha.analyses import checks
from aha.analyses.state import build
from aha.definitions import parse
from aha.engine.email_accounts import email_domain, free_mail_domains
from aha.store import open_store
from tests.journeys import write_events, write_traits

DEFINITIONS = parse("""
signup: {event: Signed Up}
accounts: {from: email_domain}
milestones:
  - {id: integ, event: I, within: 7d, level: primary}
  - {id: msgs, entity: account, event: M, count: 3, within: 1d}
  - {id: team, entity: account, members_reached: {milestone: integ, at_least: 2}, within: 30d}
""")
T0 = datetime(2026, 1, 1)
AS_OF = T0 + timedelta(days=60)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


JOURNEYS = [
    # acme.io: a1 (t0 of the account), a2 (upper-case address), a6 (never signed up: its events still count for the
    # account's event milestone, as with group calls, but it reaches no user milestone).
    ("a1", "Signed Up", at(0), {}, {"account_id": "other-co"}),  # an event's account_id is not read in this mode
    ("a1", "M", at(1), {}, {"account_id": "other-co"}), ("a1", "I", at(2)),
    ("a2", "Signed Up", at(2)), ("a2", "M", at(3)), ("a2", "I", at(5)),
    ("a6", "M", at(2)),
    # no account: gmail.com (free mail), mailinator.com (disposable), no email trait, an address without a domain
    ("a3", "Signed Up", at(0)), ("a3", "M", at(1)), ("a3", "I", at(1)),
    ("a4", "Signed Up", at(0)), ("a4", "I", at(1)),
    ("a5", "Signed Up", at(0)), ("a5", "I", at(1)),
    ("a8", "Signed Up", at(0)), ("a8", "I", at(1)),
    # a7's email moved from oldco.io to newco.io: only the latest trait is known, so all of a7 is newco.io's
    ("a7", "Signed Up", at(0)), ("a7", "I", at(1)),
]
TRAITS = {
    "a1": {"email": "a1@acme.io"}, "a2": {"email": " A2@Acme.IO "}, "a6": {"email": "a6@acme.io"},
    "a3": {"email": "a3@gmail.com"}, "a4": {"email": "a4@mailinator.com"}, "a5": {"plan": "free"},
    "a8": {"email": "a8@localhost"}, "a7": {"email": "a7@newco.io"},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    store = open_store(tmp_path_factory.mktemp("email") / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    return store


def test_accounts_are_company_domains_only(store):
    rows = build(store, DEFINITIONS, AS_OF).state.execute()
    accounts = rows[rows.entity_type == "account"].set_index(["entity_id", "milestone_id"])
    assert sorted({k[0] for k in accounts.index}) == ["acme.io", "newco.io"]
    assert accounts.loc[("acme.io", "msgs"), "t0"] == T0
    # a1 +1h, a6 +2h, a2 +3h: the third message at +3h (a3's gmail message counts for nobody)
    assert accounts.loc[("acme.io", "msgs"), "reach_time"] == T0 + timedelta(hours=3)
    assert accounts.loc[("acme.io", "msgs"), "progress"] == 3
    # integ: a1 +2h, a2 +5h (a6 never signed up)
    assert accounts.loc[("acme.io", "team"), "reach_time"] == T0 + timedelta(hours=5)
    assert (accounts.loc[("newco.io", "team"), "progress"], accounts.loc[("newco.io", "team"), "status"]) == \
        (1, "missed")


@pytest.mark.parametrize(("email", "domain"), [
    pytest.param("ann@acme.io", "acme.io", id="plain"),
    pytest.param(" Ann@ACME.io ", "acme.io", id="case_and_spaces"),
    pytest.param("ann@eng.acme.co.uk", "eng.acme.co.uk", id="subdomain_kept_whole"),
    pytest.param("ann@localhost", None, id="no_dot"),
    pytest.param("a@b@c.io", None, id="two_ats"),
    pytest.param("acme.io", None, id="no_at"),
    pytest.param("ann smith@acme.io", None, id="space_inside"),
    pytest.param(42, None, id="a_number"),
])
def test_email_domain(store, email, domain):
    traits = ibis.literal(f'{{"email": {"42" if email == 42 else repr(email).replace(chr(39), chr(34))}}}', "json")
    got = store.execute(email_domain(traits))
    assert (None if pd.isna(got) else got) == domain  # a null scalar comes back as NaN


def test_the_shipped_list_holds_free_mail_and_disposable_domains():
    listed = free_mail_domains()
    assert {"gmail.com", "outlook.com", "mailinator.com", "yopmail.com"} <= set(listed)
    assert all(d == d.lower().strip() and "." in d and "#" not in d for d in listed)


def test_validate_warns_naming_how_many_users_have_an_email_trait(tmp_path):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(f"u{i}", "Signed Up", at(0)) for i in range(20)])
    write_traits(store, {"u0": {"email": "u0@gmail.com"}, "u1": {"email": "u1@acme.io"}, "u2": {"email": "u2"}})
    found = [f for f in checks.run(DEFINITIONS, "aha.yaml", store).findings if f.path == "accounts.from"]
    assert [f.message for f in found] == [
        "3 of the 20 users seen have an `email` trait (1 of them at a free-mail or disposable domain, 1 without a "
        "domain), so the rule puts 1 user in 1 account. Import users' emails (`aha import users.csv --users`) or "
        "send group calls and use `accounts: {from: group}`."]
    write_traits(store, {f"u{i}": {"email": f"u{i}@acme.io"} for i in range(3, 20)})  # 18 of 20 in acme.io
    assert not [f for f in checks.run(DEFINITIONS, "aha.yaml", store).findings if f.path == "accounts.from"]
