"""A state's segment sources (signup properties and traits of each user), built apart from the state when a breakdown
asks for them, and the checks of a `--segment` name against them. Split from aha.analyses.state.
"""

from __future__ import annotations

import difflib
from dataclasses import replace

from aha.analyses.state import ENTITIES_TABLE, SEGMENTS_KEY, SEGMENTS_TABLE, STATE_KEY, MilestoneState, event_source
from aha.engine import columns as c
from aha.errors import UserError
from aha.jsonpointer import key_problem, shown
from aha.store import Store, schema

KNOWN_SHOWN = 20  # segment names listed in a message at most


def segment_keys(store: Store) -> list[str]:
    """Every user trait and signup-event property name (`with_segments` built the table): what `--segment` takes."""
    return store.json_keys(SEGMENTS_TABLE, (c.TRAITS, c.SIGNUP_PROPERTIES))


def check_segment(store: Store, segment: str | None) -> None:
    """An unknown segment would put everyone in "(none)": say so instead, with the names that exist. A segment is a
    property key (aha.jsonpointer): a literal name, or a JSON Pointer into nested values when it starts with `/`."""
    if segment is None:
        return
    problem = key_problem(segment)
    if problem:
        raise UserError(f"--segment {shown(segment)}: {problem}.")
    if segment.startswith("/"):
        from aha.engine.members import JSONMember

        segments = store.table(SEGMENTS_TABLE)
        found = store.value(segments.filter(JSONMember(segments[c.TRAITS], segment).to_expr().notnull()
                                            | JSONMember(segments[c.SIGNUP_PROPERTIES], segment).to_expr().notnull())
                            .count())
        if not found:
            raise UserError(f"--segment {shown(segment)}: no user trait or signup-event property has a value at "
                            "that JSON Pointer.")
        return
    known = segment_keys(store)
    if segment not in known:
        close = difflib.get_close_matches(segment, known, n=1)
        hint = f"Did you mean {shown(close[0])}? " if close else ""
        listed = ", ".join(shown(k) for k in known[:KNOWN_SHOWN]) or "(none)"
        more = f" and {len(known) - KNOWN_SHOWN:,} more" if len(known) > KNOWN_SHOWN else ""
        raise UserError(f"--segment {shown(segment)}: no user trait or signup-event property of that name. {hint}"
                        f"Known: {listed}{more}.")


def with_segments(store: Store, ms: MilestoneState) -> MilestoneState:
    """The state with each entity's segment sources (signup properties, traits) beside it, for breakdowns.

    Kept apart from the state and built on first use (then reused while the state is): a report without a
    breakdown never reads or writes the JSON, which was a third of the state's cost at ten million events.
    """
    from aha.engine.state import segments_query

    store.settle()  # the state's key is written with the state
    key = store.meta(STATE_KEY)
    built = store.meta(SEGMENTS_KEY)
    if built != key or not store.exists(SEGMENTS_TABLE):
        query = segments_query(event_source(store, ms.as_of), store.table(schema.USERS), ms.definitions,
                               store.table(ENTITIES_TABLE))
        store.materialise(SEGMENTS_TABLE, query)
        store.set_meta({SEGMENTS_KEY: key or ""})
    segments = store.table(SEGMENTS_TABLE)
    joined = ms.entities.left_join(segments, ms.entities[c.ENTITY_KEY] == segments[c.ENTITY_KEY])
    entities = joined.select(*ms.entities.columns, c.SIGNUP_PROPERTIES, c.TRAITS)
    return replace(ms, source=entities)
