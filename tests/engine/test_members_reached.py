"""`members_reached` account milestones, hand-counted (docs/semantics.md, "Accounts"): members counted together, by
distinct email domain, inside a sliding span, through a scoped user milestone, and the window edges."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from aha.analyses.state import build
from aha.definitions import parse
from aha.store import open_store
from tests.journeys import write_events, write_memberships, write_traits

DEFINITIONS = parse("""
signup: {event: Signed Up}
milestones:
  - {id: integ, event: I, within: 7d, level: primary}
  - {id: admin_i, event: I, scope: {persona: admin}, within: 7d}
  - {id: team, entity: account, members_reached: {milestone: integ, at_least: 2}, within: 30d}
  - {id: spread, entity: account, members_reached: {milestone: integ, at_least: 2, distinct: email_domain}, within: 30d}
  - {id: burst, entity: account, members_reached: {milestone: integ, at_least: 2, within: 1d}, within: 30d}
  - {id: admins, entity: account, members_reached: {milestone: admin_i}, within: 30d}
""")
T0 = datetime(2026, 1, 1)
AS_OF = T0 + timedelta(days=60)  # every window closed


def at(days: float = 0, hours: float = 0) -> str:
    return (T0 + timedelta(days=days, hours=hours)).isoformat()


def acct(account: str) -> dict[str, str]:
    return {"account_id": account}


JOURNEYS = [
    # acme: integ reached by a1 at +1h (acme.io), g1 at +2d (no email; in acme by a group call), a3 at +2d1h
    # (contractor.com), a2 at +3d (ACME.io, the same domain); x1 never signed up (not a member anyone counts).
    ("a1", "Signed Up", at(), {}, acct("acme")), ("a1", "I", at(hours=1), {}, acct("acme")),
    ("a2", "Signed Up", at(1), {}, acct("acme")), ("a2", "I", at(3), {}, acct("acme")),
    ("a3", "Signed Up", at(2), {}, acct("acme")), ("a3", "I", at(2, 1), {}, acct("acme")),
    ("x1", "I", at(0, 2), {}, acct("acme")),
    # beta: b1 (t0 = the account's) reaches at +1h; b2 signs up at +29d and reaches at exactly +30d = the account's
    # t0 + W: outside the account's window, though inside b2's own.
    ("b1", "Signed Up", at(), {}, acct("beta")), ("b1", "I", at(hours=1), {}, acct("beta")),
    ("b2", "Signed Up", at(29), {}, acct("beta")), ("b2", "I", at(30), {}, acct("beta")),
    # gamma: g1 reaches at +2d, g2 at +3d: exactly 1d apart, not within 1d. Neither has a domain
    # (g1 no email, g2 "g2@gamma" has no dot).
    ("g1", "Signed Up", at(), {}, acct("gamma")), ("g1", "I", at(2), {}, acct("gamma")),
    ("g2", "Signed Up", at(), {}, acct("gamma")), ("g2", "I", at(3), {}, acct("gamma")),
    # solo: nobody reached integ.
    ("s1", "Signed Up", at(), {}, acct("solo")),
]
TRAITS = {
    "a1": {"email": "a1@acme.io", "persona": "dev"},          # reaches admin_i? out of scope
    "a2": {"email": " A2@ACME.io ", "persona": "admin"},      # the only admin of acme: admins at +3d
    "a3": {"email": "a3@contractor.com"},
    "g2": {"email": "g2@gamma"},
    "b1": {"email": "b1@beta.dev"}, "b2": {"email": "b2@other.dev"},
}
MEMBERSHIPS = [("g1", "acme", at(10))]  # a group call after g1's reach: membership applies retroactively

# (account, milestone): (reach time, progress), by hand from the comments above.
EXPECTED = {
    ("acme", "team"): (at(2), 4),                 # 2nd of +1h, +2d, +2d1h, +3d
    ("acme", "spread"): (at(2, 1), 2),            # acme.io +1h, contractor.com +2d1h (g1 has no domain)
    ("acme", "burst"): (at(2, 1), 2),             # g1 +2d and a3 +2d1h are within 1d; (+2d, +3d] holds 2 at most
    ("acme", "admins"): (at(3), 1),               # a1 did I at +1h but is no admin
    ("beta", "team"): (None, 1),                  # b2's reach at exactly t0 + 30d is outside
    ("beta", "spread"): (None, 1),
    ("beta", "burst"): (None, 1),
    ("beta", "admins"): (None, 0),
    ("gamma", "team"): (at(3), 2),
    ("gamma", "spread"): (None, 0),               # no member has a domain
    ("gamma", "burst"): (None, 1),                # +2d is not inside (+2d, +3d]
    ("gamma", "admins"): (None, 0),
    ("solo", "team"): (None, 0),
    ("solo", "spread"): (None, 0),
    ("solo", "burst"): (None, 0),
    ("solo", "admins"): (None, 0),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory):
    store = open_store(tmp_path_factory.mktemp("members") / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    write_memberships(store, MEMBERSHIPS)
    frame = build(store, DEFINITIONS, AS_OF).state.execute()
    return frame[frame.entity_type == "account"].set_index(["entity_id", "milestone_id"])


@pytest.mark.parametrize(("key", "expected"), list(EXPECTED.items()), ids=["-".join(k) for k in EXPECTED])
def test_members_reached_reach_time_and_progress(rows, key, expected):
    reach, progress = expected
    row = rows.loc[key]
    got = None if row.reach_time is None or str(row.reach_time) == "NaT" else row.reach_time.to_pydatetime()
    assert (got, row.progress) == (None if reach is None else datetime.fromisoformat(reach), progress)
    assert row.status == ("reached" if reach else "missed")


def test_account_t0_is_the_earliest_members(rows):
    assert rows.loc[("beta", "team"), "t0"] == T0  # b2 signed up 29 days later
    assert rows.loc[("acme", "team"), "t0"] == T0


def test_the_account_checklist_names_what_members_reached_counts(tmp_path):
    """`aha state --account` reads the same state: progress is members (or domains) of `at_least`."""
    from aha.project import Project

    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    write_memberships(store, MEMBERSHIPS)
    items = {i.id: i for i in Project(store, DEFINITIONS).account_state("acme", as_of=AS_OF).items}
    assert (items["team"].progress, items["team"].threshold, items["team"].measure) == \
        (4.0, 2.0, "members reaching integ")
    assert (items["spread"].progress, items["spread"].measure) == (2.0, "email domains reaching integ")
