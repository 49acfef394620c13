"""What a rule's impact is measured on: only users inside the scope of the milestone it aims at, and never the
milestone whose reach fired the rule.

A user the target's `scope` excludes can never reach it, so they are counted apart (`out_of_scope`), in neither rate.

Rule `sso_nudge`: primary (`started`) reached → aims at `sso` (scope persona: admin), holdout 0.5 (sha256: a1, a3,
m5, m6 nudged; a2, m1, m2 held out). Everyone signs up 2026-01-01 00:00 (persona in the signup event) and starts at
01:00 (the moment); the rules run as of 01:30; `sso` is within 7d, so as of 2026-01-20 every window has closed.
  a1  admin   nudged    configures SSO at 02:00   → reached
  a3  admin   nudged    never                     → not reached
  a2  admin   held out  configures SSO at 02:00   → reached
  m5, m6  member  nudged      (outside sso's scope)
  m1, m2  member  held out    (outside sso's scope)
By hand: nudged 1 of 2, held out 1 of 1, −50 points; 2 and 2 outside the scope. Before, the members were counted
as closed windows that failed: nudged 1 of 4 (25%), held out 1 of 3 (33%), −8.3 points, an effect diluted by
everyone the milestone does not apply to (on the sample, +0.2 points where the admins alone give +1.8).
"""

from __future__ import annotations

import dataclasses

import pytest

from aha.definitions import parse
from aha.errors import UserError
from aha.guidance.rules import held_out
from aha.project import Project
from aha.store import open_store
from aha.surfaces.cli.commands.guidance_cmds import render_impact
from tests.journeys import write_events

DEFINITIONS = parse("""
signup: {event: Signed Up}
milestones:
  - {id: started, event: Started, within: 3d, level: primary}
  - {id: sso, event: SSO Configured, within: 7d, scope: {persona: admin}}
rules:
  - id: congrats
    when: {reached: started}
    then: {in_app: "You started: well done."}
    holdout: 0.5
  - id: sso_nudge
    when: {reached: primary}
    aims_at: sso
    then: {in_app: "Configure SSO for your team."}
    holdout: 0.5
""")
ADMINS, MEMBERS = ("a1", "a3", "a2"), ("m5", "m6", "m1", "m2")


def test_users_outside_the_targets_scope_are_in_neither_rate(tmp_path) -> None:
    assert [held_out("sso_nudge", u, 0.5) for u in (*ADMINS, *MEMBERS)] == [False, False, True,
                                                                              False, False, True, True]
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(u, "Signed Up", "2026-01-01T00:00", {"persona": "admin"}) for u in ADMINS]
                 + [(u, "Signed Up", "2026-01-01T00:00", {"persona": "member"}) for u in MEMBERS]
                 + [(u, "Started", "2026-01-01T01:00") for u in (*ADMINS, *MEMBERS)]
                 + [(u, "SSO Configured", "2026-01-01T02:00") for u in ("a1", "a2")])
    project = Project(store, DEFINITIONS)
    run = project.run_rules(as_of="2026-01-01T01:30")
    assert (run.rules[1].nudged, run.rules[1].held_out) == (4, 3)
    result = project.impact("sso_nudge", as_of="2026-01-20")
    nudged, held = result.nudged, result.held_out
    assert (nudged.eligible, nudged.out_of_scope, nudged.still_open) == (4, 2, 0)
    assert (nudged.reached.numerator, nudged.reached.denominator) == (1, 2)
    assert (held.eligible, held.out_of_scope, held.still_open) == (3, 2, 0)
    assert (held.reached.numerator, held.reached.denominator) == (1, 1)
    assert result.difference_points == pytest.approx(-50.0)
    assert [row["out_of_scope"] for row in result.rows()] == [2, 2]
    caption = str(render_impact(result)[1].caption).replace("\n", " ")
    assert "outside sso's scope, in no rate (they cannot reach it): 2 nudged, 2 held out" in caption


def test_a_rule_aiming_at_the_milestone_whose_reach_fires_it_is_not_measured(tmp_path) -> None:
    """`reached: started` without `aims_at` aims at `started`: every firing's moment is its reach time, so both arms
    read 100% (before: "100.0% vs 100.0%, too few users", a number with nothing behind it). The impact says so."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(u, "Signed Up", "2026-01-01T00:00") for u in (*ADMINS, *MEMBERS)]
                 + [(u, "Started", "2026-01-01T01:00") for u in (*ADMINS, *MEMBERS)])
    project = Project(store, DEFINITIONS)
    assert project.run_rules(as_of="2026-01-01T01:30").rules[0].new == 7
    with pytest.raises(UserError, match=r"aims at started itself.*nothing to measure.*Set `aims_at:`"):
        project.impact("congrats", as_of="2026-01-20")


def test_the_cli_writes_the_median_time_as_the_dashboard_does(tmp_path) -> None:
    """The median time to the milestone reads the same in `aha interventions --impact` as on /nudges and in the
    report (aha.results.duration_text): 20 s is "20s" and 25 h 1 min "1d". Before, the CLI rounded to minutes and
    spelt the shortest exact unit: "0w" (zero weeks) and "1501m"."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(u, "Signed Up", "2026-01-01T00:00", {"persona": "admin"}) for u in ADMINS]
                 + [(u, "Started", "2026-01-01T01:00") for u in ADMINS])
    project = Project(store, DEFINITIONS)
    project.run_rules(as_of="2026-01-01T01:30")
    result = project.impact("sso_nudge", as_of="2026-01-20")
    result = dataclasses.replace(result, nudged=dataclasses.replace(result.nudged, median_seconds_to_milestone=20.0),
                                 held_out=dataclasses.replace(result.held_out, median_seconds_to_milestone=90060.0))
    table = render_impact(result)[1]
    assert list(table.columns[-1].cells)[:2] == ["20s", "1d"]
