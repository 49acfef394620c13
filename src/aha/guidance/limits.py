"""The per-user cap and quiet hours (`nudges:` in aha.yaml) decide when an email or webhook nudge may go out.

A nudge that may not go now is deferred, not dropped, and the deferral is not a failed attempt:
- cap: when the user already had `cap` nudges delivered in the trailing `per`, it waits until the oldest of them
  leaves that window; a person's ids count together (an id recorded before an identify or alias merged it);
- quiet hours: inside [start, end) of the user's local day (time zone from a trait, else the default), it waits until
  `end`. A window that spans midnight (22:00–08:00) is read as such.
In-app messages are not limited: the product shows them when the user is there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aha.definitions.rules import Nudges, QuietHours
from aha.guidance.rules import DELIVERED, FIRINGS
from aha.store import Store, one_row


def not_before(store: Store, nudges: Nudges, user_id: str, now: datetime,
               person: Sequence[str] = (), owner: str | None = None) -> datetime | None:
    """When the user's next email/webhook nudge may go out, if later than `now` (naive UTC); None: now is fine.
    `person`: every id of the same person (`person_ids`), whose deliveries the cap counts together; `owner`: the user
    an identify or alias call merged `user_id` into since it was recorded, whose traits (time zone) come first."""
    later = [t for t in (_cap(store, nudges, [user_id, *person], now),
                         _quiet(store, nudges.quiet_hours, [user_id, *([owner] if owner else [])], now)) if t]
    return max(later) if later else None


def person_ids(links: dict[str, str]) -> dict[str, list[str]]:
    """Each id → every id of its person (the ids linked to one user, and that user), from `rules.people`' links."""
    by_user: dict[str, list[str]] = {}
    for linked, user in links.items():
        by_user.setdefault(user, [user]).append(linked)
    return {i: ids for ids in by_user.values() for i in ids}


def _cap(store: Store, nudges: Nudges, ids: list[str], now: datetime) -> datetime | None:
    if nudges.cap is None:
        return None
    rows = store.raw.execute(
        f"""SELECT delivered_at FROM {FIRINGS} WHERE list_contains(?, user_id) AND status = '{DELIVERED}'
            AND channel IN ('webhook', 'email') AND unit = 'user' AND delivered_at > ? ORDER BY delivered_at""",
        [sorted(set(ids)), now - nudges.per]).fetchall()
    if len(rows) < nudges.cap:
        return None
    return rows[len(rows) - nudges.cap][0] + nudges.per


def _quiet(store: Store, quiet: QuietHours | None, ids: list[str], now: datetime) -> datetime | None:
    if quiet is None:
        return None
    zone = _zone(store, quiet, ids)
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    at = local.time()
    inside = start <= at < end if start < end else (at >= start or at < end)
    if not inside:
        return None
    day = local.date() if (start < end or at < end) else local.date() + timedelta(days=1)
    # The end's first occurrence after now: on the night the clock falls back a wall time comes twice (fold 0, then
    # fold 1), and inside the repeated hour the first has passed. A time the clock skips (spring forward) reads with
    # the offset before the change, the later instant, so the nudge waits past the skipped hour, never into quiet.
    for fold in (0, 1):
        resume = datetime.combine(day, end, tzinfo=zone).replace(fold=fold).astimezone(ZoneInfo("UTC"))
        if resume.replace(tzinfo=None) > now:
            break
    return resume.replace(tzinfo=None)


def user_traits(store: Store, ids: Sequence[str]) -> dict[str, object]:
    """The traits of a person's ids, a later id's winning: (recorded id, the user it was merged into since)."""
    traits: dict[str, object] = {}
    for user_id in ids:
        row = one_row(store.raw, "SELECT traits FROM users WHERE user_id = ?", [user_id])
        found = json.loads(row[0]) if row and row[0] else {}
        traits |= found if isinstance(found, dict) else {}
    return traits


def _zone(store: Store, quiet: QuietHours, ids: list[str]) -> ZoneInfo:
    name = user_traits(store, ids).get(quiet.timezone_trait)
    if isinstance(name, str) and 0 < len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            pass  # an unknown zone in the data: the default, rather than no nudge at all
    return ZoneInfo(quiet.default_timezone)
