"""Candidate milestones for discovery (SEMANTICS.md, "Discovery and scoring"), as one pass over the events.

Per (user, event): how many times the user did it within each candidate window after signup, and how many of those
came before the user's first paid moment. Every threshold of every candidate is then read from these counts; no
query per candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from aha.engine import columns as c
from aha.engine.identity import EventSource
from aha.engine.members import member
from aha.engine.relations import union_all

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


def counts_query(source: EventSource, users: ir.Table, paid_at: ir.Table, excluded: Sequence[str],
                 windows: Sequence[int] = WINDOWS, splits: Sequence[Split] = ()) -> ir.Table:
    """(entity_key, event, split, value, n_<w>, pre_<w>) per candidate and window w in days; `pre` counts only
    events before the user's first paid moment, so a conversion candidate is never something users do because
    they paid."""
    events = labelled_events(source, excluded, splits)
    owners = users.select(c.ENTITY_ID, c.ENTITY_KEY, c.T0).left_join(paid_at, c.ENTITY_KEY)
    joined = events.join(owners, events.user_id == owners[c.ENTITY_ID])
    longest = ibis.interval(days=max(windows))
    joined = joined.filter(joined.timestamp >= joined[c.T0], joined.timestamp < joined[c.T0] + longest)
    before_paid = joined._paid_at.isnull() | (joined.timestamp < joined._paid_at)
    metrics = {}
    for w in windows:
        inside = joined.timestamp < joined[c.T0] + ibis.interval(days=w)
        metrics[f"n_{w}"] = inside.cast("int32").sum()
        metrics[f"pre_{w}"] = (inside & before_paid).cast("int32").sum()
    return joined.group_by([c.ENTITY_KEY, "event", "split", "value"]).aggregate(**metrics)


def dose_query(counts: ir.Table, among: ir.Table, windows: Sequence[int], before_paid: bool) -> ir.Table:
    """Users and outcome users per (candidate, window, count): the dose–response raw material of every window in one
    grouped pass. `among`: (entity_key, _outcome, window) rows, the users each window's candidates are compared
    among (`population_query` counts the same rows).

    Users with a count of 0 for a candidate are absent here; the caller gets them from the population totals.
    """
    prefix = "pre" if before_paid else "n"
    joined = counts.join(among, c.ENTITY_KEY)
    dose = ibis.cases(*[(joined.window == w, joined[f"{prefix}_{w}"]) for w in windows])
    joined = joined.mutate(count=dose)
    joined = joined.filter(joined["count"] > 0)
    return joined.group_by(["event", "split", "value", "window", "count"]).aggregate(
        users=joined.count(), outcome_users=joined._outcome.cast("int64").sum()
    )


def population_query(among: ir.Table) -> ir.Table:
    """(window, users, outcome_users) per window of `among` (entity_key, _outcome, window)."""
    return among.group_by("window").aggregate(users=among.count(), outcome_users=among._outcome.cast("int64").sum())
