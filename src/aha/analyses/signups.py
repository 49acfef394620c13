"""The signup date range (`--from/--to`, `?from=&to=`): only the users whose signup falls in it, in every analysis.

SEMANTICS.md, "Signup date range": `t0` in `[from 00:00 UTC, to 00:00 UTC)`, either end open. The range restricts the
entities of a state before anything is aggregated (both the wide table and the long view), so every analysis counts
the same users: a funnel, a validation, a discovery over the users who signed up in those days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from aha.analyses import report_sql
from aha.analyses.report_results import SignupsUsed
from aha.engine import columns as c
from aha.errors import UserError

if TYPE_CHECKING:
    import ibis.expr.types as ir

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
    return replace(ms, source=inside(ms.entities), long_view=lambda: inside(long_view()), signups=signups)


def used(store: Store, ms: MilestoneState) -> SignupsUsed:
    """The users `ms` counts (after `restrict`) and their first and last signup: one aggregate over its entities."""
    def query(m: MilestoneState) -> ir.Table:
        users = m.entities.filter(m.entities[c.ENTITY_TYPE] == c.USER)
        return users.aggregate(users=users.count(), first=users[c.T0].min(), last=users[c.T0].max())

    (row,) = report_sql.read(store, ms, ("signups",), query)
    signups = ms.signups or SignupRange()
    return SignupsUsed(signups.start, signups.end, int(row["users"] or 0), row["first"], row["last"])
