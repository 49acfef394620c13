"""The report's result objects, apart from the analyses that compute them: they import no Ibis, no SQLGlot and no
store, so a report answered from the result cache (aha.analyses.result_cache) is rebuilt and printed without them.

The analyses modules re-export their own (`aha.analyses.funnel.FunnelResult` is this module's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Literal

from aha.results import Rate, ResultMixin

# -- funnel --------------------------------------------------------------------------------------------------------
Order = Literal["ordered", "unordered"]


@dataclass(frozen=True, slots=True)
class FunnelStep:
    id: str
    name: str
    entities: int
    in_progress: int  # counted at the previous step, not (yet) here, window still open; 0 unless include_immature
    drop_off: int | None  # None for the first step
    conversion_from_previous: Rate | None
    conversion_overall: Rate
    median_seconds_from_previous: float | None  # ordered mode only; None when nobody made the step
    median_seconds_from_signup: float | None
    reached_any_order: int | None = None  # of the signup step's users, those who reached this step at all (any order)


@dataclass(frozen=True, slots=True)
class FunnelGroup:
    segment: str
    signups: int  # signed-up users in this segment, before maturity and scope
    immature: int  # left out because a step window is still open (0 with include_immature)
    out_of_scope: int  # left out because a step milestone's scope excludes them
    steps: tuple[FunnelStep, ...]


@dataclass(frozen=True, slots=True)
class FunnelResult(ResultMixin):
    kind: ClassVar[str] = "funnel"
    order: Order
    include_immature: bool
    as_of: datetime
    segment_by: str | None
    groups: tuple[FunnelGroup, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"segment": g.segment, "step": s.id, "name": s.name, "entities": s.entities, "in_progress": s.in_progress,
             "drop_off": s.drop_off,
             "conversion_from_previous": s.conversion_from_previous.value if s.conversion_from_previous else None,
             "conversion_overall": s.conversion_overall.value,
             "median_seconds_from_previous": s.median_seconds_from_previous}
            for g in self.groups for s in g.steps
        ]


# -- timing --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistogramBin:
    label: str
    lower_seconds: float
    upper_seconds: float | None
    entities: int


@dataclass(frozen=True, slots=True)
class KmPoint:
    seconds: float
    reached_share: float  # 1 − S(t): the Kaplan–Meier estimate of the share reaching the milestone by `seconds`


@dataclass(frozen=True, slots=True)
class MilestoneTiming:
    milestone_id: str
    name: str
    entity: str
    window_seconds: float
    eligible: int  # in scope, t0 ≤ as_of: the Kaplan–Meier population
    reached: int
    p25_seconds: float | None
    median_seconds: float | None
    p75_seconds: float | None
    p90_seconds: float | None
    histogram: tuple[HistogramBin, ...]
    km_median_seconds: float | None  # None when fewer than half are estimated to reach it within the window
    km_median_low_seconds: float | None
    km_median_high_seconds: float | None
    km_reached_share: float | None  # estimated share reaching it within the window, censoring handled
    km_followed_seconds: float | None = None  # the longest anyone eligible was followed: the estimate ends there
    km_curve: tuple[KmPoint, ...] = ()  # the estimate at evenly spaced times up to km_followed_seconds


@dataclass(frozen=True, slots=True)
class TimingGroup:
    segment: str
    milestones: tuple[MilestoneTiming, ...]


@dataclass(frozen=True, slots=True)
class TimingResult(ResultMixin):
    kind: ClassVar[str] = "timing"
    as_of: datetime
    segment_by: str | None
    groups: tuple[TimingGroup, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"segment": g.segment, "milestone": m.milestone_id, "name": m.name, "eligible": m.eligible,
             "reached": m.reached, "p25_seconds": m.p25_seconds, "median_seconds": m.median_seconds,
             "p75_seconds": m.p75_seconds, "p90_seconds": m.p90_seconds, "km_median_seconds": m.km_median_seconds,
             "km_reached_share": m.km_reached_share}
            for g in self.groups for m in g.milestones
        ]


# -- activation ----------------------------------------------------------------------------------------------------
Period = Literal["day", "week", "month"]


@dataclass(frozen=True, slots=True)
class ActivationCohort:
    cohort: date | None  # None for the all-cohorts row
    signups: int
    rates: tuple[Rate | None, ...]  # one per day in ActivationResult.days; None while no user is observed N days
    clipped: bool = False  # the period reaches outside the signup range: only its days inside it are counted


@dataclass(frozen=True, slots=True)
class ActivationGroup:
    segment: str
    total: ActivationCohort
    cohorts: tuple[ActivationCohort, ...]


@dataclass(frozen=True, slots=True)
class ActivationResult(ResultMixin):
    kind: ClassVar[str] = "activation"
    milestone_id: str
    milestone_name: str
    period: Period
    days: tuple[int, ...]
    as_of: datetime
    segment_by: str | None
    groups: tuple[ActivationGroup, ...]

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for g in self.groups:
            for cohort in (*g.cohorts, g.total):
                row: dict[str, Any] = {"segment": g.segment, "cohort": cohort.cohort, "signups": cohort.signups,
                                       "clipped": cohort.clipped}
                for n, rate in zip(self.days, cohort.rates, strict=True):
                    row[f"day_{n}"] = rate.value if rate else None
                    row[f"day_{n}_denominator"] = rate.denominator if rate else 0
                out.append(row)
        return out


# -- overview ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Target:
    name: str
    target: float  # a rate, or seconds for time targets
    current: float | None
    met: bool | None
    unit: str  # "rate" or "seconds"
    basis: str  # what `current` is measured over, in words: the population and the estimate
    rate: Rate | None = None  # for rate targets: `current` with its denominator and 95% interval


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
        return [{"name": t.name, "target": t.target, "current": t.current, "met": t.met, "basis": t.basis}
                for t in self.targets]


# -- headline ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HeadlineResult(ResultMixin):
    kind: ClassVar[str] = "headline"
    as_of: datetime
    users: int  # signed-up users (in a cohort)
    primary_milestone: str
    primary_name: str
    activation_window_seconds: float
    activation: Rate  # reached the primary milestone within its window / users in scope whose window has closed
    conversion_horizon_seconds: float | None  # None without a paid event in the definitions
    conversion: Rate | None  # paid within the horizon / users whose horizon has closed

    def rows(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"measure": "users", "value": self.users, "numerator": self.users,
                                      "denominator": None, "low": None, "high": None}]
        for name, rate in (("activation", self.activation), ("conversion", self.conversion)):
            if rate is not None:
                out.append({"measure": name, "value": rate.value, "numerator": rate.numerator,
                            "denominator": rate.denominator, "low": rate.low, "high": rate.high})
        return out


# -- the report -------------------------------------------------------------------------------------------------
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


@dataclass(frozen=True, slots=True)
class ReportResult(ResultMixin):
    """The activation report: overview, funnel, time to value and activation by cohort, one `as_of`."""

    kind: ClassVar[str] = "report"
    overview: OverviewResult
    funnel: FunnelResult
    timing: TimingResult
    activation: ActivationResult
    headline: HeadlineResult | None = None  # users, activation and conversion: what the report leads with
    unit: str = "user"  # what every count counts: "user", or "account" (`level="account"`)
    signups: SignupsUsed | None = None  # the signup range counted (user level)

    def rows(self) -> list[dict[str, Any]]:
        """The funnel's rows: one frame cannot hold five shapes; `frames()` gives every section."""
        return self.funnel.rows()

    def section_rows(self) -> list[dict[str, Any]]:
        """Every section's rows in one list, each tagged with its section (what `aha report --csv` prints)."""
        return [{"section": name, **row} for name, part in self._parts() for row in part.rows()]

    def frames(self) -> dict[str, Any]:
        """Each section as its own pandas frame: overview (targets), funnel, timing, activation."""
        return {name: part.to_frame() for name, part in self._parts()}

    def _repr_html_(self) -> str:
        return "<br>".join(part._repr_html_() for _, part in self._parts())

    def _parts(self) -> list[tuple[str, ResultMixin]]:
        return [*([("headline", self.headline)] if self.headline is not None else []), ("overview", self.overview),
                ("funnel", self.funnel), ("timing", self.timing), ("activation", self.activation)]
