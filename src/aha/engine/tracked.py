"""Which milestones the state keeps and their windows: read from the definitions alone, without Ibis, so the
paths that run kept statements (aha.analyses.compiled: a refresh, a report) need not import it."""

from __future__ import annotations

from datetime import timedelta

from aha.definitions import Definitions
from aha.definitions.models import Milestone
from aha.engine import columns as c


def paid_milestone(definitions: Definitions) -> Milestone | None:
    """The paid event as a count-1 milestone with the conversion horizon as its window."""
    if definitions.paid is None:
        return None
    return Milestone.model_construct(
        id=c.PAID, name="Paid", level="secondary", entity="user", event=definitions.paid.events, all_of=None,
        where={}, count=1, distinct=None, sum=None, within=definitions.paid.within, scope={},
    )


def tracked(definitions: Definitions) -> list[Milestone]:
    """Every milestone state is kept for: the definitions' milestones plus the paid pseudo-milestone."""
    paid = paid_milestone(definitions)
    return [*definitions.milestones, *([paid] if paid else [])]


def counted_milestones(definitions: Definitions, entity: str) -> list[Milestone]:
    """An entity type's tracked milestones that count its events (not composites of other milestones: `all_of`,
    `members_reached`)."""
    return [m for m in tracked(definitions) if m.entity == entity and m.all_of is None and m.members_reached is None]


def longest_window(definitions: Definitions, entity: str) -> timedelta:
    """The window that bounds an entity type's candidate events: its longest milestone window (none: zero)."""
    return max((m.within for m in counted_milestones(definitions, entity)), default=timedelta(0))


def has_accounts(definitions: Definitions) -> bool:
    """The state holds accounts: an account milestone counts them, or a signal is held by them (`signals:` alone,
    members and domains, reads the accounts of the state: without them every signal held for nobody)."""
    return bool(definitions.signals) or any(m.entity == c.ACCOUNT for m in definitions.milestones)
