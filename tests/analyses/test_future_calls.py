"""A call dated ahead of now (a sender's clock; both paths store times up to a day ahead) must not close windows
that are still open now (docs/semantics.md, "Time and people"). Before, the default `as_of` was the latest stored
call, so one event dated 20 hours ahead counted a user who signed up 20 hours ago as having missed a 1-day window
(activation "0 of 2 whose window has closed" where, by hand, one window has closed: 0 of 1)."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events
from tests.serving import aha

YAML = """
signup: {event: Signed Up}
paid: {event: Paid, within: 7d}
milestones: [{id: act, name: Act, level: primary, event: Action, within: 1d}]
"""


def journeys(now: datetime) -> list[tuple[str, str, str]]:
    def at(hours: float) -> str:
        return (now + timedelta(hours=hours)).isoformat()
    # u1's window closes in 4 hours (open now); u2's closed 6 hours ago; u3's event is dated 20 hours ahead
    return [("u1", "Signed Up", at(-20)), ("u2", "Signed Up", at(-30)), ("u3", "Ping", at(20))]


def test_a_call_dated_ahead_leaves_open_windows_open(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, journeys(now))
    project = Project(store, parse(YAML))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        headline = project.report().headline
    assert (headline.activation.numerator, headline.activation.denominator) == (0, 1)
    assert now - timedelta(minutes=5) <= headline.as_of <= datetime.now(UTC).replace(tzinfo=None)
    assert any("after now" in str(w.message) for w in caught)
    # asked as of the future moment, it is answered as asked: both windows have closed by then
    later = project.report(as_of=now + timedelta(hours=20)).headline
    assert (later.activation.numerator, later.activation.denominator) == (0, 2)
    store.close()
    (tmp_path / "aha.yaml").write_text(YAML, encoding="utf-8")
    for _ in range(2):  # an answer that depends on the clock is not kept and read back
        done = aha("report", "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        activation = json.loads(done.stdout)["headline"]["activation"]
        assert (activation["numerator"], activation["denominator"]) == (0, 1)
        assert "after now" in done.stderr
