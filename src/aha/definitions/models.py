"""The definitions file (SEMANTICS.md, "The definitions file") as pydantic models.

Every rule a user can break is checked here, so the engine can trust what it compiles.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from aha.definitions.accounts import Accounts, MembersReached, check_members_reached
from aha.definitions.counts import STRICT, Count, Scalar, Scalars, finite
from aha.definitions.durations import Duration, format_duration
from aha.definitions.rules import Nudges, Rule, check_signal_rule
from aha.definitions.signals import Signal, check_signals
from aha.jsonpointer import key_problem, shown

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "contains")
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]


def _property_key(value: Any) -> Any:
    if isinstance(value, str):
        problem = key_problem(value)
        if problem:
            raise ValueError(f"{problem}; got {shown(value)}")
    return value


# A property key (`where`, `scope`, `sum`, `distinct`, `segments`): a member's literal name (`$browser`, `a.b`), or a
# JSON Pointer into nested values when it starts with `/` (aha.jsonpointer).
PropertyKey = Annotated[str, AfterValidator(_property_key)]


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key silently ignored is a wrong number later."""

    model_config = STRICT


class Condition(Strict):
    """An operator map for one property: `{in: [a, b]}`, `{gte: 3}`, `{exists: true}`."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    exists: bool | None = None
    contains: str | None = None

    model_config = ConfigDict(**STRICT, populate_by_name=True)

    @model_validator(mode="after")
    def _one_operator_at_least(self) -> Condition:
        if not self.model_dump(exclude_none=True):
            raise ValueError(f"give at least one operator: {', '.join(OPERATORS)}")
        return self


def _as_condition(value: Any) -> Any:
    """`where: {plan: pro}` means `{eq: pro}` and a list means `{in: [...]}`; one model keeps errors precise."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"in": value}
    return {"eq": value}


Filter = Annotated[Condition, BeforeValidator(_as_condition)]


class FirstSeen(Strict):
    events: list[str] | None = Field(default=None, min_length=1,
                                     description="Only these events' first occurrence starts t0 (default: any).")


class Signup(Strict):
    """`event`: the signup event(s); or `first_seen` (`true`, or `{events: [...]}`) when the log has none: t0 is the
    user's first (qualifying) event, and those events stay candidates and activity (SEMANTICS.md)."""

    event: str | list[str] | None = Field(
        default=None, description="Event name(s) whose first occurrence is the user's signup time t0.")
    first_seen: bool | FirstSeen | None = Field(
        default=None, description="No signup event: t0 is the user's first event (or first of `events`).")

    @model_validator(mode="after")
    def _one_rule(self) -> Signup:
        if self.first_seen is False:
            raise ValueError("`first_seen: false` means nothing; give `event: <signup event>` instead")
        if (self.event is None) == (self.first_seen is None):
            raise ValueError("give exactly one of `event` (the signup event) or `first_seen: true` (t0 is the "
                             "user's first event)")
        return self

    @property
    def events(self) -> list[str]:
        """The signup event names: kept out of discovery's candidates and of retention's activity. None with
        `first_seen`, whose events stay candidates and activity (`retention.active.not_event` leaves them out)."""
        if self.event is None:
            return []
        return [self.event] if isinstance(self.event, str) else list(self.event)

    @property
    def defining(self) -> list[str] | None:
        """The names whose first occurrence is t0; None: any event (`first_seen: true`)."""
        if isinstance(self.first_seen, FirstSeen):
            return list(self.first_seen.events) if self.first_seen.events else None
        if self.first_seen:
            return None
        return self.events

    @property
    def label(self) -> str:
        """The funnel's first step, honestly named: nobody signed up when t0 is a first event."""
        return "Signed up" if self.first_seen is None else "First seen"


class Paid(Strict):
    event: str | list[str] = Field(description="Event name(s) marking the first paid moment.")
    within: Duration = Field(default=timedelta(days=30), description="Conversion horizon after signup.")

    @property
    def events(self) -> list[str]:
        return [self.event] if isinstance(self.event, str) else list(self.event)


class Active(Strict):
    event: list[str] | None = Field(default=None, description="Only these events count as activity.")
    not_event: list[str] | None = Field(default=None, description="Every event but these (and signup) counts.")


class Retention(Strict):
    day: int = Field(default=30, ge=1, le=3650)
    bracket: Duration = Field(default=timedelta(days=1))
    unbounded: bool = False
    active: Active = Field(default_factory=Active)


class Discovery(Strict):
    exclude: list[str] = Field(default_factory=list, description="Events never offered as candidate milestones "
                               "by `aha discover` and `aha score` (steps of paying, system events, ...).")
    not_prerequisite: list[str] = Field(default_factory=list, description="Events never flagged as prerequisites "
                                        "of paying (docs/semantics.md), so they may be shortlisted.")


class Threshold(Strict):
    property: PropertyKey
    at_least: float = Field(gt=0)


class Milestone(Strict):
    id: Identifier
    name: str | None = None
    level: Literal["primary", "secondary", "expansion"] = "secondary"
    entity: Literal["user", "account"] = "user"
    event: str | list[str] | None = None
    all_of: list[str] | None = None
    members_reached: MembersReached | None = None
    where: dict[PropertyKey, Filter] = Field(default_factory=dict)
    count: Count | None = None
    distinct: Threshold | None = None
    sum: Threshold | None = None
    within: Duration
    scope: dict[PropertyKey, Scalars] = Field(default_factory=dict)
    guidance: str | None = None
    controllability: int | None = Field(default=None, ge=1, le=5)
    clarity: int | None = Field(default=None, ge=1, le=5)

    @model_validator(mode="after")
    def _shape(self) -> Milestone:
        kinds = [k for k in ("event", "all_of", "members_reached") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of `event` (what to count), `all_of` (milestones to combine) or "
                             "`members_reached` (members who reached a user milestone)")
        thresholds = [k for k in ("count", "distinct", "sum") if getattr(self, k) is not None]
        if len(thresholds) > 1:
            raise ValueError(f"give one threshold, not {' and '.join(thresholds)}")
        if self.members_reached is not None and (thresholds or self.where):
            raise ValueError("a `members_reached` milestone takes no threshold or `where`: its threshold is "
                             "`members_reached.at_least`")
        if self.members_reached is not None and self.entity != "account":
            raise _at(("entity",), "a `members_reached` milestone counts an account's members; add `entity: "
                      "account`")
        if self.all_of is not None and (thresholds or self.where):
            raise ValueError("an `all_of` milestone takes no threshold or `where`: put them on its parts")
        if self.all_of is not None and len(self.all_of) < 2:
            raise ValueError("`all_of` needs at least two milestone ids")
        return self

    @property
    def events(self) -> list[str]:
        if self.event is None:
            return []
        return [self.event] if isinstance(self.event, str) else list(self.event)

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def threshold_kind(self) -> Literal["count", "distinct", "sum"]:
        if self.distinct is not None:
            return "distinct"
        if self.sum is not None:
            return "sum"
        return "count"

    @property
    def threshold_value(self) -> float:
        if self.members_reached is not None:
            return float(self.members_reached.at_least)
        if self.distinct is not None:
            return self.distinct.at_least
        if self.sum is not None:
            return self.sum.at_least
        return float(self.count or 1)


class Definitions(Strict):
    """A whole definitions file. `version` lets later releases migrate old files."""

    version: Literal[1] = 1
    signup: Signup
    paid: Paid | None = None
    retention: Retention = Field(default_factory=Retention)
    segments: list[PropertyKey] = Field(default_factory=list)
    funnel: list[str] | None = None
    targets: dict[str, Annotated[float | Duration, BeforeValidator(finite)]] = Field(default_factory=dict)
    discovery: Discovery = Field(default_factory=Discovery)
    accounts: Accounts | None = None
    milestones: list[Milestone] = Field(min_length=1)
    signals: list[Signal] | None = None
    rules: list[Rule] = Field(default_factory=list)
    nudges: Nudges = Field(default_factory=Nudges)

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for key in value:
            if not (key.startswith("activation_rate_day_") or key.startswith("median_time_to_")):
                raise ValueError(
                    f"unknown target {key!r}; use activation_rate_day_<N> (a rate) or "
                    "median_time_to_<milestone id or 'primary'> (a duration)"
                )
        return value

    @model_validator(mode="after")
    def _references(self) -> Definitions:
        ids = [m.id for m in self.milestones]
        seen: dict[str, int] = {}  # lower-cased id → its milestone's index
        for i, m in enumerate(self.milestones):
            first = seen.setdefault(m.id.lower(), i)
            if first != i and self.milestones[first].id == m.id:
                raise _at(("milestones", i, "id"), f"{m.id!r} is used twice; milestone ids must be unique")
            if first != i:  # each id names columns of the state tables, which the database matches without case
                raise _at(("milestones", i, "id"), f"{m.id!r} differs from {self.milestones[first].id!r} "
                          f"(milestones[{first}]) only in case; ids are column names, which the database compares "
                          "without case: rename one")
        by_id = {m.id: m for m in self.milestones}
        for i, m in enumerate(self.milestones):
            for j, part in enumerate(m.all_of or []):
                if part not in by_id:
                    raise _at(("milestones", i, "all_of", j), f"no milestone {part!r}; known: {', '.join(ids)}")
                if by_id[part].all_of is not None:
                    raise _at(("milestones", i, "all_of", j), f"{part!r} is itself an all_of; list its parts instead")
                if by_id[part].entity != m.entity:
                    raise _at(("milestones", i, "all_of", j), f"{part!r} is measured per {by_id[part].entity}, "
                              f"{m.id!r} per {m.entity}; parts must share the entity")
            if m.members_reached is not None:
                check_members_reached(i, m.members_reached, by_id, _at)
        primaries = [i for i, m in enumerate(self.milestones) if m.level == "primary"]
        if len(primaries) != 1:
            where = ", ".join(self.milestones[i].id for i in primaries) or "none"
            raise _at(("milestones",), f"exactly one milestone must have `level: primary` (found: {where})")
        if self.milestones[primaries[0]].entity != "user":
            raise _at(("milestones", primaries[0], "entity"), "the primary milestone must be measured per user")
        for j, ref in enumerate(self.funnel or []):
            if ref not in by_id:
                raise _at(("funnel", j), f"no milestone {ref!r}; known: {', '.join(ids)}")
            if by_id[ref].entity != "user":
                raise _at(("funnel", j), f"{ref!r} is an account milestone; the funnel follows users")
        for name, goal in self.targets.items():
            if name.startswith("activation_rate_day_"):
                day = name.removeprefix("activation_rate_day_")
                if not day.isdigit() or int(day) < 1:
                    raise _at(("targets", name), "the day must be a whole number of days, e.g. activation_rate_day_7")
                if isinstance(goal, timedelta):
                    raise _at(("targets", name), f"{format_duration(goal)!r} is a duration, not a rate; write a share "
                              "between 0 and 1, e.g. 0.5")
                if not 0 <= goal <= 1:
                    raise _at(("targets", name), f"{goal:g} is not a rate; write a share between 0 and 1, e.g. 0.5")
            else:
                ref = name.removeprefix("median_time_to_")
                if ref != "primary" and ref not in by_id:
                    raise _at(("targets", name), f"no milestone {ref!r}; use median_time_to_primary or one of: "
                              f"{', '.join(ids)}")
                if not isinstance(goal, timedelta):
                    raise _at(("targets", name), f"{goal:g} is not a duration; write one such as 10m or 2h")
        return self

    @model_validator(mode="after")
    def _signals(self) -> Definitions:
        check_signals(self.signals or [], {m.id: m for m in self.milestones}, _at)
        return self

    @model_validator(mode="after")
    def _rules(self) -> Definitions:
        by_id = {m.id: m for m in self.milestones}
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise _at(("rules", i, "id"), f"{rule.id!r} is used twice; rule ids must be unique")
            seen.add(rule.id)
            when = rule.when
            if when.signal is not None:
                check_signal_rule(i, rule, self.signals or [], _at)
                continue
            trigger_key = "not_reached" if when.not_reached else "reached" if when.reached else "before"
            for loc, ref in ((("rules", i, "when", trigger_key), when.milestone),
                             (("rules", i, "aims_at"), rule.aims_at)):
                if ref is None or (ref == "primary" and loc[-1] in ("reached", "before")):
                    continue
                if ref not in by_id:
                    raise _at(loc, f"no milestone {ref!r}; known: {', '.join(by_id)}")
                if by_id[ref].entity != "user":
                    raise _at(loc, f"{ref!r} is an account milestone; rules nudge users")
            if rule.when.not_reached is not None and rule.when.after is not None:
                window = by_id[rule.when.not_reached].within
                if rule.when.after >= window:
                    raise _at(("rules", i, "when", "after"), f"{format_duration(rule.when.after)} is not inside "
                              f"{rule.when.not_reached!r}'s window ({format_duration(window)}): nobody could still "
                              "reach it when the nudge is sent")
        return self

    # --- derived views the engine and analyses use -------------------------------------------------

    @property
    def accounts_from(self) -> Literal["group", "email_domain"]:
        return self.accounts.from_ if self.accounts is not None else "group"

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def primary(self) -> Milestone:
        return next(m for m in self.milestones if m.level == "primary")

    def milestone(self, milestone_id: str) -> Milestone:
        for m in self.milestones:
            if m.id == milestone_id:
                return m
        raise KeyError(milestone_id)

    @property
    def funnel_ids(self) -> list[str]:
        """The funnel's milestones; by default every user milestone that is not part of an `all_of`, in file order."""
        if self.funnel is not None:
            return list(self.funnel)
        parts = {p for m in self.milestones for p in (m.all_of or [])}
        return [m.id for m in self.milestones if m.id not in parts and m.entity == "user"]

    def event_references(self) -> list[tuple[str, str]]:
        """(YAML path, event name) for every event the file names, so a check can point at the exact line."""
        refs = [(f"signup.event{_index(self.signup.event, i)}", e) for i, e in enumerate(self.signup.events)]
        if isinstance(self.signup.first_seen, FirstSeen):
            refs += [(f"signup.first_seen.events[{i}]", e) for i, e in enumerate(self.signup.first_seen.events or [])]
        if self.paid:
            refs += [(f"paid.event{_index(self.paid.event, i)}", e) for i, e in enumerate(self.paid.events)]
        refs += [(f"retention.active.event[{i}]", e) for i, e in enumerate(self.retention.active.event or [])]
        for j, m in enumerate(self.milestones):
            refs += [(f"milestones[{j}].event{_index(m.event, i)}", e) for i, e in enumerate(m.events)]
        refs += [(f"discovery.exclude[{i}]", e) for i, e in enumerate(self.discovery.exclude)]
        refs += [(f"discovery.not_prerequisite[{i}]", e) for i, e in enumerate(self.discovery.not_prerequisite)]
        return refs

    @property
    def event_names(self) -> set[str]:
        """Every event name the file mentions, for the "not in your data" check."""
        names = set(self.signup.events) | set(self.signup.defining or [])
        if self.paid:
            names |= set(self.paid.events)
        names |= set(self.retention.active.event or [])
        for m in self.milestones:
            names |= set(m.events)
        return names


def _index(value: str | list[str] | None, i: int) -> str:
    return f"[{i}]" if isinstance(value, list) else ""


def _at(loc: tuple[str | int, ...], message: str) -> ValueError:
    """A ValueError that carries its own YAML path, because model validators otherwise report the top level."""
    err = ValueError(message)
    err.loc = loc  # type: ignore[attr-defined]
    return err
