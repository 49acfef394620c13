"""The signup date range (`--from/--to`): hand-counted from tests/analyses/conftest.py.

Signups: f1..f5 on 01-01 00:00, f7 on 01-02 00:00 (exactly at midnight: the edge), f6 on 01-08 12:00 (windows open).
"""

from __future__ import annotations

import pytest

from aha.errors import UserError
from tests.analyses.conftest import AS_OF


def steps(result):
    (group,) = result.groups
    return [s.entities for s in group.steps]


def test_from_includes_its_day_and_to_excludes_its_own(project):
    # f7 signs up at 2026-01-02 00:00: in from=01-02, not in to=01-02.
    assert steps(project.funnel(as_of=AS_OF, signups_from="2026-01-02")) == [1, 0, 0, 0]  # f7 (f6 immature)
    # f1..f5: m1 by f1, f2, f3, f5; m2 in order by f1, f5; paid after m2 by f1 (f5 paid before B)
    assert steps(project.funnel(as_of=AS_OF, signups_to="2026-01-02")) == [5, 4, 2, 1]
    everyone = project.funnel(as_of=AS_OF, include_immature=True, signups_from="2026-01-02", signups_to="2026-01-09")
    assert steps(everyone) == [2, 1, 0, 0]  # f7 and f6; f6 reached m1 and is still open at m2
    assert everyone.groups[0].steps[2].in_progress == 1


def test_every_analysis_counts_the_same_users(project):
    report = project.report(as_of=AS_OF, signups_to="2026-01-02")
    assert report.headline.users == 5 and report.overview.signed_up_users == 5
    (group,) = report.activation.groups
    assert group.total.signups == 5
    # all five observed a full day; m1 within Day 1 by f1, f2, f3, f5
    assert (group.total.rates[0].numerator, group.total.rates[0].denominator) == (4, 5)
    # the long state too (paths read it): f1, f5 m1 → m2; f2 m2 → m1; f3 m1; f4 none (f7, also none, is left out)
    (paths,) = project.paths(as_of=AS_OF, signups_to="2026-01-02").groups
    assert {p.path: p.users for p in paths.paths} == {"m1 → m2": 2, "m2 → m1": 1, "m1": 1, "(none)": 1}
    timing = project.timing(as_of=AS_OF, signups_from="2026-01-02")
    m1 = {m.milestone_id: m for m in timing.groups[0].milestones}["m1"]
    assert (m1.reached, m1.eligible) == (1, 2)  # f6 at 1h; f7's A came after its 1d window


def test_a_week_cut_by_the_range_is_marked(project):
    # week cohorts start on Monday 2025-12-29 (f1..f5, f7) and 2026-01-05 (f6)
    whole = project.activation(as_of=AS_OF, period="week")
    cut = project.activation(as_of=AS_OF, period="week", signups_from="2026-01-02")
    assert [(c.cohort.isoformat(), c.signups, c.clipped) for c in whole.groups[0].cohorts] == [
        ("2025-12-29", 6, False), ("2026-01-05", 1, False)]
    assert [(c.cohort.isoformat(), c.signups, c.clipped) for c in cut.groups[0].cohorts] == [
        ("2025-12-29", 1, True), ("2026-01-05", 1, False)]


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-01-02", "2026-01-02", "the range is empty"),
    ("2026-01-03", "2026-01-02", "the range is empty"),
    ("Jan 2", None, "--from 'Jan 2' is not a day"),
    (None, "2026-01-02T10:00", "--to '2026-01-02T10:00' is not a day"),
])
def test_bad_ranges_are_one_message(project, start, end, message):
    with pytest.raises(UserError, match=message):
        project.funnel(as_of=AS_OF, signups_from=start, signups_to=end)


def test_a_range_never_leaks_into_an_unrestricted_answer(project):
    """Retention's cached outcome table is computed for the users asked about: a ranged question first must not
    leave its table to the next, unranged one (the dashboard asks both; found by the browser tests)."""
    from aha.results import to_jsonable

    project.store.bump_data_version()  # nothing cached yet: the ranged question is the first
    ranged = project.retention(as_of=AS_OF, signups_to="2026-01-02")
    after = project.retention(as_of=AS_OF)
    project.store.bump_data_version()  # the truth: computed with nothing cached
    truth = project.retention(as_of=AS_OF)
    assert to_jsonable(after) == to_jsonable(truth)
    assert to_jsonable(ranged) != to_jsonable(truth)  # the range did leave users out


def test_the_signup_range_line_names_the_flags_the_days_and_an_empty_range():
    """What `aha report` and every dashboard header print: `--to` is excluded, so the last day shown is the one
    before it; an open end says so; a range nobody signed up in says nobody did."""
    from datetime import date, datetime

    from aha.analyses.signups import SignupsUsed

    everyone = SignupsUsed(None, None, 1, datetime(2026, 1, 1, 0, 6), datetime(2026, 1, 1, 9, 0))
    assert everyone.text() == "all signups: first 2026-01-01, last 2026-01-01 (1 user)"
    until = SignupsUsed(None, date(2026, 3, 1), 1234, datetime(2026, 1, 1), datetime(2026, 2, 28, 23, 59))
    assert until.text() == ("signups up to 2026-02-28 (--to 2026-03-01): first 2026-01-01, last 2026-02-28 "
                            "(1,234 users)")
    empty = SignupsUsed(date(2027, 1, 1), None, 0, None, None)
    assert empty.text() == "signups from 2027-01-01 (--from 2027-01-01): nobody signed up (0 users)"
