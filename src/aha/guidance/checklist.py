"""One user's (or account's) milestone checklist, read from the state the engine computed: never recomputed.

Every number here is a row of the same state `aha report` counts (analyses.state), so a checklist and the report can
never disagree. docs/semantics.md, "Checklist", defines the fields; in short:
- `status`: reached / in_progress (window open) / missed (window closed) / not_applicable (out of scope).
- `progress` of `threshold`: events counted (count), distinct values (distinct), the running sum (sum) or parts
  reached (all_of) inside the window so far.
- `next_milestone`: the first milestone in funnel order that is in progress (not reached, window still open);
  none when every funnel milestone is reached or its window has closed.
- `score`: weighted progress, 0–100: each applicable milestone counts its level's weight (primary 3, secondary 2,
  expansion 1) times min(progress / threshold, 1), a reached one its whole weight; divided by the weights of the
  applicable milestones.
- `activated`: the primary milestone is reached (an account has no primary milestone: `activated` is None).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from aha.analyses.state import MilestoneState, entity_rows
from aha.definitions import Definitions
from aha.definitions.models import Milestone
from aha.engine import columns as c
from aha.errors import UserError
from aha.jsonpointer import shown
from aha.results import ResultMixin
from aha.store import Store

WEIGHTS = {"primary": 3.0, "secondary": 2.0, "expansion": 1.0}
# A status in words, as a reader sees it (the dashboard's user page, `aha state`); the API and --json keep the token.
STATUS_LABELS = {"reached": "reached", "in_progress": "in progress (window open)", "missed": "missed (window closed)",
                 "not_applicable": "not applicable (outside the milestone's scope)"}


class UnknownEntity(UserError):
    """No such user or account in the state: a 404 on the API, a clear message on the CLI."""


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    id: str
    name: str
    level: str
    status: str
    reached_at: datetime | None
    progress: float
    threshold: float
    measure: str  # what progress counts: "events", "distinct <property>", "<property> (sum)", "milestones"
    deadline: datetime  # the window's end: t0 + within
    guidance: str | None


@dataclass(frozen=True, slots=True)
class ChecklistResult(ResultMixin):
    kind: ClassVar[str] = "checklist"
    entity_type: str
    entity_id: str
    as_of: datetime
    signed_up_at: datetime
    paid_at: datetime | None  # users only: the first paid event inside the conversion horizon
    activated: bool | None
    score: float
    next_milestone: str | None
    items: tuple[ChecklistItem, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{"entity_id": self.entity_id, **{k: getattr(i, k) for k in ChecklistItem.__slots__}}
                for i in self.items]


def checklist(store: Store, ms: MilestoneState, entity_type: str, entity_id: str) -> ChecklistResult:
    try:
        return from_rows(ms.definitions, ms.as_of, entity_type, entity_id,
                         entity_rows(store, ms, entity_type, entity_id))
    except UnknownEntity as exc:
        raise explained(store, ms.as_of, entity_type, entity_id, exc) from None


def linked_user(store: Store, as_of: datetime | None, user_id: str) -> str | None:
    """The user an identify or alias call made up to `as_of` links `user_id` to (an anonymous id, or a user id an
    alias merged into another), chains followed as every analysis follows them (engine.identity.links)."""
    from aha.analyses.state import event_source

    links = event_source(store, as_of).identity_links()
    found = store.records(links.filter(links.anonymous_id == user_id).select("linked_user").limit(1))
    return str(found[0]["linked_user"]) if found else None


def explained(store: Store, as_of: datetime | None, entity_type: str, entity_id: str,
              exc: UnknownEntity) -> UnknownEntity:
    """`exc`, or for an id linked to another user (merged by an alias, or an identified anonymous id) the error
    that names that user: its events and milestones are that user's, so it has no checklist of its own."""
    if entity_type != c.USER:
        return exc
    target = linked_user(store, as_of, entity_id)
    if target is None or target == entity_id:
        return exc
    moment = as_of or datetime.now(UTC).replace(tzinfo=None)
    return UnknownEntity(f"{shown(entity_id)} is not a user of its own as of {moment:%Y-%m-%d %H:%M} UTC: an "
                         "identify or alias call links it to the "
                         f"user {shown(target)}, whose checklist counts its events (ask for {shown(target)}).")


def from_rows(definitions: Definitions, as_of: datetime, entity_type: str, entity_id: str,
              entity_state: list[dict[str, Any]], layout: Layout | None = None) -> ChecklistResult:
    """The checklist from one entity's rows of the long state (`entity_rows`, or the server's lookup copy);
    `layout`: `Layout(definitions, entity_type)` when the caller keeps one (the server, per copy)."""
    rows = {r[c.MILESTONE_ID]: r for r in entity_state}
    if not rows:
        raise UnknownEntity(_unknown(as_of, entity_type, entity_id))
    layout = layout or Layout(definitions, entity_type)
    items = tuple(ChecklistItem(mid, name, level, row[c.STATUS], row[c.REACH_TIME], float(row[c.PROGRESS] or 0.0),
                                threshold, measure, row[c.WINDOW_END], guidance)
                  for mid, name, level, threshold, measure, guidance in layout.items
                  if (row := rows.get(mid)) is not None)
    paid = rows.get(c.PAID)
    next_up = next((i.id for i in items if i.status == c.IN_PROGRESS and i.id in layout.funnel), None)
    activated = None
    if layout.primary is not None:
        activated = rows[layout.primary][c.STATUS] == c.REACHED
    first = next(iter(rows.values()))
    return ChecklistResult(entity_type, entity_id, as_of, first[c.T0],
                           paid[c.REACH_TIME] if paid is not None else None, activated, score(items), next_up, items)


class Layout:
    """What a checklist of one entity type takes from the definitions, worked out once: its milestones in checklist
    order (`_order`) with the fields each item repeats (id, name, level, threshold, measure, guidance), the funnel,
    and the primary milestone (users only)."""

    def __init__(self, definitions: Definitions, entity_type: str) -> None:
        milestones = [definitions.milestone(mid) for mid in _order(definitions, entity_type)]
        self.items = tuple((m.id, m.label, m.level, float(len(m.all_of)) if m.all_of else m.threshold_value,
                            _measure(m), m.guidance) for m in milestones)
        self.funnel = frozenset(_funnel(definitions, entity_type))
        self.primary = definitions.primary.id if entity_type == c.USER else None


def score(items: tuple[ChecklistItem, ...]) -> float:
    total = done = 0.0
    for item in items:
        if item.status == c.NOT_APPLICABLE:
            continue
        weight = WEIGHTS[item.level]
        total += weight
        done += weight if item.status == c.REACHED else weight * min(item.progress / item.threshold, 1.0)
    return round(100.0 * done / total, 1) if total else 0.0


def _measure(m: Milestone) -> str:
    if m.all_of:
        return "milestones"
    if m.members_reached is not None:
        rule = m.members_reached
        return f"{'email domains' if rule.distinct else 'members'} reaching {rule.milestone}"
    if m.distinct is not None:
        return f"distinct {m.distinct.property}"
    if m.sum is not None:
        return f"{m.sum.property} (sum)"
    return "events"


def _funnel(definitions: Definitions, entity_type: str) -> list[str]:
    if entity_type == c.USER:
        return definitions.funnel_ids
    return [m.id for m in definitions.milestones if m.entity == entity_type]


def _order(definitions: Definitions, entity_type: str) -> list[str]:
    """Funnel milestones first in funnel order, then the entity type's other milestones in file order."""
    funnel = _funnel(definitions, entity_type)
    rest = [m.id for m in definitions.milestones if m.entity == entity_type and m.id not in funnel]
    return funnel + rest


def _unknown(as_of: datetime, entity_type: str, entity_id: str) -> str:
    if entity_type == c.USER:
        return (f"no signed-up user {shown(entity_id)} as of {as_of:%Y-%m-%d %H:%M} UTC: the id has no signup "
                "event (users without one are in no cohort), or it was never seen. Ids are case-sensitive; an "
                "anonymous id counts once it is identified.")
    return f"no account {shown(entity_id)} with a signed-up member as of {as_of:%Y-%m-%d %H:%M} UTC."
