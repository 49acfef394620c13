"""Retention outcome and curves, hand-counted: the bracket, eligibility, and days observed."""

from __future__ import annotations

from datetime import datetime

import pytest

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events

AS_OF = datetime(2026, 1, 10)
D = "2026-01-0"
DEFINITIONS = parse("""
signup: {event: Signed Up}
retention: {day: 2, bracket: 1d}
milestones:
  - {id: m, event: A, within: 1d, level: primary}
""")
JOURNEYS = [
    ("r1", "Signed Up", D + "1T00:00"), ("r1", "A", D + "1T01:00"), ("r1", "X", D + "3T05:00"),  # day 2: retained
    ("r2", "Signed Up", D + "1T00:00"), ("r2", "A", D + "1T01:00"), ("r2", "X", D + "4T00:00"),  # day 3: not
    ("r3", "Signed Up", D + "1T00:00"), ("r3", "X", D + "3T01:00"),                              # retained, no m
    ("r4", "Signed Up", D + "1T00:00"),                                                         # nothing
    ("r5", "Signed Up", D + "8T12:00"), ("r5", "A", D + "8T13:00"),  # young: day-2 bracket ends after as_of
    ("r1", "Signed Up", D + "5T00:00"),  # a second signup is not activity and does not move t0
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("retention") / "aha.duckdb")
    write_events(store, JOURNEYS)
    return Project(store, DEFINITIONS)


def test_retention_validation_cells(project):
    result = project.evaluate(as_of=AS_OF, outcomes=("retention",))
    (row,) = result.groups[0].rows
    assert (row.a, row.b, row.c, row.d) == (1, 1, 1, 1)  # r5 is not eligible yet
    assert result.outcomes == ("retention: active on day 2 after signup (bracket 24h)",)


def test_curves_count_only_observed_days(project):
    (m,) = project.retention(as_of=AS_OF).groups[0].milestones
    reached = {p.day: (p.rate.numerator, p.rate.denominator) for p in m.reached}
    missed = {p.day: (p.rate.numerator, p.rate.denominator) for p in m.not_reached}
    # reached: r1 r2 observed through day 8; r5 only through day 0
    assert reached[0] == (3, 3) and reached[2] == (1, 2) and reached[3] == (1, 2) and reached[8] == (0, 2)
    assert 9 not in reached
    assert missed[0] == (0, 2) and missed[2] == (1, 2)


def test_the_rule_gap_is_evaluates(project):
    """The gap is measured by the definitions' rule (day 2, bracket 1d), on evaluate's cells: (a, b, c, d) =
    (1, 1, 1, 1), so 1/2 vs 1/2 and a gap of 0 points; the old code looked for day 30 (nobody observed)."""
    (m,) = project.retention(as_of=AS_OF).groups[0].milestones
    (row,) = project.evaluate(as_of=AS_OF, outcomes=("retention",)).groups[0].rows
    assert (m.rule_reached.numerator, m.rule_reached.denominator) == (row.a, row.a + row.b) == (1, 2)
    assert (m.rule_not_reached.numerator, m.rule_not_reached.denominator) == (row.c, row.c + row.d) == (1, 2)
    assert m.gap_points == pytest.approx(100 * row.comparison.difference) == 0.0


def test_curves_leave_out_reachers_whose_window_is_still_open(tmp_path):
    """w = A within 7d. o1 (Jan 1) reached it and its window closed on Jan 8: counted. y1 (Jan 5) reached it too, but
    its window is open until Jan 12, like y2's who has not reached it (yet): both are left out, or the reached curve
    would hold young users the not-reached one cannot hold."""
    definitions = parse("""
signup: {event: Signed Up}
retention: {day: 2, bracket: 1d}
milestones:
  - {id: w, event: A, within: 7d, level: primary}
""")
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        ("o1", "Signed Up", D + "1T00:00"), ("o1", "A", D + "1T01:00"), ("o1", "X", D + "2T01:00"),
        ("o2", "Signed Up", D + "1T00:00"),
        ("y1", "Signed Up", D + "5T00:00"), ("y1", "A", D + "5T01:00"), ("y1", "X", D + "6T01:00"),
        ("y2", "Signed Up", D + "5T00:00"),
    ])
    (w,) = Project(store, definitions).retention(as_of=AS_OF).groups[0].milestones
    assert {p.day: (p.rate.numerator, p.rate.denominator) for p in w.reached}[1] == (1, 1)  # o1 alone
    assert {p.day: (p.rate.numerator, p.rate.denominator) for p in w.not_reached}[1] == (0, 1)  # o2 alone


RULE = parse("""
signup: {event: Signed Up}
retention: {day: 3, bracket: 2d}
milestones:
  - {id: m, event: A, within: 1d, level: primary, name: Did A}
""")
RULE_AS_OF = datetime(2026, 1, 20)
RULE_JOURNEYS = [  # everyone signs up on Jan 1 00:00; the rule's bracket is [Jan 4, Jan 6)
    ("u1", "Signed Up", D + "1T00:00"), ("u1", "A", D + "1T01:00"), ("u1", "X", D + "5T12:00"),  # day 4: retained
    ("u2", "Signed Up", D + "1T00:00"), ("u2", "A", D + "1T01:00"), ("u2", "X", D + "4T06:00"),  # day 3: retained
    ("u2", "X", D + "9T06:00"),                                                                  # and day 8 (week 1)
    ("u3", "Signed Up", D + "1T00:00"), ("u3", "A", D + "1T01:00"),                              # not retained
    ("u4", "Signed Up", D + "1T00:00"), ("u4", "X", D + "5T01:00"),                              # no A; retained
    ("u5", "Signed Up", D + "1T00:00"),                                                         # nothing
    ("u6", "Signed Up", D + "1T00:00"), ("u6", "X", D + "7T00:00"),                              # day 6: not
]  # by hand: rule 2/3 reached vs 1/3 not, +33.3 points; day 3 alone: 1/3 vs 0/3; everyone observed to day 18


@pytest.fixture(scope="module")
def rule_project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("rule") / "aha.duckdb")
    write_events(store, RULE_JOURNEYS)
    return Project(store, RULE)


def points(curve) -> dict[int, tuple[int, int]]:
    return {p.period: (p.rate.numerator, p.rate.denominator) for p in curve}


def test_the_configured_rule_not_day_30(rule_project):
    """`retention: {day: 3, bracket: 2d}`: retained = active in [t0 + 3d, t0 + 5d), which u1 is (day 4) though not
    active on day 3 itself."""
    result = rule_project.retention(as_of=RULE_AS_OF)
    (m,) = result.groups[0].milestones
    assert (result.rule, result.rule_day) == ("active on day 3 after signup (bracket 48h)", 3)
    assert (m.rule_reached.numerator, m.rule_reached.denominator) == (2, 3)
    assert (m.rule_not_reached.numerator, m.rule_not_reached.denominator) == (1, 3)
    assert m.gap_points == pytest.approx(100 / 3)
    assert m.gap_low is not None and m.gap_high is not None and m.gap_low < 100 / 3 < m.gap_high
    (row,) = rule_project.evaluate(as_of=RULE_AS_OF, outcomes=("retention",)).groups[0].rows
    assert m.gap_points == pytest.approx(100 * row.comparison.difference)
    assert points(m.reached)[3] == (1, 3) and points(m.not_reached)[3] == (0, 3)  # the daily curve, day 3
    assert max(points(m.reached)) == 18  # observed through day 18 (Jan 19), not 19


def test_weekly_buckets(rule_project):
    """Week w = days [7w, 7w + 7): week 0 holds every reacher (A on day 0) and u4, u6 (days 4, 6); week 1 only u2
    (day 8); week 2 (days 14–20) is not observed whole by Jan 20, so it is no point."""
    result = rule_project.retention(as_of=RULE_AS_OF, bucket="week")
    (m,) = result.groups[0].milestones
    assert result.bucket == "week"
    assert points(m.reached) == {0: (3, 3), 1: (1, 3)}
    assert points(m.not_reached) == {0: (2, 3), 1: (0, 3)}
    assert [p.day for p in m.reached] == [0, 7]
    assert m.gap_points == pytest.approx(100 / 3)  # the rule does not depend on the bucket


def test_cli_prints_the_rule_and_weeks(rule_project, tmp_path):
    """Through the console script: the rule's day and users, the weekly columns; no "day 30" anywhere."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    rule_project.store.close()
    db = Path(rule_project.store.path)
    (tmp_path / "aha.yaml").write_text(RULE_YAML)
    aha_bin = shutil.which("aha", path=str(Path(sys.executable).parent))
    assert aha_bin
    done = subprocess.run([aha_bin, "retention", "--db", str(db), "-c", "aha.yaml", "--as-of", "2026-01-20T00:00:00",
                           "--bucket", "week"], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "retained (rule, day 3)" in done.stdout and "66.7% of 3 / 33.3% of 3" in done.stdout
    assert "+33.3 pts" in done.stdout and "week 1" in done.stdout and "day 30" not in done.stdout
    bad = subprocess.run([aha_bin, "retention", "--db", str(db), "-c", "aha.yaml", "--bucket", "month"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and "--bucket" in bad.stderr and "Traceback" not in bad.stderr


RULE_YAML = """signup: {event: Signed Up}
retention: {day: 3, bracket: 2d}
milestones:
  - {id: m, event: A, within: 1d, level: primary, name: Did A}
"""
