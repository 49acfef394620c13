"""Signals, hand-counted (docs/semantics.md, "Accounts"): entry times, the listing by highest signal and PQL score,
one account's timeline, and `aha evaluate --signals` (open horizons left out, payment before the signal flagged)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aha.definitions import parse
from aha.errors import UserError
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_traits
from tests.serving import aha

YAML = """
signup: {event: Signed Up}
paid: {event: Paid, within: 10d}
milestones:
  - {id: integ, event: I, within: 7d, level: primary}
  - {id: team_m, entity: account, members_reached: {milestone: integ, at_least: 2}, within: 30d}
signals:
  - {id: team, milestones: [team_m]}
  - {id: big, members: 3, domains: 2}
  - {id: paying_plan, name: Enterprise plan team, milestones: [team_m], trait: {plan: enterprise}}
"""
T0 = datetime(2026, 1, 1)
AS_OF = T0 + timedelta(days=30)


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def ev(user: str, account: str, event: str, when: datetime) -> tuple[str, str, str, dict[str, str], dict[str, str]]:
    return (user, event, when.isoformat(), {}, {"account_id": account})


JOURNEYS = [
    # acme: team_m at a2's reach +2d → team +2d (and paying_plan: plan=enterprise); 3rd member and 2nd domain
    # (contractor.com) at +4d → big +4d; a3 pays at +5d.
    ev("a1", "acme", "Signed Up", at()), ev("a1", "acme", "I", at(hours=1)),
    ev("a2", "acme", "Signed Up", at(1)), ev("a2", "acme", "I", at(2)),
    ev("a3", "acme", "Signed Up", at(4)), ev("a3", "acme", "Paid", at(5)),
    # beta: team +5h; domains beta.dev and gmail.com by +3h, the 3rd member only at +12d → big +12d (outside the
    # 10d horizon); b1 paid at +1h, before entering team.
    ev("b1", "beta", "Signed Up", at()), ev("b1", "beta", "I", at(hours=1)), ev("b1", "beta", "Paid", at(hours=1)),
    ev("b2", "beta", "Signed Up", at(hours=3)), ev("b2", "beta", "I", at(hours=5)),
    ev("b3", "beta", "Signed Up", at(12)),
    # gamma: no signal, no payment.
    ev("g1", "gamma", "Signed Up", at()),
    # delta: team +1h, never pays.
    ev("d1", "delta", "Signed Up", at()), ev("d1", "delta", "I", at(hours=1)),
    ev("d2", "delta", "Signed Up", at()), ev("d2", "delta", "I", at(hours=1)),
    # epsilon: signs up at +25d: its horizon is open at as_of (left out of the evaluation), active in the last 7 days.
    ev("e1", "epsilon", "Signed Up", at(25)),
]
TRAITS = {"a1": {"email": "a1@acme.io"}, "a2": {"email": "a2@acme.io"}, "a3": {"email": "a3@contractor.com"},
          "b1": {"email": "b1@beta.dev"}, "b2": {"email": "b2@gmail.com"}, "b3": {"email": "b3@beta.dev"}}


def fill(store) -> None:
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    store.raw.execute("INSERT INTO accounts VALUES ('acme', '{\"plan\": \"enterprise\"}', TIMESTAMP '2026-01-01')")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    store = open_store(tmp_path_factory.mktemp("signals") / "aha.duckdb")
    fill(store)
    return Project(store, parse(YAML))


def test_signal_entry_times(project):
    listed = project.accounts(as_of=AS_OF).accounts
    entries = {a.account_id: {s.id: s.entered_at for s in a.signals} for a in listed}
    assert entries == {
        "acme": {"team": at(2), "paying_plan": at(2), "big": at(4)},
        "beta": {"team": at(hours=5), "big": at(12)},
        "delta": {"team": at(hours=1)},
        "gamma": {},
        "epsilon": {},
    }


def test_listing_by_highest_signal_then_score(project):
    result = project.accounts(as_of=AS_OF)
    assert [(a.account_id, a.highest_signal) for a in result.accounts] == [
        ("acme", "paying_plan"), ("beta", "big"), ("delta", "team"), ("epsilon", None), ("gamma", None)]
    acme, *_, epsilon, gamma = result.accounts
    # acme: 50 × 3/3 + 30 × 1/1 + 20 × 3 of 3 members active in (as_of − 30d, as_of] = 100
    assert (acme.score, acme.members, acme.active_members_30d, acme.active_members_7d) == (100.0, 3, 3, 0)
    # epsilon: nothing held or reached; its one member signed up at +25d: active in 7 and 30 days → 20 × 1/1
    assert (epsilon.score, epsilon.active_members_7d, epsilon.events_30d) == (20.0, 1, 1)
    # gamma: g1's only event is at T0, exactly as_of − 30d: outside (as_of − 30d, as_of]
    assert (gamma.score, gamma.active_members_30d) == (0.0, 0)
    only = project.accounts(as_of=AS_OF, signal="big")
    assert (only.total, [a.account_id for a in only.accounts]) == (2, ["acme", "beta"])
    assert project.accounts(as_of=AS_OF, top=1).total == 5


def test_one_account_in_detail(project):
    d = project.account("acme", as_of=AS_OF)
    assert [(s.id, s.name, s.entered_at) for s in d.summary.signals] == [
        ("team", "team", at(2)), ("paying_plan", "Enterprise plan team", at(2)), ("big", "big", at(4))]
    assert [(m.user_id, m.email_domain, m.milestones_reached) for m in d.members] == [
        ("a1", "acme.io", ("integ",)), ("a2", "acme.io", ("integ",)), ("a3", "contractor.com", ())]
    with pytest.raises(UserError, match="no account 'nope'"):
        project.account("nope", as_of=AS_OF)


def test_evaluate_signals(project):
    rows = {r.signal_id: r for r in project.evaluate_signals(as_of=AS_OF).signals}
    # population: acme, beta, gamma, delta (epsilon's horizon is open)
    # team: with acme (paid), beta (paid, before entering), delta; without gamma
    team = rows["team"]
    assert (team.population, team.a, team.b, team.c, team.d) == (4, 2, 1, 0, 1)
    assert (team.median_seconds_to_paid, team.paid_before_signal) == (3 * 86400.0, 1)
    # big: only acme entered inside its horizon (beta at +12d); beta's payment is "without"
    big = rows["big"]
    assert (big.a, big.b, big.c, big.d, big.median_seconds_to_paid) == (1, 0, 1, 2, 86400.0)
    assert (rows["paying_plan"].a, rows["paying_plan"].c) == (1, 1)


def test_console_script(tmp_path: Path):
    store = open_store(tmp_path / "aha.duckdb")
    fill(store)
    store.close()
    (tmp_path / "aha.yaml").write_text(YAML, encoding="utf-8")
    done = aha("accounts", "--json", "--as-of", AS_OF.isoformat(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [a["account_id"] for a in json.loads(done.stdout)["accounts"]][:2] == ["acme", "beta"]
    done = aha("evaluate", "--signals", "--csv", "--as-of", AS_OF.isoformat(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("team,4,2,1,0,1,")
    done = aha("accounts", "--signal", "tem", cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (
        2, "error: --signal 'tem': no such signal; known: team, big, paying_plan.")


def test_signals_without_an_account_milestone_still_find_the_accounts(tmp_path: Path):
    """`signals:` alone (no `entity: account` milestone): the state built no account, so `aha accounts` listed
    none and every signal held for nobody. Same journeys, only the `big` signal (3 members, 2 domains): acme at +4d
    (a3 from contractor.com), beta at +12d (b3), by hand as in test_signal_entry_times."""
    store = open_store(tmp_path / "aha.duckdb")
    fill(store)
    alone = Project(store, parse("""
signup: {event: Signed Up}
paid: {event: Paid, within: 10d}
milestones:
  - {id: integ, event: I, within: 7d, level: primary}
signals:
  - {id: big, members: 3, domains: 2}
"""))
    listed = alone.accounts(as_of=AS_OF).accounts
    entries = {a.account_id: {s.id: s.entered_at for s in a.signals} for a in listed}
    assert entries == {"acme": {"big": at(4)}, "beta": {"big": at(12)}, "gamma": {}, "delta": {}, "epsilon": {}}
    assert {a.account_id: a.members for a in listed} == {"acme": 3, "beta": 3, "gamma": 1, "delta": 2, "epsilon": 1}
    # two more gamma members (one from another domain): the refreshed state equals a file that had them all along
    more = [ev("g2", "gamma", "Signed Up", at(3)), ev("g3", "gamma", "Signed Up", at(6))]
    write_events(store, more)
    write_traits(store, {"g1": {"email": "g1@gamma.io"}, "g3": {"email": "g3@elsewhere.org"}})
    refreshed = {a.account_id: ({s.id: s.entered_at for s in a.signals}, a.members)
                 for a in alone.accounts(as_of=AS_OF).accounts}
    assert refreshed["gamma"] == ({"big": at(6)}, 3)  # g3 is the third member and the second domain
    whole = open_store(tmp_path / "whole.duckdb")
    fill(whole)
    write_events(whole, more)
    write_traits(whole, {"g1": {"email": "g1@gamma.io"}, "g3": {"email": "g3@elsewhere.org"}})
    rebuilt = Project(whole, alone.definitions).accounts(as_of=AS_OF).accounts
    assert {a.account_id: ({s.id: s.entered_at for s in a.signals}, a.members) for a in rebuilt} == refreshed
