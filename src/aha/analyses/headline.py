"""The three numbers a report leads with: signed-up users, activation and conversion, each over its own population.

SEMANTICS.md: activation = the primary milestone reached within its window, among users whose window has closed (and
who are in its scope); conversion = the paid event within its horizon, among users whose horizon has closed. Open
windows are in neither numerator nor denominator, so the two rates have different denominators, and both differ from
an ordered funnel's bottom step, which also requires every step before it, in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aha.analyses import report_sql
from aha.analyses.report_results import HeadlineResult
from aha.analyses.state import MilestoneState
from aha.analyses.wide import applicable_col, end_col, reach_col, users_wide
from aha.engine import columns as c
from aha.results import Rate
from aha.store import Store

if TYPE_CHECKING:
    import ibis.expr.types as ir


def headline_query(wide: ir.Table, primary: str, paid: bool, as_of: datetime) -> ir.Table:
    """One row: users, and per measure the users whose window has closed and those among them who reached it."""
    import ibis

    now = ibis.literal(as_of)
    closed = (wide[applicable_col(primary)] == 1) & (wide[end_col(primary)] <= now)
    metrics: dict[str, Any] = {
        "users": wide.count(),
        "activation_den": closed.cast("int64").sum(),
        "activation_num": (closed & wide[reach_col(primary)].notnull()).cast("int64").sum(),
    }
    if paid:
        horizon = wide[end_col(c.PAID)] <= now
        metrics["conversion_den"] = horizon.cast("int64").sum()
        metrics["conversion_num"] = (horizon & wide[reach_col(c.PAID)].notnull()).cast("int64").sum()
    return wide.aggregate(**metrics)


def summarise(row: dict[str, Any], ms: MilestoneState) -> HeadlineResult:
    d = ms.definitions
    paid = d.paid is not None
    return HeadlineResult(
        as_of=ms.as_of, users=int(row["users"] or 0), primary_milestone=d.primary.id, primary_name=d.primary.label,
        activation_window_seconds=d.primary.within.total_seconds(),
        activation=Rate.of(int(row["activation_num"] or 0), int(row["activation_den"] or 0)),
        conversion_horizon_seconds=d.paid.within.total_seconds() if d.paid is not None else None,
        conversion=Rate.of(int(row["conversion_num"] or 0), int(row["conversion_den"] or 0)) if paid else None,
    )


def run(store: Store, ms: MilestoneState) -> HeadlineResult:
    paid = ms.definitions.paid is not None
    ids = [ms.definitions.primary.id, *([c.PAID] if paid else [])]
    rows = report_sql.read(store, ms, ("headline",), lambda m: headline_query(
        users_wide(m, ids, None), ms.definitions.primary.id, paid, m.as_of))
    return summarise(rows[0], ms)
