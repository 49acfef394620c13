"""Which 3–5 discovered events deserve to become milestones? Each scored 1–5 on four axes, and the shortlist.

SEMANTICS.md, "Discovery and scoring": predictiveness (from the lift's lower 95% bound), proximity (from the time to
the candidate relative to the time to paid), controllability and clarity (annotations in the definitions file,
default 3, and the output says which were defaulted); total = sum; the shortlist is the best 3–5 distinct events.
Each event is scored on its best candidate: its highest-ranked significant (event, window, threshold) in discovery,
a property-level candidate ("Integration Connected where integration_type = postgres") counting for its event, so the
shortlist never holds one event twice.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import ibis
import ibis.expr.types as ir

from aha.analyses import outcomes as outcomes_mod
from aha.analyses.discovery import Candidate, DiscoveryResult
from aha.analyses.state import MilestoneState, event_source
from aha.analyses.validation import Outcome, outcome_rows
from aha.definitions import Definitions
from aha.engine import columns as c
from aha.engine.discovery import labelled_events, split_label
from aha.engine.identity import EventSource
from aha.results import ResultMixin, number
from aha.store import Store

Axis = Literal["proximity", "controllability", "clarity"]
NEUTRAL = 3  # the score of an axis nothing is known about

# Predictiveness from the lift's lower 95% bound: < 1.1 → 1, [1.1, 1.5) → 2, [1.5, 2) → 3, [2, 3) → 4, ≥ 3 → 5.
# An infinite lift (nobody without it had the outcome) scores 5. 1.1 is discovery's MIN_LIFT, so a significant
# candidate scores at least 2; 2 and 3 echo validation's "strong" and the seeds' "several times more".
PREDICTIVENESS_CUTS = (1.1, 1.5, 2.0, 3.0)

# Proximity from r = median time signup → candidate (users who reached it) ÷ median time signup → paid (mature
# converters): how close to signup, on the scale of the path to paying. An activation milestone is one of the few
# *early* actions that predict staying and paying: the earlier it is reached, the more users it can still be driven
# for before they drift away, and the less it can be a by-product of having already decided to pay (a pricing page
# viewed on the way to checkout). r < 0.1 → 5, [0.1, 0.25) → 4, [0.25, 0.5) → 3, [0.5, 1) → 2, ≥ 1 → 1.
PROXIMITY_CUTS = (0.1, 0.25, 0.5, 1.0)
PROXIMITY_SCORES = (5, 4, 3, 2, 1)

SHORTLIST_MIN, SHORTLIST_MAX = 3, 5
EXTRA_TOTAL = 13  # the 4th and 5th events join only with a total above 12, that of an event scored 3 on every axis


@dataclass(frozen=True, slots=True)
class EventScore:
    event: str
    candidate: str  # the best candidate's label: the event, or "event where property = value"
    property: str | None  # for a property-level best candidate, its property and value; else None
    value: str | None
    window_days: int  # the best candidate: "did `event` at least `threshold` times within `window_days`"
    threshold: int
    rank: int  # that candidate's discovery rank
    users: int  # users who did it (cells a + b)
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    q_value: float | None
    milestone_id: str | None  # the first defined milestone whose `event` names it (annotations come from there)
    median_seconds_to_candidate: float | None  # to the threshold-th occurrence, among eligible users who reached it
    proximity_ratio: float | None  # median_seconds_to_candidate ÷ the result's median_seconds_to_paid
    predictiveness: int
    proximity: int
    controllability: int
    clarity: int
    total: int
    defaulted: tuple[Axis, ...]  # axes set to 3 for want of data or an annotation
    shortlisted: bool
    prerequisite: str | None = None  # why it is a step of paying (analyses.prerequisites): never shortlisted


@dataclass(frozen=True, slots=True)
class ScoringResult(ResultMixin):
    kind: ClassVar[str] = "scoring"
    as_of: datetime
    outcome: str
    population: int  # users eligible for the outcome, as in discovery
    median_seconds_to_paid: float | None  # None: no paid event defined, or no mature converter
    converters: int  # mature converters behind that median
    scores: tuple[EventScore, ...]  # best first: total, then predictiveness, then discovery rank
    shortlist: tuple[str, ...]  # events, in score order
    notes: tuple[str, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"event": s.event, "candidate": s.candidate, "window_days": s.window_days, "threshold": s.threshold,
             "rank": s.rank, "lift_low": s.lift_low, "predictiveness": s.predictiveness, "proximity": s.proximity,
             "controllability": s.controllability, "clarity": s.clarity, "total": s.total,
             "defaulted": ", ".join(s.defaulted), "shortlisted": s.shortlisted}
            for s in self.scores
        ]


# -- pure scoring -----------------------------------------------------------------------------------------------


def predictiveness(lift_low: float | None, infinite: bool = False) -> int:
    """1–5 from the lift's lower 95% bound (PREDICTIVENESS_CUTS); no bound scores 1 unless the lift is infinite."""
    if infinite:
        return 5
    if lift_low is None:
        return 1
    return 1 + bisect_right(PREDICTIVENESS_CUTS, lift_low)


def proximity(ratio: float | None) -> int:
    """1–5 from time-to-candidate ÷ time-to-paid (PROXIMITY_CUTS); None (nothing to compare with) is neutral."""
    if ratio is None:
        return NEUTRAL
    return PROXIMITY_SCORES[bisect_right(PROXIMITY_CUTS, ratio)]


def parse_label(label: str) -> tuple[str, str | None, str | None]:
    """(event, property, value) of a candidate label, as `engine.discovery.split_label` writes it."""
    event, found, condition = label.partition(" where ")
    key, equals, value = condition.partition(" = ")
    if not found or not equals or split_label(event, key, value) != label:
        return label, None, None
    return event, key, value


def best_candidates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Per event, its highest-ranked significant candidate (plain or property-level), in rank order: one per event."""
    best: dict[str, Candidate] = {}
    for k in sorted((k for k in candidates if k.significant and k.rank is not None), key=lambda k: k.rank or 0):
        best.setdefault(parse_label(k.event)[0], k)
    return list(best.values())


def shortlist(scores: Sequence[EventScore]) -> tuple[str, ...]:
    """The best SHORTLIST_MIN events in score order, and up to SHORTLIST_MAX with those above EXTRA_TOTAL − 1;
    prerequisites of paying never (a step of paying is not a milestone on the way to it)."""
    ordered = sorted((s for s in scores if s.prerequisite is None), key=_order)
    keep = ordered[:SHORTLIST_MIN] + [s for s in ordered[SHORTLIST_MIN:SHORTLIST_MAX] if s.total >= EXTRA_TOTAL]
    return tuple(s.event for s in keep)


def _order(s: EventScore) -> tuple[int, int, int]:
    return (-s.total, -s.predictiveness, s.rank)


def score(candidate: Candidate, definitions: Definitions, seconds_to_candidate: float | None,
          seconds_to_paid: float | None) -> EventScore:
    cmp = candidate.comparison
    defaulted: list[Axis] = []
    ratio = None
    if seconds_to_candidate is not None and seconds_to_paid:
        ratio = seconds_to_candidate / seconds_to_paid
    else:
        defaulted.append("proximity")
    event, key, value = parse_label(candidate.event)
    milestone = next((m for m in definitions.milestones if event in m.events), None)
    annotations = {}
    axes: tuple[Axis, ...] = ("controllability", "clarity")
    for axis in axes:
        given = getattr(milestone, axis) if milestone is not None else None
        if given is None:
            defaulted.append(axis)
        annotations[axis] = NEUTRAL if given is None else int(given)
    scores = (predictiveness(cmp.lift_low, cmp.lift_code == "infinite"), proximity(ratio),
              annotations["controllability"], annotations["clarity"])
    return EventScore(
        event=event, candidate=candidate.event, property=key, value=value, window_days=candidate.window_days,
        threshold=candidate.threshold,
        rank=candidate.rank or 0, users=candidate.a + candidate.b, lift=cmp.lift, lift_low=cmp.lift_low,
        lift_high=cmp.lift_high, q_value=candidate.q_value, milestone_id=milestone.id if milestone else None,
        median_seconds_to_candidate=seconds_to_candidate, proximity_ratio=ratio, predictiveness=scores[0],
        proximity=scores[1], controllability=scores[2], clarity=scores[3], total=sum(scores),
        defaulted=tuple(defaulted), shortlisted=False,
    )


def summarise(discovery: DiscoveryResult, definitions: Definitions, seconds_to_candidate: dict[str, float | None],
              seconds_to_paid: float | None, converters: int) -> ScoringResult:
    steps = {p.event: p.reason for p in discovery.prerequisites}
    scored = [score(k, definitions, seconds_to_candidate.get(k.event), seconds_to_paid)
              for k in best_candidates(discovery.candidates)]
    scored = [_with(s, prerequisite=steps.get(s.event)) for s in scored]
    chosen = shortlist(scored)
    scored = sorted((_with(s, shortlisted=s.event in chosen) for s in scored), key=_order)
    notes = []
    if definitions.paid is None:
        notes.append("no paid event is defined: proximity defaulted to 3 for every event")
    elif seconds_to_paid is None:
        notes.append("no mature converter yet: proximity defaulted to 3 for every event")
    notes += [f"not shortlisted, {s.event}: {s.prerequisite} (discovery.not_prerequisite in the definitions file "
              "lifts this)" for s in scored if s.prerequisite is not None]
    if not scored:
        notes.append("no significant candidate in discovery: nothing to score")
    elif len(chosen) < SHORTLIST_MIN:
        notes.append(f"only {len(chosen)} significant event(s): the shortlist is shorter than {SHORTLIST_MIN}")
    return ScoringResult(discovery.as_of, discovery.outcome, discovery.population, seconds_to_paid, converters,
                         tuple(scored), chosen, tuple(notes))


def _with(s: EventScore, **changes: Any) -> EventScore:
    from dataclasses import replace

    return replace(s, **changes)



# -- the shortlist as commented milestones ------------------------------------------------------------------------

WriteStatus = Literal["appended", "duplicate", "empty"]


def commented_milestones(result: ScoringResult, taken_ids: set[str], indent: str = "  ") -> list[str]:
    """The shortlist as milestone entries, each line commented out with "# ": uncommenting changes nothing else.

    Ids are derived from event, threshold and window, and made unique against `taken_ids` (the file's milestones).
    """
    lines: list[str] = []
    taken = set(taken_ids)
    for s in (s for s in result.scores if s.shortlisted):
        slug = re.sub(r"[^a-z0-9]+", "_", (s.event if s.value is None else f"{s.event} {s.value}").lower())
        slug = slug.strip("_") or "event"
        base = f"{'' if slug[0].isalpha() else 'e_'}{slug}"[:48] + f"_{s.threshold}_in_{s.window_days}d"
        mid, n = base, 2
        while mid in taken:
            mid, n = f"{base}_{n}", n + 1
        taken.add(mid)
        times = "time" if s.threshold == 1 else "times"
        ci = "" if s.lift_low is None or s.lift_high is None else f" (95% CI {s.lift_low:.2f}–{s.lift_high:.2f})"
        lift = "∞ (nobody without it had the outcome)" if s.lift is None else f"{s.lift:.2f}{ci}"
        q = "" if s.q_value is None else f", q = {s.q_value:.2g}"
        defaulted = f"; defaulted: {', '.join(s.defaulted)}" if s.defaulted else ""
        item, name = indent + "  ", f"{s.candidate} {s.threshold}+ {times} in {s.window_days} days"
        where = [] if s.property is None else [  # a JSON object is a YAML flow mapping
            f"# {item}where: {json.dumps({s.property: s.value}, ensure_ascii=False)}"]
        lines += [
            f"# {indent}- id: {mid}",
            f"# {item}name: {json.dumps(name, ensure_ascii=False)}",
            f"# {item}event: {json.dumps(s.event, ensure_ascii=False)}",
            *where,
            f"# {item}count: {s.threshold}",
            f"# {item}within: {s.window_days}d",
            f"# {item}# lift {lift}{q}; score {s.total} = predictiveness {s.predictiveness} + proximity "
            f"{s.proximity} + controllability {s.controllability} + clarity {s.clarity}{defaulted}",
        ]
    return lines


def append_shortlist(path: Path, result: ScoringResult, definitions: Definitions,
                     today: date | None = None) -> tuple[WriteStatus, str]:
    """Appends the shortlist to the definitions file at `path` as a dated block of commented milestones.

    Existing lines are never touched: the file is only appended to, so it loads exactly as before. A block whose
    milestones are already in the file (the same shortlist written before) is refused as "duplicate", so running
    `aha discover --write` twice on the same data adds it once; a changed shortlist gets a new dated block.
    Returns the status and the block (appended or not).
    """
    text = path.read_text(encoding="utf-8")
    found = re.search(r"^( *)- id:", text, flags=re.M)
    body = commented_milestones(result, {m.id for m in definitions.milestones}, found.group(1) if found else "  ")
    if not body:
        return "empty", ""
    block = "\n".join([
        f"# aha discover --write, {(today or date.today()).isoformat()}: shortlist for {result.outcome}",
        "# Candidate milestones, commented out: delete the leading \"# \" of an entry's lines to track it",
        "# (the entries belong under `milestones:`).",
        *body,
    ]) + "\n"
    if "\n".join(body) in text:
        return "duplicate", block
    with path.open("a", encoding="utf-8") as f:
        f.write(("" if text.endswith("\n") or not text else "\n") + "\n" + block)
    return "appended", block

# -- queries ----------------------------------------------------------------------------------------------------


def eligible_query(ms: MilestoneState, outcome: Outcome, retention: ir.Table | None) -> ir.Table:
    """(entity_id, t0) of users eligible for the outcome: discovery's population."""
    rows = outcome_rows(ms, outcome, retention)
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER).select(c.ENTITY_ID, c.T0)
    return rows.filter(rows._eligible).join(users, c.ENTITY_ID).select(c.ENTITY_ID, c.T0)


def reach_times_query(source: EventSource, eligible: ir.Table, best: Sequence[tuple[str, int, int]],
                      paid_at: ir.Table | None) -> ir.Table:
    """(label, median_seconds, users): time from signup to the `threshold`-th occurrence within `window_days`, per
    (label, window_days, threshold) of `best`, among eligible users who got there; one query for all events.
    A label is an event or "event where property = value" (`engine.discovery.labelled_events` rows).

    With `paid_at` (entity_id, _paid_at), only occurrences before the first paid moment count, as discovery counts
    them for conversion.
    """
    splits: dict[tuple[str, str], list[str]] = {}
    for label, *_ in best:
        event, key, value = parse_label(label)
        if key is not None and value is not None:
            splits.setdefault((event, key), []).append(value)
    rounds: dict[tuple[str, str], int] = {}  # labelled_events numbers an event's split properties in this order
    for event, key in splits:
        rounds[(event, key)] = sum(1 for e, _ in rounds if e == event)
    rows: dict[str, list[Any]] = {"label": [], "event": [], "split": [], "json_value": [], "text_value": [],
                                  "window_days": [], "threshold": []}
    for label, window, threshold in best:
        event, key, value = parse_label(label)
        prop = key is not None and value is not None
        for column, item in (("label", label), ("event", event),
                             ("split", rounds[(event, str(key))] if prop else -1),
                             ("json_value", json.dumps(value) if prop else ""), ("text_value", value or ""),
                             ("window_days", window), ("threshold", threshold)):
            rows[column].append(item)
    table = ibis.memtable(rows)
    events = labelled_events(source, (), [(e, k, v) for (e, k), v in splits.items()])
    events = events.filter(events.event.isin(sorted({parse_label(b[0])[0] for b in best})))
    joined = events.join(eligible, events.user_id == eligible[c.ENTITY_ID]).join(table, "event")
    # A plain label takes the event's own rows (split null); "event where key = value" its property round's rows
    # whose value, kept as JSON text ('"slack"', '3'), is that value.
    joined = joined.filter(
        (joined.split.isnull() & (joined.split_right == -1))
        | ((joined.split.cast("int64") == joined.split_right)
           & ((joined.value == joined.json_value) | (joined.value == joined.text_value)))
    )
    if paid_at is not None:
        joined = joined.left_join(paid_at, c.ENTITY_ID)
        joined = joined.filter(joined._paid_at.isnull() | (joined.timestamp < joined._paid_at))
    elapsed = (joined.timestamp.epoch_seconds() - joined[c.T0].epoch_seconds()).cast("float64")
    joined = joined.mutate(_elapsed=elapsed).filter(lambda t: (t._elapsed >= 0) & (t._elapsed < t.window_days * 86400))
    nth = ibis.row_number().over(group_by=[joined[c.ENTITY_ID], joined.label], order_by=joined.timestamp)
    ranked = joined.mutate(_n=nth)
    reached = ranked.filter(ranked._n == ranked.threshold - 1)  # row_number counts from 0
    return reached.group_by("label").aggregate(median_seconds=reached._elapsed.median(), users=reached.count())


def paid_time_query(ms: MilestoneState) -> ir.Table:
    """Median signup → paid among converters whose conversion window has closed, so young cohorts (who can only
    have converted fast so far) do not shorten it."""
    s = ms.state
    paid = s.filter(s[c.MILESTONE_ID] == c.PAID, s[c.ENTITY_TYPE] == c.USER, s[c.REACH_TIME].notnull(),
                    s[c.WINDOW_END] <= ibis.literal(ms.as_of))
    seconds = (paid[c.REACH_TIME].epoch_seconds() - paid[c.T0].epoch_seconds()).cast("float64")
    return paid.aggregate(median_seconds=seconds.median(), converters=paid.count())


def run(store: Store, ms: MilestoneState, discovery: DiscoveryResult, outcome: Outcome) -> ScoringResult:
    """Scores the events of a discovery run on the same state (`discovery` comes from `analyses.discovery.run`)."""
    best = best_candidates(discovery.candidates)
    times: dict[str, float | None] = {}
    seconds_to_paid, converters = None, 0
    if ms.definitions.paid is not None:
        row = store.execute(paid_time_query(ms)).iloc[0]
        converters = int(row["converters"] or 0)
        seconds_to_paid = number(row["median_seconds"]) if converters else None
    if best:
        retention = outcomes_mod.retention(store, ms) if outcome == "retention" else None  # not the activity days
        paid_at = None
        if outcome == "conversion":
            s = ms.state
            paid = s.filter(s[c.MILESTONE_ID] == c.PAID, s[c.ENTITY_TYPE] == c.USER)
            paid_at = paid.select(c.ENTITY_ID, _paid_at=paid[c.REACH_TIME])
        source = event_source(store, ms.as_of)
        query = reach_times_query(source, eligible_query(ms, outcome, retention),
                                  [(k.event, k.window_days, k.threshold) for k in best], paid_at)
        times = {r["label"]: number(r["median_seconds"]) for r in store.execute(query).to_dict("records")}
    return summarise(discovery, ms.definitions, times, seconds_to_paid, converters)

