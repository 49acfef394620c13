"""Which early actions, done how often, predict the outcome? Candidates, their lifts, and each event's magic number.

SEMANTICS.md, "Discovery and scoring": every event × threshold × window is a candidate; candidates under the support
floor are not ranked; p-values get a Benjamini–Hochberg correction; ranking is by the lift's lower 95% bound, so a
small lucky group never outranks a large solid one.

The population of a window is a landmark population (Anderson, Cain & Gelber 1983, J Clin Oncol 1:710): the users
whose outcome was still open when the window closed and who were still there, so everyone compared was there for the
whole window and only what they did in it differs (SEMANTICS.md, "Discovery and scoring").
- Retention: users still active after the window, before the retention bracket. Without it, a user who leaves on
  day 3 has fewer page views in 14 days *because* they left, and every frequent event looks like a cause of staying.
- Conversion: users who had not paid when the window closed and were active after it, before the horizon ended
  (paying counts as activity). A user who paid inside the window is left out, whatever they did next: their outcome
  was decided in it, and their counts (cut at the payment) cover less of it. Keeping those who came back after
  paying and dropping those who did not, as a landmark of activity alone did, selected on what users do after paying.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from aha import progress
from aha.analyses import outcomes as outcomes_mod
from aha.analyses import prerequisites as prerequisites_mod
from aha.analyses.prerequisites import Prerequisite
from aha.analyses.state import MilestoneState, event_source
from aha.analyses.validation import Outcome, describe, outcome_rows
from aha.engine import columns as c
from aha.engine.discovery import (
    WINDOWS,
    candidate_counts,
    decode_value,
    dose_query,
    population_query,
    split_keys,
    split_label,
)
from aha.engine.relations import union_all
from aha.engine.segments import ALL, SEGMENT, segment_column
from aha.results import Rate, ResultMixin
from aha.stats import dose
from aha.stats.contingency import Comparison, benjamini_hochberg, compare, compare_many
from aha.store import Store
from aha.store.profile import property_profile

MIN_USERS = 30
MIN_SHARE = 0.01  # of the population, on each side: "everyone but 20 users did it" is no milestone either
MIN_LIFT = 1.1  # a flagged candidate's lift must plausibly exceed 10%: in a log where nearly everything tracks
# engagement, most candidates are truly non-null and BH lets a pure-noise lift of 1.07 through at q < 0.05; a
# milestone is a lever users reach "several times more", not a 7% wobble.


@dataclass(frozen=True, slots=True)
class Candidate:
    event: str
    window_days: int
    threshold: int
    a: int
    b: int
    c: int
    d: int
    comparison: Comparison
    q_value: float | None  # Benjamini–Hochberg across the supported candidates
    youden_j: float | None
    supported: bool  # at least the minimum support on both sides
    significant: bool  # q < 0.05 and the lift's lower 95% bound at least MIN_LIFT
    rank: int | None  # 1 = best lower bound of the lift; None when unsupported


@dataclass(frozen=True, slots=True)
class WindowPopulation:
    """Who a window's candidates are compared among: the eligible users, or with a landmark those still active
    after the window."""

    window_days: int
    users: int
    outcome_users: int


@dataclass(frozen=True, slots=True)
class DoseBand:
    lower: int
    upper: int | None
    rate: Rate

    @property
    def label(self) -> str:
        """The band as users read it, on every surface: "0", "3–4", "5+" (times done in the window)."""
        if self.upper is None:
            return f"{self.lower}+"
        return str(self.lower) if self.upper == self.lower + 1 else f"{self.lower}–{self.upper - 1}"


@dataclass(frozen=True, slots=True)
class MagicNumber:
    event: str
    window_days: int
    threshold: int | None  # None: no significant step (more is not better at any band edge)
    rise_points: float | None
    rise_p_value: float | None
    lift: float | None  # "≥ threshold" vs "< threshold"
    lift_low: float | None
    lift_high: float | None
    youden_threshold: int | None  # the threshold Youden's J would pick, for comparison
    bands: tuple[DoseBand, ...]


@dataclass(frozen=True, slots=True)
class DiscoveryResult(ResultMixin):
    kind: ClassVar[str] = "discovery"
    as_of: datetime
    outcome: str
    window_days: int  # the window magic numbers are computed in
    population: int  # users eligible for the outcome
    outcome_users: int
    min_support: int  # on each side of a candidate
    landmark: bool  # each window's population is the users still active after it (retention's default)
    populations: tuple[WindowPopulation, ...]
    excluded_events: tuple[str, ...]  # never candidates: they define signup or the outcome
    candidates: tuple[Candidate, ...]  # ranked first, then the unsupported
    magic_numbers: tuple[MagicNumber, ...]
    segment: str = ALL  # the segment value this discovery ran within ("(all)" without --segment)
    segment_by: str | None = None
    prerequisites: tuple[Prerequisite, ...] = ()  # events that are steps of paying (analyses.prerequisites)
    notes: tuple[str, ...] = ()  # why the magic numbers are empty, when they are for want of a window

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"rank": k.rank, "event": k.event, "window_days": k.window_days, "threshold": k.threshold,
             "users": k.a + k.b, "rate_reached": k.comparison.rate_reached, "lift": k.comparison.lift,
             "lift_low": k.comparison.lift_low, "q_value": k.q_value, "youden_j": k.youden_j}
            for k in self.candidates
        ]


@dataclass(frozen=True, slots=True)
class DiscoveryBreakdown(ResultMixin):
    """Discovery run within each value of a segment (`aha discover --segment persona`)."""

    kind: ClassVar[str] = "discovery_segments"
    segment_by: str
    groups: tuple[DiscoveryResult, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{"segment": g.segment, **row} for g in self.groups for row in g.rows()]


def _eligible(ms: MilestoneState, outcome: Outcome, retention: ir.Table | None, segment: str | None) -> ir.Table:
    """(entity_id, entity_key, _outcome, _outcome_at, segment, _t0, _active_before): `_active_before` is the user's
    last active moment before the outcome is measured (the retention bracket opens; the conversion horizon ends), null
    without `retention`; `_outcome_at` when the outcome happened (for conversion, the first payment)."""
    rows = outcome_rows(ms, outcome, retention if outcome == "retention" else None)
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    users = users.select(c.ENTITY_ID, c.ENTITY_KEY, c.T0, **{SEGMENT: segment_column(users, segment)})
    joined = rows.filter(rows._eligible).join(users, c.ENTITY_ID)
    kept = (c.ENTITY_ID, c.ENTITY_KEY, "_outcome", "_outcome_at", SEGMENT)
    if retention is None:
        return joined.select(*kept, _t0=joined[c.T0], _active_before=ibis.null("timestamp"))
    column = "active_before" if outcome == "retention" else "active_in_horizon"
    joined = joined.join(retention.select(c.ENTITY_ID, _active_before=retention[column]), c.ENTITY_ID)
    return joined.select(*kept, "_active_before", _t0=joined[c.T0])


def _compared(eligible: ir.Table, window: int, landmark: bool, outcome: Outcome) -> ir.BooleanValue:
    """Whether a user is among those a window's candidates are compared among: with a landmark, those active after
    the window, and for conversion only those who had not paid before it closed (the module docstring says why);
    never null. A longer window's users are among a shorter one's."""
    if not landmark:
        return ibis.literal(True)
    closes = eligible._t0 + ibis.interval(days=window)
    among = eligible._active_before >= closes
    if outcome == "conversion":
        among = among & (eligible._outcome_at.isnull() | (eligible._outcome_at >= closes))
    return among.fill_null(False)


def run(store: Store, ms: MilestoneState, outcome: Outcome = "retention", window: int = 14,
        windows: tuple[int, ...] = WINDOWS, landmark: bool | None = None) -> DiscoveryResult:
    (result,) = run_segments(store, ms, outcome, window, windows, None, landmark=landmark).groups
    return result


def run_segments(store: Store, ms: MilestoneState, outcome: Outcome = "retention", window: int = 14,
                 windows: tuple[int, ...] = WINDOWS, segment: str | None = None,
                 only: str | None = None, landmark: bool | None = None) -> DiscoveryBreakdown:
    """One counts pass over the events for every segment value at once, then the candidates within each.

    `landmark` (default on, for both outcomes) compares each window's candidates among the users whose outcome was
    still open when the window closed and who were active after it; see the module docstring."""
    definitions = ms.definitions
    if landmark is None:
        landmark = True
    if outcome == "retention" and definitions.retention.day < max(windows):
        windows = tuple(w for w in windows if w <= definitions.retention.day)  # windows end before the bracket
    excluded = sorted({*definitions.signup.events, *(definitions.paid.events if definitions.paid else []),
                       *definitions.discovery.exclude})
    with progress.stage("finding who each window compares"):
        retention = outcomes_mod.retention(store, ms) if outcome == "retention" or landmark else None
        # Read by the population and dose queries (and by the window union inside them): computed once.
        eligible = store.materialise("aha_discovery_eligible", _eligible(ms, outcome, retention, segment), temp=True)
        if only is not None:  # one segment value (`--segment persona=admin`): only its users' events are counted
            eligible = eligible.filter(eligible[SEGMENT] == only)
        flags = {f"_in_{w}": _compared(eligible, w, landmark, outcome) for w in windows}
        among = union_all([eligible.filter(flags[f"_in_{w}"]).select(c.ENTITY_KEY, "_outcome", SEGMENT,
                                                                     window=ibis.literal(w)) for w in windows])
        # grouped by (segment, window): no row at all when nobody is eligible (then 0 users, 0 with the outcome)
        everyone = {r[SEGMENT]: (int(r["users"]), int(r["outcome_users"] or 0))
                    for r in store.records(population_query(eligible.mutate(window=ibis.literal(0))))}
        found = {(r[SEGMENT], int(r["window"])): (int(r["users"]), int(r["outcome_users"] or 0))
                 for r in store.records(population_query(among))} if landmark else {}
    values = [only] if only is not None else sorted(everyone) or ([ALL] if segment is None else [])
    # Everyone any window compares (the shortest window's users hold the longer ones'), with when they paid.
    people = eligible.filter(flags[f"_in_{min(windows)}"])
    paid = {"_paid_at": people._outcome_at} if outcome == "conversion" else {}  # the outcome is the payment
    carried = {SEGMENT: people[SEGMENT], "_outcome": people._outcome,
               **{name: _compared(people, w, landmark, outcome) for name, w in zip(flags, windows, strict=True)}}
    people = people.select(c.ENTITY_ID, c.ENTITY_KEY, **{c.T0: people._t0}, **paid, **carried)
    with progress.stage("profiling the events' properties"):
        splits = [(p.event, p.key, p.values) for p in property_profile(store, excluded)]
    counts = candidate_counts(event_source(store, ms.as_of), people, excluded, windows, splits,
                              before_paid=outcome == "conversion", carry=list(carried))
    # As Arrow rows: a pandas frame turns a missing property value into NaN, which is not JSON text.
    by_value: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with progress.stage("counting every candidate over the events"):
        for row in store.records(dose_query(counts, windows)):
            by_value[row[SEGMENT]].append(row)
    store.drop("aha_discovery_eligible", temp=True)
    groups = []
    with progress.stage("ranking the candidates"):
        for value in values:
            total, wins = everyone.get(value, (0, 0))
            totals = {w: found.get((value, w), (0, 0)) if landmark else (total, wins) for w in windows}
            groups.append(summarise(by_value[value], total, wins, windows, window, outcome,
                                    describe(definitions)[outcome], excluded, ms.as_of, str(value), segment,
                                    split_keys(splits), splits, totals=totals, landmark=landmark,
                                    retention_day=definitions.retention.day if outcome == "retention" else None))
    with progress.stage("finding prerequisites"):
        steps = prerequisites_mod.run(store, ms, excluded)  # of the product, not of a segment: over every converter
    return DiscoveryBreakdown(segment or "", tuple(replace(g, prerequisites=steps) for g in groups))


def summarise(rows: list[dict[str, Any]], total: int, wins: int, windows: tuple[int, ...], window: int,
              outcome: Outcome, outcome_text: str, excluded: list[str], as_of: datetime, segment: str = ALL,
              segment_by: str | None = None, keys: Mapping[tuple[str, int], str] | None = None,
              splits: Sequence[tuple[str, str, Sequence[str]]] = (),
              totals: Mapping[int, tuple[int, int]] | None = None, landmark: bool = False,
              retention_day: int | None = None) -> DiscoveryResult:
    """`totals`: (users, outcome users) each window's candidates are compared among (default: everyone eligible)."""
    keys = keys or {}
    totals = {w: totals[w] if totals and w in totals else (total, wins) for w in windows}
    allowed: dict[tuple[str, str], set[str]] = {(e, k): set(v) for e, k, v in splits}
    histograms: dict[tuple[str, int], dict[int, tuple[int, int]]] = defaultdict(dict)
    for row in rows:
        label = row["event"]
        if row["split"] is not None and row["split"] == row["split"]:  # not null / NaN: a property candidate
            key = keys[(row["event"], int(row["split"]))]
            value = decode_value(row["value"])
            if value is None or value not in allowed.get((row["event"], key), ()):
                continue  # a rare value the profile's sample did not keep
            label = split_label(row["event"], key, value)
        histograms[(label, int(row["window"]))][int(row["count"])] = (int(row["users"]),
                                                                      int(row["outcome_users"] or 0))
    for (_, w), h in histograms.items():  # users who never did it, in this window
        users, won = totals[w]
        h[0] = (users - sum(u for u, _ in h.values()), won - sum(x for _, x in h.values()))
    support = max(MIN_USERS, round(MIN_SHARE * total))
    raw: list[tuple[str, int, int, tuple[int, int, int, int], float | None]] = []
    for (event, w), h in sorted(histograms.items()):
        for k in dose.thresholds(dose.percentile_count(h)):
            raw.append((event, w, k, dose.cells(h, k), dose.youden(h, k)))
    comparisons = compare_many([cells for *_, cells, _ in raw])
    supported = [cells[0] + cells[1] >= support and cells[2] + cells[3] >= support for *_, cells, _ in raw]
    q_values = benjamini_hochberg([cmp.p_value if ok else None for cmp, ok in zip(comparisons, supported,
                                                                                     strict=True)])
    # Ranked: supported, with a lift to rank by. An undefined lift (nobody on either side had the outcome) ranked
    # as 0 gave "#1 noise ≥ 1 in 1d" on a log where nobody was retained: an order of ties, read as a finding.
    order = sorted((i for i in range(len(raw)) if supported[i] and comparisons[i].lift_code != "undefined"),
                   key=lambda i: -_rank_key(comparisons[i]))
    rank = {i: n + 1 for n, i in enumerate(order)}
    candidates = []
    for i in [*order, *(i for i in range(len(raw)) if i not in rank)]:
        event, w, k, (a, b, c_, d), j = raw[i]
        cmp, q = comparisons[i], q_values[i]
        significant = q is not None and q < 0.05 and (
            cmp.lift_code == "infinite" or (cmp.lift_low is not None and cmp.lift_low >= MIN_LIFT))
        candidates.append(Candidate(event, w, k, a, b, c_, d, cmp, q, j, supported[i], significant, rank.get(i)))
    flagged = {(k.event, k.window_days, k.threshold) for k in candidates if k.significant}
    magic = tuple(_magic(event, window, h, flagged) for (event, w), h in sorted(histograms.items()) if w == window)
    populations = tuple(WindowPopulation(w, *totals[w]) for w in windows)
    return DiscoveryResult(as_of, f"{outcome}: {outcome_text}", window, total, wins, support, landmark, populations,
                           tuple(excluded), tuple(candidates), magic, segment, segment_by,
                           notes=_window_notes(window, windows, totals, retention_day, landmark) if total else ())


def _window_notes(window: int, windows: tuple[int, ...], totals: Mapping[int, tuple[int, int]],
                  retention_day: int | None, landmark: bool) -> tuple[str, ...]:
    """Why the magic-number window holds nothing to compare: it is not a window of this outcome (retention's
    windows close before its bracket opens), or nobody is compared in it. Never silent: an empty table was."""
    if window not in windows:
        since = (f"retention is measured on day {retention_day}" if retention_day is not None
                 else "the outcome is measured earlier")
        compared = ", ".join(f"{w}d" for w in windows)
        return (f"no magic numbers in the {window}d window: {since}, and only windows that close before it are "
                f"compared ({compared})",)
    if totals[window][0] == 0:
        why = (" (with the landmark, only users seen active after the window and before the outcome is measured)"
               if landmark else "")
        return (f"no magic numbers in the {window}d window: nobody is compared in it{why}",)
    return ()


def _rank_key(cmp: Comparison) -> float:
    """The lift's lower bound; an infinite lift (nobody without it had the outcome) ranks first."""
    if cmp.lift_low is not None:
        return cmp.lift_low
    return float("inf") if cmp.lift_code == "infinite" else 0.0


def _magic(event: str, window: int, h: dict[int, tuple[int, int]],
           flagged: set[tuple[str, int, int]]) -> MagicNumber:
    """The step, kept only when "≥ k" is itself a flagged candidate: a step inside noise is no magic number."""
    steps = dose.thresholds(dose.percentile_count(h))
    band_list = dose.bands(h, steps)
    step = dose.largest_step(band_list, MIN_USERS)
    if step is not None and (event, window, step.threshold) not in flagged:
        step = None
    youden_scores = [(dose.youden(h, k), k) for k in steps]
    best_youden = max(((j, k) for j, k in youden_scores if j is not None), default=(None, None))[1]
    lift = low = high = None
    if step is not None:
        above = compare(*dose.cells(h, step.threshold))
        lift, low, high = above.lift, above.lift_low, above.lift_high
    return MagicNumber(
        event=event, window_days=window, threshold=step.threshold if step else None,
        rise_points=100 * step.rise if step else None, rise_p_value=step.p_value if step else None,
        lift=lift, lift_low=low, lift_high=high, youden_threshold=best_youden,
        bands=tuple(DoseBand(b.lower, b.upper, Rate.of(b.outcome_users, b.users)) for b in band_list),
    )
