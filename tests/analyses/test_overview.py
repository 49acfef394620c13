"""Targets are measured over everyone, with or without a breakdown (tests/analyses/conftest.py's population).

Primary m1 (A within 1d): reached after 1h by f1, f3, f5, f6 and after 2h by f2; f4 and f7 never (7 eligible).
Kaplan–Meier: S(1h) = 3/7 ≤ ½, so the median is 1h (the median of reachers would be 1h too, but see m2).
m2 (B within 2d): reached by f1, f2, f5 only: S stays at 4/7 > ½, so no median within the window: not met,
although the median of those who reached it (2h) is under a day. Day-7 activation: 4 of the 6 signups
observed 7 days (f6 signed up on Jan 8th).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from aha.project import Project
from tests.analyses.conftest import AS_OF, DEFINITIONS

TARGETS = DEFINITIONS.model_copy(update={"targets": {
    "activation_rate_day_7": 0.7, "median_time_to_primary": timedelta(minutes=90),
    "median_time_to_m2": timedelta(days=1),
}})


@pytest.fixture(scope="module")
def targeted(project) -> Project:
    return Project(project.store, TARGETS)


def table(report):
    return {t.name: (t.current, t.met, t.basis) for t in report.overview.targets}


def test_targets_hand_counted(targeted):
    got = table(targeted.report(as_of=AS_OF))
    assert got["activation_rate_day_7"][:2] == (pytest.approx(4 / 6), False)
    assert got["activation_rate_day_7"][2] == "Day-7 activation of 6 signups observed 7 days or more"
    assert got["median_time_to_primary"] == (3600.0, True, "Kaplan–Meier median of 7 eligible users "
                                                          "(open windows censored)")
    assert got["median_time_to_m2"] == (None, False, "Kaplan–Meier: fewer than half of 7 eligible users reach it "
                                                     "within its window")
    rate = next(t.rate for t in targeted.report(as_of=AS_OF).overview.targets if t.rate is not None)
    assert (rate.numerator, rate.denominator) == (4, 6) and rate.low < 4 / 6 < rate.high


def test_a_breakdown_does_not_blank_the_targets(targeted):
    """The same overall numbers with --segment plan (groups pro and free partition the users)."""
    assert table(targeted.report(as_of=AS_OF, segment="plan")) == table(targeted.report(as_of=AS_OF))


def test_notebook_frames(targeted):
    """report.frames(): every section as its own frame; state().to_frame(): 7 users × (m1, m2, paid)."""
    report = targeted.report(as_of=AS_OF)
    frames = report.frames()
    assert list(frames) == ["headline", "overview", "funnel", "timing", "activation"]
    assert len(frames["overview"]) == 3 and len(frames["funnel"]) == len(report.funnel.rows())
    assert "<b>aha timing</b>" in report._repr_html_()
    state = targeted.state(as_of=AS_OF).to_frame()
    assert len(state) == 21 and set(state["milestone_id"]) == {"m1", "m2", "_paid"}
    assert (state["status"] == "reached").sum() == 5 + 3 + 2  # m1: f1 f2 f3 f5 f6; m2: f1 f2 f5; paid: f1 f5


def test_a_time_target_longer_than_any_follow_up_is_not_judged(project):
    """m2's window is 2 days, so nobody is followed longer: whether half reach it within 3 days is unknown (not
    'not met'); within 1 day it is known not to be (S stays at 4/7 through the 2 days)."""
    definitions = DEFINITIONS.model_copy(update={"targets": {"median_time_to_m2": timedelta(days=3)}})
    (target,) = Project(project.store, definitions).report(as_of=AS_OF).overview.targets
    assert (target.current, target.met) == (None, None)
    assert target.basis == "not measurable yet: 7 eligible users followed 2d at most, less than the target"
