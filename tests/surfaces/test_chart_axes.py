"""Chart axes as a reader checks them against the tables: cohort dates where the tables put them, whatever the
time zone of the machine that draws the chart, and counts of users in whole numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime

from aha.analyses.report_results import FunnelGroup, FunnelResult, FunnelStep
from aha.results import Rate

DRAW_ACTIVATION = """
import sys
from datetime import date, datetime
from aha.analyses.report_results import ActivationCohort, ActivationGroup, ActivationResult
from aha.results import Rate
from aha.surfaces.web import charts
period = sys.argv[1]
cohorts = tuple(ActivationCohort(date.fromisoformat(day), 10, (Rate.of(n, 10),))
                for day, n in zip(sys.argv[2:], (4, 6, 5), strict=False))
result = ActivationResult("m1", "First step", period, (1,), datetime(2026, 6, 1), None,
                          (ActivationGroup("all", ActivationCohort(None, 30, (Rate.of(15, 30),)), cohorts),))
sys.stdout.write(charts.svg(charts.activation(result)))
"""


def drawn(tz: str, period: str, *cohorts: str) -> str:
    env = {**os.environ, "TZ": tz}
    done = subprocess.run([sys.executable, "-c", DRAW_ACTIVATION, period, *cohorts], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def labels(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_cohort_points_and_labels_are_their_utc_dates_in_any_time_zone():
    """Weeks of 23 Feb, 2 and 9 Mar 2026 (US clocks change on 8 Mar). Drawn with TZ=America/Los_Angeles, the week of
    2 Mar sat at Sun 1 Mar 16:00 (its tooltip read the 1st) between ticks labelled by day ("Mon 23 … Sat 07") that
    never named a week; the same result now draws the same SVG in every zone, a tick labelled at each cohort."""
    weeks = ("2026-02-23", "2026-03-02", "2026-03-09")
    utc, west, east = (drawn(tz, "week", *weeks) for tz in ("UTC", "America/Los_Angeles", "Asia/Tokyo"))
    assert west == utc and east == utc
    assert [t for t in labels(utc) if t.startswith("2026")] == list(weeks)
    assert "cohort: 2026-03-02" in utc and "cohort: 2026-03-01" not in west
    months = drawn("America/Los_Angeles", "month", "2026-01-01", "2026-02-01", "2026-03-01")
    assert [t for t in labels(months) if t.startswith("2026")] == ["2026-01", "2026-02", "2026-03"]


def test_axes_counting_users_have_whole_number_ticks():
    """A funnel of 7, 4, 1, 1 users (the PNG export of a small project) was drawn on ticks 0.0, 0.5, 1.0, … 7.0:
    half a user. The time-to-value histogram shares the axis (one or two users per bin: 0.0, 0.2, … 1.0)."""
    from aha.surfaces.web import charts

    counts = (("signup", "Signed up", 7, None), ("a", "A", 4, 7), ("b", "B", 1, 4), ("_paid", "Paid", 1, 1))
    steps = tuple(FunnelStep(sid, name, n, 0, None if prev is None else prev - n,
                             None if prev is None else Rate.of(n, prev), Rate.of(n, 7), None, None)
                  for sid, name, n, prev in counts)
    funnel = FunnelResult("ordered", False, datetime(2026, 3, 20), None, (FunnelGroup("(all)", 7, 0, 0, steps),))
    ticks = [t for t in labels(charts.svg(charts.funnel(funnel))) if re.fullmatch(r"[\d.,]+", t)]
    assert ticks == ["0", "1", "2", "3", "4", "5", "6", "7"], ticks
