"""Quiet hours on the night a user's clock changes (outside8). New York falls back on 2026-11-01: 01:00-02:00 EDT
(05:00-06:00 UTC) is followed by 01:00-02:00 EST (06:00-07:00 UTC). With quiet hours 22:00-01:30 a nudge due at
06:10 UTC (01:10 EST, inside them by the wall clock) was deferred to 01:30 EDT, 05:30 UTC: a moment already past,
so the next pass found it due, still quiet, and deferred it to the past again, each pass until 06:30 UTC."""

from __future__ import annotations

from datetime import datetime

import pytest

from aha.definitions.rules import Nudges, QuietHours
from aha.guidance.limits import not_before
from aha.store import open_store
from tests.journeys import write_traits


@pytest.mark.parametrize("now, resume", [
    (datetime(2026, 11, 1, 5, 10), datetime(2026, 11, 1, 5, 30)),  # 01:10 EDT: quiet until 01:30 EDT
    (datetime(2026, 11, 1, 5, 45), None),  # 01:45 EDT: after the window, free
    (datetime(2026, 11, 1, 6, 10), datetime(2026, 11, 1, 6, 30)),  # 01:10 EST, the second time: until 01:30 EST
    (datetime(2026, 11, 1, 3, 0), datetime(2026, 11, 1, 5, 30)),  # 23:00 EDT the evening before: the first 01:30
])
def test_quiet_hours_end_on_the_wall_clock_when_it_falls_back(tmp_path, now: datetime,
                                                               resume: datetime | None) -> None:
    store = open_store(tmp_path / "aha.duckdb")
    write_traits(store, {"ny": {"timezone": "America/New_York"}})
    nudges = Nudges(quiet_hours=QuietHours(start="22:00", end="01:30"))
    assert not_before(store, nudges, "ny", now) == resume
    store.close()


def test_quiet_hours_ending_in_the_skipped_hour_wait_past_it(tmp_path) -> None:
    """2026-03-08 New York springs forward: 02:00 EST becomes 03:00 EDT (07:00 UTC), so 02:30 never shows. Quiet
    22:00-02:30, now 01:30 EST (06:30 UTC): 02:30 read with the offset before the change (UTC-5) is 07:30 UTC, 03:30
    EDT, half an hour after the first free moment (03:00 EDT), never inside the quiet hours."""
    store = open_store(tmp_path / "aha.duckdb")
    write_traits(store, {"ny": {"timezone": "America/New_York"}})
    nudges = Nudges(quiet_hours=QuietHours(start="22:00", end="02:30"))
    assert not_before(store, nudges, "ny", datetime(2026, 3, 8, 6, 30)) == datetime(2026, 3, 8, 7, 30)
    store.close()
