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


def funnel_of(*groups: tuple[str, tuple[int, ...]]) -> FunnelResult:
    names = ("Signed up", "A", "B", "Paid")
    built = []
    for segment, counts in groups:
        steps = tuple(FunnelStep(f"s{i}", names[i], n, 0, None if i == 0 else counts[i - 1] - n,
                                 None if i == 0 else Rate.of(n, counts[i - 1]), Rate.of(n, counts[0]), None, None)
                      for i, n in enumerate(counts))
        built.append(FunnelGroup(segment, counts[0], 0, 0, steps))
    return FunnelResult("ordered", False, datetime(2026, 3, 20), None, tuple(built))


def ticks(svg: str) -> list[str]:
    return [t for t in labels(svg) if re.fullmatch(r"[\d.,]+", t)]


def test_axes_counting_users_have_whole_number_ticks():
    """A funnel of 7, 4, 1, 1 users (the PNG export of a small project) was drawn on ticks 0.0, 0.5, 1.0, … 7.0:
    half a user; with whole-number labels alone, a funnel of 2 accounts read "0 1 1 2 2" (0.5 and 1.5 rounded)."""
    from aha.surfaces.web import charts

    assert ticks(charts.svg(charts.funnel(funnel_of(("(all)", (7, 4, 1, 1)))))) == [str(n) for n in range(8)]
    assert ticks(charts.svg(charts.funnel(funnel_of(("(all)", (2, 1, 1, 1)))))) == ["0", "1", "2"]
    assert ticks(charts.svg(charts.funnel(funnel_of(("(all)", (1, 0, 0, 0)))))) == ["0", "1"]
    many = ticks(charts.svg(charts.funnel(funnel_of(("(all)", (40, 12, 3, 1))))))
    assert many[0] == "0" and many[-1] == "40" and len(many) <= 11 and all("." not in t for t in many)
    by_segment = ticks(charts.svg(charts.funnel(funnel_of(("free", (3, 2, 1, 0)), ("pro", (2, 2, 1, 1))))))
    assert by_segment == ["0", "1", "2", "3", "0", "1", "2", "3"]  # one shared axis, drawn under each facet


def test_each_histogram_facet_has_whole_number_ticks_of_its_own(tmp_path):
    """The time-to-value small multiples have independent axes: 3 users in one bin of Connected, 1 in each bin of
    Invited; each facet gets its own whole numbers (0 1 2 3, then 0 1), from the real report of a hand-made log."""
    import json

    from aha.analyses.report_results import TimingResult
    from aha.results import from_jsonable
    from aha.surfaces.web import charts
    from tests.serving import aha

    (tmp_path / "aha.yaml").write_text("signup: {event: signup}\nmilestones:\n"
                                       "  - {id: c, name: Connected, level: primary, event: connect, within: 7d}\n"
                                       "  - {id: i, name: Invited, level: secondary, event: invite, within: 7d}\n",
                                       encoding="utf-8")
    events = [(u, "signup", "00") for u in "abcd"] + [(u, "connect", "05") for u in "abc"] + \
        [("a", "invite", "00:30"), ("b", "invite", "06")]
    lines = [{"user_id": u, "event": e, "timestamp": f"2026-03-01T{t if ':' in t else t + ':00'}:00Z"}
             for u, e, t in events] + [{"user_id": "d", "event": "x", "timestamp": "2026-04-01T00:00:00Z"}]
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    assert aha("import", "e.jsonl", cwd=tmp_path).returncode == 0
    timing = from_jsonable(TimingResult, json.loads(aha("report", "--json", cwd=tmp_path).stdout)["timing"])
    assert ticks(charts.svg(charts.histogram(timing))) == ["0", "1", "2", "3", "0", "1"]


def test_account_level_charts_count_accounts(tmp_path):
    """`aha report --level account --png`: the funnel's axis read "users" under bars that count accounts."""
    import json

    from tests.serving import aha

    (tmp_path / "aha.yaml").write_text(
        "signup: {event: signup}\nmilestones:\n"
        "  - {id: c, level: primary, event: connect, within: 7d}\n"
        "  - {id: team, level: secondary, entity: account, members_reached: {milestone: c, at_least: 2}, within: 7d}\n",
        encoding="utf-8")
    calls = [{"type": "track", "event": "signup", "userId": u, "timestamp": "2026-03-01T00:00:00Z"} for u in "ab"]
    calls += [{"type": "track", "event": "connect", "userId": u, "timestamp": "2026-03-01T01:00:00Z"} for u in "ab"]
    calls += [{"type": "group", "userId": u, "groupId": "acme", "timestamp": "2026-03-01T00:00:00Z"} for u in "ab"]
    calls.append({"type": "track", "event": "x", "userId": "a", "timestamp": "2026-04-01T00:00:00Z"})
    (tmp_path / "e.jsonl").write_text("".join(json.dumps({**c, "messageId": f"m{i}"}) + "\n"
                                              for i, c in enumerate(calls)), encoding="utf-8")
    assert aha("import", "e.jsonl", cwd=tmp_path).returncode == 0
    done = aha("report", "--level", "account", "--html", "r.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    funnel_svg = page[page.index('aria-label="funnel"'):]
    funnel_svg = funnel_svg[:funnel_svg.index("</svg>")]
    assert "accounts" in labels(funnel_svg) and "users" not in labels(funnel_svg)
