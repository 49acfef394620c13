"""Which columns of an export describe the pipeline rather than the user's action, and are never kept as properties?

Every column an import does not map becomes a property (or a trait), and properties are offered as segments and as
discovery's property candidates. A delivery time or a loader's batch id is neither: folded in, `received_at` becomes
a "segment" with one value per event, and re-importing aha's own events (the sample's Parquet, `COPY events TO`)
turns its bookkeeping (`received_at`, `source`) into event data. So these columns are left out of properties and
traits, and the import summary names the ones it left out. They are not part of a row's content id either: the same
event delivered twice (a retry, with a later `received_at`) counts once.

- aha's own events layout: `received_at` always; `source` only when the file has aha's whole events layout (every
  column of the events table), since elsewhere a `source` column is often data (an acquisition channel).
- Delivery and processing times of the usual exports: Segment warehouses (`received_at`, `sent_at`,
  `original_timestamp`, `uuid_ts`, `loaded_at`), Amplitude (`server_received_time`, `server_upload_time`,
  `client_upload_time`, `processed_time`), Mixpanel (`$insert_id`, `mp_processing_time_ms`, `$mp_api_endpoint`,
  `$mp_api_timestamp_ms`), PostHog's stream (`_timestamp`, `_offset`), Snowplow (`etl_tstamp`, `collector_tstamp`,
  `dvce_sent_tstamp`; its event time is `derived_tstamp`).
- Loaders' bookkeeping, by prefix: dlt (`_dlt_`), Airbyte (`_airbyte_`), Fivetran (`_fivetran_`), Stitch (`_sdc_`).

A metadata column mapped to a canonical one (`--map timestamp=received_at`) is used as mapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import duckdb

from aha.store.database import one_row
from aha.store.formats import STAGE, Column, quote_literal

PIPELINE_COLUMNS: frozenset[str] = frozenset({
    "received_at", "sent_at", "original_timestamp", "uuid_ts", "loaded_at",
    "server_received_time", "server_upload_time", "client_upload_time", "processed_time",
    "$insert_id", "mp_processing_time_ms", "$mp_api_endpoint", "$mp_api_timestamp_ms",
    "_timestamp", "_offset",
    "etl_tstamp", "collector_tstamp", "dvce_sent_tstamp",  # Snowplow's enrichment, collection and sending times
})
LOADER_PREFIXES: tuple[str, ...] = ("_dlt_", "_airbyte_", "_fivetran_", "_sdc_")
AHA_ONLY = "source"  # bookkeeping only in aha's own layout
AHA_EVENTS_LAYOUT: frozenset[str] = frozenset({
    "message_id", "event", "user_id", "anonymous_id", "account_id", "timestamp", "received_at", "properties", "source",
})


def is_pipeline(name: str) -> bool:
    low = name.lower()
    return low in PIPELINE_COLUMNS or low.startswith(LOADER_PREFIXES)


def left_out(names: Iterable[str], mapped: Iterable[str] = ()) -> list[str]:
    """The columns of a file (in file order) that are metadata, not properties; `mapped` columns never are."""
    names, taken = list(names), set(mapped)
    aha_layout = {n.lower() for n in names} >= AHA_EVENTS_LAYOUT
    return [n for n in names if n not in taken and (is_pipeline(n) or (aha_layout and n.lower() == AHA_ONLY))]


def used(columns: list[Column], mapping: Mapping[str, str], canonical: tuple[str, ...]) -> set[str]:
    """The file's columns that feed a canonical column (mapped, or named like one)."""
    names = {c.name for c in columns}
    return {mapping.get(c, c) for c in canonical if mapping.get(c, c) in names}


def pipeline_keys_sql(doc: str, mapped: Iterable[str], whole_row: bool = True) -> str:
    """SQL: the list of `doc`'s keys (a JSON object) that are pipeline metadata, as `left_out` decides for columns:
    by name or loader prefix, `source` only when the object has aha's whole events layout (a `whole_row`, not a
    nested properties object); never a mapped key."""
    names = ", ".join(quote_literal(n) for n in sorted(PIPELINE_COLUMNS))
    prefixes = " OR ".join(f"starts_with(lower(k), {quote_literal(p)})" for p in LOADER_PREFIXES)
    layout = " AND ".join(f"json_exists({doc}, {quote_literal('$.' + k)})" for k in sorted(AHA_EVENTS_LAYOUT)) \
        if whole_row else "FALSE"
    taken = ", ".join(quote_literal(k) for k in sorted(set(mapped))) or "''"  # (NULL would make NOT IN null)
    return (f"list_filter(json_keys({doc}), lambda k: k NOT IN ({taken}) AND (lower(k) IN ({names}) OR {prefixes} "
            f"OR (lower(k) = {quote_literal(AHA_ONLY)} AND {layout})))")


def pipeline_name_sql(key: str) -> str:
    """SQL (DuckDB's and Spark's): the name `key` is pipeline metadata by name or loader prefix, as `is_pipeline`
    decides (never `source`: it is bookkeeping only as a column of aha's whole layout, not a nested member)."""
    names = ", ".join(quote_literal(n) for n in sorted(PIPELINE_COLUMNS))
    prefixes = " OR ".join(f"left(lower({key}), {len(p)}) = {quote_literal(p)}" for p in LOADER_PREFIXES)
    return f"(lower({key}) IN ({names}) OR {prefixes})"


def pipeline_text_pattern() -> str:
    """A regular expression (case-insensitive, for DuckDB and Java) found in any JSON text that may hold a pipeline
    member: its names and prefixes, and `\\u` (an escape could spell one). Text without it is left as it is."""
    return "|".join(re.escape(n) for n in [*sorted(PIPELINE_COLUMNS | set(LOADER_PREFIXES)), "\\u"])


def without_pipeline_members(obj: str) -> str:
    """DuckDB SQL: the JSON object `obj` without its top-level members that are pipeline metadata by name (a
    Mixpanel export's `/properties/mp_processing_time_ms`), as an import's `nested_left_out` removes them."""
    keys = f"list_filter(json_keys({obj}), lambda k: {pipeline_name_sql('k')})"
    nulls = f"map_from_entries(list_transform({keys}, lambda k: struct_pack(k := k, v := CAST(NULL AS JSON))))"
    return f"json_merge_patch({obj}, coalesce(to_json({nulls}), CAST('{{}}' AS JSON)))"


def without_pipeline_keys(target: str, doc: str, mapped: Iterable[str], whole_row: bool = True) -> str:
    """SQL: `target` (an object made from `doc`) without `doc`'s pipeline metadata keys, by a JSON merge patch
    setting each to null; the keys are read from `doc`, whose layout decides `source` (when a `whole_row`)."""
    nulls = (f"map_from_entries(list_transform({pipeline_keys_sql(doc, mapped, whole_row)}, "
             "lambda k: struct_pack(k := k, v := CAST(NULL AS JSON))))")
    return f"json_merge_patch({target}, coalesce(to_json({nulls}), CAST('{{}}' AS JSON)))"


def json_left_out(con: duckdb.DuckDBPyConnection, mapping: Mapping[str, str], canonical: tuple[str, ...]) -> list[str]:
    """The pipeline metadata keys flat JSON lines carry (and `segment.json_rows_sql` leaves out), for the summary."""
    mapped = {mapping.get(c, c) for c in canonical}
    rows = con.execute(f"""SELECT DISTINCT unnest({pipeline_keys_sql("doc", mapped)}) AS k FROM (
                               SELECT CAST(_raw AS JSON) AS doc FROM {STAGE}
                               WHERE CASE WHEN json_valid(_raw) THEN json_type(_raw) = 'OBJECT' ELSE FALSE END)
                           WHERE json_extract(doc, '$.type') IS NULL ORDER BY k""").fetchall()
    return [str(r[0]) for r in rows]


def nested_left_out(con: duckdb.DuckDBPyConnection, obj: str, mapped: Iterable[str], text: str) -> list[str]:
    """The pipeline metadata members of the nested properties (or traits) objects `obj` (SQL over STAGE), which
    `rows.nested_members` then removes by name. `text` (SQL over STAGE: the rows' text) is searched for the names
    first, so a file without any (most) is not parsed a second time. `text` may be the unparsed JSON text, so a
    `\\u` escape (which could spell a name) sends the file to the parse as well."""
    names = pipeline_text_pattern()
    if not one_row(con, f"SELECT count(*) FILTER (WHERE regexp_matches({text}, ?, 'i')) > 0 FROM {STAGE}",
                   [names])[0]:
        return []
    keys = con.execute(f"""SELECT DISTINCT unnest(json_keys(o)) AS k FROM (SELECT {obj} AS o FROM {STAGE})
                           WHERE o IS NOT NULL AND json_type(o) = 'OBJECT' ORDER BY k""").fetchall()
    taken = set(mapped)
    return [str(k[0]) for k in keys if is_pipeline(str(k[0])) and str(k[0]) not in taken]
