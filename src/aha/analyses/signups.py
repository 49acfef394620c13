"""The signup date range (`--from/--to`, `?from=&to=`): only the users whose signup falls in it, in every analysis.

SEMANTICS.md, "Signup date range": `t0` in `[from 00:00 UTC, to 00:00 UTC)`, either end open. The range restricts the
entities of a state before anything is aggregated (both the wide table and the long view), so every analysis counts
the same users: a funnel, a validation, a discovery over the users who signed up in those days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import ibis.expr.types as ir

from aha.engine import columns as c
from aha.errors import UserError
from aha.results import ResultMixin

if TYPE_CHECKING:
    from aha.analyses.state import MilestoneState
    from aha.store import Store


@dataclass(frozen=True, slots=True)
class SignupRange:
    """UTC days: `start` inclusive, `end` exclusive; None is open on that side."""

    start: date | None = None
    end: date | None = None

    @property
    def unbounded(self) -> bool:
        """Both ends open: every user (no restriction at all)."""
        return self.start is None and self.end is None

    def clips(self, first: date, after: date) -> bool:
        """Whether a cohort period `[first, after)` reaches outside the range (then only its days inside count)."""
        return (self.start is not None and first < self.start) or (self.end is not None and after > self.end)


def parse_day(value: str | date | None, name: str) -> date | None:
    """A `YYYY-MM-DD` UTC day, or None; anything else is one message naming the option."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        raise UserError(f"{name} {value.isoformat()!r}: give a day (2026-03-01); signup ranges are whole UTC days.")
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{name} {text[:40]!r} is not a day; write it as 2026-03-01 (a UTC day).") from None


def signup_range(start: str | date | None, end: str | date | None) -> SignupRange:
    """`--from` and `--to` checked: each a day, and `from` before `to` (the range holds at least one day)."""
    first, after = parse_day(start, "--from"), parse_day(end, "--to")
    if first is not None and after is not None and after <= first:
        raise UserError(f"--from {first} --to {after}: the range is empty (--to is excluded); give a --to after "
                        f"--from, e.g. --to {date.fromordinal(first.toordinal() + 1)} for that one day.")
    return SignupRange(first, after)


def restrict(ms: MilestoneState, signups: SignupRange) -> MilestoneState:
    """The state with only the entities whose `t0` is in the range (accounts by their own `t0`, their first member's
    signup): the wide entities and the long view alike. The state's own tables are untouched (one state serves
    every range)."""
    if signups.unbounded:
        return ms

    def inside(table: ir.Table) -> ir.Table:
        t0 = table[c.T0]
        if signups.start is not None:
            table = table.filter(t0 >= datetime.combine(signups.start, time.min))
        if signups.end is not None:
            table = table.filter(t0 < datetime.combine(signups.end, time.min))
        return table

    long_view = ms.long_view
    return replace(ms, entities=inside(ms.entities), long_view=lambda: inside(long_view()), signups=signups)


@dataclass(frozen=True, slots=True)
class SignupsUsed(ResultMixin):
    """The signup range a result counts (what reports print beside their numbers): the range asked for (`--from`,
    `--to`; None when open) and the users in it, with their first and last signup moment (None without users)."""

    kind: ClassVar[str] = "signups"
    signups_from: date | None
    signups_to: date | None  # excluded
    users: int
    first_signup: datetime | None
    last_signup: datetime | None

    def text(self) -> str:
        """"all signups: first 2026-01-01, last 2026-04-30 (20,000 users)", or with a range "signups 2026-02-01 to
        2026-02-28 (--from 2026-02-01 --to 2026-03-01): first 2026-02-01, last 2026-02-27 (1,234 users)"."""
        seen = (f"first {self.first_signup:%Y-%m-%d}, last {self.last_signup:%Y-%m-%d}"
                if self.first_signup is not None and self.last_signup is not None else "nobody signed up")
        users = f"{self.users:,} user{'' if self.users == 1 else 's'}"
        if self.signups_from is None and self.signups_to is None:
            return f"all signups: {seen} ({users})"
        last_day = self.signups_to - timedelta(days=1) if self.signups_to is not None else None
        asked = (f"{self.signups_from} to {last_day}" if self.signups_from and last_day
                 else f"from {self.signups_from}" if self.signups_from else f"up to {last_day}")
        flags = " ".join(f for f in (f"--from {self.signups_from}" if self.signups_from else "",
                                     f"--to {self.signups_to}" if self.signups_to else "") if f)
        return f"signups {asked} ({flags}): {seen} ({users})"

    def rows(self) -> list[dict[str, Any]]:
        return [{"signups_from": self.signups_from, "signups_to": self.signups_to, "users": self.users,
                 "first_signup": self.first_signup, "last_signup": self.last_signup}]


def used(store: Store, ms: MilestoneState) -> SignupsUsed:
    """The users `ms` counts (after `restrict`) and their first and last signup: one aggregate over its entities."""
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    (row,) = store.records(users.aggregate(users=users.count(), first=users[c.T0].min(), last=users[c.T0].max()))
    signups = ms.signups or SignupRange()
    return SignupsUsed(signups.start, signups.end, int(row["users"] or 0), row["first"], row["last"])
