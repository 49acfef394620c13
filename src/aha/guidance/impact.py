"""Did a rule's nudge move its milestone? Nudged vs held-out users, intention to treat (docs/semantics.md, "Rules
and holdouts").

Both arms are the users recorded as eligible for the rule (nudged, or held out at the moment they would have been
nudged), whatever happened to the delivery. The outcome is the rule's target milestone reached inside its window.
Users whose window is still open as of `as_of` are left out of the rates in both arms (an open window is not a
failure) and counted apart; for a signal rule the arms are accounts and the outcome is account conversion (any member
paid inside the account's horizon `[t0, t0 + paid.within)`, at or after the entry into the signal), accounts whose
horizon is open left out alike; time to the milestone, from the moment of eligibility, is a Kaplan–Meier median over
everyone, censored at the window's end or `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import pyarrow as pa

from aha.analyses.account_level import account_conversion
from aha.analyses.state import MilestoneState
from aha.errors import UserError
from aha.guidance.rules import ACCOUNT_CONVERSION, FIRINGS, WITHDRAWN, ensure_outbox, identity_links
from aha.results import Rate, ResultMixin
from aha.stats.contingency import difference, p_value
from aha.stats.survival import kaplan_meier
from aha.store import Store

DETECT = 0.05  # the effect a "too few users" verdict sizes the arms for: +5 points
ALPHA, POWER = 0.05, 0.8


@dataclass(frozen=True, slots=True)
class Arm:
    name: str  # "nudged" or "held out"
    eligible: int
    still_open: int  # window open as of as_of: in no rate
    reached: Rate  # among users whose window has closed
    median_seconds_to_milestone: float | None  # Kaplan–Meier, from the moment of eligibility
    out_of_scope: int = 0  # outside the target milestone's `scope` (it cannot be theirs): in no rate


@dataclass(frozen=True, slots=True)
class ImpactResult(ResultMixin):
    kind: ClassVar[str] = "impact"
    rule_id: str
    milestone_id: str
    as_of: datetime
    holdout: float
    nudged: Arm
    held_out: Arm
    difference_points: float | None  # nudged − held out, percentage points
    difference_low: float | None
    difference_high: float | None
    p_value: float | None
    needed_per_arm: int | None  # closed-window users per arm to detect +5 points at 80% power (two-sided 5%)
    verdict: str
    unit: str = "user"  # the arms' unit: "account" for a signal rule (outcome: account conversion)

    def rows(self) -> list[dict[str, Any]]:
        return [{"arm": a.name, "eligible": a.eligible, "out_of_scope": a.out_of_scope, "still_open": a.still_open,
                 "reached": a.reached.numerator,
                 "closed": a.reached.denominator, "rate": a.reached.value, "low": a.reached.low,
                 "high": a.reached.high, "median_seconds": a.median_seconds_to_milestone}
                for a in (self.nudged, self.held_out)]


def impact(store: Store, ms: MilestoneState, rule_id: str) -> ImpactResult:
    try:
        rule = ms.definitions.rule(rule_id)
    except KeyError:
        known = ", ".join(r.id for r in ms.definitions.rules) or "(none defined)"
        raise UserError(f"--impact {rule_id!r}: no such rule in the definitions; known: {known}.") from None
    ensure_outbox(store)
    if rule.when.signal is not None:  # accounts: conversion (any member paid) inside the account's horizon
        if ms.definitions.paid is None:
            raise UserError(f"--impact {rule_id!r}: a signal rule is measured on account conversion, and the "
                            "definitions have no `paid:` section; add one (e.g. `paid: {event: Paid, within: 30d}`).")
        target, rows = ACCOUNT_CONVERSION, account_conversion(store, ms)
        rows = rows.mutate(applicable=True)
    else:
        target = ms.definitions.primary.id if rule.target == "primary" else rule.target
        if rule.when.reached is not None and target == (ms.definitions.primary.id if rule.when.milestone == "primary"
                                                        else rule.when.milestone):
            raise UserError(f"--impact {rule_id!r}: the rule fires when {target} is reached and aims at {target} "
                            "itself, so every user, nudged or held out, has reached it at the moment: there is "
                            "nothing to measure. Set `aims_at:` to the milestone the nudge should move (e.g. the "
                            "next one).")
        state = ms.state
        rows = state.filter((state.entity_type == "user") & (state.milestone_id == target)).select(
            "entity_id", "reach_time", "window_end", "applicable")
    # A user id an alias merged into another since its firing is that user now (its events and milestones are
    # theirs): the firing counts for them, once per user (their earliest firing decides the arm). Accounts never merge.
    links = pa.table({"anonymous_id": pa.array([], pa.string()), "linked_user": pa.array([], pa.string())})
    if rule.when.signal is None:
        links = identity_links(store, ms)
    store.raw.register("_aha_target_state", store.to_pyarrow(rows))
    store.raw.register("_aha_impact_links", links)
    try:
        arms = store.raw.execute(
            f"""WITH fired AS (
                    SELECT coalesce(l.linked_user, f.user_id) AS entity_id, f.held_out, f.eligible_at
                    FROM {FIRINGS} f LEFT JOIN _aha_impact_links l ON l.anonymous_id = f.user_id
                    WHERE f.rule_id = ? AND f.eligible_at <= ? AND f.status <> '{WITHDRAWN}'  -- never sent
                    QUALIFY row_number() OVER (PARTITION BY coalesce(l.linked_user, f.user_id)
                                               ORDER BY f.eligible_at, f.user_id) = 1)
                SELECT f.held_out,
                       (s.reach_time IS NOT NULL AND s.reach_time >= f.eligible_at) AS reached,
                       s.window_end > ? AS still_open,
                       epoch(CASE WHEN s.reach_time IS NOT NULL AND s.reach_time >= f.eligible_at THEN s.reach_time
                                  ELSE least(s.window_end, ?) END - f.eligible_at) AS duration,
                       count(*) AS n, s.applicable
                FROM fired f JOIN _aha_target_state s ON s.entity_id = f.entity_id
                GROUP BY ALL""",
            [rule_id, ms.as_of, ms.as_of, ms.as_of],
        ).fetchall()
    finally:
        store.raw.unregister("_aha_target_state")
        store.raw.unregister("_aha_impact_links")
    nudged, held = _arm("nudged", [r for r in arms if not r[0]]), _arm("held out", [r for r in arms if r[0]])
    a, b = nudged.reached.numerator, nudged.reached.denominator - nudged.reached.numerator
    c, d = held.reached.numerator, held.reached.denominator - held.reached.numerator
    diff, low, high = difference(a, b, c, d)
    p, _ = p_value(a, b, c, d)
    needed = _needed_per_arm(held.reached.value if held.reached.value is not None else nudged.reached.value)
    return ImpactResult(rule_id, target, ms.as_of, rule.holdout, nudged, held,
                        None if diff is None else 100 * diff, None if low is None else 100 * low,
                        None if high is None else 100 * high, p, needed,
                        _verdict(rule.holdout, diff, low, high, p, nudged, held, needed, rule.when.unit),
                        rule.when.unit)


def _arm(name: str, rows: list[tuple[Any, ...]]) -> Arm:
    """One arm from (held_out, reached, still_open, duration, n, applicable) groups. A user outside the target's scope
    (a trait or signup property excludes them from the milestone) can never reach it: counted apart, in no rate and
    no survival curve, in either arm, rather than as a closed window that failed."""
    eligible = sum(int(r[4]) for r in rows)
    out_of_scope = sum(int(r[4]) for r in rows if not r[5])
    rows = [r for r in rows if r[5]]
    still_open = sum(int(r[4]) for r in rows if r[2])
    reached = sum(int(r[4]) for r in rows if r[1] and not r[2])  # among users whose window has closed
    km = kaplan_meier([max(float(r[3]), 0.0) for r in rows], [bool(r[1]) for r in rows], [int(r[4]) for r in rows])
    return Arm(name, eligible, still_open, Rate.of(reached, eligible - out_of_scope - still_open), km.median,
               out_of_scope)


def _needed_per_arm(base: float | None) -> int | None:
    if base is None:
        return None
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    top = min(base + DETECT, 0.999)
    effect = abs(proportion_effectsize(top, base))
    if effect == 0:
        return None
    n = NormalIndPower().solve_power(effect_size=effect, alpha=ALPHA, power=POWER, ratio=1.0)
    return int(-(-float(n) // 1))


def _verdict(holdout: float, diff: float | None, low: float | None, high: float | None, p: float | None,
             nudged: Arm, held: Arm, needed: int | None, unit: str = "user") -> str:
    units = f"{unit}s"
    if holdout == 0:
        return f"no holdout: without {units} left un-nudged, the nudge's effect cannot be measured (set `holdout:`)"
    if diff is None or low is None or high is None:
        return f"too few {units}: nobody with a closed window in one of the arms yet"
    size = min(nudged.reached.denominator, held.reached.denominator)
    if p is not None and p < ALPHA and low > 0:
        return f"works: {100 * diff:+.1f} pts ({100 * low:+.1f} to {100 * high:+.1f})"
    if p is not None and p < ALPHA and high < 0:
        return f"backfires: {100 * diff:+.1f} pts ({100 * low:+.1f} to {100 * high:+.1f})"
    if needed is not None and size < needed:
        return (f"too few {units}: about {needed:,} per arm needed to detect +5 pts (smallest arm has {size:,} "
                "with a closed window)")
    return f"no detectable effect: {100 * diff:+.1f} pts ({100 * low:+.1f} to {100 * high:+.1f})"
