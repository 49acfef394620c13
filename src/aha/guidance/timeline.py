"""One user's events in time order, with their milestone reaches and window ends marked (the dashboard's `/users/{id}`).

The events are the user's as every analysis sees them: up to `as_of`, with identity resolution (an anonymous visit an
identify linked to the user, a user id an alias merged into theirs). Bounded: the first `limit` events by time, and
how many there are in all, so a user with a million events costs one page. The marks come from the user's checklist
(the same state `aha report` counts): signup, each milestone reached, each window's end, paid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from aha.analyses.state import event_source
from aha.engine import columns as c
from aha.guidance.checklist import ChecklistResult
from aha.results import ResultMixin
from aha.store import Store, schema

LIMIT = 500  # events listed at most
PROPERTIES_SHOWN = 200  # characters of an event's properties shown
MAX_LINKED_IDS = 10_000  # anonymous ids and merged user ids looked up per user at most


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """An event, or a mark (`kind` not "event"): "signup", "reached", "window_end", "paid"."""

    at: datetime
    seconds_since_signup: float
    kind: str
    label: str  # the event's name, or the milestone's name
    detail: str | None  # the event's properties (JSON, cut at PROPERTIES_SHOWN characters); a mark's status


@dataclass(frozen=True, slots=True)
class TimelineResult(ResultMixin):
    kind: ClassVar[str] = "timeline"
    user_id: str
    as_of: datetime
    signed_up_at: datetime
    events: int  # the user's events up to as_of, in all
    shown: int  # of them listed (the first by time)
    entries: tuple[TimelineEntry, ...]  # events and marks by time; at one moment signup, events, then the rest

    @property
    def truncated(self) -> bool:
        return self.shown < self.events

    def rows(self) -> list[dict[str, Any]]:
        return [{"user_id": self.user_id, "at": e.at, "seconds_since_signup": e.seconds_since_signup, "kind": e.kind,
                 "label": e.label, "detail": e.detail} for e in self.entries]


def timeline(store: Store, as_of: datetime, checklist: ChecklistResult, limit: int = LIMIT) -> TimelineResult:
    user = checklist.entity_id
    source = event_source(store, as_of)
    links = source.identity_links()
    linked = [r["_id"] for r in store.records(links.filter(links.linked_user == user).select(_id=links.anonymous_id)
                                              .limit(MAX_LINKED_IDS))]
    # The user's events as identity resolution assigns them (engine.identity): their own id, an id an alias merged
    # into theirs, or an anonymous id linked to theirs on an event without a user id. The user has a checklist, so
    # their id is nobody else's alias: nothing else to resolve. A parameterised query: no expression to compile.
    result = store.raw.execute(
        f"""SELECT timestamp, event, CAST(properties AS VARCHAR), count(*) OVER () FROM {schema.EVENTS}
            WHERE timestamp <= ? AND (user_id = ? OR list_contains(?::VARCHAR[], user_id)
                                      OR (user_id IS NULL AND list_contains(?::VARCHAR[], anonymous_id)))
            ORDER BY timestamp, event, message_id LIMIT ?""", [as_of, user, linked, linked, limit])
    rows = [{"timestamp": r[0], "event": r[1], "properties": r[2], "total": r[3]} for r in result.fetchall()]
    total = int(rows[0]["total"]) if rows else 0
    t0 = checklist.signed_up_at
    entries = [_entry(r["timestamp"], t0, "event", r["event"], _cut(r["properties"])) for r in rows]
    marks = [_entry(t0, t0, "signup", "signed up", None)]
    for item in checklist.items:
        if item.reached_at is not None:
            marks.append(_entry(item.reached_at, t0, "reached", item.name, item.level))
        if item.status in (c.MISSED, c.IN_PROGRESS):  # a reached milestone's window end tells nothing
            marks.append(_entry(item.deadline, t0, "window_end", item.name, item.status))
    if checklist.paid_at is not None:
        marks.append(_entry(checklist.paid_at, t0, "paid", "paid", None))
    if len(rows) < total:  # marks past the last event listed would sit beside events not shown
        marks = [m for m in marks if not rows or m.at <= rows[-1]["timestamp"]]
    # At one moment: signup, then the events, then what they reached (the event that reached a milestone first).
    place = {"signup": 0, "event": 1}
    ordered = sorted([*marks, *entries], key=lambda e: (e.at, place.get(e.kind, 2)))
    return TimelineResult(user, checklist.as_of, t0, total, len(rows), tuple(ordered))


def _entry(at: datetime, t0: datetime, kind: str, label: str, detail: str | None) -> TimelineEntry:
    return TimelineEntry(at, (at - t0).total_seconds(), kind, label, detail)


def _cut(properties: str | None) -> str | None:
    if properties is None or properties in ("{}", "null"):
        return None
    compact = json.dumps(json.loads(properties), ensure_ascii=False, separators=(", ", ": "))
    return compact if len(compact) <= PROPERTIES_SHOWN else compact[: PROPERTIES_SHOWN - 1] + "…"


__all__ = ["LIMIT", "TimelineEntry", "TimelineResult", "timeline"]
