"""Who is in the data at all, and how do the headline numbers compare with the targets in the definitions?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from aha.analyses.activation import ActivationResult
from aha.analyses.state import MilestoneState
from aha.analyses.timing import TimingResult
from aha.definitions import content_hash
from aha.engine import columns as c
from aha.results import ResultMixin
from aha.store import Store, schema


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    target: float  # a rate, or seconds for time targets
    current: float | None
    met: bool | None
    unit: str  # "rate" or "seconds"


@dataclass(frozen=True, slots=True)
class OverviewResult(ResultMixin):
    kind: ClassVar[str] = "overview"
    as_of: datetime
    events: int
    signed_up_users: int
    users_without_signup: int  # in no cohort (SEMANTICS.md): reported, not hidden
    accounts: int
    primary_milestone: str
    definitions_hash: str
    data_version: int
    targets: tuple[Target, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{"name": t.name, "target": t.target, "current": t.current, "met": t.met} for t in self.targets]


def run(store: Store, ms: MilestoneState, activation: ActivationResult | None = None,
        timing: TimingResult | None = None) -> OverviewResult:
    counts = store.execute(
        ms.entities.group_by(c.ENTITY_TYPE).aggregate(n=ms.entities.count())
    ).set_index(c.ENTITY_TYPE)["n"].to_dict()
    events = int(store.scalar(f"SELECT count(*) FROM {schema.EVENTS} WHERE timestamp <= ?", [ms.as_of]) or 0)
    return OverviewResult(
        as_of=ms.as_of, events=events, signed_up_users=int(counts.get(c.USER, 0)),
        users_without_signup=ms.users_without_signup, accounts=int(counts.get(c.ACCOUNT, 0)),
        primary_milestone=ms.definitions.primary.id, definitions_hash=content_hash(ms.definitions),
        data_version=store.data_version, targets=_targets(ms, activation, timing),
    )


def _targets(ms: MilestoneState, activation: ActivationResult | None,
             timing: TimingResult | None) -> tuple[Target, ...]:
    out = []
    for name, goal in ms.definitions.targets.items():
        if name.startswith("activation_rate_day_"):
            day = int(name.removeprefix("activation_rate_day_"))
            current = None
            if activation is not None and day in activation.days and len(activation.groups) == 1:
                rate = activation.groups[0].total.rates[activation.days.index(day)]
                current = rate.value if rate else None
            value = float(goal) if not hasattr(goal, "total_seconds") else 0.0
            out.append(Target(name, value, current, None if current is None else current >= value, "rate"))
        else:
            ref = name.removeprefix("median_time_to_")
            mid = ms.definitions.primary.id if ref == "primary" else ref
            seconds = goal.total_seconds() if hasattr(goal, "total_seconds") else float(goal)
            current = None
            if timing is not None and len(timing.groups) == 1:
                for m in timing.groups[0].milestones:
                    if m.milestone_id == mid:
                        current = m.median_seconds
            out.append(Target(name, seconds, current, None if current is None else current <= seconds, "seconds"))
    return tuple(out)
