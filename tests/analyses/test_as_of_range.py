"""`--as-of` at the ends of the calendar (outside8): `aha rules run --as-of 0001-01-01` ended in an OverflowError
traceback (as of minus the rule's late_after), and `0001-01-01T00:00+14:00` or `9999-12-31T23:00-05:00` overflowed
converting to UTC. No event before 1971 is stored on any path (docs/ingest.md), so an --as-of before it is refused in
one line naming the flag; one past year 9999 in UTC likewise."""

from __future__ import annotations

from datetime import datetime

import pytest

from aha.analyses.as_of import parse_as_of
from aha.errors import UserError
from tests.serving import aha

EARLY = ("--as-of {!r}: before 1971, when no stored event can be (aha refuses older timestamps); give a moment of "
         "your data, e.g. 2026-06-30.")


@pytest.mark.parametrize("value", ["0001-01-01", "1970-12-31T23:59:59Z", "0001-01-01T00:00+14:00", "1900-06-01"])
def test_an_as_of_before_1971_is_refused_naming_the_flag(value: str) -> None:
    with pytest.raises(UserError) as info:
        parse_as_of(value)
    assert str(info.value) == EARLY.format(value)


def test_an_as_of_past_the_calendar_in_utc_is_refused() -> None:
    with pytest.raises(UserError) as info:
        parse_as_of("9999-12-31T23:00-05:00")
    assert str(info.value) == ("--as-of '9999-12-31T23:00-05:00': past the end of the calendar (year 9999) in UTC; "
                               "give a moment of your data, e.g. 2026-06-30.")


@pytest.mark.parametrize("value, expected", [
    ("1971-01-01", datetime(1971, 1, 1, 23, 59, 59, 999999)),
    ("1971-01-01T00:00:00Z", datetime(1971, 1, 1)),
    ("9999-12-31", datetime(9999, 12, 31, 23, 59, 59, 999999)),
])
def test_the_edges_inside_are_kept(value: str, expected: datetime) -> None:
    assert parse_as_of(value) == expected


def test_rules_run_as_of_year_one_is_one_line(tmp_path) -> None:
    (tmp_path / "e.jsonl").write_text('{"user_id": "u", "event": "Signed Up", "timestamp": "2026-01-01T00:00:00Z"}\n')
    (tmp_path / "aha.yaml").write_text("signup: {event: Signed Up}\nmilestones:\n"
                                       "  - {id: connected, event: Connected, within: 3d, level: primary}\n"
                                       "rules:\n  - {id: r, when: {reached: primary}, then: {in_app: hi}}\n")
    assert aha("import", "e.jsonl", cwd=tmp_path).returncode == 0
    done = aha("rules", "run", "--dry-run", "--as-of", "0001-01-01", cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (2, "error: " + EARLY.format("0001-01-01"))


def test_a_day_written_any_iso_way_is_the_end_of_that_day(tmp_path) -> None:
    """`--as-of 2026-03-01` is the end of March 1st; `20260301` (ISO 8601's basic form) and `2026-W09-7` (its week
    date) were its first moment, so the day's own signups were left out, and `2026-W10` meant Monday 00:00. Now every
    way of writing a day alone counts that day, and a week without its day is refused (`aha report`, a DuckDB file)."""
    import json

    lines = [{"user_id": f"u{i}", "event": "Signed Up", "timestamp": f"2026-0{2 + i // 3}-{1 + i % 3:02d}T09:00:00Z"}
             for i in range(6)]  # signups on Feb 1, 2, 3 and Mar 1, 2, 3
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "aha.yaml").write_text("signup: {event: Signed Up}\nmilestones:\n"
                                       "  - {id: connected, event: Connected, within: 3d, level: primary}\n")
    assert aha("import", "e.jsonl", cwd=tmp_path).returncode == 0

    def signed_up(as_of: str) -> object:
        done = aha("report", "--json", "--as-of", as_of, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["overview"]["signed_up_users"]

    assert signed_up("2026-03-01") == 4  # Feb 1–3 and Mar 1 (a Sunday: the last day of ISO week 9)
    assert signed_up("20260301") == signed_up("2026-W09-7") == signed_up("2026W097") == 4
    refused = aha("report", "--as-of", "2026-W10", cwd=tmp_path)
    assert refused.returncode == 2 and "names a week, not a moment" in refused.stderr
