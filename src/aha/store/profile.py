"""What properties do events carry, and with how many distinct values? A sampled profile of the event table.

DuckDB-only SQL (json_keys, row-level Bernoulli sampling), kept here in the store, the one part that talks to the
engine directly; another backend gets its own implementation of `property_profile`. The events are stored sorted by
name, so sampling whole vectors (DuckDB's cheaper `system` method) would see only a handful of event names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aha.store import schema
from aha.store.database import Store

SAMPLE_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class PropertyValues:
    event: str
    key: str
    values: tuple[str, ...]  # the values seen in the sample, most frequent first


def property_profile(store: Store, exclude: Sequence[str], max_values: int = 10, min_share: float = 0.01,
                     sample_rows: int = SAMPLE_ROWS) -> list[PropertyValues]:
    """Low-cardinality properties per event: keys with 2…`max_values` distinct values in a sample of the events,
    each value kept when it covers at least `min_share` of that event's sampled rows."""
    total = int(store.scalar(f"SELECT count(*) FROM {schema.EVENTS}") or 0)
    percent = min(100.0, 100.0 * sample_rows / max(total, 1))
    rows = store.raw.execute(
        f"""
        WITH s AS (
            SELECT event, properties FROM {schema.EVENTS}
            WHERE properties IS NOT NULL AND NOT list_contains(?, event)
            USING SAMPLE {percent:.6f}% (bernoulli, 7)
        ), kv AS (
            SELECT event, k AS key,
                   json_extract_string(properties, '/' || replace(replace(k, '~', '~0'), '/', '~1')) AS value
            FROM (SELECT event, properties, unnest(json_keys(properties)) AS k FROM s)
        ), per_event AS (SELECT event, count(*) AS n FROM s GROUP BY event),
        counted AS (
            SELECT event, key, value, count(*) AS n FROM kv WHERE value IS NOT NULL GROUP BY ALL
        ), shaped AS (
            SELECT c.*, count(*) OVER (PARTITION BY c.event, c.key) AS distinct_values, p.n AS event_rows
            FROM counted c JOIN per_event p USING (event)
        )
        SELECT event, key, list(value ORDER BY n DESC, value) FILTER (WHERE n >= ? * event_rows)
        FROM shaped
        WHERE distinct_values BETWEEN 2 AND ?
        GROUP BY event, key
        ORDER BY event, key
        """,
        [list(exclude), min_share, max_values],
    ).fetchall()
    return [PropertyValues(event, key, tuple(values)) for event, key, values in rows if values]
