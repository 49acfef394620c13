"""Event names the definitions read that the data never holds: `aha validate`'s first check, and a report's note when
a milestone is reached by nobody (a misspelt name otherwise reads as a 0% result). Imports neither Ibis nor the
engine: a report from kept statements calls it."""

from __future__ import annotations

import difflib

from aha.definitions import Definitions
from aha.store import Store, schema


def event_counts(store: Store) -> dict[str, int]:
    return {str(e): int(n) for e, n in store.raw.execute(
        f"SELECT event, count(*) FROM {schema.EVENTS} GROUP BY event").fetchall()}


def absent_events(definitions: Definitions, counts: dict[str, int]) -> list[tuple[str, str]]:
    """(YAML path, message) for each event name the definitions read that the data (`counts`: events by name) never
    holds, with the closest name it does hold."""
    known = sorted(counts)
    found = []
    for path, name in definitions.event_references():
        if name in counts:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        found.append((path, f"no event {name!r} in the data.{hint}"))
    return found


def note_absent_events(store: Store, definitions: Definitions) -> None:
    """A note (`UserNote`) per event name the definitions read and the data never holds: called by a report in which
    a milestone is reached by nobody (or nobody signed up), so that a misspelt name is not read as a 0% result. A
    backend without DuckDB SQL (Spark) says nothing here; `aha validate` is the full check."""
    import warnings

    from aha.errors import UserNote
    from aha.store.database import StoreError

    try:
        counts = event_counts(store)
    except StoreError:
        return
    for path, message in absent_events(definitions, counts):
        warnings.warn(UserNote(f"{path}: {message} What reads it counts nobody (`aha validate` checks every name)."),
                      stacklevel=3)
