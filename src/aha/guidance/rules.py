"""Rules evaluated over the engine's state: who is eligible, when, and who is held out (docs/semantics.md, "Rules and
holdouts"). Each firing is recorded in the outbox (`aha_firings`) before anything is sent, once per (rule, user).

Eligibility reads the same state the report counts (one row per user and milestone), as of `as_of` (the clock):
- `not_reached: M, after: D`: the moment is t0 + D; eligible when that moment has come (≤ as_of), M's window is still
  open then (t0 + D < t0 + W) and M was not reached before it (a reach at or after the moment does not undo it:
  the comparison with the holdout is intention-to-treat from the moment of eligibility).
- `reached: M` (or `primary`): the moment is M's reach time.
- `stalled: D` (`before: M`, default the primary): the moment is the user's latest event (up to as_of) + D; eligible
  when that moment has come, M was not reached before it and M's window is still open then.
- `scope`: a trait, else the signup event's property, as milestones' `scope` reads it.
- `signal: S` (sales assist): the unit is the account; the moment is the account's entry into S, scope reads the
  account's traits (guidance.account_rules).
Once per (rule, person): an id recorded before an identify or alias merged it into another user counts as that
user, so the merged user is `already` (not nudged again, and a held-out person stays held out).
Held out: sha256(rule id, NUL, user id) read as a number in [0, 1) below `holdout`: stable across runs, machines and
arrival order. A held-out user is recorded (status `held_out`) at the moment they would have been nudged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from aha.analyses.segment_sources import with_segments
from aha.analyses.state import SEGMENTS_TABLE, MilestoneState, event_source
from aha.definitions import Definitions
from aha.definitions.rules import Rule
from aha.engine import columns as c
from aha.engine.matchers import scope as scope_filter
from aha.results import ResultMixin
from aha.store import Store

FIRINGS = "aha_firings"
HELD_OUT, PENDING, DELIVERED, FAILED = "held_out", "pending", "delivered", "failed"
WITHDRAWN = "withdrawn"  # its rule was removed while it waited: never sent, in neither arm of the impact
SHOWN_PER_RULE = 20  # firings listed per rule in a run's result (all are counted and recorded)
FIRINGS_DDL = f"""CREATE TABLE IF NOT EXISTS {FIRINGS} (
    rule_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, occurrence INTEGER NOT NULL,
    eligible_at TIMESTAMP NOT NULL, recorded_at TIMESTAMP NOT NULL, held_out BOOLEAN NOT NULL,
    channel VARCHAR NOT NULL, milestone_id VARCHAR NOT NULL, status VARCHAR NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error VARCHAR, delivered_at TIMESTAMP, next_attempt_at TIMESTAMP,
    unit VARCHAR NOT NULL DEFAULT 'user',
    PRIMARY KEY (rule_id, user_id, occurrence))"""
ACCOUNT_CONVERSION = "paid"  # what a signal rule aims at (its firings' milestone_id): any member paid


def ensure_outbox(store: Store) -> None:
    """The outbox table, with the `unit` column (user, or account for signal rules) added to an older one. `user_id`
    holds the unit's id: an account id for an account's firing."""
    store.raw.execute(FIRINGS_DDL)
    has_unit = store.raw.execute(
        f"SELECT count(*) FROM duckdb_columns() WHERE table_name = '{FIRINGS}' AND column_name = 'unit' "
        "AND database_name = current_database()").fetchall()
    if not has_unit[0][0]:
        store.raw.execute(f"ALTER TABLE {FIRINGS} ADD COLUMN unit VARCHAR DEFAULT 'user'")


def held_out(rule_id: str, user_id: str, share: float) -> bool:
    digest = hashlib.sha256(f"{rule_id}\x00{user_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass(frozen=True, slots=True)
class Firing:
    user_id: str
    eligible_at: datetime
    held_out: bool


@dataclass(frozen=True, slots=True)
class RuleRun:
    rule_id: str
    channel: str
    milestone_id: str  # the milestone the rule aims at (`paid`, account conversion, for a signal rule)
    why: str  # the trigger in words
    new: int  # newly eligible users (accounts, for a signal rule) recorded (or, in a dry run, that would be)
    nudged: int  # of which nudged
    held_out: int  # of which held out
    already: int  # eligible users recorded by an earlier run (not counted again)
    too_late: int  # eligible, but their moment came more than `late_after` before the run: not recorded
    firings: tuple[Firing, ...]  # the first SHOWN_PER_RULE new ones, earliest first
    unit: str = "user"  # what the rule fires for: "user", or "account" for a signal rule (Firing.user_id: its id)


@dataclass(frozen=True, slots=True)
class RulesRunResult(ResultMixin):
    kind: ClassVar[str] = "rules_run"
    as_of: datetime
    dry_run: bool
    rules: tuple[RuleRun, ...]
    sent: int = 0  # webhook and email deliveries attempted by this run (none in a dry run)
    delivered: int = 0
    retrying: int = 0  # failed this time, another attempt scheduled
    failed: int = 0  # failed for good this run: `aha interventions --failed`
    deferred: int = 0  # held back by the per-user cap or quiet hours, sent later
    withdrawn: int = 0  # waiting firings of rules removed from the definitions, withdrawn by this run

    def rows(self) -> list[dict[str, Any]]:
        return [{"rule_id": r.rule_id, "unit": r.unit, "channel": r.channel, "milestone_id": r.milestone_id,
                 "new": r.new, "nudged": r.nudged, "held_out": r.held_out, "already": r.already, "too_late": r.too_late}
                for r in self.rules]


def run(store: Store, ms: MilestoneState, dry_run: bool = False, now: datetime | None = None) -> RulesRunResult:
    """Evaluate every rule as of the state's as_of; record new firings unless `dry_run`. `now` stamps the records."""
    from aha.guidance import account_rules

    ensure_outbox(store)
    recorded_at = now or ms.as_of
    runs = []
    owners: dict[str, str] | None = None  # recorded id → the user it belongs to now; read once, when needed
    for rule in ms.definitions.rules:
        unit = rule.when.unit
        eligible = account_rules.eligible(store, ms, rule) if unit == "account" else _eligible(store, ms, rule)
        done = {r[0] for r in store.raw.execute(f"SELECT user_id FROM {FIRINGS} WHERE rule_id = ?",
                                                [rule.id]).fetchall()}
        if done and unit == "user":  # once per person: an id recorded before a merge is the merged user now
            owners = people(store, ms) if owners is None else owners
            done = {owners.get(u, u) for u in done}
        cutoff = ms.as_of - rule.late_after
        late = sum(1 for u, at in eligible if u not in done and at < cutoff)
        new = sorted((Firing(u, at, held_out(rule.id, u, rule.holdout)) for u, at in eligible
                      if u not in done and at >= cutoff), key=lambda f: (f.eligible_at, f.user_id))
        if new and not dry_run:
            _record(store, rule, _target(ms, rule), new, recorded_at)
        outs = sum(f.held_out for f in new)
        runs.append(RuleRun(rule.id, rule.then.channel, _target(ms, rule), why(ms.definitions, rule), len(new),
                            len(new) - outs, outs, len(eligible) - len(new) - late, late,
                            tuple(new[:SHOWN_PER_RULE]), unit))
    return RulesRunResult(ms.as_of, dry_run, tuple(runs))


def identity_links(store: Store, ms: MilestoneState) -> pa.Table:
    """(anonymous_id, linked_user): each linked id and the user it belongs to, by the identify and alias calls made
    up to the clock, as the state counts a merged user's events. Rules, the cap and the impact read firings so."""
    return store.to_pyarrow(event_source(store, ms.as_of).identity_links().select("anonymous_id", "linked_user"))


def people(store: Store, ms: MilestoneState) -> dict[str, str]:
    """Each linked id → the user it belongs to now (`identity_links`)."""
    links = identity_links(store, ms)
    return dict(zip(links["anonymous_id"].to_pylist(), links["linked_user"].to_pylist(), strict=True))


def _target(ms: MilestoneState, rule: Rule) -> str:
    if rule.when.signal is not None:
        return ACCOUNT_CONVERSION
    target = rule.target
    return ms.definitions.primary.id if target == "primary" else target


def why(definitions: Definitions, rule: Rule) -> str:
    """The rule's trigger in words (`aha rules run`, the dashboard's /nudges)."""
    from aha.definitions.durations import format_duration

    if rule.when.not_reached is not None and rule.when.after is not None:
        return f"{rule.when.not_reached} not reached {format_duration(rule.when.after)} after signup"
    if rule.when.signal is not None:
        return f"account entered signal {rule.when.signal}"
    if rule.when.stalled is not None:
        return f"no activity for {format_duration(rule.when.stalled)} before {_trigger_milestone(definitions, rule)}"
    return f"{_trigger_milestone(definitions, rule)} reached"


def _trigger_milestone(definitions: Definitions, rule: Rule) -> str:
    m = rule.when.milestone
    return definitions.primary.id if m == "primary" else m


def eligible_query(ms: MilestoneState, rule: Rule, segments: ir.Table | None,
                   last_activity: ir.Table | None = None) -> ir.Table:
    """(user_id, eligible_at) of every user eligible for `rule` as of the state's as_of. `last_activity`
    (user_id, last_at), each user's latest event up to as_of, is needed by `stalled` triggers only."""
    state = ms.state
    watched = _trigger_milestone(ms.definitions, rule)
    rows = state.filter((state[c.ENTITY_TYPE] == c.USER) & (state[c.MILESTONE_ID] == watched) & state[c.APPLICABLE])
    as_of = ibis.literal(ms.as_of)
    if rule.when.not_reached is not None and rule.when.after is not None:
        moment = rows[c.T0] + ibis.interval(seconds=int(rule.when.after.total_seconds()))
        reach = rows[c.REACH_TIME]
        rows = rows.mutate(_at=moment).filter(
            (moment <= as_of) & (moment < rows[c.WINDOW_END]) & (reach.isnull() | (reach >= moment)))
    elif rule.when.stalled is not None and last_activity is not None:
        rows = rows.join(last_activity, rows[c.ENTITY_ID] == last_activity.user_id)
        moment = rows.last_at + ibis.interval(seconds=int(rule.when.stalled.total_seconds()))
        reach = rows[c.REACH_TIME]
        rows = rows.mutate(_at=moment).filter(
            (moment <= as_of) & (moment < rows[c.WINDOW_END]) & (reach.isnull() | (reach >= moment)))
    else:
        rows = rows.filter(rows[c.REACH_TIME].notnull()).mutate(_at=rows[c.REACH_TIME])
    if rule.scope and segments is not None:
        rows = rows.join(segments, c.ENTITY_KEY)
        rows = rows.filter(scope_filter(rows[c.TRAITS], rows[c.SIGNUP_PROPERTIES], rule.scope))
    return rows.select(user_id=rows[c.ENTITY_ID], eligible_at=rows["_at"])


def _eligible(store: Store, ms: MilestoneState, rule: Rule) -> list[tuple[str, datetime]]:
    segments = None
    if rule.scope:
        with_segments(store, ms)
        segments = store.table(SEGMENTS_TABLE)
    last_activity = None
    if rule.when.stalled is not None:
        events = event_source(store, ms.as_of).select(joined_next=True)
        last_activity = events.group_by("user_id").aggregate(last_at=events.timestamp.max())
    table = eligible_query(ms, rule, segments, last_activity).to_pyarrow()
    return list(zip(table["user_id"].to_pylist(), table["eligible_at"].to_pylist(), strict=True))


def _record(store: Store, rule: Rule, target: str, firings: list[Firing], recorded_at: datetime) -> None:
    """One insert; a (rule, user) already recorded (by a concurrent run) is left as it is."""
    batch = pa.table({
        "user_id": [f.user_id for f in firings],
        "eligible_at": pa.array([f.eligible_at for f in firings], pa.timestamp("us")),
        "held_out": [f.held_out for f in firings],
    })
    store.raw.register("_aha_new_firings", batch)
    try:
        store.raw.execute(
            f"""INSERT INTO {FIRINGS} (rule_id, user_id, occurrence, eligible_at, recorded_at, held_out, channel,
                                       milestone_id, status, attempts, unit)
                SELECT ?, user_id, 1, eligible_at, ?, held_out, ?, ?,
                       CASE WHEN held_out THEN '{HELD_OUT}' ELSE '{PENDING}' END, 0, ?
                FROM _aha_new_firings ON CONFLICT DO NOTHING""",
            [rule.id, recorded_at.replace(tzinfo=None), rule.then.channel, target, rule.when.unit],
        )
    finally:
        store.raw.unregister("_aha_new_firings")


@dataclass(frozen=True, slots=True)
class Intervention:
    rule_id: str
    user_id: str
    eligible_at: datetime
    channel: str
    milestone_id: str
    status: str  # held_out, pending, delivered, failed, withdrawn
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    unit: str  # "user", or "account" (a signal rule's firing: user_id holds the account id)


@dataclass(frozen=True, slots=True)
class InterventionsResult(ResultMixin):
    kind: ClassVar[str] = "interventions"
    total: int  # firings matching the filters (only the latest `limit` are listed)
    by_status: dict[str, int]
    interventions: tuple[Intervention, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{k: getattr(i, k) for k in Intervention.__slots__} for i in self.interventions]


def interventions(store: Store, rule_id: str | None = None, status: str | None = None,
                  limit: int = 50) -> InterventionsResult:
    """The outbox, latest first: who was nudged (or held out) by which rule, when, and what became of the delivery."""
    ensure_outbox(store)
    where = "WHERE (? IS NULL OR rule_id = ?) AND (? IS NULL OR status = ?)"
    params = [rule_id, rule_id, status, status]
    counts = dict(store.raw.execute(f"SELECT status, count(*) FROM {FIRINGS} {where} GROUP BY status",
                                    params).fetchall())
    rows = store.raw.execute(
        f"""SELECT rule_id, user_id, eligible_at, channel, milestone_id, status, attempts, last_error, delivered_at,
                   unit FROM {FIRINGS} {where} ORDER BY eligible_at DESC, rule_id, user_id LIMIT ?""",
        [*params, limit]).fetchall()
    return InterventionsResult(sum(counts.values()), {k: int(v) for k, v in sorted(counts.items())},
                               tuple(Intervention(*r) for r in rows))
