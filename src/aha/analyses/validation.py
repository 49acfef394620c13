"""Does reaching a milestone go with converting and retaining? The 2×2 validation table per milestone and outcome.

SEMANTICS.md, "Validating a milestone": the population is users eligible for the outcome whose milestone window has
closed, so neither an open milestone window nor an open outcome window is ever counted as a failure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import ibis
import ibis.expr.types as ir

from aha.analyses import outcomes as outcomes_mod
from aha.analyses.left_out import account_milestones
from aha.analyses.state import MilestoneState
from aha.definitions import Definitions
from aha.engine import columns as c
from aha.engine.segments import SEGMENT, segment_column
from aha.results import ResultMixin, number
from aha.stats.contingency import Comparison, compare
from aha.store import Store

Outcome = Literal["conversion", "retention"]
VerdictCode = Literal["strong", "moderate", "weak", "negative", "not_predictive", "too_few", "untestable"]
MIN_GROUP = 30  # fewer users on either side of the table: no verdict (SEMANTICS.md discovery support floor)


@dataclass(frozen=True, slots=True)
class MilestoneValidation:
    milestone_id: str
    name: str
    level: str
    outcome: Outcome
    population: int
    a: int  # reached ∧ outcome
    b: int  # reached ∧ ¬outcome
    c: int  # ¬reached ∧ outcome
    d: int  # ¬reached ∧ ¬outcome
    comparison: Comparison
    median_seconds_to_milestone: float | None
    outcome_before_milestone: int  # in cell a, the outcome happened before the milestone was reached
    leakage: str | None  # why the outcome may partly cause the milestone rather than follow it
    verdict: str
    verdict_code: VerdictCode


@dataclass(frozen=True, slots=True)
class ValidationGroup:
    segment: str
    rows: tuple[MilestoneValidation, ...]


@dataclass(frozen=True, slots=True)
class ValidationResult(ResultMixin):
    kind: ClassVar[str] = "validation"
    as_of: datetime
    outcomes: tuple[str, ...]  # plain-words definition of each outcome
    segment_by: str | None
    groups: tuple[ValidationGroup, ...]
    notes: tuple[str, ...] = ()  # what was left out and why (account milestones)
    unit: str = "user"  # what `population` and a…d count: "user", or "account" (`--level account`)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"segment": g.segment, "milestone": r.milestone_id, "outcome": r.outcome, "population": r.population,
             "a": r.a, "b": r.b, "c": r.c, "d": r.d, "rate_reached": r.comparison.rate_reached,
             "rate_not_reached": r.comparison.rate_not_reached, "lift": r.comparison.lift,
             "lift_low": r.comparison.lift_low, "lift_high": r.comparison.lift_high,
             "p_value": r.comparison.p_value, "verdict": r.verdict}
            for g in self.groups for r in g.rows
        ]


def outcome_rows(ms: MilestoneState, outcome: Outcome, retention: ir.Table | None = None) -> ir.Table:
    """Per user: eligible (the outcome window has closed), outcome reached, when, and when its window opened."""
    as_of = ibis.literal(ms.as_of)
    if outcome == "conversion":
        paid = ms.state.filter(ms.state[c.MILESTONE_ID] == c.PAID, ms.state[c.ENTITY_TYPE] == c.USER)
        return paid.select(c.ENTITY_ID, _eligible=paid[c.WINDOW_END] <= as_of, _outcome=paid[c.REACH_TIME].notnull(),
                           _outcome_at=paid[c.REACH_TIME], _outcome_from=paid[c.T0])
    assert retention is not None, "retention outcome needs the materialised retention table"
    r = retention
    return r.select(c.ENTITY_ID, _eligible=r.window_end <= as_of, _outcome=r.retained_at.notnull(),
                    _outcome_at=r.retained_at, _outcome_from=r.window_start)


def population(ms: MilestoneState, outcome: ir.Table, milestone_ids: list[str], segment: str | None) -> ir.Table:
    """(user, milestone) rows of the validation population: in scope, milestone window closed, outcome eligible;
    with the segment value, so validation and revalidation always count the same people."""
    state = ms.state
    closed = state.filter(
        state[c.ENTITY_TYPE] == c.USER, state[c.MILESTONE_ID].isin(milestone_ids), state[c.APPLICABLE],
        state[c.STATUS] != c.IN_PROGRESS,
    )
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    users = users.select(c.ENTITY_ID, **{SEGMENT: segment_column(users, segment)})
    return closed.join(outcome.filter(outcome._eligible), c.ENTITY_ID).join(users, c.ENTITY_ID)


def cells(joined: ir.Table) -> dict[str, ir.IntegerScalar]:
    """a, b, c, d of the 2×2 table (reached × outcome) as aggregates."""
    reached, won = joined[c.REACH_TIME].notnull(), joined._outcome

    def n(cond: ir.BooleanValue) -> ir.IntegerScalar:
        return cond.cast("int64").sum()

    return {"a": n(reached & won), "b": n(reached & ~won), "c": n(~reached & won), "d": n(~reached & ~won)}


def validation_query(ms: MilestoneState, outcome: ir.Table, milestone_ids: list[str], segment: str | None) -> ir.Table:
    joined = population(ms, outcome, milestone_ids, segment)
    reached, won = joined[c.REACH_TIME].notnull(), joined._outcome
    ttm = (joined[c.REACH_TIME].epoch_seconds() - joined[c.T0].epoch_seconds()).cast("float64")
    return joined.group_by([SEGMENT, c.MILESTONE_ID]).aggregate(
        **cells(joined), median_ttm=ttm.median(where=reached),
        outcome_first=(reached & won & (joined._outcome_at < joined[c.REACH_TIME])).cast("int64").sum(),
    )


def verdict(cmp: Comparison, reached: int, missed: int, outcome: Outcome) -> tuple[str, VerdictCode]:
    """Plain words that follow from the numbers: the lift with its interval, or why there is none."""
    verb = "converts" if outcome == "conversion" else "retains"
    if min(reached, missed) < MIN_GROUP:
        return f"too few users ({reached} reached, {missed} did not; {MIN_GROUP} needed on each side)", "too_few"
    if cmp.p_value is None:
        return "untestable: nobody, or everybody, had the outcome", "untestable"
    if cmp.p_value >= 0.05:
        return f"not predictive (p = {cmp.p_value:.2g})", "not_predictive"
    if cmp.lift_code == "infinite":
        return f"strong: only users who reached it {verb.removesuffix('s')}", "strong"
    if cmp.lift_code == "zero":
        return f"negative: nobody who reached it {verb.removesuffix('s')}", "negative"
    assert cmp.lift is not None and cmp.lift_low is not None and cmp.lift_high is not None
    words = f"{verb} {_x(cmp.lift)}× ({_x(cmp.lift_low)}–{_x(cmp.lift_high)})"
    if cmp.lift_high < 1:
        return f"negative: {words}", "negative"
    if cmp.lift_low >= 2:
        return f"strong: {words}", "strong"
    if cmp.lift_low >= 1.25:
        return f"moderate: {words}", "moderate"
    return f"weak: {words}", "weak"


def _x(ratio: float) -> str:
    """Two significant decimals near 1 (1.04 is not 1.0), one above 10."""
    return f"{ratio:.1f}" if ratio >= 10 else f"{ratio:.2f}"


def leakage(definitions: Definitions, milestone_id: str, outcome: Outcome, outcome_first: int,
            converters: int | None = None) -> str | None:
    """SEMANTICS.md: warn when the outcome's window opens before the milestone's closes; count who it affected,
    of the `converters` who reached the milestone (cell a) when given."""
    window = definitions.milestone(milestone_id).within
    if outcome == "conversion":
        if outcome_first == 0:
            return None
        of = "the converters" if converters is None else f"the {converters:,} converters who reached it"
        return f"{outcome_first:,} of {of} paid before reaching the milestone: it may follow payment"
    if definitions.retention.day * 86400 < window.total_seconds():
        return (f"retention is measured from day {definitions.retention.day}, inside the milestone's "
                f"{window} window: reaching it late is itself activity")
    return None


def written(span: timedelta, largest: str = "d") -> str:
    """A duration in the largest unit (from `largest` down: d, h, m, s) that holds it whole: `36h`, `30m`, `7d`.
    Whole days and hours were assumed: a 36h conversion horizon read "within 1d", a 30m bracket "(bracket 0h)"."""
    seconds = int(span.total_seconds())
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for name, size in units[[u for u, _ in units].index(largest):]:
        if seconds % size == 0:
            return f"{seconds // size}{name}"
    return f"{span.total_seconds():g}s"


def describe(definitions: Definitions) -> dict[Outcome, str]:
    out: dict[Outcome, str] = {}
    if definitions.paid is not None:
        paid = definitions.paid
        out["conversion"] = f"{' or '.join(paid.events)} within {written(paid.within)} of signup"
    rule = definitions.retention
    span = "or later" if rule.unbounded else f"(bracket {written(rule.bracket, largest='h')})"  # 24h, 168h as before
    out["retention"] = f"active on day {rule.day} after signup {span}"
    return out


def run(store: Store, ms: MilestoneState, segment: str | None = None,
        outcomes: tuple[Outcome, ...] | None = None) -> ValidationResult:
    definitions = ms.definitions
    descriptions = describe(definitions)
    chosen = [o for o in (outcomes or ("conversion", "retention")) if o in descriptions]
    ids = [m.id for m in definitions.milestones if m.entity == c.USER]
    retention = outcomes_mod.retention(store, ms) if "retention" in chosen else None
    by_segment: dict[str, list[MilestoneValidation]] = defaultdict(list)
    for outcome in chosen:
        table = outcome_rows(ms, outcome, retention)
        rows = store.execute(validation_query(ms, table, ids, segment)).to_dict("records")
        for row in sorted(rows, key=lambda r: (r[SEGMENT], ids.index(r[c.MILESTONE_ID]))):
            by_segment[str(row[SEGMENT])].append(_row(definitions, row, outcome))
    groups = tuple(ValidationGroup(seg, tuple(rows)) for seg, rows in sorted(by_segment.items()))
    return ValidationResult(ms.as_of, tuple(f"{o}: {descriptions[o]}" for o in chosen), segment, groups,
                            account_milestones(definitions, "validation compares users"))


def _row(definitions: Definitions, row: dict[str, Any], outcome: Outcome) -> MilestoneValidation:
    a, b, c_, d = (int(row[k] or 0) for k in ("a", "b", "c", "d"))
    cmp = compare(a, b, c_, d)
    m = definitions.milestone(row[c.MILESTONE_ID])
    words, code = verdict(cmp, a + b, c_ + d, outcome)
    median = row["median_ttm"]
    return MilestoneValidation(
        milestone_id=m.id, name=m.label, level=m.level, outcome=outcome, population=a + b + c_ + d,
        a=a, b=b, c=c_, d=d, comparison=cmp,
        median_seconds_to_milestone=number(median),
        outcome_before_milestone=int(row["outcome_first"] or 0),
        leakage=leakage(definitions, m.id, outcome, int(row["outcome_first"] or 0), a), verdict=words,
        verdict_code=code,
    )
