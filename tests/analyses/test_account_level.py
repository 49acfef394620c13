"""`--level account`, hand-counted (docs/semantics.md, "Accounts"): an account signs up with its earliest member,
converts when any member pays inside the horizon from the account's signup, and every censoring rule is kept."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aha.definitions import parse
from aha.errors import UserError
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events
from tests.serving import aha

YAML = """
signup: {event: Signed Up}
paid: {event: Paid, within: 10d}
milestones:
  - {id: integ, event: I, within: 7d, level: primary}
  - {id: team, entity: account, members_reached: {milestone: integ, at_least: 2}, within: 5d}
"""
T0 = datetime(2026, 1, 1)
AS_OF = T0 + timedelta(days=30)


def at(days: float = 0, hours: float = 0) -> str:
    return (T0 + timedelta(days=days, hours=hours)).isoformat()


def member(user: str, account: str, event: str, when: str) -> tuple[str, str, str, dict[str, str], dict[str, str]]:
    return (user, event, when, {}, {"account_id": account})


JOURNEYS = [
    # acme: a1 signs up first (the account's t0), a2 three days later; team at a2's reach +3d1h; a2 pays at +9d,
    # inside the account's 10d horizon → converted.
    member("a1", "acme", "Signed Up", at()), member("a1", "acme", "I", at(hours=1)),
    member("a2", "acme", "Signed Up", at(3)), member("a2", "acme", "I", at(3, 1)), member("a2", "acme", "Paid", at(9)),
    # beta: team at +1d1h; b2 pays at +10d1h: inside b2's own horizon (b2 signed up at +1d), outside the account's
    # → not converted as an account.
    member("b1", "beta", "Signed Up", at()), member("b1", "beta", "I", at(hours=1)),
    member("b2", "beta", "Signed Up", at(1)), member("b2", "beta", "I", at(1, 1)),
    member("b2", "beta", "Paid", at(10, 1)),
    # gamma: one member, pays at +2d → converted without the team milestone.
    member("g1", "gamma", "Signed Up", at()), member("g1", "gamma", "Paid", at(2)),
    # delta: signs up at +25d: its team window closes exactly at as_of (closed), its horizon is still open.
    member("d1", "delta", "Signed Up", at(25)),
    # epsilon: paid an hour before signing up: no conversion.
    member("e1", "epsilon", "Paid", at(hours=-1)), member("e1", "epsilon", "Signed Up", at()),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    store = open_store(tmp_path_factory.mktemp("level") / "aha.duckdb")
    write_events(store, JOURNEYS)
    return Project(store, parse(YAML))


def test_the_account_funnel_counts_mature_accounts(project):
    steps = project.report(as_of=AS_OF, level="account").funnel.groups[0].steps
    # by hand: mature (team and horizon closed) = acme, beta, gamma, epsilon; team: acme, beta; paid after it: acme
    assert [(s.id, s.entities) for s in steps] == [("signup", 4), ("team", 2), ("_paid", 1)]


def test_the_account_headline_keeps_each_denominator(project):
    h = project.report(as_of=AS_OF, level="account").headline
    assert h.users == 5
    assert (h.activation.numerator, h.activation.denominator) == (2, 5)  # delta's team window is closed: missed
    assert (h.conversion.numerator, h.conversion.denominator) == (2, 4)  # acme, gamma of 4 with a closed horizon


def test_account_milestones_against_account_conversion(project):
    (row,) = project.evaluate(as_of=AS_OF, level="account").groups[0].rows
    # team reached: acme (paid), beta (paid too late); not reached: gamma (paid), epsilon (paid before signup)
    assert (row.milestone_id, row.a, row.b, row.c, row.d) == ("team", 1, 1, 1, 1)


def test_account_timing_measures_from_the_earliest_member(project):
    timing = project.report(as_of=AS_OF, level="account").timing
    (team,) = [m for m in timing.groups[0].milestones if m.milestone_id == "team"]
    # acme at +3d1h from a1's signup (not a2's: that would be 1h), beta at +1d1h; median of the two: +2d1h
    assert (team.eligible, team.reached, team.median_seconds) == (5, 2, 2 * 86400 + 3600)


def test_account_timing_says_each_milestone_is_an_accounts(project):
    """With accounts as the unit the timing JSON said `"entity": "user"` for the account milestone and for paid
    (the state is relabelled to run the user analyses): each row counts accounts."""
    timing = project.report(as_of=AS_OF, level="account").timing
    assert {(m.milestone_id, m.entity) for m in timing.groups[0].milestones} == {("team", "account"),
                                                                                  ("_paid", "account")}


def test_the_time_to_value_histogram_names_what_it_counts(project):
    """The histogram's count axis said "users" for an account milestone drawn in a user report (and its tooltip
    counted "users"); with accounts as the unit it says accounts. Drawn together, users' and accounts' milestones
    are two rows of small multiples, each axis titled with its own unit (before: one axis, "users or accounts (as
    titled)", and "(accounts)" in the account milestones' titles)."""
    from aha.surfaces.web import charts

    def texts(result) -> list[str]:
        return re.findall(r"<text[^>]*>([^<]*)</text>", charts.svg(charts.histogram(result)))

    def axes(chart) -> list[tuple[str, list[str]]]:
        """(count axis title, milestones drawn) of each row of small multiples in the Vega-Lite spec."""
        spec = chart.to_dict()
        return [(part["spec"]["encoding"]["y"]["title"], sorted({r["milestone"] for r in part["data"]["values"]}))
                for part in spec.get("vconcat", [spec])]

    both = project.report(as_of=AS_OF).timing
    assert axes(charts.histogram(both)) == [("users", ["Paid", "integ"]), ("accounts", ["team"])]
    shown = texts(both)
    assert "users" in shown and "accounts" in shown and "team" in shown and "integ" in shown
    assert not [t for t in shown if "as titled" in t or "(accounts)" in t]
    alone = project.report(as_of=AS_OF, level="account").timing
    assert [title for title, _ in axes(charts.histogram(alone))] == ["accounts"]
    assert "users" not in texts(alone)
    users_only = project.report(as_of=AS_OF).timing
    users_only = replace(users_only, groups=tuple(
        replace(g, milestones=tuple(m for m in g.milestones if m.entity == "user")) for g in users_only.groups))
    assert axes(charts.histogram(users_only)) == [("users", ["Paid", "integ"])]
    assert "accounts" not in " ".join(texts(users_only))


def test_mistakes_are_one_message(project, tmp_path):
    with pytest.raises(UserError, match="--segment reads user traits"):
        project.report(as_of=AS_OF, level="account", segment="plan")
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    lonely = Project(store, parse("signup: {event: Signed Up}\nmilestones: [{id: a, event: I, within: 1d, "
                                  "level: primary}]"))
    with pytest.raises(UserError) as info:
        lonely.report(as_of=AS_OF, level="account")
    assert str(info.value) == ("--level account: the definitions have no account milestone; add one with `entity: "
                               "account` (e.g. `members_reached: {milestone: <user milestone>, at_least: 2}`), see "
                               "docs/definitions.md.")


def test_the_console_script_evaluates_accounts(tmp_path: Path):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    store.close()
    (tmp_path / "aha.yaml").write_text(YAML, encoding="utf-8")
    done = aha("evaluate", "--level", "account", "--json", "--as-of", AS_OF.isoformat(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["groups"][0]["rows"]
    assert [row[k] for k in ("milestone_id", "a", "b", "c", "d")] == ["team", 1, 1, 1, 1]
    assert json.loads(done.stdout)["unit"] == "account"


def test_account_tables_and_outputs_count_accounts(tmp_path: Path):
    """The terminal tables, --json, --html, --png and evaluate --by-month with accounts as the unit: each says
    accounts, and the per-user views (drop-off paths, retention) say why they are not drawn."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    store.close()
    (tmp_path / "aha.yaml").write_text(YAML, encoding="utf-8")
    as_of = ("--as-of", AS_OF.isoformat())
    done = aha("report", "--level", "account", *as_of, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "signed-up accounts" in done.stdout and "accounts whose windows have closed" in done.stdout
    assert "users" not in done.stdout.replace("user milestone", "")
    done = aha("report", "--level", "account", "--json", *as_of, cwd=tmp_path)
    report = json.loads(done.stdout)
    assert (report["unit"], report["headline"]["users"], report["overview"]["signed_up_users"]) == ("account", 5, 5)
    done = aha("report", "--level", "account", "--html", "r.html", "--png", "charts", *as_of, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'signed-up accounts</div><div class="value" data-metric="overview.signed_up_users">5<' in page
    assert "Not drawn with accounts as the unit" in page and "users without a signup event" not in page
    assert "<th>step</th><th class=\"num\">accounts</th>" in page
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == [
        "activation.png", "funnel.png", "kaplan-meier.png", "time-to-value.png"]
    assert "drop-off paths and retention are per user" in done.stdout
    done = aha("evaluate", "--level", "account", "--by-month", "--json", *as_of, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    (trend,) = result["groups"][0]["trends"]
    # acme, beta, gamma, epsilon signed up in 2026-01 with closed horizons (delta's is open): a/b/c/d as above
    assert (result["unit"], trend["milestone_id"]) == ("account", "team")
    assert [(m["month"], m["a"], m["b"], m["c"], m["d"]) for m in trend["months"]] == [("2026-01-01", 1, 1, 1, 1)]
    done = aha("evaluate", "--level", "account", "--by-month", *as_of, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "accounts" in done.stdout and " users " not in done.stdout
