"""Do users who reach a milestone keep coming back? Retention curves, reached vs not, per milestone, and the
retention rule of the definitions file (`retention.day`, `.bracket`, `.unbounded`) as `aha evaluate` measures it.

Curves are daily or weekly: a point at period p (days `[p·s, (p + 1)·s)` since signup, s = 1 or 7) counts only users
observed through the whole period (t0 + (p + 1)·s days ≤ as_of) whose milestone window has closed, so young users
never drag the right end of a curve down. The rule's gap counts users whose retention bracket has closed (evaluate's
eligibility) among the same closed-window users.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

import ibis
import ibis.expr.types as ir

from aha.analyses import outcomes as outcomes_mod
from aha.analyses.left_out import account_milestones
from aha.analyses.state import MilestoneState
from aha.analyses.validation import describe
from aha.engine import columns as c
from aha.engine.outcomes import CURVE_DAYS
from aha.engine.segments import SEGMENT, segment_column
from aha.results import Rate, ResultMixin
from aha.stats.contingency import compare
from aha.store import Store

Bucket = Literal["day", "week"]
BUCKET_DAYS: dict[str, int] = {"day": 1, "week": 7}


@dataclass(frozen=True, slots=True)
class CurvePoint:
    day: int  # the period's first day since signup: p · 1 (daily) or p · 7 (weekly)
    rate: Rate  # active in that period / observed through that period
    period: int = 0  # p: the day (daily) or the week (weekly) since signup, from 0


@dataclass(frozen=True, slots=True)
class MilestoneRetention:
    milestone_id: str
    name: str
    reached: tuple[CurvePoint, ...]
    not_reached: tuple[CurvePoint, ...]
    rule_reached: Rate  # retained by the definitions' rule / eligible for it, among users who reached the milestone
    rule_not_reached: Rate
    gap_points: float | None  # rule_reached − rule_not_reached in percentage points; None if either side is empty
    gap_low: float | None  # its 95% Newcombe interval, in percentage points
    gap_high: float | None


@dataclass(frozen=True, slots=True)
class RetentionGroup:
    segment: str
    milestones: tuple[MilestoneRetention, ...]


@dataclass(frozen=True, slots=True)
class RetentionResult(ResultMixin):
    kind: ClassVar[str] = "retention"
    as_of: datetime
    days: int  # the curves' horizon in days since signup
    segment_by: str | None
    groups: tuple[RetentionGroup, ...]
    bucket: Bucket = "day"
    rule: str = ""  # the retention rule in plain words ("active on day 30 after signup (bracket 24h)")
    rule_day: int = 30
    notes: tuple[str, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for g in self.groups:
            for m in g.milestones:
                for label, curve in (("reached", m.reached), ("not_reached", m.not_reached)):
                    out += [{"segment": g.segment, "milestone": m.milestone_id, "group": label, "bucket": self.bucket,
                             "period": p.period, "day": p.day, "rate": p.rate.value, "users": p.rate.denominator}
                            for p in curve]
        return out


def _population(ms: MilestoneState, milestone_ids: list[str], segment: str | None) -> ir.Table:
    state = ms.state
    # Window closed for both groups: a reacher whose window is still open belongs to a young cohort whose
    # non-reachers are not counted yet, so keeping them would tilt the reached curve toward young users.
    closed = state.filter(state[c.ENTITY_TYPE] == c.USER, state[c.MILESTONE_ID].isin(milestone_ids),
                          state[c.APPLICABLE], state[c.WINDOW_END] <= ibis.literal(ms.as_of))
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    users = users.select(c.ENTITY_ID, **{SEGMENT: segment_column(users, segment)})
    joined = closed.join(users, c.ENTITY_ID)
    observed = (ibis.literal(ms.as_of).epoch_seconds() - joined[c.T0].epoch_seconds()) // 86400 - 1
    return joined.select(SEGMENT, c.ENTITY_ID, c.MILESTONE_ID, _reached=joined[c.REACH_TIME].notnull(),
                         _observed=observed)


def observed_query(population: ir.Table, size: int = 1) -> ir.Table:
    """How many users are observed through exactly period k (the denominators, accumulated in summarise): observed
    through day d means through period (d + 1) // size − 1, the last whole period."""
    periods = population.mutate(_observed=(population._observed + 1) // size - 1)
    return periods.group_by([SEGMENT, c.MILESTONE_ID, "_reached", "_observed"]).aggregate(n=periods.count())


def active_query(population: ir.Table, activity: ir.Table, size: int = 1) -> ir.Table:
    """Users active in each period they were observed through (activity is distinct per user and day)."""
    joined = population.join(activity, c.ENTITY_ID)
    kept = joined.filter(joined.day // size <= (joined._observed + 1) // size - 1)
    per_user = kept.select(SEGMENT, c.MILESTONE_ID, "_reached", c.ENTITY_ID, day=kept.day // size)
    if size > 1:  # several active days fall in one period; days are already distinct per user
        per_user = per_user.distinct()
    return per_user.group_by([SEGMENT, c.MILESTONE_ID, "_reached", "day"]).aggregate(n=per_user.count())


def rule_query(population: ir.Table, retention: ir.Table, as_of: datetime) -> ir.Table:
    """Retained by the definitions' rule, reached vs not: users whose retention bracket has closed (as `evaluate`)."""
    eligible = retention.filter(retention.window_end <= ibis.literal(as_of))
    joined = population.join(eligible.select(c.ENTITY_ID, _retained=eligible.retained_at.notnull()), c.ENTITY_ID)
    return joined.group_by([SEGMENT, c.MILESTONE_ID, "_reached"]).aggregate(
        n=joined.count(), retained=joined._retained.cast("int64").sum())


def summarise(observed: list[dict[str, Any]], active: list[dict[str, Any]], names: dict[str, str], days: int,
              as_of: datetime, segment_by: str | None, rule: list[dict[str, Any]] | None = None,
              bucket: Bucket = "day", rule_text: str = "", rule_day: int = 30,
              notes: tuple[str, ...] = ()) -> RetentionResult:
    size = BUCKET_DAYS[bucket]
    last = (days + 1) // size - 1  # the last whole period inside the horizon
    eligible: dict[tuple[str, str, bool], list[int]] = defaultdict(lambda: [0] * (last + 1))
    for row in observed:
        upto = min(int(row["_observed"]), last)
        if upto < 0:
            continue
        counts = eligible[(row[SEGMENT], row[c.MILESTONE_ID], bool(row["_reached"]))]
        for period in range(upto + 1):  # observed through `upto` means eligible for every period up to it
            counts[period] += int(row["n"])
    hits: dict[tuple[str, str, bool, int], int] = {
        (r[SEGMENT], r[c.MILESTONE_ID], bool(r["_reached"]), int(r["day"])): int(r["n"]) for r in active
    }
    by_rule: dict[tuple[str, str, bool], tuple[int, int]] = {
        (r[SEGMENT], r[c.MILESTONE_ID], bool(r["_reached"])): (int(r["retained"] or 0), int(r["n"]))
        for r in rule or []
    }
    by_segment: dict[str, list[MilestoneRetention]] = defaultdict(list)
    for segment in sorted({k[0] for k in (*eligible, *by_rule)}):
        for mid in names:
            curves = []
            for reached in (True, False):
                den = eligible.get((segment, mid, reached), [0] * (last + 1))
                curves.append(tuple(CurvePoint(p * size, Rate.of(hits.get((segment, mid, reached, p), 0), den[p]), p)
                                    for p in range(last + 1) if den[p] > 0))
            (a, ab), (c_, cd) = (by_rule.get((segment, mid, True), (0, 0)), by_rule.get((segment, mid, False), (0, 0)))
            cmp = compare(a, ab - a, c_, cd - c_)
            by_segment[segment].append(MilestoneRetention(
                mid, names[mid], curves[0], curves[1], Rate.of(a, ab), Rate.of(c_, cd), _points(cmp.difference),
                _points(cmp.difference_low), _points(cmp.difference_high)))
    groups = tuple(RetentionGroup(s, tuple(ms)) for s, ms in by_segment.items())
    return RetentionResult(as_of, days, segment_by, groups, bucket, rule_text, rule_day, notes)


def _points(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 10)


def run(store: Store, ms: MilestoneState, segment: str | None = None, days: int = CURVE_DAYS,
        bucket: Bucket = "day") -> RetentionResult:
    definitions = ms.definitions
    names = {m.id: m.label for m in definitions.milestones if m.entity == c.USER}
    size = BUCKET_DAYS[bucket]
    activity = outcomes_mod.activity(store, ms)
    population = _population(ms, list(names), segment)
    rule = store.execute(rule_query(population, outcomes_mod.retention(store, ms), ms.as_of)).to_dict("records")
    return summarise(
        store.execute(observed_query(population, size)).to_dict("records"),
        store.execute(active_query(population, activity, size)).to_dict("records"),
        names, days, ms.as_of, segment, rule, bucket, describe(definitions)["retention"], definitions.retention.day,
        account_milestones(definitions, "retention curves compare users"),
    )
