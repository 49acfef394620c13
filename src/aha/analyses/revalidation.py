"""Does a milestone still predict as well for recent signups? The validation table per signup month, and a flag when
a milestone's lift or gap shrinks over time.

Each month's cells are the validation cells (SEMANTICS.md, "Validating a milestone") restricted to users whose `t0`
falls in that UTC calendar month, so censoring is exactly as in `aha evaluate`. Only months with at least
`MIN_GROUP` users on each side (reached, not reached) are compared.

The rule, between the first and the latest comparable month: a milestone is flagged `shrinking` when the first month
showed a positive, significant gap (p < 0.05) and, in the latest month, either the gap is less than half of the first
month's and the fall itself is significant (p < 0.05, `stats.contingency.difference_change_p`: a first month picked
for its significant gap is often an inflated one, and a later month regressing to the mean is no shrink)
(`gap_halved`), or the lift's upper 95% bound is below the first month's lower bound (`lift_fell`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, ClassVar, Literal

import ibis.expr.types as ir

from aha.analyses import outcomes as outcomes_mod
from aha.analyses.left_out import account_milestones
from aha.analyses.state import MilestoneState
from aha.analyses.validation import MIN_GROUP, Outcome, cells, describe, outcome_rows, population
from aha.engine import columns as c
from aha.engine.segments import SEGMENT
from aha.results import ResultMixin
from aha.stats.contingency import Comparison, compare, difference_change_p
from aha.store import Store

MONTH = "month"
SIGNIFICANCE = 0.05
TrendCode = Literal["gap_halved", "lift_fell", "gap_halved_and_lift_fell", "steady", "not_predictive",
                    "too_few_months"]


@dataclass(frozen=True, slots=True)
class MonthValidation:
    month: date  # first day of the signup month
    population: int
    a: int  # reached ∧ outcome
    b: int  # reached ∧ ¬outcome
    c: int  # ¬reached ∧ outcome
    d: int  # ¬reached ∧ ¬outcome
    comparison: Comparison
    gap_points: float | None  # rate if reached − rate if not, in percentage points
    comparable: bool  # at least MIN_GROUP users on each side


@dataclass(frozen=True, slots=True)
class MilestoneTrend:
    milestone_id: str
    name: str
    outcome: Outcome
    months: tuple[MonthValidation, ...]  # every signup month with an eligible population, oldest first
    first_month: date | None  # the first comparable month
    latest_month: date | None  # the latest comparable month
    first_gap_points: float | None
    latest_gap_points: float | None
    shrinking: bool
    trend_code: TrendCode
    trend: str  # plain words: "conversion gap shrank from 50 to 20 points (2026-01 → 2026-02)"


@dataclass(frozen=True, slots=True)
class RevalidationGroup:
    segment: str
    trends: tuple[MilestoneTrend, ...]


@dataclass(frozen=True, slots=True)
class RevalidationResult(ResultMixin):
    kind: ClassVar[str] = "revalidation"
    as_of: datetime
    outcomes: tuple[str, ...]  # plain-words definition of each outcome
    min_group: int
    segment_by: str | None
    groups: tuple[RevalidationGroup, ...]
    notes: tuple[str, ...] = ()  # what was left out and why (account milestones)
    unit: str = "user"  # what `population` and a…d count: "user", or "account" (`--level account`)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"segment": g.segment, "milestone": t.milestone_id, "outcome": t.outcome, "month": m.month,
             "population": m.population, "a": m.a, "b": m.b, "c": m.c, "d": m.d, "gap_points": m.gap_points,
             "lift": m.comparison.lift, "lift_low": m.comparison.lift_low, "lift_high": m.comparison.lift_high,
             "comparable": m.comparable, "shrinking": t.shrinking}
            for g in self.groups for t in g.trends for m in t.months
        ]


def revalidation_query(ms: MilestoneState, outcome: ir.Table, milestone_ids: list[str],
                       segment: str | None) -> ir.Table:
    """The validation cells per segment, milestone and signup month; the same population as `validation_query`."""
    joined = population(ms, outcome, milestone_ids, segment)
    month = joined[c.T0].truncate("M").cast("date").name(MONTH)
    return joined.group_by([SEGMENT, c.MILESTONE_ID, month]).aggregate(**cells(joined))


def summarise(rows: list[dict[str, Any]], milestone_ids: list[str], names: dict[str, str], as_of: datetime,
              outcomes: tuple[str, ...], segment_by: str | None, unit: str = "user") -> RevalidationResult:
    """Rows are `revalidation_query`'s with an `outcome` key added; a Python loop over months, never users."""
    cells: dict[tuple[str, Outcome, str], list[MonthValidation]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: _as_date(r[MONTH])):
        cells[(str(row[SEGMENT]), row["outcome"], row[c.MILESTONE_ID])].append(_month(row))
    by_segment: dict[str, list[MilestoneTrend]] = defaultdict(list)
    order = {o: i for i, o in enumerate(("conversion", "retention"))}

    def position(key: tuple[str, Outcome, str]) -> tuple[str, int, int]:
        return key[0], order[key[1]], milestone_ids.index(key[2])

    for (seg, outcome, mid), months in sorted(cells.items(), key=lambda kv: position(kv[0])):
        by_segment[seg].append(trend(mid, names[mid], outcome, tuple(months), unit))
    groups = tuple(RevalidationGroup(seg, tuple(ts)) for seg, ts in sorted(by_segment.items()))
    return RevalidationResult(as_of, outcomes, MIN_GROUP, segment_by, groups, unit=unit)


def _month(row: dict[str, Any]) -> MonthValidation:
    a, b, c_, d = (int(row[k] or 0) for k in ("a", "b", "c", "d"))
    cmp = compare(a, b, c_, d)
    gap = None if cmp.difference is None else round(100 * cmp.difference, 10)
    return MonthValidation(_as_date(row[MONTH]), a + b + c_ + d, a, b, c_, d, cmp, gap,
                           min(a + b, c_ + d) >= MIN_GROUP)


def trend(milestone_id: str, name: str, outcome: Outcome, months: tuple[MonthValidation, ...],
          unit: str = "user") -> MilestoneTrend:
    """Apply the module's rule to the first and latest comparable months, and say the result in plain words."""
    usable = [m for m in months if m.comparable]
    first, latest = (usable[0], usable[-1]) if usable else (None, None)

    def result(shrinking: bool, code: TrendCode, words: str) -> MilestoneTrend:
        return MilestoneTrend(milestone_id, name, outcome, months, first.month if first else None,
                              latest.month if latest else None, first.gap_points if first else None,
                              latest.gap_points if latest else None, shrinking, code, words)

    if first is None or latest is None or first is latest:
        return result(False, "too_few_months", f"fewer than 2 signup months with {MIN_GROUP} {unit}s on each "
                                               "side: "
                                               "nothing to compare")
    f, l_ = first.comparison, latest.comparison
    span = f"{first.month:%Y-%m} → {latest.month:%Y-%m}"
    if f.p_value is None or f.p_value >= SIGNIFICANCE or first.gap_points is None or first.gap_points <= 0:
        p = "untestable: nobody, or everybody, had the outcome" if f.p_value is None else f"p = {f.p_value:.2g}"
        return result(False, "not_predictive", f"{outcome} gap not positive and significant in {first.month:%Y-%m} "
                                               f"({p}): nothing to shrink")
    assert latest.gap_points is not None
    change_p = difference_change_p(f, l_)
    halved = latest.gap_points < first.gap_points / 2
    chance = halved and (change_p is None or change_p >= SIGNIFICANCE)
    halved = halved and not chance
    fell = (f.lift_low is not None and l_.lift_high is not None and l_.lift_code == "ok"
            and l_.lift_high < f.lift_low)
    gap = f"gap {{}} from {_pts(first.gap_points)} to {_pts(latest.gap_points)} points"
    if not halved and not fell:
        why = "" if not chance else (" (the fall is within chance: " + (
            "untestable" if change_p is None else f"p = {change_p:.2g}") + ")")
        return result(False, "steady", f"steady: {outcome} {gap.format('went')}, {span}{why}")
    parts = [gap.format("shrank")] if halved else []
    if fell:
        parts.append(f"lift fell from {_lift(f)} to {_lift(l_)}")
    code: TrendCode = "gap_halved_and_lift_fell" if halved and fell else ("gap_halved" if halved else "lift_fell")
    return result(True, code, f"{outcome} {' and '.join(parts)}, {span}")


def _pts(points: float) -> str:
    return f"{points:.0f}" if abs(points) >= 10 else f"{points:.1f}"


def _lift(cmp: Comparison) -> str:
    assert cmp.lift is not None and cmp.lift_low is not None and cmp.lift_high is not None
    return f"{cmp.lift:.2f}× ({cmp.lift_low:.2f}–{cmp.lift_high:.2f})"


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def run(store: Store, ms: MilestoneState, segment: str | None = None,
        outcomes: tuple[Outcome, ...] | None = None, unit: str = "user") -> RevalidationResult:
    """`unit`: what the state's rows are ("account" for `account_level`'s state), named in the words."""
    definitions = ms.definitions
    descriptions = describe(definitions)
    chosen = [o for o in (outcomes or ("conversion", "retention")) if o in descriptions]
    ids = [m.id for m in definitions.milestones if m.entity == c.USER]
    names = {m.id: m.label for m in definitions.milestones}
    retention = outcomes_mod.build(store, ms).retention if "retention" in chosen else None
    rows: list[dict[str, Any]] = []
    for outcome in chosen:
        query = revalidation_query(ms, outcome_rows(ms, outcome, retention), ids, segment)
        rows += [{**r, "outcome": outcome} for r in store.execute(query).to_dict("records")]
    result = summarise(rows, ids, names, ms.as_of, tuple(f"{o}: {descriptions[o]}" for o in chosen), segment, unit)
    return replace(result, notes=account_milestones(definitions, "validation compares users"))
