"""Bulk import of events and user traits from CSV/TSV/JSONL/Parquet files into the DuckDB store.

Every row read is accounted for: imported, a duplicate (its message id is already stored, or repeats within the
file), or rejected into `dead_letters` with file, line, field and reason. rows_read = imported + duplicates + rejected.
All work happens in DuckDB SQL over a staging table; Python only builds the statements and counts.

A file's rows, dead letters and its `imports` log row are written in one transaction. Re-importing changes nothing:
events anti-join on message_id (given, or an md5 of the row's content), identities and memberships on their whole
row, traits count as duplicates when every trait already holds that value, dead letters on (file, line, reason, raw).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb

from aha.store import schema
from aha.store.database import Store
from aha.store.formats import (
    RAW_LINES,
    STAGE,
    Column,
    Format,
    ImportRefused,
    close_matches,
    columns_of,
    detect_format,
    drop_staging,
    quote_ident,
    quote_literal,
    resolve_paths,
    stage,
    stage_raw_lines,
)
from aha.store.segment import json_rows_sql

Kind = Literal["events", "users"]
ProgressCallback = Callable[[str, int, int], None]

EVENT_COLUMNS: tuple[str, ...] = (
    "message_id",
    "event",
    "user_id",
    "anonymous_id",
    "account_id",
    "timestamp",
    "properties",
)
USER_COLUMNS: tuple[str, ...] = ("user_id", "timestamp", "traits")
PARSED = "aha_import_parsed"
PROGRESS_STEPS = 3  # read, check, write

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
)


@dataclass(frozen=True, slots=True)
class FileSummary:
    file: str
    format: str
    rows_read: int
    imported: int
    duplicates: int
    rejected: int
    identities: int
    users_updated: int
    accounts_updated: int
    reasons: tuple[tuple[str, int], ...]  # rejection reason -> rows, most frequent first
    seconds: float
    events: int = 0  # of `imported`: events; the rest are identify, alias and group calls (Segment lines)
    reread: bool = False  # imported before, yet no row was a duplicate now: read differently (another --timezone?)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    files: tuple[FileSummary, ...]
    rows_read: int
    imported: int
    duplicates: int
    rejected: int
    identities: int
    users_updated: int
    accounts_updated: int
    events: int = 0

    @property
    def reasons(self) -> tuple[tuple[str, int], ...]:
        totals: dict[str, int] = {}
        for f in self.files:
            for reason, n in f.reasons:
                totals[reason] = totals.get(reason, 0) + n
        return tuple(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = [{**asdict(f), "reasons": dict(f.reasons)} for f in self.files]
        out["reasons"] = dict(self.reasons)
        return out


def import_files(
    store: Store,
    paths: Sequence[str | Path],
    *,
    kind: Kind = "events",
    mapping: Mapping[str, str] | None = None,
    timestamp_format: str | None = None,
    timezone: str = "UTC",
    source: str | None = None,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import files of events (or user traits, kind="users"); see the module docstring for what is counted how."""
    if kind not in ("events", "users"):
        raise ImportRefused(f"unknown import kind {kind!r}: use 'events' or 'users'.")
    canonical = EVENT_COLUMNS if kind == "events" else USER_COLUMNS
    mapping = check_mapping(mapping or {}, canonical)
    files = resolve_paths(tuple(paths))
    con = store.raw
    timezone = check_timezone(con, timezone)
    if timestamp_format is not None:
        check_timestamp_format(con, timestamp_format)
    formats = {path: detect_format(path) for path in files}
    # Refuse before writing anything: every file must offer the required columns.
    for path in files:
        check_columns(path, columns_of(con, path, formats[path]), kind, mapping)

    now = datetime.now(UTC).replace(tzinfo=None)
    previous_tz = con.execute("SELECT current_setting('TimeZone')").fetchone()
    con.execute("SET TimeZone = 'UTC'")
    summaries: list[FileSummary] = []
    try:
        for path in files:
            label = str(path)
            if progress:
                progress(label, 0, PROGRESS_STEPS)
            summaries.append(
                _import_one(
                    store,
                    path,
                    formats[path],
                    kind,
                    mapping,
                    timestamp_format,
                    timezone,
                    source or path.name,
                    now,
                    label,
                    progress,
                )
            )
    finally:
        drop_staging(con)
        con.execute(f"DROP TABLE IF EXISTS {PARSED}")
        con.execute("SET TimeZone = ?", [str(previous_tz[0]) if previous_tz else "UTC"])
    if any(s.imported for s in summaries):
        store.bump_data_version()
    return ImportSummary(
        files=tuple(summaries),
        rows_read=sum(s.rows_read for s in summaries),
        imported=sum(s.imported for s in summaries),
        duplicates=sum(s.duplicates for s in summaries),
        rejected=sum(s.rejected for s in summaries),
        identities=sum(s.identities for s in summaries),
        users_updated=sum(s.users_updated for s in summaries),
        accounts_updated=sum(s.accounts_updated for s in summaries),
        events=sum(s.events for s in summaries),
    )


# -- checks (each failure is one line naming the problem and the fix) ---------------------------------------------


def check_mapping(mapping: Mapping[str, str], canonical: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for target, column in mapping.items():
        if target not in canonical:
            hint = close_matches(target, list(canonical))
            fix = f"Did you mean --map {hint[0]}={column}?" if hint else f"Map one of: {', '.join(canonical)}."
            raise ImportRefused(f"--map {target}={column}: '{target}' is not a canonical column. {fix}")
        if not column:
            raise ImportRefused(f"--map {target}=: no source column given. Write --map {target}=COLUMN.")
        out[target] = column
    return out


def check_timezone(con: duckdb.DuckDBPyConnection, timezone: str) -> str:
    names = [str(r[0]) for r in con.execute("SELECT name FROM pg_timezone_names()").fetchall()]
    if timezone in names:
        return timezone
    folded = {n.lower(): n for n in names}
    if timezone.lower() in folded:
        return folded[timezone.lower()]
    hint = close_matches(timezone, names)
    fix = f"Did you mean --timezone {hint[0]}?" if hint else "Use an IANA name such as Europe/Berlin or UTC."
    raise ImportRefused(f"unknown time zone '{timezone}'. {fix}")


def check_timestamp_format(con: duckdb.DuckDBPyConnection, fmt: str) -> None:
    if "%" not in fmt:
        raise ImportRefused(f"--timestamp-format '{fmt}' has no % directives. Write it like '%d/%m/%Y %H:%M'.")
    try:
        con.execute("SELECT try_strptime('', ?)", [fmt]).fetchall()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise ImportRefused(
            f"--timestamp-format '{fmt}': {first}. Use strptime directives like %Y-%m-%d %H:%M."
        ) from None


def check_columns(path: Path, columns: list[Column], kind: Kind, mapping: Mapping[str, str]) -> None:
    names = [c.name for c in columns]
    if not names and detect_format(path) == "jsonl":
        return  # only Segment calls (or nothing readable): every line is checked on its own
    shown = ", ".join(names) if names else "none"
    for target, column in mapping.items():
        if column not in names:
            hint = close_matches(column, names)
            fix = f"Did you mean --map {target}={hint[0]}?" if hint else f"Pick one of the columns for {target}."
            raise ImportRefused(
                f"{path.name}: --map {target}={column}, but there is no column '{column}' (columns: {shown}). {fix}"
            )
    required = [("user_id", "anonymous_id"), ("event",), ("timestamp",)] if kind == "events" else [("user_id",)]
    mapped = set(mapping.values())
    free = [n for n in names if n not in mapped]
    # Every missing column in one message, with one --map that fixes them all where a column looks right.
    missing, maps = [], []
    for options in required:
        if any(mapping.get(c, c) in names for c in options):
            continue
        target = options[0]
        guess = _suggest(target, free, kind) or (_suggest("anonymous_id", free, kind) if len(options) > 1 else None)
        missing.append(f"'{target}'")
        maps.append(f"{target}={guess or 'COLUMN'}")
        if guess:
            free.remove(guess)
    if missing:
        what, fix = ("column", "one") if len(missing) == 1 else ("columns", "them")
        raise ImportRefused(f"{path.name}: no {what} {', '.join(missing)} (columns: {shown}). "
                            f"Map {fix} with --map {','.join(maps)}")


# Usual names in exports, used only to suggest a --map (never applied silently).
HINTS: dict[str, tuple[str, ...]] = {
    "user_id": ("userid", "distinct_id", "user", "uid", "person_id", "customer_id"),
    "anonymous_id": ("anonymousid", "anon_id", "device_id", "visitor_id"),
    "event": ("event_name", "name", "action", "event_type"),
    "timestamp": ("ts", "time", "event_time", "occurred_at", "created_at", "date", "datetime"),
    "message_id": ("messageid", "event_id", "id", "insert_id", "uuid"),
    "account_id": ("accountid", "group_id", "groupid", "company_id", "org_id"),
}


def _suggest(canonical: str, columns: list[str], kind: Kind = "events") -> str | None:
    lowered = {c.lower(): c for c in columns}
    # In a users file a bare `id` is the user's (in an event export it is the event's: a message id).
    extra = ("id",) if kind == "users" and canonical == "user_id" else ()
    for alias in (*HINTS.get(canonical, ()), *extra):
        if alias in lowered:
            return lowered[alias]
    hits = close_matches(canonical, columns)
    return hits[0] if hits else None


# -- one file ------------------------------------------------------------------------------------------------------


def _import_one(
    store: Store,
    path: Path,
    fmt: Format,
    kind: Kind,
    mapping: Mapping[str, str],
    timestamp_format: str | None,
    timezone: str,
    source: str,
    now: datetime,
    label: str,
    progress: ProgressCallback | None,
) -> FileSummary:
    started = time.perf_counter()
    con = store.raw
    canonical = EVENT_COLUMNS if kind == "events" else USER_COLUMNS
    stage(con, path, fmt)
    if progress:
        progress(label, 1, PROGRESS_STEPS)
    if fmt == "jsonl":
        rows_sql = json_rows_sql(kind, mapping, canonical)
    else:
        described = con.execute(f"DESCRIBE {STAGE}").fetchall()
        columns = [Column(str(r[0]), str(r[1])) for r in described if r[0] != "_line"]
        rows_sql = table_rows_sql(columns, fmt, kind, mapping, canonical)
    params = {"tz": timezone, "now": now}
    if timestamp_format is not None:
        params["fmt"] = timestamp_format
    con.execute(_parsed_sql(rows_sql, timestamp_format), params)
    _mark_duplicates(con)
    rejected = _scalar(con, f"SELECT count(*) FROM {PARSED} WHERE _reason IS NOT NULL")
    if rejected and fmt != "jsonl":
        _fill_raw(con, path, fmt)
    if progress:
        progress(label, 2, PROGRESS_STEPS)

    file_text = str(path)
    with store.transaction():
        con.execute(
            f"""INSERT INTO {schema.DEAD_LETTERS} (received_at, source, file, line, field, reason, raw)
                SELECT $now, $source, $file, p._line, p._field, p._reason, p._raw FROM {PARSED} p
                WHERE p._reason IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM {schema.DEAD_LETTERS} d WHERE d.file = $file AND d.line = p._line
                    AND d.reason = p._reason AND d.raw IS NOT DISTINCT FROM p._raw)""",
            {"now": now, "source": source, "file": file_text},
        )
        events = _insert_count(
            con,
            f"""INSERT INTO {schema.EVENTS}
                SELECT message_id, event, user_id, anonymous_id, account_id, ts, $now, properties, $source
                FROM {PARSED} p WHERE p._kind = 'event' AND p._ok AND p._first AND NOT EXISTS (
                    SELECT 1 FROM {schema.EVENTS} e WHERE e.message_id = p.message_id)
                ORDER BY event, ts""",  # schema.EVENTS_ORDER
            {"now": now, "source": source},
        )
        # From the rows stored by this import (marked by its receive time and source), not from every parsed row:
        # a duplicate refused for its message id may carry an earlier time than the row that was kept.
        stored = (f"(SELECT user_id, anonymous_id, account_id, timestamp FROM {schema.EVENTS} "
                  "WHERE received_at = $now AND source = $source)")
        for statement in (*schema.record_seen(stored), schema.latest_event(stored)) if events else ():
            con.execute(statement, {"now": now, "source": source})
        identities = _insert_count(
            con,
            f"""INSERT INTO {schema.IDENTITIES}
                SELECT DISTINCT anon, user_id, ts, $source FROM (
                    SELECT CASE WHEN _kind = 'alias' THEN previous_id ELSE anonymous_id END AS anon, user_id, ts
                    FROM {PARSED} WHERE _ok AND _kind IN ('identify', 'alias')
                ) n WHERE anon IS NOT NULL AND user_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM {schema.IDENTITIES} i
                    WHERE i.anonymous_id = n.anon AND i.user_id = n.user_id AND i.timestamp = n.ts)""",
            {"source": source},
        )
        con.execute(
            f"""INSERT INTO {schema.MEMBERSHIPS}
                SELECT DISTINCT user_id, account_id, ts FROM {PARSED} n
                WHERE _ok AND _kind = 'group' AND user_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM {schema.MEMBERSHIPS} m
                    WHERE m.user_id = n.user_id AND m.account_id = n.account_id AND m.timestamp = n.ts)"""
        )
        con.execute(schema.latest_call(PARSED))
        users = _upsert_traits(con, schema.USERS, "user_id", "user_id", ("identify", "user"))
        accounts = _upsert_traits(con, schema.ACCOUNTS, "account_id", "account_id", ("group",))
        counts = con.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE _reason IS NOT NULL),
                       count(*) FILTER (WHERE _ok AND _kind <> 'event' AND _first AND NOT _same)
                FROM {PARSED}"""
        ).fetchone()
        assert counts is not None
        rows_read, rejected, others = (int(v) for v in counts)
        imported = events + others
        duplicates = rows_read - rejected - imported
        before = _scalar(  # an earlier import that stored rows (not one whose every row was refused)
            con, f"SELECT count(*) FROM {schema.IMPORTS} WHERE file = ? AND kind = ? AND imported > 0",
            [file_text, kind])
        con.execute(
            f"INSERT INTO {schema.IMPORTS} VALUES (?, ?, ?, ?, ?, ?, ?)",
            [file_text, kind, rows_read, imported, duplicates, rejected, now],
        )
    reasons = con.execute(
        f"""SELECT _reason, count(*) AS n FROM {PARSED} WHERE _reason IS NOT NULL
            GROUP BY _reason ORDER BY n DESC, _reason"""
    ).fetchall()
    if progress:
        progress(label, PROGRESS_STEPS, PROGRESS_STEPS)
    return FileSummary(
        file=file_text,
        format=fmt,
        rows_read=rows_read,
        imported=imported,
        duplicates=duplicates,
        rejected=rejected,
        identities=identities,
        users_updated=users,
        accounts_updated=accounts,
        reasons=tuple((str(r), int(n)) for r, n in reasons),
        seconds=round(time.perf_counter() - started, 3),
        events=events,
        reread=bool(before) and imported > 0 and duplicates == 0,
    )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    row = con.execute(sql, params or []).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _insert_count(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> int:
    row = con.execute(sql, params or {}).fetchone()
    return int(row[0]) if row else 0


# -- SQL builders --------------------------------------------------------------------------------------------------

_INT = r"-?(0|[1-9][0-9]{0,17})"
_FLOAT = r"-?(0|[1-9][0-9]*)(\.[0-9]+)([eE][+-]?[0-9]+)?"


def _typed_text(col: str) -> str:
    """A CSV cell as JSON: integers and decimals become numbers, true/false booleans, the rest strings."""
    return (
        f"CASE WHEN {col} IS NULL THEN NULL "
        f"WHEN regexp_full_match({col}, {quote_literal(_INT)}) THEN to_json(CAST({col} AS BIGINT)) "
        f"WHEN regexp_full_match({col}, {quote_literal(_FLOAT)}) THEN to_json(CAST({col} AS DOUBLE)) "
        f"WHEN {col} IN ('true', 'false') THEN to_json({col} = 'true') "
        f"ELSE to_json({col}) END"
    )


def table_rows_sql(
    columns: list[Column], fmt: Format, kind: Kind, mapping: Mapping[str, str], canonical: tuple[str, ...]
) -> str:
    """SELECT producing the uniform row columns from STAGE of a CSV/TSV/Parquet file."""
    names = {c.name: c for c in columns}
    src = {c: mapping.get(c, c) for c in canonical if mapping.get(c, c) in names}
    used = set(src.values())
    text_cells = fmt in ("csv", "tsv")

    def text(c: str) -> str:
        if c not in src:
            return "CAST(NULL AS VARCHAR)"
        return f"nullif(trim(CAST({quote_ident(src[c])} AS VARCHAR)), '')"

    pairs = []
    for col in columns:
        if col.name in used:
            continue
        ref = quote_ident(col.name)
        value = _typed_text(ref) if text_cells else ref
        pairs.append(f"{quote_literal(col.name)}, {value}")
    extra = f"json_object({', '.join(pairs)})" if pairs else "CAST('{}' AS JSON)"
    nested_name = "properties" if kind == "events" else "traits"
    nested_ok = "TRUE"
    if nested_name in src:
        col = names[src[nested_name]]
        ref = quote_ident(col.name)
        if col.type.startswith(("STRUCT", "MAP")):
            nested = f"CAST(to_json({ref}) AS JSON)"
        else:
            text_ref = f"nullif(trim(CAST({ref} AS VARCHAR)), '')"
            nested = f"CASE WHEN json_valid({text_ref}) THEN CAST({text_ref} AS JSON) END"
            nested_ok = (
                f"({text_ref} IS NULL OR (CASE WHEN json_valid({text_ref}) "
                f"THEN json_type({text_ref}) = 'OBJECT' ELSE FALSE END))"
            )
        payload = (
            f"CASE WHEN {nested_ok} AND {nested} IS NOT NULL THEN json_merge_patch({extra}, {nested}) ELSE {extra} END"
        )
    else:
        payload = extra
    row_kind = "'event'" if kind == "events" else "'user'"
    ts_text, ts_native = text("timestamp"), "CAST(NULL AS TIMESTAMP)"
    ts_col = names.get(src.get("timestamp", ""))
    if ts_col is not None and (ts_col.type.startswith("TIMESTAMP") or ts_col.type == "DATE"):
        # Typed column (Parquet): no text parsing; naive values are read in $tz, zoned ones converted to UTC.
        ref = quote_ident(ts_col.name)
        zoned = "WITH TIME ZONE" in ts_col.type
        ts_native = f"timezone('UTC', {ref})" if zoned else f"timezone('UTC', timezone($tz, CAST({ref} AS TIMESTAMP)))"
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
        CAST(NULL AS VARCHAR) AS previous_id,
        {ts_text} AS ts_text,
        {ts_native} AS ts_native,
        {payload if kind == "events" else "CAST(NULL AS JSON)"} AS properties,
        {payload if kind == "users" else "CAST(NULL AS JSON)"} AS traits,
        CASE WHEN NOT {nested_ok} THEN {quote_literal(nested_name)} END AS _field,
        CASE WHEN NOT {nested_ok} THEN {quote_literal(nested_name + " is not a JSON object")} END AS _reason,
        CAST(NULL AS VARCHAR) AS _raw
    FROM {STAGE}
    """


def timestamp_sql(text: str, timestamp_format: str | None) -> str:
    """Naive-UTC TIMESTAMP from text: epoch seconds/ms, ISO with offset (converted), naive (read in $tz)."""
    if timestamp_format is not None:
        parsed = f"try_strptime({text}, $fmt)"
        if "%z" in timestamp_format or "%Z" in timestamp_format:
            return f"timezone('UTC', {parsed})"
        return f"timezone('UTC', timezone($tz, {parsed}))"
    number = f"try_cast({text} AS DOUBLE)"
    offset = r"[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*(Z|z|UTC|[+-][0-9]{2}(:?[0-9]{2})?)$"
    return f"""(CASE
        WHEN {text} IS NULL THEN NULL
        WHEN regexp_full_match({text}, '-?[0-9]+(\\.[0-9]+)?') THEN (CASE
            WHEN abs({number}) < 1e11 THEN make_timestamp(try_cast(round({number} * 1000000) AS BIGINT))
            WHEN abs({number}) < 1e14 THEN make_timestamp(try_cast(round({number} * 1000) AS BIGINT))
            END)
        WHEN regexp_matches({text}, {quote_literal(offset)}) THEN timezone('UTC', try_cast({text} AS TIMESTAMPTZ))
        ELSE timezone('UTC', timezone($tz, try_cast({text} AS TIMESTAMP)))
    END)"""


def _parsed_sql(rows_sql: str, timestamp_format: str | None) -> str:
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
    SELECT m.*,
        _ok AND row_number() OVER (PARTITION BY _ok, _kind = 'event', message_id ORDER BY _line) = 1 AS _first,
        FALSE AS _same
    FROM m
    """


def _mark_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Set `_same` on non-event rows whose every write is already stored (their re-import changes nothing)."""
    con.execute(
        f"""UPDATE {PARSED} SET _same = TRUE WHERE _ok AND _first AND _kind <> 'event' AND _line NOT IN (
            -- identity links not stored yet
            SELECT p._line FROM {PARSED} p
            WHERE p._ok AND p._kind IN ('identify', 'alias')
              AND (CASE WHEN p._kind = 'alias' THEN p.previous_id ELSE p.anonymous_id END) IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {schema.IDENTITIES} i
                  WHERE i.anonymous_id = (CASE WHEN p._kind = 'alias' THEN p.previous_id ELSE p.anonymous_id END)
                    AND i.user_id = p.user_id AND i.timestamp = p.ts)
            UNION ALL
            -- memberships not stored yet
            SELECT p._line FROM {PARSED} p
            WHERE p._ok AND p._kind = 'group' AND p.user_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {schema.MEMBERSHIPS} m
                  WHERE m.user_id = p.user_id AND m.account_id = p.account_id AND m.timestamp = p.ts)
            UNION ALL
            {_traits_changed_sql(schema.USERS, "user_id", "user_id", ("identify", "user"))}
            UNION ALL
            {_traits_changed_sql(schema.ACCOUNTS, "account_id", "account_id", ("group",))}
        )"""
    )


def _kinds(kinds: tuple[str, ...]) -> str:
    return ", ".join(quote_literal(k) for k in kinds)


def _traits_changed_sql(table: str, key: str, row_key: str, kinds: tuple[str, ...]) -> str:
    """Lines whose entity is new, or which carry a trait the entity lacks, or a new value at least as recent."""
    return f"""
        SELECT p._line FROM {PARSED} p
        WHERE p._ok AND p._kind IN ({_kinds(kinds)}) AND p.{row_key} IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = p.{row_key})
        UNION ALL
        SELECT p._line FROM {PARSED} p, json_each(p.traits) e
        WHERE p._ok AND p._kind IN ({_kinds(kinds)}) AND p.{row_key} IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM {table} t, json_each(t.traits) o
              WHERE t.{key} = p.{row_key} AND o.key = e.key
                AND (CAST(o.value AS VARCHAR) = CAST(e.value AS VARCHAR) OR t.updated_at > p.ts))
    """


def _upsert_traits(con: duckdb.DuckDBPyConnection, table: str, key: str, row_key: str, kinds: tuple[str, ...]) -> int:
    """Merge traits per entity, later timestamp wins per trait (stored traits count at their row's updated_at).

    Returns the number of entities whose row was inserted or changed.
    """
    new = f"""SELECT _line, {row_key} AS id, ts, traits FROM {PARSED}
              WHERE _ok AND _kind IN ({_kinds(kinds)}) AND {row_key} IS NOT NULL"""
    merged = f"""
        WITH new AS ({new}),
        old AS (SELECT {key} AS id, updated_at AS ts, traits FROM {table} WHERE {key} IN (SELECT id FROM new)),
        pairs AS (
            SELECT n.id, e.key, CAST(e.value AS VARCHAR) AS value, n.ts, 1 AS pri, n._line
            FROM new n, json_each(n.traits) e
            UNION ALL
            SELECT o.id, e.key, CAST(e.value AS VARCHAR), o.ts, 0, 0 FROM old o, json_each(o.traits) e
        ),
        latest AS (
            SELECT id, key, arg_max(value, struct_pack(ts := ts, pri := pri, line := _line)) AS value
            FROM pairs GROUP BY id, key
        ),
        objects AS (
            SELECT id, CAST('{{' || string_agg(to_json(key)::VARCHAR || ':' || value, ',' ORDER BY key) || '}}' AS JSON)
                AS traits
            FROM latest GROUP BY id
        ),
        stamps AS (
            SELECT id, max(ts) AS ts FROM (SELECT id, ts FROM new UNION ALL SELECT id, ts FROM old) GROUP BY id
        )
        SELECT s.id, coalesce(o.traits, CAST('{{}}' AS JSON)) AS traits, s.ts AS updated_at
        FROM stamps s LEFT JOIN objects o USING (id)
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE aha_import_traits AS {merged}")
    # An update is an entity that is new or whose traits change. A re-sent row with the same values is not one,
    # but its time is still written: `updated_at` is when the traits were last stated, which the later-wins merge
    # compares an older value arriving late against.
    changed = _scalar(
        con,
        f"""SELECT count(*) FROM aha_import_traits n LEFT JOIN {table} t ON t.{key} = n.id
            WHERE t.{key} IS NULL OR CAST(t.traits AS VARCHAR) IS DISTINCT FROM CAST(n.traits AS VARCHAR)""",
    )
    con.execute(
        f"""INSERT INTO {table} ({key}, traits, updated_at) SELECT id, traits, updated_at FROM aha_import_traits
            ON CONFLICT ({key}) DO UPDATE SET traits = excluded.traits, updated_at = excluded.updated_at"""
    )
    con.execute("DROP TABLE aha_import_traits")
    return changed


def _fill_raw(con: duckdb.DuckDBPyConnection, path: Path, fmt: Format) -> None:
    """Give rejected CSV/Parquet rows their raw text: the file's line when lines match records, else the row as JSON."""
    cols = [str(r[0]) for r in con.execute(f"DESCRIBE {STAGE}").fetchall() if r[0] != "_line"]
    as_json = "CAST(json_object(" + ", ".join(f"{quote_literal(c)}, s.{quote_ident(c)}" for c in cols) + ") AS VARCHAR)"
    con.execute(
        f"""UPDATE {PARSED} p SET _raw = {as_json} FROM {STAGE} s
            WHERE p._reason IS NOT NULL AND s._line = p._line"""
    )
    if fmt == "parquet":
        return
    records = _scalar(con, f"SELECT count(*) FROM {STAGE}")
    lines = stage_raw_lines(con, path)
    trailing = _scalar(con, f"SELECT count(*) FROM {RAW_LINES} WHERE _line > {records + 1}")
    if lines - trailing == records + 1 and not _scalar(
        con, f"SELECT count(*) FROM {RAW_LINES} WHERE _line > {records + 1} AND _raw IS NOT NULL"
    ):
        con.execute(
            f"""UPDATE {PARSED} p SET _raw = l._raw FROM {RAW_LINES} l
                WHERE p._reason IS NOT NULL AND l._line = p._line"""
        )
