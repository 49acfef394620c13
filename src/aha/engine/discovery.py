"""Candidate milestones for discovery (SEMANTICS.md, "Discovery and scoring"), as one pass over the events.

Per (user, event, split property value): how many times the user did it within each candidate window after signup
(before the user's first paid moment, for conversion). Every threshold of every candidate is then read from these
counts, grouped into dose–response rows in the same statement; no query per candidate, no per-user table kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.members import member
from aha.engine.relations import union_all
from aha.engine.segments import SEGMENT

WINDOWS = (1, 3, 7, 14)  # days


Split = tuple[str, str, Sequence[str]]  # (event, property, values): "event where property = value" candidates


def split_label(event: str, key: str, value: str) -> str:
    return f"{event} where {key} = {value}"


def labelled_events(source: EventSource, excluded: Sequence[str], splits: Sequence[Split]) -> ir.Table:
    """(user_id, timestamp, event, split) rows: every event once with `split` null (the event's own candidates), and
    once more per low-cardinality property with `split` = its round number, the property's value in `value`
    (SEMANTICS.md property candidates). Labels are built only on the aggregated rows, never per event."""
    events = source.select()
    events = events.filter(~events.event.isin(sorted(set(excluded))))
    parts = [events.select("user_id", "timestamp", "event", value=ibis.null("string"), split=ibis.null("int8"))]
    by_event: dict[str, list[Split]] = {}
    for split in splits:
        if split[0] not in excluded:
            by_event.setdefault(split[0], []).append(split)
    rounds = max((len(v) for v in by_event.values()), default=0)
    for i in range(rounds):  # one pass per round: round i takes the i-th split property of every event
        chosen = {event: s[i] for event, s in by_event.items() if len(s) > i}
        rows = source.select(sorted(chosen))
        value = ibis.cases(*[(rows.event == event, member(rows.properties, key).cast("string"))
                             for event, (_, key, _) in chosen.items()])
        # One JSON extraction per row, kept as JSON text ('"slack"', '3'): decoding, and dropping values outside
        # the profile's list, happen on the aggregated rows (`decode_value`).
        parts.append(rows.select("user_id", "timestamp", "event", value=value,
                                 split=ibis.literal(i).cast("int8")))
    return union_all(parts)


def decode_value(raw: object) -> str | None:
    """The JSON text of a property value as `matchers.text` reads it: strings unquoted, numbers as written. An
    event without the property has no value (None; NaN from a pandas frame)."""
    if not isinstance(raw, str):
        return None
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else raw


def split_keys(splits: Sequence[Split]) -> dict[tuple[str, int], str]:
    """(event, round) → property key, to turn aggregated rows back into "event where key = value" labels."""
    out: dict[tuple[str, int], str] = {}
    seen: dict[str, int] = {}
    for event, key, _ in splits:
        out[(event, seen.get(event, 0))] = key
        seen[event] = seen.get(event, 0) + 1
    return out


def candidate_counts(source: EventSource, people: ir.Table, excluded: Sequence[str], windows: Sequence[int],
                     splits: Sequence[Split] = (), before_paid: bool = False, carry: Sequence[str] = ()) -> ir.Table:
    """(entity_key, event, split, value, n_<w>, *carry) per user and candidate: how many times the user did it within
    each window w (days) after signup; with `before_paid` only the events before the user's first paid moment
    (`_paid_at`) are counted, so a conversion candidate is never something users do because they paid. `people`:
    (entity_id, entity_key, t0, `_paid_at` with `before_paid`, the `carry` columns) of the users compared: no one
    else's events are counted; `carry` (the user's own columns, one value per user) come along on every row.

    One pass over the events: every event row of a compared user, inside the longest window, gets the value of each
    split property its event has (one column per round, `labelled_events`' numbering), and the per-user counts are
    grouped by (user, event, those values) once. The event's own candidates (`split` null) and each round's property
    candidates are then sums over these grouped rows, not further passes over the events (which doubled the rows
    joined and grouped when most events are split).
    """
    by_event: dict[str, list[Split]] = {}
    for split in splits:
        if split[0] not in excluded:
            by_event.setdefault(split[0], []).append(split)
    rounds = max((len(v) for v in by_event.values()), default=0)
    events = source.select(joined_next=True)
    events = events.filter(~events.event.isin(sorted(set(excluded))))
    events = events.select("user_id", "timestamp", "event", *(["properties"] if rounds else []))
    joined = events.join(people, events.user_id == people[c.ENTITY_ID])
    longest = ibis.interval(days=max(windows))
    joined = joined.filter(joined.timestamp >= joined[c.T0], joined.timestamp < joined[c.T0] + longest)
    values = {}  # extracted after the join: only the compared users' events inside the window are parsed
    for i in range(rounds):  # round i: the i-th split property of every event; JSON text ('"slack"', '3')
        chosen = {event: s[i] for event, s in by_event.items() if len(s) > i}
        values[f"_v{i}"] = ibis.cases(*[(joined.event == event, member(joined.properties, key).cast("string"))
                                        for event, (_, key, _) in sorted(chosen.items())])
    joined = joined.mutate(**values)
    metrics = {}
    for w in windows:
        inside = joined.timestamp < joined[c.T0] + ibis.interval(days=w)
        if before_paid:
            inside = inside & (joined._paid_at.isnull() | (joined.timestamp < joined._paid_at))
        metrics[f"n_{w}"] = joined.count(where=inside)
    keys = [c.ENTITY_KEY, "event", *carry]  # carry: one value per user, so it splits no group
    grouped = joined.group_by([*keys, *values]).aggregate(**metrics)
    sums = {f"n_{w}": grouped[f"n_{w}"].sum() for w in windows}
    n = [*keys, *(f"n_{w}" for w in windows)]
    if not rounds:
        return grouped.select(*n, split=ibis.null("int8"), value=ibis.null("string"))
    split_events = sorted(by_event)
    plain = grouped.filter(~grouped.event.isin(split_events))  # one row per (user, event) already
    parts = [plain.select(*n, split=ibis.null("int8"), value=ibis.null("string"))]
    several = grouped.filter(grouped.event.isin(split_events))
    totals = several.group_by(keys).aggregate(**sums)
    parts.append(totals.select(*n, split=ibis.null("int8"), value=ibis.null("string")))
    for i in range(rounds):
        mine = several.filter(several.event.isin(sorted(e for e, s in by_event.items() if len(s) > i)))
        if rounds > 1:  # rows differ in the other rounds' values too: sum them out
            mine = mine.group_by([*keys, f"_v{i}"]).aggregate(**sums)
        parts.append(mine.select(*n, split=ibis.literal(i).cast("int8"), value=mine[f"_v{i}"]))
    return union_all(parts)


def dose_query(counts: ir.Table, windows: Sequence[int]) -> ir.Table:
    """Users and outcome users per (segment, candidate, window, count): the dose–response raw material of every
    window and segment value in one grouped pass. `counts`: `candidate_counts` carrying each user's segment,
    `_outcome` and `_in_<w>` (whether window w's candidates are compared among the user; `population_query` counts the
    same users).

    Users with a count of 0 for a candidate are absent here; the caller gets them from the population totals.
    """
    parts = [counts.filter(counts[f"_in_{w}"], counts[f"n_{w}"] > 0).select(
        SEGMENT, "event", "split", "value", "_outcome", window=ibis.literal(w).cast("int8"), count=counts[f"n_{w}"])
        for w in windows]
    rows = union_all(parts)
    return rows.group_by([SEGMENT, "event", "split", "value", "window", "count"]).aggregate(
        users=rows.count(), outcome_users=rows._outcome.cast("int64").sum()
    )


def population_query(among: ir.Table) -> ir.Table:
    """(segment, window, users, outcome_users) per segment value and window of `among` (entity_key, _outcome,
    segment, window)."""
    return among.group_by([SEGMENT, "window"]).aggregate(users=among.count(),
                                                        outcome_users=among._outcome.cast("int64").sum())
