"""What share of each signup cohort reaches the primary milestone by Day 1, 7, 14 and 30?

SEMANTICS.md, "Activation rate": users not yet observed N days are in neither numerator nor denominator, so a young
cohort's Day-30 cell is empty rather than low.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aha.analyses import report_sql
from aha.analyses.report_results import ActivationCohort, ActivationGroup, ActivationResult, Period
from aha.analyses.state import MilestoneState
from aha.analyses.wide import applicable_col, reach_col, users_wide
from aha.engine import columns as c
from aha.engine.columns import SEGMENT
from aha.errors import UserError
from aha.results import Rate
from aha.store import Store

if TYPE_CHECKING:
    import ibis.expr.types as ir

DEFAULT_DAYS = (1, 7, 14, 30)
_TRUNC = {"day": "D", "week": "W", "month": "M"}


def activation_query(wide: ir.Table, milestone_id: str, days: tuple[int, ...], period: Period,
                     as_of: datetime) -> ir.Table:
    import ibis

    users = wide.filter(wide[applicable_col(milestone_id)] == 1)
    reach = users[reach_col(milestone_id)]
    ttm = reach.epoch_seconds() - users[c.T0].epoch_seconds()
    cohort = users[c.T0].truncate(_TRUNC[period]).cast("date").name("cohort")
    metrics: dict[str, Any] = {"signups": users.count()}
    for n in days:
        observed = users[c.T0] + ibis.interval(days=n) <= ibis.literal(as_of)
        metrics[f"den_{n}"] = observed.cast("int64").sum()
        metrics[f"num_{n}"] = (observed & reach.notnull() & (ttm <= n * 86400)).cast("int64").sum()
    return users.group_by([SEGMENT, cohort]).aggregate(**metrics).order_by([SEGMENT, "cohort"])


def summarise(rows: list[dict[str, Any]], milestone_id: str, name: str, days: tuple[int, ...], period: Period,
              as_of: datetime, segment_by: str | None) -> ActivationResult:
    by_segment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_segment[str(row[SEGMENT])].append(row)
    groups = []
    for segment, seg_rows in sorted(by_segment.items()):
        cohorts = tuple(_cohort(r["cohort"], r, days) for r in seg_rows)
        totals = {k: sum(int(r[k] or 0) for r in seg_rows) for k in seg_rows[0] if k not in (SEGMENT, "cohort")}
        groups.append(ActivationGroup(segment, _cohort(None, totals, days), cohorts))
    return ActivationResult(milestone_id, name, period, days, as_of, segment_by, tuple(groups))


def _cohort(start: Any, row: dict[str, Any], days: tuple[int, ...]) -> ActivationCohort:
    rates = tuple(Rate.of(int(row[f"num_{n}"] or 0), int(row[f"den_{n}"] or 0)) if row[f"den_{n}"] else None
                  for n in days)
    cohort = start.date() if isinstance(start, datetime) else start
    return ActivationCohort(cohort, int(row["signups"]), rates)


MAX_DAYS = 12  # columns of the activation table; each is a pass over the users
MAX_DAY = 36500  # 100 years, the bound of every duration in aha.yaml


def check_days(days: tuple[int, ...]) -> tuple[int, ...]:
    """The activation days asked for (the Python API, the read API's `days`), refused in one message unless 1 to 12
    different whole numbers in 0..36500. Before, `days: [0, 1, ..., 99999]` over the read API ran one column per
    day: the server grew past 9 GB and answered no other read."""
    if (not days or len(days) > MAX_DAYS or len(set(days)) != len(days)
            or not all(type(d) is int and 0 <= d <= MAX_DAY for d in days)):
        raise UserError(f"days: {str(list(days))[:60]} is not 1 to {MAX_DAYS} different whole numbers of days from "
                        f"0 to {MAX_DAY:,}; ask for e.g. days=(1, 7, 14, 30).")
    return days


def run(store: Store, ms: MilestoneState, period: Period = "week", days: tuple[int, ...] = DEFAULT_DAYS,
        segment: str | None = None, milestone_id: str | None = None) -> ActivationResult:
    days = check_days(tuple(days))
    milestone = ms.definitions.milestone(milestone_id) if milestone_id else ms.definitions.primary
    rows = report_sql.read(store, ms, ("activation", milestone.id, ",".join(map(str, days)), period, segment or ""),
                           lambda m: activation_query(users_wide(m, [milestone.id], segment), milestone.id, days,
                                                      period, m.as_of))
    result = summarise(rows, milestone.id, milestone.label, days, period, ms.as_of, segment)
    signups = ms.signups
    if signups is None or signups.unbounded:
        return result

    def clip(cohort: ActivationCohort) -> ActivationCohort:
        start = cohort.cohort
        if start is None:
            return cohort
        return replace(cohort, clipped=signups.clips(start, period_end(start, period)))

    groups = tuple(replace(g, cohorts=tuple(clip(x) for x in g.cohorts)) for g in result.groups)
    return replace(result, groups=groups)


def period_end(start: date, period: Period) -> date:
    """The first day after the cohort period that begins on `start`."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)
