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
