"""Funnel counts, drop-off, maturity and step times, hand-counted from tests/analyses/conftest.py."""

from __future__ import annotations

import itertools
import json

import pytest

from aha.results import to_jsonable
from tests.analyses.conftest import AS_OF

CASES = [
    # mature users only (f6 is left out): f1..f5, f7
    pytest.param("ordered", False, [6, 4, 2, 1], [0, 0, 0, 0], id="ordered_mature"),
    # unordered: f2 (B before A) makes m2; f5 (paid before B) makes paid
    pytest.param("unordered", False, [6, 4, 3, 2], [0, 0, 0, 0], id="unordered_mature"),
    # everyone: f6 reached m1 and waits at m2 (window open until 01-10 12:00)
    pytest.param("ordered", True, [7, 5, 2, 1], [0, 0, 1, 0], id="ordered_everyone"),
]


@pytest.mark.parametrize(("order", "everyone", "counts", "in_progress"), CASES)
def test_step_counts(project, order, everyone, counts, in_progress):
    result = project.funnel(order=order, include_immature=everyone, as_of=AS_OF)
    (group,) = result.groups
    assert [s.id for s in group.steps] == ["signup", "m1", "m2", "_paid"]
    assert [s.entities for s in group.steps] == counts
    assert [s.in_progress for s in group.steps] == in_progress
    assert [s.drop_off for s in group.steps] == [None] + [a - b for a, b in itertools.pairwise(counts)]
    assert group.immature == (0 if everyone else 1)


def test_rates_carry_denominators_and_intervals(project):
    (group,) = project.funnel(as_of=AS_OF).groups
    m2 = group.steps[2]
    assert (m2.conversion_from_previous.numerator, m2.conversion_from_previous.denominator) == (2, 4)
    assert (m2.conversion_overall.numerator, m2.conversion_overall.denominator) == (2, 6)
    # statsmodels 0.15 proportion_confint(2, 4, method="wilson") = (0.15003, 0.84997); abs=1e-5
    assert m2.conversion_from_previous.low == pytest.approx(0.15003, abs=1e-5)
    assert m2.conversion_from_previous.high == pytest.approx(0.84997, abs=1e-5)


def test_median_time_between_steps(project):
    (group,) = project.funnel(as_of=AS_OF).groups
    # m1 from signup: 1h (f1, f3, f5), 2h (f2) → median of [1, 1, 1, 2]h = 1h
    # m2 from m1: f1 1h, f5 2h → 1.5h;  paid from m2: f1 22h
    assert [s.median_seconds_from_previous for s in group.steps[1:]] == [3600, 5400, 22 * 3600]


def test_segment_breakdown_uses_traits_then_signup_properties(project):
    result = project.funnel(segment="plan", as_of=AS_OF)
    by = {g.segment: [s.entities for s in g.steps] for g in result.groups}
    # pro (traits): f1, f2, f3; free (signup property): f4, f5, f7 (f6 immature)
    assert by == {"pro": [3, 3, 1, 1], "free": [3, 1, 1, 0]}


def test_young_cohort_is_not_counted_as_drop_off_by_default(project):
    everyone = project.funnel(include_immature=True, as_of=AS_OF).groups[0]
    mature = project.funnel(as_of=AS_OF).groups[0]
    assert everyone.steps[2].in_progress == 1
    assert mature.steps[1].entities == 4 and mature.signups == 7


def test_json_is_valid_and_carries_kind(project):
    payload = to_jsonable(project.funnel(as_of=AS_OF), "funnel")
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text)["kind"] == "funnel"
    assert payload["groups"][0]["steps"][1]["conversion_overall"]["numerator"] == 4
