"""Parquet files read in place (`--db parquet:///data/lake/`): events in aha's canonical columns, no import.

Layout (docs/engine.md, "Backends"): a directory holds the events as `events*.parquet` or an `events/` directory,
and may hold `identities`, `memberships`, `users`, `accounts` (`NAME.parquet` or `NAME/`) beside them, as
`aha sample --out` writes them; a directory without those names is all events; a file or a glob is events only.
Event columns: `event`, `timestamp`, and `user_id` or `anonymous_id` are required; `message_id` (ties at the same
instant are broken by it), `account_id`, `properties` (JSON text, or a struct/map, written as JSON) and
`received_at` are optional. Other names map with `map=canonical=column,...`, as `aha import --map`. A timestamp
with a time zone is read in UTC; one without means UTC. Nothing is deduplicated. Properties are read as import
stores them: null members absent, rows whose properties text is not a JSON object left out (import rejects them),
and every other column but pipeline metadata a property (a warehouse table's, `property_columns`).

The state is computed into an in-memory DuckDB database beside the view of the files, so every process computes it
once (the files may change between runs without aha knowing; a side file would need their listing in its key).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aha.store import metadata, schema
from aha.store.database import Store, StoreError, connect
from aha.store.formats import quote_literal
from aha.store.mapping import EVENT_COLUMNS
from aha.store.urls import Location

SIDE_TABLES = (schema.IDENTITIES, schema.MEMBERSHIPS, schema.USERS, schema.ACCOUNTS)


def resolve(location: Location, available: Sequence[str]) -> dict[str, str | None]:
    """canonical column → the source column read for it (None: absent, read as NULL); one line for what is
    missing or mapped to a column the files do not have."""
    present = set(available)
    for target, column in location.mapping.items():
        if column not in present and column.startswith("/"):  # `aha import --map`'s member inside a column
            raise StoreError(f"--db {location.text}: map={target}={column}: a location read in place maps columns "
                             "only, not a member inside one; import the files instead (aha import FILES --db "
                             f"aha.duckdb --map {target}={column}).")
        if column not in present:
            raise StoreError(f"--db {location.text}: map={target}={column}: the events have no column {column!r} "
                             f"(they have {', '.join(sorted(present))}).")
    out = {name: location.mapping.get(name, name if name in present else None) for name in (*EVENT_COLUMNS,
                                                                                            "received_at")}
    missing = [name for name in ("event", "timestamp") if out[name] is None]
    if out["user_id"] is None and out["anonymous_id"] is None:
        missing.append("user_id (or anonymous_id)")
    if missing:
        raise StoreError(f"--db {location.text}: the events have no column {', '.join(missing)} (they have "
                         f"{', '.join(sorted(present))}). Name the source column with map=, e.g. "
                         f"{location.text.partition('?')[0]}?map=user_id=distinct_id,event=event_name.")
    return out


@dataclass(frozen=True)
class Source:
    """Parquet files: `path` (a file, a glob, or a directory read at any depth when `recursive`)."""

    path: str
    recursive: bool = False

    def duckdb(self) -> str:
        """The files as DuckDB's `read_parquet` argument (a quoted glob)."""
        glob = str(Path(self.path) / "**" / "*.parquet") if self.recursive else self.path
        return "'" + glob.replace("'", "''") + "'"


@dataclass(frozen=True)
class Layout:
    events: Source
    tables: dict[str, Source]  # identities, memberships, users, accounts: those present


def layout(location: Location) -> Layout:
    """Where a location's events and side tables are (module docstring); one line when there are no events."""
    path = Path(location.path)
    if any(ch in location.path for ch in "*?[") and not path.is_file():
        if not glob.glob(location.path, recursive=True):
            raise StoreError(f"--db {location.text}: no file matches {location.path} (check the pattern, or give "
                             "the directory: parquet:///data/events/).")
        return Layout(Source(location.path), {})
    if path.is_file():
        return Layout(Source(location.path), {})
    if not path.is_dir():
        raise StoreError(f"--db {location.text}: {path}: no such file or directory (an absolute path is "
                         "parquet:///data/events/, a relative one parquet:events/).")
    tables = {}
    for name in SIDE_TABLES:
        if (path / f"{name}.parquet").is_file():
            tables[name] = Source(str(path / f"{name}.parquet"))
        elif (path / name).is_dir():
            tables[name] = Source(str(path / name), recursive=True)
    if any(path.glob("events*.parquet")):
        return Layout(Source(str(path / "events*.parquet")), tables)
    if (path / "events").is_dir():
        return Layout(Source(str(path / "events"), recursive=True), tables)
    if tables or not any(path.rglob("*.parquet")):
        raise StoreError(f"--db {location.text}: {path} holds no events: put them in events*.parquet files or an "
                         "events/ directory beside " + (", ".join(f"{n}.parquet" for n in tables) or
                                                         "the other tables") + ", or give their directory.")
    return Layout(Source(str(path), recursive=True), tables)


def listing(location: Location) -> tuple[tuple[str, int, int], ...]:
    """Every Parquet file a location reads, with its size and modification time: what tells that the files
    changed. One directory walk; no file is opened."""
    found = layout(location)
    out = []
    for source in (found.events, *found.tables.values()):
        pattern = str(Path(source.path) / "**" / "*.parquet") if source.recursive else source.path
        for name in glob.glob(pattern, recursive=True):
            stat = os.stat(name)
            out.append((name, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(out))


def partition_keys(files: tuple[tuple[str, int, int], ...]) -> set[str]:
    """The names of the hive partitions in the files' paths (`dt` of `dt=2026-01-01/part-0.parquet`)."""
    return {part.partition("=")[0] for name, _, _ in files for part in Path(name).parts[:-1] if "=" in part}


def trimmed(text: str) -> str:
    """An id or event name as `aha import` reads it (store/rows.py `_trimmed`): its spaces around trimmed, and
    blank text no value, so that a row whose only id is `""` is no event and `" u1"` is the user `u1`. Read as it
    was, the lakes counted `""` as a user and `" use "` as another event than `use`. Both engines' `trim` remove
    spaces only, as import's."""
    return f"nullif(trim({text}), '')"


def side_table_sql(name: str, source: str, string: str, json_of: Callable[[str], str], timestamp: str) -> str:
    """A side table's canonical columns from its files (`source`, a FROM item); users and accounts keep each id's
    latest row."""
    def text(col: str) -> str:
        return f"{trimmed(f'CAST({col} AS {string})')} AS {col}"

    def time(col: str) -> str:
        return f"CAST({col} AS {timestamp}) AS {col}"

    if name == schema.IDENTITIES:
        return f"SELECT {text('anonymous_id')}, {text('user_id')}, {time('timestamp')}, {text('source')} FROM {source}"
    if name == schema.MEMBERSHIPS:
        return f"SELECT {text('user_id')}, {text('account_id')}, {time('timestamp')} FROM {source}"
    key = "user_id" if name == schema.USERS else "account_id"
    return (f"SELECT {key}, traits, updated_at FROM (SELECT {text(key)}, {json_of('traits')} AS traits, "
            f"{time('updated_at')}, row_number() OVER (PARTITION BY {key} ORDER BY updated_at DESC) AS _n "
            f"FROM {source}) WHERE _n = 1")


def property_columns(columns: dict[str, str | None], names: Sequence[str]) -> list[str]:
    """The source columns read as properties, as `aha import` keeps a table's columns (store/rows.py
    `table_rows_sql`): every column no canonical column reads, but pipeline metadata (aha.store.metadata: Segment's
    `received_at`, `uuid_ts`, a loader's `_dlt_id`, ...). A Segment or RudderStack warehouse table holds its events'
    properties so, as top-level columns. `names`: the files' own columns, in file order."""
    used = {source for source in columns.values() if source is not None}
    skipped = set(metadata.left_out(names, used))
    return [name for name in names if name not in used and name not in skipped]


def canonical_select(columns: dict[str, str | None], types: dict[str, str], quote: Callable[[str], str],
                     json_of: Callable[[str, str | None], str], string: str, timestamp: str,
                     epoch_of: Callable[[str], str], text_time: Callable[[str], str] | None = None,
                     text_kinds: tuple[str, ...] = (), extra: Sequence[str] = (),
                     merged_of: Callable[[str, str | None, list[tuple[str, str]]], str] | None = None) -> str:
    """The SELECT list that turns source columns into the canonical events (DuckDB or Spark spelling).
    `json_of(column, its type)` is the properties as the store's JSON (`json_of("NULL", None)`: a NULL of it), so
    that files without a properties column read as events without properties, not as a column of text.
    `extra` (`property_columns`) are columns read as properties: `merged_of(column or "NULL", its type or None,
    [(extra column's name, its type)])` is then the properties, the extra columns' values with the properties
    column's members merged over them (a JSON merge patch), as import merges them.
    `epoch_of(micros)` is the timestamp of a BIGINT of microseconds since 1970, for a timestamp column of numbers;
    `text_time(column)` that of a column of text (a type in `text_kinds`), NULL where it is no time."""
    def time(source: str) -> str:
        kind = types[source].lower()
        if kind.startswith(NUMBERS):  # epoch s, ms, µs or ns (GA4: µs), told by size as import does
            exact = "DOUBLE" if kind.startswith(("float", "double")) else "DECIMAL(38, 0)"  # no overflow times 1e6
            return epoch_of(f"CAST({epoch_micros(f'CAST({quote(source)} AS {exact})')} AS BIGINT)")
        if kind in text_kinds and text_time is not None:  # ISO with an offset, epoch text: as import parses them
            return text_time(quote(source))
        return f"CAST({quote(source)} AS {timestamp})"

    def col(name: str, kind: str) -> str:
        source = columns[name]
        if name == "properties" and extra and merged_of is not None:
            kept = [(column, types[column]) for column in extra]
            merged = merged_of(quote(source) if source else "NULL", types[source] if source else None, kept)
            return f"{merged} AS {name}"
        if name == "properties":
            return f"{json_of(quote(source), types[source]) if source else json_of('NULL', None)} AS {name}"
        if source is None:
            return f"CAST(NULL AS {kind}) AS {name}"
        if name == "timestamp":
            return f"{time(source)} AS {name}"
        return f"{trimmed(f'CAST({quote(source)} AS {kind})')} AS {name}"

    parts = [col(name, timestamp if name == "timestamp" else string) for name in EVENT_COLUMNS]
    received = columns["received_at"] or columns["timestamp"]
    assert received is not None
    parts += [f"{time(received)} AS received_at", f"CAST(NULL AS {string}) AS source"]
    return ", ".join(parts)


NUMBERS = ("tinyint", "smallint", "int", "bigint", "hugeint", "utinyint", "usmallint", "uinteger", "ubigint",
           "float", "double", "decimal")


def epoch_micros(column: str) -> str:
    """A number of seconds, milliseconds, microseconds or nanoseconds since 1970 in microseconds, the unit told by
    its size as `aha import` tells it (store/rows.py `timestamp_sql`: below 1e11 seconds, 1e14 ms, 1e17 µs)."""
    return (f"(CASE WHEN abs({column}) < 1e11 THEN round({column} * 1000000) WHEN abs({column}) < 1e14 "
            f"THEN round({column} * 1000) WHEN abs({column}) < 1e17 THEN round({column}) "
            f"ELSE round({column} / 1000) END)")


def accepted_rows(columns: dict[str, str | None], types: dict[str, str], quote: Callable[[str], str],
                  is_object: Callable[[str], str], text: tuple[str, ...], extra: Sequence[str] = (),
                  keys_once: Callable[[str, str], str | None] = lambda ref, kind: None) -> str:
    """The WHERE condition keeping the rows `aha import` accepts as to their properties: a text column of
    properties (its type in `text`) must hold a JSON object, or nothing (NULL or blanks); `is_object(column)` tests
    the first. A GA4 key/value list column among the `extra` property columns must name each key once
    (`keys_once(column, its type)`, None for other types): import refuses an object naming a member twice
    (docs/ingest.md, "Repeated names"). Import rejects the others, so the lake leaves them out: the same events
    count on every backend."""
    conds = [c for c in (keys_once(quote(name), types[name]) for name in extra) if c is not None]
    source = columns["properties"]
    if source is not None and types[source] in text:
        conds.append(f"(nullif(trim({quote(source)}), '') IS NULL OR {is_object(quote(source))})")
    return " AND ".join(conds) or "TRUE"


def _keys_once(ref: str, kind: str) -> str | None:
    from aha.store.values import key_value_object

    if key_value_object(ref, kind) is None:
        return None
    keys = f"list_filter(list_transform({ref}, lambda x: x.key), lambda k: k IS NOT NULL)"
    return f"({ref} IS NULL OR len(list_distinct({keys})) = len({keys}))"


class LakeStore(Store):
    """A DuckDB store in memory whose `events` is a view of the Parquet files; the other canonical tables are
    empty, but for `seen_*` and the latest event time, computed from the files when opened."""
    incremental = False  # a full build each time: no row ids to keep marks by
    keeps_answers = False  # the files may change without a data version knowing it

    def __init__(self, location: Location) -> None:
        self.path = Path(location.path)
        self.location = location
        self._start()
        self._identity = ((), {})
        self._attach(connect(), ensure_schema=True)  # in memory, as `ibis.duckdb.connect()`; Ibis on first use
        self.raw.execute("SET TimeZone = 'UTC'")  # a TIMESTAMPTZ column is read as its UTC wall-clock time
        self._changes = 0
        self._files = listing(location)
        self.raw.execute(f"DROP TABLE {schema.EVENTS}")  # the canonical table, replaced by the view of the files
        self._register()

    def _register(self) -> None:
        """The events view over the files, the side tables, `seen_*` and the latest event time, from the files as
        they are now."""
        found = layout(self.location)
        source = f"read_parquet({found.events.duckdb()}, union_by_name = true)"
        inside = f"read_parquet({found.events.duckdb()}, union_by_name = true, hive_partitioning = false)"
        try:
            own = {str(r[0]) for r in self.raw.execute(f"DESCRIBE SELECT * FROM {inside}").fetchall()}
        except duckdb.Error as exc:  # a file that is no Parquet (a CSV given as the file, a truncated copy)
            first = str(exc).strip().splitlines()[0]
            raise StoreError(f"--db {self.location.text}: the files are not readable as Parquet ({first}). Give "
                             "Parquet files; import CSV or JSON lines: `aha import FILE --db aha.duckdb`.") from None
        if partition_keys(self._files) & own:
            source = inside  # the files' own column, not the directory's name for it (as Spark and import read it)
        described = self.raw.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        types = {str(r[0]): str(r[1]) for r in described}
        columns = resolve(self.location, list(types))
        partitions = partition_keys(self._files) - own  # the directories' names, not the files' data
        extra = property_columns(columns, [name for name in types if name not in partitions])
        select = canonical_select(columns, types, _quote, _json, "VARCHAR", "TIMESTAMP", _epoch, _text_time,
                                  ("varchar",), extra, _merged)
        where = accepted_rows(columns, types, _quote, _is_object, ("VARCHAR", "JSON"), extra, _keys_once)
        # rows import rejects for want of an event, an id or a time (store/rows.py RULES) are no events here either
        select = (f"* FROM (SELECT {select} FROM {source} WHERE {where}) WHERE event IS NOT NULL AND timestamp IS "
                  "NOT NULL AND (user_id IS NOT NULL OR anonymous_id IS NOT NULL)")
        self.raw.execute(f"CREATE OR REPLACE VIEW {schema.EVENTS} AS SELECT {select}")
        for name in (*SIDE_TABLES, schema.SEEN_USERS, schema.SEEN_MEMBERS, schema.SEEN_ANONYMOUS):
            self.raw.execute(f"DELETE FROM {name}")
        self.raw.execute(f"DELETE FROM {schema.META} WHERE key = ?", [schema.LATEST_EVENT])
        for name, files in found.tables.items():
            side = side_table_sql(name, f"read_parquet({files.duckdb()}, union_by_name = true)", "VARCHAR",
                                  lambda col: f"CAST({col} AS JSON)", "TIMESTAMP")
            self.raw.execute(f"INSERT INTO {name} BY NAME {side}")
        for statement in (*schema.record_seen(schema.EVENTS), schema.latest_event(schema.EVENTS),
                          schema.latest_event(schema.LINKS_AND_MEMBERSHIPS)):
            self.raw.execute(statement)

    def _refresh(self) -> None:
        """Read the files again when their listing changed (a file added, removed or rewritten): a process that
        keeps the store open (a notebook, `aha.open`) answers from the files as they are, never from a state
        kept from before (the state's key holds `data_version`, the number of changes seen)."""
        files = listing(self.location)
        if files != self._files:
            self._files = files
            self._changes += 1
            self._register()

    @property
    def data_version(self) -> int:
        self._refresh()
        return self._changes

    def meta(self, key: str) -> str | None:
        if key == schema.LATEST_EVENT:  # the default as_of, read before the state's key
            self._refresh()
        return super().meta(key)

    @property
    def label(self) -> str:
        return self.location.text


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json(column: str, kind: str | None) -> str:
    """The properties as JSON without null members, as `aha import` stores them (a struct's absent field is a null
    member, and a JSON null member reads as the text 'null', where an imported one is absent)."""
    if kind is None:
        return "CAST(NULL AS JSON)"
    doc = f"TRY_CAST({column} AS JSON)" if kind in ("VARCHAR", "JSON") else f"to_json({column})"
    return _without_pipeline(f"json_merge_patch('{{}}', {doc})")


def _merged(column: str, kind: str | None, extra: list[tuple[str, str]]) -> str:
    """The extra columns as one object (null values kept, GA4 key/value lists as objects), the properties column's
    members merged over it (its null members remove the key): store/rows.py `table_rows_sql`'s payload."""
    from aha.store.values import key_value_object

    pairs = ", ".join(f"{quote_literal(name)}, {key_value_object(_quote(name), kind_) or _quote(name)}"
                      for name, kind_ in extra)
    values = f"json_object({pairs})"
    if kind is None:
        return values
    doc = f"TRY_CAST({column} AS JSON)" if kind in ("VARCHAR", "JSON") else f"CAST(to_json({column}) AS JSON)"
    return f"(CASE WHEN {doc} IS NULL THEN {values} ELSE json_merge_patch({values}, {_without_pipeline(doc)}) END)"


def _without_pipeline(obj: str) -> str:
    """`obj` (the properties column's members) without pipeline metadata members, as import leaves them out
    (store/metadata.py): only text in which a name could be is parsed again."""
    found = f"regexp_matches(CAST({obj} AS VARCHAR), {quote_literal(metadata.pipeline_text_pattern())}, 'i')"
    return f"(CASE WHEN {found} THEN {metadata.without_pipeline_members(obj)} ELSE {obj} END)"


def _is_object(column: str) -> str:
    """Text that is JSON and begins with `{` (after blanks) is an object."""
    return f"coalesce(json_valid({column}) AND starts_with(ltrim({column}), '{{'), FALSE)"


def _epoch(micros: str) -> str:
    return f"make_timestamp({micros})"


def _text_time(column: str) -> str:
    """Text read as `aha import` reads it (store/rows.py `timestamp_sql`: an offset converted to UTC, epoch text by
    its size, NULL for text that is no time), naive text in UTC (import's default `--timezone`)."""
    from aha.store.rows import timestamp_sql

    return timestamp_sql(f"nullif(trim(CAST({column} AS VARCHAR)), '')", None).replace("$tz", "'UTC'")
