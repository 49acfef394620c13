"""Do users who reach a milestone keep coming back? Daily retention curves, reached vs not, per milestone.

A point at day d counts only users observed through day d (t0 + d + 1 days ≤ as_of) whose milestone window has
closed, so young users never drag the right end of a curve down.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from aha.analyses import outcomes as outcomes_mod
from aha.analyses.state import MilestoneState
from aha.engine import columns as c
from aha.engine.outcomes import CURVE_DAYS
from aha.engine.segments import SEGMENT, segment_column
from aha.results import Rate, ResultMixin
from aha.store import Store

GAP_DAY = 30


@dataclass(frozen=True, slots=True)
class CurvePoint:
    day: int
    rate: Rate  # active on that day / observed through that day


@dataclass(frozen=True, slots=True)
class MilestoneRetention:
    milestone_id: str
    name: str
    reached: tuple[CurvePoint, ...]
    not_reached: tuple[CurvePoint, ...]
    gap_points_day_30: float | None  # percentage points, reached − not reached; None if either side is unobserved


@dataclass(frozen=True, slots=True)
class RetentionGroup:
    segment: str
    milestones: tuple[MilestoneRetention, ...]


@dataclass(frozen=True, slots=True)
class RetentionResult(ResultMixin):
    kind: ClassVar[str] = "retention"
    as_of: datetime
    days: int
    segment_by: str | None
    groups: tuple[RetentionGroup, ...]

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for g in self.groups:
            for m in g.milestones:
                for label, curve in (("reached", m.reached), ("not_reached", m.not_reached)):
                    out += [{"segment": g.segment, "milestone": m.milestone_id, "group": label, "day": p.day,
                             "rate": p.rate.value, "users": p.rate.denominator} for p in curve]
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


def observed_query(population: ir.Table) -> ir.Table:
    """How many users are observed through exactly day k (the denominators, accumulated in summarise)."""
    return population.group_by([SEGMENT, c.MILESTONE_ID, "_reached", "_observed"]).aggregate(n=population.count())


def active_query(population: ir.Table, activity: ir.Table) -> ir.Table:
    joined = population.join(activity, c.ENTITY_ID)
    kept = joined.filter(joined.day <= joined._observed)
    return kept.group_by([SEGMENT, c.MILESTONE_ID, "_reached", "day"]).aggregate(n=kept.count())


def summarise(observed: list[dict[str, Any]], active: list[dict[str, Any]], names: dict[str, str], days: int,
              as_of: datetime, segment_by: str | None) -> RetentionResult:
    eligible: dict[tuple[str, str, bool], list[int]] = defaultdict(lambda: [0] * (days + 1))
    for row in observed:
        upto = min(int(row["_observed"]), days)
        if upto < 0:
            continue
        counts = eligible[(row[SEGMENT], row[c.MILESTONE_ID], bool(row["_reached"]))]
        for day in range(upto + 1):  # observed through `upto` means eligible for every day up to it
            counts[day] += int(row["n"])
    hits: dict[tuple[str, str, bool, int], int] = {
        (r[SEGMENT], r[c.MILESTONE_ID], bool(r["_reached"]), int(r["day"])): int(r["n"]) for r in active
    }
    by_segment: dict[str, list[MilestoneRetention]] = defaultdict(list)
    for segment in sorted({k[0] for k in eligible}):
        for mid in names:
            curves = []
            for reached in (True, False):
                den = eligible.get((segment, mid, reached), [0] * (days + 1))
                curves.append(tuple(CurvePoint(d, Rate.of(hits.get((segment, mid, reached, d), 0), den[d]))
                                    for d in range(days + 1) if den[d] > 0))
            gap = _gap(curves[0], curves[1])
            by_segment[segment].append(MilestoneRetention(mid, names[mid], curves[0], curves[1], gap))
    groups = tuple(RetentionGroup(s, tuple(ms)) for s, ms in by_segment.items())
    return RetentionResult(as_of, days, segment_by, groups)


def _gap(reached: tuple[CurvePoint, ...], missed: tuple[CurvePoint, ...]) -> float | None:
    r = next((p.rate.value for p in reached if p.day == GAP_DAY), None)
    m = next((p.rate.value for p in missed if p.day == GAP_DAY), None)
    return None if r is None or m is None else 100 * (r - m)


def run(store: Store, ms: MilestoneState, segment: str | None = None, days: int = CURVE_DAYS) -> RetentionResult:
    names = {m.id: m.label for m in ms.definitions.milestones if m.entity == c.USER}
    activity = outcomes_mod.activity(store, ms)
    population = _population(ms, list(names), segment)
    return summarise(
        store.execute(observed_query(population)).to_dict("records"),
        store.execute(active_query(population, activity)).to_dict("records"),
        names, days, ms.as_of, segment,
    )
