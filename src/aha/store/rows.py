"""The SQL that turns a staged file into the importer's uniform rows: typed cells, parsed timestamps, the first
rule each rejected row breaks, message ids (given, or an md5 of the content), and raw text for dead letters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from aha.store import metadata
from aha.store.database import one_row
from aha.store.formats import RAW_LINES, STAGE, Column, Format, quote_ident, quote_literal, stage_raw_lines
from aha.store.mapping import Kind, members_read, source_column, split_source
from aha.store.values import key_value_object

PARSED = "aha_import_parsed"

# (kind condition, field, reason) in the order they are tested; the first that holds names the row's problem.
RULES: tuple[tuple[str, str, str], ...] = (
    ("_kind = 'event' AND event IS NULL", "event", "empty event name"),
    ("_kind = 'event' AND user_id IS NULL AND anonymous_id IS NULL", "user_id", "no user_id and no anonymous_id"),
    ("_kind = 'user' AND user_id IS NULL", "user_id", "no user_id"),
    ("_kind = 'identify' AND user_id IS NULL", "user_id", "identify without userId"),
    ("_kind = 'alias' AND user_id IS NULL", "user_id", "alias without userId"),
    ("_kind = 'alias' AND previous_id IS NULL", "previous_id", "alias without previousId"),
    ("_kind = 'group' AND account_id IS NULL", "account_id", "group without groupId"),
    ("_kind <> 'user' AND ts_text IS NULL", "timestamp", "no timestamp"),
    ("ts_text IS NOT NULL AND ts IS NULL", "timestamp", "unparseable timestamp"),
    # The server's bounds (ingest/payloads.py): a year 1970 or earlier is a default or a unit mistake (epoch 0, a
    # year 0), and a time more than a day past the import's would put the event in a future cohort.
    ("ts < TIMESTAMP '1971-01-01'", "timestamp", "timestamp before 1971"),
    ("ts > CAST($now AS TIMESTAMP) + INTERVAL 1 DAY", "timestamp", "timestamp more than a day after the import"),
)



# Columns the parse adds over STAGE (names no export uses): a nested JSON text column, trimmed, and parsed.
_TEXT, _JSON = '"aha\x1ftext"', '"aha\x1fjson"'

_INT = r"-?(0|[1-9][0-9]{0,17})"
_FLOAT = r"-?(0|[1-9][0-9]*)(\.[0-9]+)([eE][+-]?[0-9]+)?"


_COMMA_FLOAT = r"-?(0|[1-9][0-9]*),[0-9]+"


def _typed_text(col: str, decimal_comma: bool = False) -> str:
    """A CSV cell as JSON: integers and decimals become numbers, true/false booleans, the rest strings. In a file
    separated by `;` (a spreadsheet in a locale whose decimal mark is the comma) `12,50` is the number 12.5 too."""
    comma = (f"WHEN regexp_full_match({col}, {quote_literal(_COMMA_FLOAT)}) "
             f"THEN to_json(CAST(replace({col}, ',', '.') AS DOUBLE)) ") if decimal_comma else ""
    return (
        f"CASE WHEN {col} IS NULL THEN NULL "
        f"WHEN regexp_full_match({col}, {quote_literal(_INT)}) THEN to_json(CAST({col} AS BIGINT)) "
        f"WHEN regexp_full_match({col}, {quote_literal(_FLOAT)}) THEN to_json(CAST({col} AS DOUBLE)) {comma}"
        f"WHEN {col} IN ('true', 'false') THEN to_json({col} = 'true') "
        f"ELSE to_json({col}) END"
    )


def table_rows_sql(
    columns: list[Column], fmt: Format, kind: Kind, mapping: Mapping[str, str], canonical: tuple[str, ...],
    drop: Sequence[str] = (), decimal_comma: bool = False,
) -> str:
    """SELECT producing the uniform row columns from STAGE of a CSV/TSV/Parquet file."""
    names = {c.name: c for c in columns}
    src = {c: mapping.get(c, c) for c in canonical if source_column(mapping.get(c, c)) in names}
    used = {source_column(v) for v in src.values() if split_source(v)[1] is None}
    skipped = set(metadata.left_out(names, used))  # pipeline metadata: never a property (aha.store.metadata)
    text_cells = fmt in ("csv", "tsv")

    def text(c: str) -> str:
        if c not in src:
            return "CAST(NULL AS VARCHAR)"
        column, inner = split_source(src[c])
        if inner is None:
            return _trimmed(f"CAST({quote_ident(column)} AS VARCHAR)")
        return f"nullif(trim(json_extract_string({_as_json(names[column])}, {quote_literal(inner)})), '')"

    pairs = []
    for col in columns:
        if col.name in used or col.name in skipped:
            continue
        ref = quote_ident(col.name)
        value = _typed_text(ref, decimal_comma) if text_cells else (key_value_object(ref, col.type) or ref)
        pairs.append(f"{quote_literal(col.name)}, {value}")
    extra = f"json_object({', '.join(pairs)})" if pairs else "CAST('{}' AS JSON)"
    nested_name = "properties" if kind == "events" else "traits"
    nested_ok = "TRUE"
    source = STAGE
    if nested_name in src:
        root, inner = split_source(src[nested_name])
        col = names[root]
        ref = quote_ident(col.name)
        if inner is not None:
            found = f"json_extract({_as_json(col)}, {quote_literal(inner)})"
            nested = f"(CASE WHEN json_type({found}) = 'OBJECT' THEN {found} END)"
            nested_ok = f"({found} IS NULL OR json_type({found}) IN ('OBJECT', 'NULL'))"
        elif col.type.startswith(("STRUCT", "MAP")):
            nested = f"CAST(to_json({ref}) AS JSON)"
        else:
            # JSON text (a Parquet or CSV column): trimmed, parsed and printed once per row, in `source` below, not
            # once per use (DuckDB does not share the same expression between CASE branches). json() prints the
            # value compactly, so an object is printed text beginning with '{': no json_type (a third parse).
            text_ref = _object_text(f"CAST({ref} AS VARCHAR)")
            source = (f"(SELECT *, CASE WHEN json_valid({_TEXT}) THEN json({_TEXT}) END AS {_JSON} "
                      f"FROM (SELECT *, {text_ref} AS {_TEXT} FROM {STAGE}))")
            nested = _JSON
            nested_ok = f"({_TEXT} IS NULL OR coalesce(starts_with({_JSON}, '{{'), FALSE))"
        nested = nested_members(nested, src, nested_name, drop)
        merged = f"json_merge_patch({extra}, {nested})"
        if nested == _JSON and not pairs:
            # Merging text into {} prints it compactly and drops its null members; text without `null` anywhere
            # has none, and json() printed it the same (in `source`), at a third of the cost.
            merged = f"(CASE WHEN contains({_TEXT}, 'null') THEN {merged} ELSE {_JSON} END)"
        payload = f"CASE WHEN {nested_ok} AND {nested} IS NOT NULL THEN {merged} ELSE {extra} END"
    else:
        payload = extra
    row_kind = "'event'" if kind == "events" else "'user'"
    ts_text, ts_native = text("timestamp"), "CAST(NULL AS TIMESTAMP)"
    ts_col = names.get(src.get("timestamp", ""))
    if ts_col is not None and (ts_col.type.startswith("TIMESTAMP") or ts_col.type == "DATE"):
        # Typed column (Parquet): no text parsing; naive values are read in $tz, zoned ones converted to UTC.
        ref = quote_ident(ts_col.name)
        zoned = "WITH TIME ZONE" in ts_col.type
        ts_native = f"timezone('UTC', {ref})" if zoned else in_zone(f"CAST({ref} AS TIMESTAMP)")
        ts_text = f"CASE WHEN {ref} IS NOT NULL THEN 'typed' END"
    return f"""
    SELECT
        _line,
        {row_kind} AS _kind,
        {text("message_id")} AS message_id,
        {text("event")} AS event,
        {text("user_id")} AS user_id,
        {text("anonymous_id")} AS anonymous_id,
        {text("account_id")} AS account_id,
        {text("previous_id")} AS previous_id,
        {ts_text} AS ts_text,
        {ts_native} AS ts_native,
        {payload if kind == "events" else "CAST(NULL AS JSON)"} AS properties,
        {payload if kind == "users" else "CAST(NULL AS JSON)"} AS traits,
        CASE WHEN NOT {nested_ok} THEN {quote_literal(nested_name)} END AS _field,
        CASE WHEN NOT {nested_ok} THEN {quote_literal(nested_name + " is not a JSON object")} END AS _reason,
        CAST(NULL AS VARCHAR) AS _raw
    FROM {source}
    """


def _trimmed(text: str) -> str:
    """`text` without surrounding spaces, NULL when nothing is left. Most cells begin and end with a printable ASCII
    character (nothing to trim), which is cheaper to test than to trim: that halves the cost of the five id columns."""
    return (f"(CASE WHEN {text}[1] BETWEEN '!' AND '~' AND {text}[-1] BETWEEN '!' AND '~' THEN {text} "
            f"ELSE nullif(trim({text}), '') END)")


def _object_text(text: str) -> str:
    """`text` without surrounding spaces, NULL when nothing is left, for a column of JSON objects: text that begins
    with `{` and ends with `}` (nearly every row) has nothing to trim, and two prefix tests cost a third of trim()
    (0.07 vs 0.21 s of CPU per 1M properties texts), a tenth of a Parquet import's parse."""
    return (f"(CASE WHEN starts_with({text}, '{{') AND ends_with({text}, '}}') THEN {text} "
            f"ELSE nullif(trim({text}), '') END)")


def _as_json(col: Column) -> str:
    """A column as a JSON value, for a pointer into it: structs and maps converted, text parsed when it is JSON."""
    ref = quote_ident(col.name)
    if col.type.startswith(("STRUCT", "MAP")) or col.type.endswith("[]"):
        return f"CAST(to_json({ref}) AS JSON)"
    if col.type == "JSON":
        return ref
    text = f"CAST({ref} AS VARCHAR)"
    return f"(CASE WHEN json_valid({text}) THEN CAST({text} AS JSON) END)"


def nested_object_sql(columns: list[Column], kind: Kind, mapping: Mapping[str, str]) -> str | None:
    """SQL over STAGE: a table row's nested properties (or traits) as JSON, or None when the file has none."""
    names = {c.name: c for c in columns}
    nested_name = "properties" if kind == "events" else "traits"
    column, inner = split_source(mapping.get(nested_name, nested_name))
    if column not in names:
        return None
    whole = _as_json(names[column])
    return whole if inner is None else f"json_extract({whole}, {quote_literal(inner)})"


def nested_search_text(columns: list[Column], kind: Kind, mapping: Mapping[str, str]) -> str | None:
    """SQL over STAGE: text holding every member name of a row's nested properties (or traits), for
    `metadata.nested_left_out`'s first search: a text column as it is (not parsed and printed again), else None."""
    names = {c.name: c for c in columns}
    nested_name = "properties" if kind == "events" else "traits"
    column = split_source(mapping.get(nested_name, nested_name))[0]
    col = names.get(column)
    if col is None or col.type != "VARCHAR":
        return None
    return f"CAST({quote_ident(col.name)} AS VARCHAR)"


def nested_members(obj: str, src: Mapping[str, str], nested_name: str, drop: Sequence[str] = ()) -> str:
    """`obj` (the nested properties or traits) without the members that --map read into canonical columns
    (`--map user_id=/properties/distinct_id` takes `distinct_id` out of properties, as a mapped column is) and
    without the pipeline metadata members `drop` (`mp_processing_time_ms` in a Mixpanel export's properties, found
    by `metadata.nested_left_out`)."""
    home, inner = split_source(src[nested_name])
    taken = members_read((v for c, v in src.items() if c != nested_name), home) if inner is None else []
    gone = list(dict.fromkeys([*taken, *drop]))
    if not gone:
        return obj
    nulls = ", ".join(f"{quote_literal(k)}, CAST(NULL AS JSON)" for k in gone)
    return f"json_merge_patch({obj}, json_object({nulls}))"


def in_zone(naive: str) -> str:
    """A naive TIMESTAMP read as local time in $tz, as naive UTC. With $tz 'UTC' (a bound parameter, folded before
    the query runs) the value itself: two time-zone conversions cost a fifth of a Parquet import's parse."""
    return f"(CASE WHEN $tz = 'UTC' THEN {naive} ELSE timezone('UTC', timezone($tz, {naive})) END)"


def timestamp_sql(text: str, timestamp_format: str | None) -> str:
    """Naive-UTC TIMESTAMP from text: epoch s/ms/µs/ns (GA4: µs), ISO with offset (converted), naive (read in $tz).

    The server's shapes exactly (aha.ingest.payloads.iso_text, docs/ingest.md "Timestamps at the edges"): an offset
    `Z`/`z`, `±hh:mm`, `±hhmm`, `±hh`, or ` UTC` right after the time; a naive date or date and time. Anything else
    is unparseable: DuckDB's TIMESTAMP cast would read `2026-01-01 00:00:00 CET` as midnight UTC, dropping the zone."""
    if timestamp_format is not None:
        parsed = f"try_strptime({text}, $fmt)"
        if "%z" in timestamp_format or "%Z" in timestamp_format:
            return f"timezone('UTC', {parsed})"
        return in_zone(parsed)
    number = f"try_cast({text} AS DOUBLE)"
    offset = r"[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?(Z|z| [Uu][Tt][Cc]|[+-][0-9]{2}(:?[0-9]{2})?)$"
    naive = r"-?[0-9]+-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?"
    return f"""(CASE
        WHEN {text} IS NULL THEN NULL
        WHEN regexp_full_match({text}, '-?[0-9]+(\\.[0-9]+)?') THEN (CASE
            WHEN abs({number}) < 1e11 THEN make_timestamp(try_cast(round({number} * 1000000) AS BIGINT))
            WHEN abs({number}) < 1e14 THEN make_timestamp(try_cast(round({number} * 1000) AS BIGINT))
            WHEN abs({number}) < 1e17 THEN make_timestamp(try_cast(round({number}) AS BIGINT))
            WHEN abs({number}) < 1e20 THEN make_timestamp(try_cast(coalesce(  -- whole ns exactly (a double is not)
                try_cast({text} AS HUGEINT) // 1000, round({number} / 1000)) AS BIGINT))
            END)
        WHEN regexp_matches({text}, {quote_literal(offset)})
            THEN timezone('UTC', try_cast(upper({text}) AS TIMESTAMPTZ))
        WHEN regexp_full_match({text}, {quote_literal(naive)})  -- a zone after a naive time: the cast would drop it
            THEN {in_zone(f"try_cast({text} AS TIMESTAMP)")}
    END)"""


def parsed_sql(rows_sql: str, timestamp_format: str | None) -> str:
    field = " ".join(f"WHEN {cond} THEN {quote_literal(f)}" for cond, f, _ in RULES)
    reason = " ".join(f"WHEN {cond} THEN {quote_literal(r)}" for cond, _, r in RULES)
    sep = "chr(31)"
    stamp = "strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')"
    event_hash = " || ".join(
        [
            "coalesce(event, '')",
            sep,
            "coalesce(user_id, '')",
            sep,
            "coalesce(anonymous_id, '')",
            sep,
            stamp,
            sep,
            "coalesce(CAST(properties AS VARCHAR), '')",
        ]
    )
    other_hash = " || ".join(
        [
            "_kind",
            sep,
            "coalesce(user_id, '')",
            sep,
            "coalesce(anonymous_id, '')",
            sep,
            "coalesce(account_id, '')",
            sep,
            "coalesce(previous_id, '')",
            sep,
            stamp,
            sep,
            "coalesce(CAST(traits AS VARCHAR), '')",
        ]
    )
    return f"""
    CREATE OR REPLACE TEMP TABLE {PARSED} AS
    WITH r AS ({rows_sql}),
    t AS (
        SELECT r.* EXCLUDE (_field, _reason, ts_native),
            r._field AS _pre_field, r._reason AS _pre_reason,
            CASE WHEN ts_native IS NOT NULL THEN ts_native
                 WHEN _kind = 'user' AND ts_text IS NULL THEN CAST($now AS TIMESTAMP)
                 ELSE {timestamp_sql("ts_text", timestamp_format)} END AS ts
        FROM r
    ),
    v AS (
        SELECT t.* EXCLUDE (_pre_field, _pre_reason),
            coalesce(_pre_field, CASE {field} END) AS _field,
            coalesce(_pre_reason, CASE {reason} END) AS _reason
        FROM t
    ),
    m AS (
        SELECT v.* EXCLUDE (message_id),
            _reason IS NULL AS _ok,
            CASE WHEN _reason IS NOT NULL THEN message_id
                 WHEN message_id IS NOT NULL THEN message_id
                 WHEN _kind = 'event' THEN md5({event_hash})
                 ELSE md5({other_hash}) END AS message_id
        FROM v
    )
    SELECT m.*, _ok AS _first, FALSE AS _same, FALSE AS _stored  -- _first: see mark_repeats
    FROM m
    """


def mark_repeats(con: duckdb.DuckDBPyConnection) -> None:
    """Clear `_first` on every accepted row of PARSED whose message id an earlier line of the file carries (events
    and other calls apart): within a file, the first line of a message id is the one stored. A hash aggregate
    over the ids' 64-bit hashes (a fixed-width key, cheaper than the text) first says whether any hash repeats;
    usually none does and nothing else runs. Otherwise only the rows of repeated hashes are grouped by their ids
    (a hash shared by two different ids is no repeat there) and the later lines marked. A window numbering every
    row by its message id cost 40% of a Parquet file's parse."""
    repeated = f"SELECT hash(message_id) AS h FROM {PARSED} WHERE _ok GROUP BY h HAVING count(*) > 1"
    if not one_row(con, f"SELECT count(*) FROM ({repeated})")[0]:
        return
    con.execute(
        f"""UPDATE {PARSED} p SET _first = FALSE FROM (
                SELECT _kind = 'event' AS is_event, message_id, min(_line) AS first_line FROM {PARSED}
                WHERE _ok AND hash(message_id) IN ({repeated}) GROUP BY ALL HAVING count(*) > 1) r
            WHERE p._ok AND (p._kind = 'event') = r.is_event AND p.message_id = r.message_id
              AND p._line <> r.first_line"""
    )


def fill_raw(con: duckdb.DuckDBPyConnection, path: Path, fmt: Format) -> None:
    """Give rejected CSV/Parquet rows their raw text: the file's line when lines match records, else the row as JSON."""
    cols = [str(r[0]) for r in con.execute(f"DESCRIBE {STAGE}").fetchall() if r[0] != "_line"]
    as_json = "CAST(json_object(" + ", ".join(f"{quote_literal(c)}, s.{quote_ident(c)}" for c in cols) + ") AS VARCHAR)"
    con.execute(
        f"""UPDATE {PARSED} p SET _raw = {as_json} FROM {STAGE} s
            WHERE p._reason IS NOT NULL AND s._line = p._line"""
    )
    if fmt == "parquet":
        return
    records = scalar_int(con, f"SELECT count(*) FROM {PARSED}")  # with records that did not fit the header
    try:
        lines = stage_raw_lines(con, path)
    except duckdb.Error:  # lines the line reader cannot split (CRLF ends and a cell holding a bare LF): as JSON
        return
    trailing = scalar_int(con, f"SELECT count(*) FROM {RAW_LINES} WHERE _line > {records + 1}")
    if lines - trailing == records + 1 and not scalar_int(
        con, f"SELECT count(*) FROM {RAW_LINES} WHERE _line > {records + 1} AND _raw IS NOT NULL"
    ):
        con.execute(
            f"""UPDATE {PARSED} p SET _raw = l._raw FROM {RAW_LINES} l
                WHERE p._reason IS NOT NULL AND l._line = p._line"""
        )


def scalar_int(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    row = one_row(con, sql, params)
    return int(row[0]) if row and row[0] is not None else 0
