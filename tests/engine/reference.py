"""What should the engine answer? SEMANTICS.md read literally, in slow per-user Python, as an oracle for small logs.

Nothing here is clever on purpose: one loop per user, events sorted by (timestamp, message id), every rule written as
the sentence in SEMANTICS.md says it. It lives in tests/ only (STYLE.md, "Tests": sqlglot's `test_executor.py`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from aha.definitions import Definitions, Milestone
from aha.definitions.models import Condition, Scalar

PAID = "_paid"
REACHED, IN_PROGRESS, MISSED = "reached", "in_progress", "missed"


@dataclass(frozen=True)
class Event:
    message_id: str
    event: str
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Link:
    anonymous_id: str
    user_id: str
    timestamp: datetime


@dataclass(frozen=True)
class Cell:
    """One (user, milestone) of the state: what `aha_state` should hold."""

    t0: datetime
    window_end: datetime
    reach_time: datetime | None
    progress: float
    status: str


@dataclass(frozen=True)
class Tracked:
    """A milestone as the reference sees it; the paid event is a count-1 milestone over the conversion horizon."""

    id: str
    events: tuple[str, ...]
    where: Mapping[str, Condition]
    kind: str  # count | distinct | sum | all_of
    k: float
    prop: str | None
    within: timedelta
    parts: tuple[str, ...]


def tracked(definitions: Definitions) -> list[Tracked]:
    out = [_tracked(m) for m in definitions.milestones]
    if definitions.paid is not None:
        out.append(Tracked(PAID, tuple(definitions.paid.events), {}, "count", 1, None, definitions.paid.within, ()))
    return out


def _tracked(m: Milestone) -> Tracked:
    if m.all_of is not None:
        return Tracked(m.id, (), {}, "all_of", len(m.all_of), None, m.within, tuple(m.all_of))
    prop = m.distinct.property if m.distinct else m.sum.property if m.sum else None
    return Tracked(m.id, tuple(m.events), dict(m.where), m.threshold_kind, m.threshold_value, prop, m.within, ())


# --- properties ------------------------------------------------------------------------------------------------


def as_number(value: Any) -> float | None:
    """50 and "50" are the same number; anything else (missing, "abc", a list) is no number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _equals(value: Any, expected: Scalar) -> bool:
    if isinstance(expected, bool):
        return as_text(value) == ("true" if expected else "false")
    if isinstance(expected, int | float):
        return as_number(value) == float(expected)
    return as_text(value) == expected


def holds(props: Mapping[str, Any], key: str, cond: Condition) -> bool:
    """Every operator given must hold; a missing property fails all of them but `ne`/`not_in`."""
    value = props.get(key)
    present = key in props and value is not None
    checks: list[bool] = []
    if cond.eq is not None:
        checks.append(present and _equals(value, cond.eq))
    if cond.ne is not None:
        checks.append(not (present and _equals(value, cond.ne)))
    if cond.in_ is not None:
        checks.append(present and any(_equals(value, v) for v in cond.in_))
    if cond.not_in is not None:
        checks.append(not (present and any(_equals(value, v) for v in cond.not_in)))
    n = as_number(value)
    for bound, ok in ((cond.gt, lambda b: n is not None and n > b), (cond.gte, lambda b: n is not None and n >= b),
                      (cond.lt, lambda b: n is not None and n < b), (cond.lte, lambda b: n is not None and n <= b)):
        if bound is not None:
            checks.append(ok(bound))
    if cond.exists is not None:
        checks.append(present == cond.exists)
    if cond.contains is not None:
        text = as_text(value)
        checks.append(text is not None and cond.contains in text)
    return all(checks)


# --- people ----------------------------------------------------------------------------------------------------


def linked_ids(links: Sequence[Link], as_of: datetime) -> dict[str, str]:
    """id → the user it belongs to, from the links made up to `as_of` (a later call is data the moment did not
    have): per id its earliest link; no link to itself; of two ids linked to each other the later link is ignored
    (tied: the one from the id that sorts first is kept); chains followed up to 8 links."""
    first: dict[str, Link] = {}
    for link in links:
        if link.timestamp > as_of:
            continue
        if link.anonymous_id not in first or link.timestamp < first[link.anonymous_id].timestamp:
            first[link.anonymous_id] = link
    kept: dict[str, str] = {}
    for source, link in first.items():
        back = first.get(link.user_id)
        if link.user_id == source or (back is not None and back.user_id == source and (
                back.timestamp < link.timestamp or (back.timestamp == link.timestamp and link.user_id < source))):
            continue
        kept[source] = link.user_id
    out = {}
    for source, target in kept.items():
        for _ in range(7):
            target = kept.get(target, target)
        out[source] = target
    return out


def resolve(events: Sequence[Event], links: Sequence[Link], as_of: datetime) -> dict[str, list[Event]]:
    """Each user's events up to `as_of`, in (timestamp, message id) order: an event's user id (or, merged into
    another by an alias, that one), or without one its anonymous id's user (`linked_ids`)."""
    owner = linked_ids(links, as_of)
    by_user: dict[str, list[Event]] = {}
    for e in events:
        if e.timestamp > as_of:
            continue
        if e.user_id is not None:
            user: str | None = owner.get(e.user_id, e.user_id)
        else:
            user = owner.get(e.anonymous_id) if e.anonymous_id is not None else None
        if user is not None:
            by_user.setdefault(user, []).append(e)
    for evs in by_user.values():
        evs.sort(key=lambda e: (e.timestamp, e.message_id))
    return by_user


def signup_times(by_user: Mapping[str, Sequence[Event]], definitions: Definitions) -> dict[str, datetime]:
    """t0 = the first signup event, or with `first_seen` the first event (of `first_seen.events` if given); users
    without one are in no cohort."""
    names = definitions.signup.defining
    out = {}
    for user, evs in by_user.items():
        signups = [e for e in evs if names is None or e.event in names]
        if signups:
            out[user] = signups[0].timestamp
    return out


# --- milestones ------------------------------------------------------------------------------------------------


def reach(m: Tracked, t0: datetime, evs: Sequence[Event]) -> tuple[datetime | None, float]:
    """(reach time, progress) for one user of a non-composite milestone, walking qualifying events in order."""
    qualifying = [
        e for e in evs
        if e.event in m.events and t0 <= e.timestamp < t0 + m.within
        and all(holds(e.properties, key, cond) for key, cond in m.where.items())
    ]
    reached: datetime | None = None
    if m.kind == "count":
        for i, e in enumerate(qualifying, start=1):
            if reached is None and i >= m.k:
                reached = e.timestamp
        return reached, float(len(qualifying))
    if m.kind == "sum":
        assert m.prop is not None
        running = 0.0
        for e in qualifying:
            running += as_number(e.properties.get(m.prop)) or 0.0
            if reached is None and running >= m.k:
                reached = e.timestamp
        return reached, running
    assert m.kind == "distinct" and m.prop is not None
    seen: set[str] = set()
    for e in qualifying:
        text = as_text(e.properties.get(m.prop))
        if text is None:
            continue
        seen.add(text)
        if reached is None and len(seen) >= m.k:
            reached = e.timestamp
    return reached, float(len(seen))


def state(events: Sequence[Event], links: Sequence[Link], definitions: Definitions,
          as_of: datetime) -> dict[tuple[str, str], Cell]:
    """Every (signed-up user, tracked milestone): t0, window end, reach time, progress and status as of `as_of`."""
    by_user = resolve(events, links, as_of)
    t0s = signup_times(by_user, definitions)
    ms = tracked(definitions)
    out: dict[tuple[str, str], Cell] = {}
    for user, t0 in t0s.items():
        reaches: dict[str, tuple[datetime | None, float]] = {}
        for m in ms:
            if m.kind != "all_of":
                reaches[m.id] = reach(m, t0, by_user[user])
        for m in ms:
            if m.kind == "all_of":
                # All parts reached within the composite's window; reached at the latest part's reach time.
                times = [reaches[p][0] for p in m.parts]
                inside = [t for t in times if t is not None and t < t0 + m.within]
                reaches[m.id] = (max(inside) if len(inside) == len(times) else None, float(len(inside)))
        for m in ms:
            reach_time, progress = reaches[m.id]
            end = t0 + m.within
            status = REACHED if reach_time is not None else IN_PROGRESS if end > as_of else MISSED
            out[(user, m.id)] = Cell(t0, end, reach_time, progress, status)
    return out


def users_without_signup(events: Sequence[Event], links: Sequence[Link], definitions: Definitions,
                         as_of: datetime) -> int:
    by_user = resolve(events, links, as_of)
    return len(by_user) - len(signup_times(by_user, definitions))


# --- analyses --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStep:
    entities: int
    in_progress: int
    median_seconds_from_previous: float | None
    median_seconds_from_signup: float | None


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if values else None


def funnel(cells: Mapping[tuple[str, str], Cell], steps: Sequence[str], as_of: datetime, order: str,
           include_immature: bool) -> list[FunnelStep]:
    """Signup → steps. Population: every signed-up user, or (default) only those whose every step window closed."""
    users = sorted({u for u, _ in cells})
    if not include_immature:
        users = [u for u in users if all(cells[(u, s)].window_end <= as_of for s in steps)]
    out = [FunnelStep(len(users), 0, None, 0.0)]
    counted = users
    previous = {u: cells[(u, steps[0])].t0 for u in users}  # signup's reach time is t0
    for step in steps:
        here = []
        for u in counted:
            r = cells[(u, step)].reach_time
            if r is not None and (order == "unordered" or r >= previous[u]):
                here.append(u)
        # Still able to make the step: not reached yet and the window open (a reach before the previous step's,
        # in ordered mode, is final: that user cannot make this step any more).
        waiting = [u for u in counted if u not in here and cells[(u, step)].reach_time is None
                   and cells[(u, step)].window_end > as_of]
        from_prev = [(cells[(u, step)].reach_time - previous[u]).total_seconds() for u in here]  # type: ignore[operator]
        from_signup = [(cells[(u, step)].reach_time - cells[(u, step)].t0).total_seconds() for u in here]  # type: ignore[operator]
        out.append(FunnelStep(len(here), len(waiting), _median(from_prev) if order == "ordered" else None,
                              _median(from_signup)))
        counted = here
        previous = {u: cells[(u, step)].reach_time for u in here}  # type: ignore[misc]
    return out


def activation(cells: Mapping[tuple[str, str], Cell], primary: str, days: Sequence[int],
               as_of: datetime) -> dict[date | None, tuple[int, tuple[tuple[int, int] | None, ...]]]:
    """Per signup day (and None for all days): signups and, per day N, (numerator, denominator) or None when 0.

    Denominator: t0 + N days ≤ as_of. Numerator: of those, reached the primary with reach − t0 ≤ N days.
    """
    groups: dict[date | None, list[Cell]] = {}
    for (_, mid), cell in cells.items():
        if mid == primary:
            groups.setdefault(cell.t0.date(), []).append(cell)
            groups.setdefault(None, []).append(cell)
    out: dict[date | None, tuple[int, tuple[tuple[int, int] | None, ...]]] = {}
    for cohort, members in groups.items():
        rates = []
        for n in days:
            observed = [c for c in members if c.t0 + timedelta(days=n) <= as_of]
            num = sum(1 for c in observed if c.reach_time is not None and c.reach_time - c.t0 <= timedelta(days=n))
            rates.append((num, len(observed)) if observed else None)
        out[cohort] = (len(members), tuple(rates))
    return out


def timing(cells: Mapping[tuple[str, str], Cell], milestone_id: str) -> tuple[int, int, tuple[float, ...] | None]:
    """(eligible, reached, (p25, p50, p75, p90) of time to milestone among reachers, numpy's linear method)."""
    mine = [c for (_, mid), c in cells.items() if mid == milestone_id]
    ttm = [(c.reach_time - c.t0).total_seconds() for c in mine if c.reach_time is not None]
    qs = tuple(float(np.percentile(ttm, q)) for q in (25, 50, 75, 90)) if ttm else None
    return len(mine), len(ttm), qs
