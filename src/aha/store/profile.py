"""What properties do events carry, and with how many distinct values? A sampled profile of the event table.

Dialect SQL (json_keys, row-level Bernoulli sampling), kept here in the store, the one part that talks to the
engine directly: DuckDB's and Spark's. The events are stored sorted by
name, so sampling whole vectors (DuckDB's cheaper `system` method) would see only a handful of event names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot.expressions as sge

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
    total = int(store.value(store.table(schema.EVENTS).count()) or 0)
    percent = min(100.0, 100.0 * sample_rows / max(total, 1))
    if store.dialect == "spark":
        rows = store.rows(_spark_sql(exclude, percent, min_share, max_values))
    else:
        rows = store.raw.execute(_DUCKDB_SQL.format(events=schema.EVENTS, percent=percent),
                                 [list(exclude), min_share, max_values]).fetchall()
    return [PropertyValues(event, key, tuple(values)) for event, key, values in rows if values]


_DUCKDB_SQL = """
    WITH s AS (
        SELECT event, properties FROM {events}
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
"""


def _spark_sql(exclude: Sequence[str], percent: float, min_share: float, max_values: int) -> str:
    """The same profile in Spark SQL: VARIANT for the members (a string value unquoted, as DuckDB's
    `json_extract_string`), `TABLESAMPLE` for the sample (another sample than DuckDB's below 100%), keys Spark's
    path syntax cannot name left out (aha.store.dialects)."""
    excluded = sge.convert(list(exclude)).sql("spark") if exclude else None
    sample = f"TABLESAMPLE ({percent:.6f} PERCENT) REPEATABLE (7)" if percent < 100 else ""
    return f"""
    WITH s AS (
        SELECT event, properties FROM {schema.EVENTS} {sample}
        WHERE properties IS NOT NULL {f"AND NOT array_contains({excluded}, event)" if excluded else ""}
    ), kv AS (
        SELECT event, k AS key, CASE WHEN schema_of_variant(m) = 'STRING' THEN variant_get(m, '$', 'string')
                                     ELSE to_json(m) END AS value
        FROM (SELECT event, k, variant_get(parse_json(properties), concat('$["', k, '"]'), 'variant') AS m
              FROM (SELECT event, properties, explode(json_object_keys(properties)) AS k FROM s)
              WHERE instr(k, '"') = 0 AND instr(k, chr(92)) = 0)
        WHERE NOT is_variant_null(m)
    ), per_event AS (SELECT event, count(*) AS n FROM s GROUP BY event),
    counted AS (
        SELECT event, key, value, count(*) AS n FROM kv WHERE value IS NOT NULL GROUP BY event, key, value
    ), shaped AS (
        SELECT c.*, count(*) OVER (PARTITION BY c.event, c.key) AS distinct_values, p.n AS event_rows
        FROM counted c JOIN per_event p ON c.event = p.event
    )
    SELECT event, key,
           transform(sort_array(collect_list(CASE WHEN n >= {float(min_share)!r} * event_rows
                                                  THEN named_struct('n', -n, 'value', value) END)), x -> x.value)
    FROM shaped
    WHERE distinct_values BETWEEN 2 AND {int(max_values)}
    GROUP BY event, key
    ORDER BY event, key
    """
