"""The moment an analysis is asked about (`--as-of`, SEMANTICS.md): by default the latest stored event, identity link
or membership; a bare date means the end of that UTC day."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, date, datetime, time, timedelta

from aha.analyses.state import default_as_of
from aha.errors import UserError, UserNote
from aha.store import Store

EARLIEST = datetime(1971, 1, 1)  # no event before it is stored on any path (docs/ingest.md, "Timestamps")
_WEEK = re.compile(r"\d{4}-?W\d{2}")
NOTE_AFTER = timedelta(days=1)  # an --as-of this much later than the latest event is noted


def parse_as_of(value: str | date | datetime | None) -> datetime | None:
    """A bare date means the end of that UTC day, so `--as-of 2026-06-30` includes June 30th's events."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time.max)
    text = value.strip()
    if _WEEK.fullmatch(text):  # ISO 8601's week without its day: Python reads its Monday, at the start of it
        raise UserError(f"--as-of {value!r} names a week, not a moment; give its last day (2026-W10-7, or "
                        "2026-03-08) or a time.")
    try:
        # Any way ISO 8601 writes a day alone is a bare date (2026-06-30, 20260630, 2026-W27-2, 2026W272): the end of
        # it. Before, only the 10-character form was: `20260630` meant its first moment, a day's events left out.
        parsed = datetime.combine(date.fromisoformat(text), time.max)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UserError(f"--as-of {value!r} is not a date or time; write 2026-06-30 or 2026-06-30T12:00:00Z."
                            ) from None
    try:
        moment = _utc(parsed)
    except OverflowError:  # 0001-01-01T00:00+14:00 or 9999-12-31T23:00-05:00: before or after the calendar in UTC
        if parsed.year != 1:
            raise UserError(f"--as-of {value!r}: past the end of the calendar (year 9999) in UTC; give a moment of "
                            "your data, e.g. 2026-06-30.") from None
        moment = datetime.min
    if moment < EARLIEST:  # the rules subtract their late_after from it: year 1 was an OverflowError traceback
        raise UserError(f"--as-of {value!r}: before {EARLIEST.year}, when no stored event can be (aha refuses older "
                        "timestamps); give a moment of your data, e.g. 2026-06-30.")
    return moment


def resolve(store: Store, as_of: str | date | datetime | None) -> datetime:
    """`as_of` parsed, or the latest stored call. A later time is answered as asked (the user may know the data is
    complete up to it), with a note when it is more than a day after the latest event: windows closing in between
    count as missed, which is wrong if the data simply ends earlier, the very mistake the maturity rules exist to
    prevent."""
    parsed = parse_as_of(as_of)
    latest = default_as_of(store)
    if parsed is None:
        if latest is None:
            raise UserError(f"{store.label}: holds no events yet. Load some with `aha import FILE`.")
        return _not_after_now(latest)
    if latest is not None and parsed - latest > NOTE_AFTER:
        shown = latest.isoformat(sep=" ", timespec="seconds")
        warnings.warn(UserNote(
            f"as of {parsed.isoformat(sep=' ', timespec='seconds')} is {_days(parsed - latest)} after the "
            f"latest event ({shown} UTC): users whose windows close in between count as having missed them. "
            f"If the data ends earlier than that, leave --as-of out or give {latest.date().isoformat()}."
        ), stacklevel=3)
    return parsed


def _not_after_now(latest: datetime) -> datetime:
    """The default moment: the latest stored call, but never after now. A call dated ahead (a sender's clock; both
    paths store times up to a day ahead) would otherwise close every window ending before it, counting users whose
    windows are still open now as having missed them. Now is taken to the whole minute, so questions asked within
    one minute share their state and answers."""
    now = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    if latest <= now:
        return latest
    warnings.warn(UserNote(
        f"the latest stored call is dated {latest.isoformat(sep=' ', timespec='seconds')} UTC, after now: as of now "
        f"({now.isoformat(sep=' ', timespec='minutes')} UTC), so windows still open are not counted as missed; "
        "calls dated later count once their time has come (or give --as-of)."), stacklevel=4)
    return now


def _days(gap: timedelta) -> str:
    return "1 day" if gap.days == 1 else f"{gap.days} days"


def _utc(value: datetime) -> datetime:
    """Naive UTC, as the store keeps it; an aware time is converted first."""
    offset = value.utcoffset()
    return (value - offset).replace(tzinfo=None) if offset is not None else value
