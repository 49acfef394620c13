"""Who is in the data at all, and how do the headline numbers compare with the targets in the definitions?"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, cast

from aha.analyses import report_sql
from aha.analyses.report_results import ActivationResult, OverviewResult, Target, TimingResult
from aha.analyses.state import MilestoneState
from aha.definitions import content_hash
from aha.engine import columns as c
from aha.results import Rate, duration_text
from aha.store import Store, schema

if TYPE_CHECKING:
    import ibis.expr.types as ir


def run(store: Store, ms: MilestoneState, activation: ActivationResult | None = None,
        timing: TimingResult | None = None) -> OverviewResult:
    counts = {r[c.ENTITY_TYPE]: r["n"] for r in report_sql.read(  # records, not a frame: no pandas import
        store, ms, ("overview",), lambda m: m.entities.group_by(c.ENTITY_TYPE).aggregate(n=m.entities.count()))}

    def events_query(m: MilestoneState) -> ir.Table:
        stored = store.table(schema.EVENTS)
        seen = stored.filter(stored.timestamp <= m.as_of)
        return seen.aggregate(n=seen.count())

    (row,) = report_sql.read(store, ms, ("events",), events_query)
    events = int(row["n"] or 0)
    return OverviewResult(
        as_of=ms.as_of, events=events, signed_up_users=int(counts.get(c.USER, 0)),
        users_without_signup=ms.users_without_signup, accounts=int(counts.get(c.ACCOUNT, 0)),
        primary_milestone=ms.definitions.primary.id, definitions_hash=content_hash(ms.definitions),
        data_version=store.data_version, targets=_targets(ms, activation, timing),
    )


def _targets(ms: MilestoneState, activation: ActivationResult | None,
             timing: TimingResult | None) -> tuple[Target, ...]:
    """Each target against the whole population, whatever the breakdown: activation summed over the segments'
    groups (they partition the users), time from an unsegmented `timing` (medians do not add up)."""
    out = []
    for name, goal in ms.definitions.targets.items():
        if name.startswith("activation_rate_day_"):
            day = int(name.removeprefix("activation_rate_day_"))
            out.append(_activation_target(name, float(cast(float, goal)), day, activation))
        else:
            ref = name.removeprefix("median_time_to_")
            mid = ms.definitions.primary.id if ref == "primary" else ref
            seconds = goal.total_seconds() if isinstance(goal, timedelta) else float(goal)
            out.append(_time_target(name, seconds, mid, timing))
    return tuple(out)


def _activation_target(name: str, goal: float, day: int, activation: ActivationResult | None) -> Target:
    if activation is None or day not in activation.days:
        return Target(name, goal, None, None, "rate", f"not measured: day {day} is not among the report's days")
    i = activation.days.index(day)
    rates = [r for g in activation.groups if (r := g.total.rates[i]) is not None]
    rate = Rate.of(sum(r.numerator for r in rates), sum(r.denominator for r in rates))
    basis = (f"Day-{day} activation of {rate.denominator:,} signups observed {day} days or more"
             if rate.denominator else f"no signup has been observed for {day} days yet")
    return Target(name, goal, rate.value, None if rate.value is None else rate.value >= goal, "rate", basis, rate)


def _time_target(name: str, goal: float, milestone_id: str, timing: TimingResult | None) -> Target:
    """The Kaplan–Meier median over everyone eligible (SEMANTICS.md's honest headline), not the median of those
    who reached it, which flatters a milestone few reach. No median means more than half are still unreached at
    the longest follow-up: the target is not met if that follow-up reaches the target, and unknown if not."""
    found = None
    if timing is not None and timing.segment_by is None and timing.groups:
        found = next((m for m in timing.groups[0].milestones if m.milestone_id == milestone_id), None)
    if found is None or found.eligible == 0:
        return Target(name, goal, None, None, "seconds", "not measured: nobody is eligible yet")
    if found.km_median_seconds is None:
        followed = found.km_followed_seconds or 0.0
        if followed < goal:  # more than half still unreached, but nobody followed as long as the goal: unknown
            return Target(name, goal, None, None, "seconds",
                          f"not measurable yet: {found.eligible:,} eligible users followed "
                          f"{duration_text(followed)} at most, less than the target")
        return Target(name, goal, None, False, "seconds",
                      f"Kaplan–Meier: fewer than half of {found.eligible:,} eligible users reach it within its window")
    current = found.km_median_seconds
    return Target(name, goal, current, current <= goal, "seconds",
                  f"Kaplan–Meier median of {found.eligible:,} eligible users (open windows censored)")
