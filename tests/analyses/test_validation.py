"""Milestone validation, hand-counted from tests/analyses/conftest.py, and censoring done right."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from aha.definitions import parse
from aha.project import Project
from aha.results import to_jsonable
from aha.store import open_store
from tests.analyses.conftest import AS_OF
from tests.journeys import write_events


def rows(result, outcome):
    return {r.milestone_id: r for g in result.groups for r in g.rows if r.outcome == outcome}


def test_cells_hand_counted(project):
    result = project.evaluate(as_of=AS_OF)
    conv = rows(result, "conversion")
    # f6 is not eligible (its 3d paid window is open): population f1 f2 f3 f4 f5 f7
    # m1: reached f1 f2 f3 f5, paid f1 f5 → a=2 b=2 c=0 d=2 (f4, f7)
    assert (conv["m1"].a, conv["m1"].b, conv["m1"].c, conv["m1"].d) == (2, 2, 0, 2)
    assert conv["m1"].comparison.lift_code == "infinite" and conv["m1"].comparison.lift is None
    assert conv["m1"].verdict_code == "too_few"
    assert conv["m1"].median_seconds_to_milestone == 3600  # 1h, 2h, 1h, 1h
    # m2: reached f1 f2 f5 (f2 out of order counts here: validation is per milestone, not a funnel)
    assert (conv["m2"].a, conv["m2"].b, conv["m2"].c, conv["m2"].d) == (2, 1, 0, 3)
    # f5 paid at 02:00, before reaching m2 at 03:00: the outcome may have caused the milestone
    assert conv["m2"].outcome_before_milestone == 1
    assert conv["m2"].leakage == ("1 of the 2 converters who reached it paid before reaching the milestone: it may "
                                  "follow payment")  # of a = 2 (f1, f5): the share, not a bare count
    assert conv["m1"].leakage is None
    # nobody has been observed to day 31 by 2026-01-10: no retention row at all, rather than a 0% rate
    assert rows(result, "retention") == {}
    json.dumps(to_jsonable(result, "validation"), allow_nan=False)


def test_verdicts_follow_the_numbers():
    from aha.analyses.validation import verdict
    from aha.stats.contingency import compare

    assert verdict(compare(300, 700, 100, 900), 1000, 1000, "conversion") == (
        "strong: converts 3.00× (2.44–3.70)", "strong")  # Katz: exp(ln 3 ± 1.96·√(1/300 − 1/1000 + 1/100 − 1/1000))
    assert verdict(compare(110, 890, 100, 900), 1000, 1000, "retention")[1] == "not_predictive"
    assert verdict(compare(5, 5, 50, 50), 10, 100, "conversion")[1] == "too_few"
    assert verdict(compare(50, 950, 100, 900), 1000, 1000, "conversion")[0].startswith("negative: converts 0.50×")


def censoring_project(tmp_path) -> Project:
    """40 users a month old: half pay on day 10, all reach M on day 1; 20 users 5 days old: all reach M on day 1,
    and have had no chance to pay yet (everyone who pays does so on day 10)."""
    as_of = datetime(2026, 3, 1)
    old, young = as_of - timedelta(days=40), as_of - timedelta(days=5)
    events = []
    for i in range(40):
        t0 = old + timedelta(hours=i)
        events += [(f"old{i}", "Signed Up", t0.isoformat()), (f"old{i}", "M", (t0 + timedelta(days=1)).isoformat())]
        if i % 2 == 0:
            events.append((f"old{i}", "Paid", (t0 + timedelta(days=10)).isoformat()))
    for i in range(20):
        t0 = young + timedelta(hours=i)
        events += [(f"young{i}", "Signed Up", t0.isoformat()), (f"young{i}", "M", (t0 + timedelta(days=1)).isoformat())]
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, events)
    definitions = parse("""
signup: {event: Signed Up}
paid: {event: Paid, within: 30d}
milestones:
  - {id: m, event: M, within: 3d, level: primary}
""")
    return Project(store, definitions)


def test_young_cohorts_do_not_fake_a_drop(tmp_path):
    project = censoring_project(tmp_path)
    as_of = datetime(2026, 3, 1)
    # Ignoring censoring, 20 paid of 60 reachers: 33%, as if conversion had dropped from 50% to 0% for the young.
    (conv,) = rows(project.evaluate(as_of=as_of, outcomes=("conversion",)), "conversion").values()
    assert (conv.a, conv.b, conv.population) == (20, 20, 40)  # only users whose 30d horizon has closed
    assert conv.comparison.rate_reached == pytest.approx(0.5)
    paid_step = project.funnel(as_of=as_of).groups[0].steps[-1]
    assert (paid_step.entities, paid_step.conversion_overall.denominator) == (20, 40)
    everyone = project.funnel(as_of=as_of, include_immature=True).groups[0].steps[-1]
    assert (everyone.entities, everyone.in_progress) == (20, 20)  # the young are waiting, not failing
    activation = project.activation(period="month", days=(1, 7), as_of=as_of)
    cohorts = {c.cohort.month: c.rates for c in activation.groups[0].cohorts}
    assert (cohorts[1][1].numerator, cohorts[1][1].denominator) == (40, 40)  # old: Day 7 observed, all activated
    assert (cohorts[2][0].numerator, cohorts[2][0].denominator) == (20, 20)  # young: Day 1 observed
    assert cohorts[2][1] is None  # young: nobody observed 7 days yet, so no Day-7 rate rather than 0%


def test_no_signed_up_users_gives_empty_results_not_errors(tmp_path):
    """A log where nobody signed up: every analysis answers with empty populations."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("u1", "M", "2026-01-01T10:00:00"), ("u2", "Paid", "2026-01-02T10:00:00")])
    project = Project(store, parse("""
signup: {event: Signed Up}
paid: {event: Paid, within: 30d}
milestones:
  - {id: m, event: M, within: 3d, level: primary}
"""))
    assert project.report().overview.signed_up_users == 0
    assert project.report().overview.users_without_signup == 2
    assert all(g.rows == () for g in project.evaluate().groups)
    for outcome in ("retention", "conversion"):
        found = project.discover(outcome=outcome)
        assert (found.population, found.candidates) == (0, ())
    assert project.score().shortlist == ()
