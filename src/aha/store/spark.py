"""Spark (`--db spark:local[2]?parquet=/data/events/`, `spark://host:7077?table=analytics.events`): the same engine
expressions, compiled by Ibis for Spark SQL and run by a Spark session.

Where things live: the events are a temp view of the table or Parquet location (its canonical columns picked as
`aha.store.lake` says, `map=` applied); the side tables of a Parquet directory likewise (none for a table: empty);
`seen_*` are cached views computed from the events. What aha materialises (the state, the outcome tables, scratch
tables) becomes a temp view of a DataFrame computed at once and checkpointed in the executors (`materialise`), so
that Spark computes each once; the state key and the latest event time live in this
object. So an aha process computes the state once per Spark application and reuses it while it runs (a notebook:
`aha.open(...)` once). One aha store per Spark session: the temp views' names are aha's table names.

Not available on Spark (one line naming the command when asked): writing events (import, the tracking server), the
guidance outbox (rules, webhooks), and the per-user checklist lookups, which are DuckDB point queries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.schema as sch
import ibis.expr.types as ir
import sqlglot.expressions as sge

from aha.store import compat, dialects, metadata, schema  # noqa: F401  (compat, dialects: Ibis's patches and rules)
from aha.store.database import Store, StoreError
from aha.store.lake import (
    SIDE_TABLES,
    Layout,
    Source,
    accepted_rows,
    canonical_select,
    layout,
    listing,
    property_columns,
    resolve,
    side_table_sql,
)
from aha.store.spark_times import text_time
from aha.store.urls import Location

CANONICAL = (schema.EVENTS, *SIDE_TABLES, schema.SEEN_USERS, schema.SEEN_MEMBERS, schema.SEEN_ANONYMOUS)
SEEN = {
    schema.SEEN_USERS: f"""SELECT user_id, min(timestamp) AS first_seen FROM {schema.EVENTS}
        WHERE user_id IS NOT NULL GROUP BY user_id""",
    schema.SEEN_MEMBERS: f"""SELECT user_id, account_id, min(timestamp) AS first_seen FROM {schema.EVENTS}
        WHERE user_id IS NOT NULL AND account_id IS NOT NULL GROUP BY user_id, account_id""",
    schema.SEEN_ANONYMOUS: f"""SELECT anonymous_id, min(timestamp) AS first_seen FROM {schema.EVENTS}
        WHERE user_id IS NULL AND anonymous_id IS NOT NULL GROUP BY anonymous_id""",
}
SPARK_TYPES = {dt.String: "STRING", dt.JSON: "STRING", dt.Timestamp: "TIMESTAMP_NTZ", dt.Int64: "BIGINT",
               dt.Boolean: "BOOLEAN", dt.Float64: "DOUBLE"}


class SparkStore(Store):
    """A Store whose tables are a Spark session's temp views (module docstring)."""
    incremental = False  # a full build each time: no row ids to keep marks by
    keeps_answers = False  # the files may change without a data version knowing it

    parallel_reads = False  # one session: the report's sections run one after another
    dialect = "spark"

    def __init__(self, location: Location) -> None:
        self.path = Path(location.text)
        self.location = location
        self._start()
        self._meta: dict[str, str] = {}
        self._cached: dict[str, Any] = {}  # view name → the cached DataFrame behind it (unpersisted on replace)
        self._schemas: dict[str, sch.Schema] = {}  # view name → its Ibis schema (JSON columns are strings in Spark)
        self._session, self._owned = _session(location)
        self.ibis = ibis.pyspark.connect(self._session)
        self._changes = 0
        self._files = () if location.table else listing(location)
        self._register()

    @property
    def label(self) -> str:
        return self.location.text

    @property
    def raw(self) -> Any:  # type: ignore[override]
        raise StoreError(f"--db {self.location.text}: this command needs a DuckDB file (it writes events, keeps "
                         "the guidance outbox or looks up single users); on Spark aha runs the analyses only.")

    # -- the canonical tables ------------------------------------------------------------------------

    def _register(self) -> None:
        canonical = _canonical_schemas()
        found = Layout(Source(""), {}) if self.location.table else layout(self.location)
        events = (self._session.table(self.location.table) if self.location.table
                  else self._read(found.events))
        types = {f.name: f.dataType.simpleString() for f in events.schema.fields}
        columns = resolve(self.location, list(types))
        events.createOrReplaceTempView("aha_source_events")
        # a directory is read with recursiveFileLookup, which infers no partition column: the names are the files'
        extra = property_columns(columns, list(types))
        select = canonical_select(columns, types, _quote, _json, "STRING", "TIMESTAMP_NTZ", _epoch, text_time,
                                  ("string",), extra, _merged)
        where = accepted_rows(columns, types, _quote, _is_object, ("string",), extra, _keys_once)
        # rows import rejects for want of an event, an id or a time (store/rows.py RULES) are no events here either
        self._view(schema.EVENTS, f"SELECT * FROM (SELECT {select} FROM aha_source_events WHERE {where}) WHERE event "
                   "IS NOT NULL AND timestamp IS NOT NULL AND (user_id IS NOT NULL OR anonymous_id IS NOT NULL)",
                   canonical[schema.EVENTS], cache=False)
        for name in SIDE_TABLES:
            if name in found.tables:
                self._read(found.tables[name]).createOrReplaceTempView(f"aha_source_{name}")
                sql = side_table_sql(name, f"aha_source_{name}", "STRING", lambda col: f"CAST({col} AS STRING)",
                                     "TIMESTAMP_NTZ")
            else:
                sql = _empty(canonical[name])
            self._view(name, sql, canonical[name], cache=True)
        for name, sql in SEEN.items():
            self._view(name, sql, canonical[name], cache=True)

    def _read(self, source: Source) -> Any:
        reader = self._session.read
        if source.recursive:
            reader = reader.option("recursiveFileLookup", "true").option("pathGlobFilter", "*.parquet")
        return reader.parquet(source.path)

    def _view(self, name: str, sql: str, schema_: sch.Schema, cache: bool) -> None:
        frame = self._session.sql(sql)
        if cache:
            frame = frame.cache()  # computed the first time it is read
        self._replace(name, frame)
        self._schemas[name] = schema_

    def _replace(self, name: str, frame: Any, kept: bool = False) -> None:
        frame.createOrReplaceTempView(name)
        old = self._cached.pop(name, None)
        if kept or frame.is_cached:
            self._cached[name] = frame
        if old is not None and old is not frame:
            old.unpersist()

    # -- what the analyses call --------------------------------------------------------------------

    def table(self, name: str) -> ir.Table:
        known = self._schemas.get(name)
        if known is None:
            return self.ibis.table(name)
        return ops.DatabaseTable(name, known, self.ibis).to_expr()

    def exists(self, name: str) -> bool:
        return name in self._schemas

    def materialise(self, name: str, expr: ir.Table, temp: bool = False) -> ir.Table:
        """The expression's result, computed now and checkpointed in the executors (`localCheckpoint`), as a temp
        view (`temp` changes nothing). Checkpointed, not cached: a cached frame keeps its whole lineage, which Spark
        re-analyses in every query that reads it; the state's eleven reach tables over the candidate tables over
        the entities made the analyzer run out of heap at 500 users."""
        frame = self._session.sql(self._sql(expr)).localCheckpoint(eager=True)
        self._replace(name, frame, kept=True)
        self._schemas[name] = expr.schema()
        return self.table(name)

    memory_table = materialise

    def temp_view(self, name: str, expr: ir.Table) -> ir.Table:
        """Materialised (`materialise`): a view would carry its lineage into every query that reads it."""
        return self.materialise(name, expr)

    def temp_union_view(self, name: str, parts: list[ir.Table]) -> ir.Table:
        self._session.sql(f"CREATE OR REPLACE TEMP VIEW `{name}` AS {self.union_sql(parts)}")
        self._schemas[name] = parts[0].schema()
        return self.table(name)

    def create_view(self, name: str, parts: list[ir.Table]) -> None:
        self.temp_union_view(name, parts)

    def append(self, name: str, expr: ir.Table, temp: bool = False) -> None:
        frame = self._cached[name].unionByName(self._session.sql(self._sql(expr))).localCheckpoint(eager=True)
        self._replace(name, frame, kept=True)

    def keep(self, name: str) -> None:
        """Nothing to copy: the cached view is where Spark keeps it."""

    def background(self, work: Any, best_effort: bool = False, lock: Any = None) -> None:
        work(self)  # no second connection: the work runs here and now

    def drop(self, name: str, view: bool = False, temp: bool = False) -> None:
        self._session.catalog.dropTempView(name)
        self._schemas.pop(name, None)
        old = self._cached.pop(name, None)
        if old is not None:
            old.unpersist()

    def value(self, expr: ir.Scalar) -> Any:
        return self.ibis.execute(expr)

    def json_keys(self, table: str, columns: tuple[str, ...]) -> list[str]:
        parts = " UNION ALL ".join(f"SELECT explode(json_object_keys({col})) AS k FROM `{table}` "
                                   f"WHERE {col} IS NOT NULL" for col in columns)
        return [r[0] for r in self.rows(f"SELECT DISTINCT k FROM ({parts}) ORDER BY k")]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._session.sql(sql).collect()]

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return self.raw  # DuckDB SQL: refused in one line (`raw`)

    def _sql(self, expr: ir.Table) -> str:
        self.ibis._run_pre_execute_hooks(expr)
        return str(self.ibis.compile(expr))

    # -- meta: in this object ----------------------------------------------------------------------

    def _refresh(self) -> None:
        """Read a Parquet location again when its listing changed (`aha.store.lake.LakeStore._refresh`): Spark
        keeps the files it listed when the events were read, and the state kept from them."""
        files = () if self.location.table else listing(self.location)
        if files != self._files:
            self._files = files
            self._changes += 1
            self._meta.pop(schema.LATEST_EVENT, None)
            self._register()

    def meta(self, key: str) -> str | None:
        if key == schema.LATEST_EVENT:  # the default as_of, read before the state's key
            self._refresh()
        if key == schema.LATEST_EVENT and key not in self._meta:
            latest = [self.value(self.table(name).timestamp.max())
                      for name in (schema.EVENTS, schema.IDENTITIES, schema.MEMBERSHIPS)]
            known = [t for t in latest if t is not None]
            if known:
                self._meta[key] = max(known).isoformat(sep=" ")
        return self._meta.get(key)

    def set_meta(self, values: dict[str, str]) -> None:
        self._meta.update(values)

    @property
    def data_version(self) -> int:
        self._refresh()
        return self._changes  # read in place: aha never writes the events; the changes to the files seen

    def bump_data_version(self) -> None:
        self.raw  # noqa: B018  (refused: nothing writes events here)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        yield self.raw

    def cursor(self) -> Store:
        return self

    def settle(self) -> None:
        """Nothing runs in the background."""

    def close(self) -> None:
        for frame in self._cached.values():
            frame.unpersist()
        self._cached.clear()
        for name in list(self._schemas):
            self._session.catalog.dropTempView(name)
        self._schemas.clear()
        if self._owned:
            self._session.stop()


def _session(location: Location) -> tuple[Any, bool]:
    """The process's Spark session (made here, then owned and stopped on close, unless one was active)."""
    try:
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession
    except ImportError:
        raise StoreError(f"--db {location.text}: Spark needs pyspark (pip install -c constraints.txt pyspark) and "
                         "Java 17.") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    conf = {"spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",  # no progress bars in `--json` output
            # Spark's WARN lines (a Java stack trace for a glob's missing metadata folder, one per window without a
            # partition) are noise to a reader of aha's output; `&spark.log.level=WARN` brings them back
            "spark.log.level": "ERROR"}
    cores = re.fullmatch(r"local\[(\d+)\]", location.master)
    if cores:  # aha's tables are a row per user: Spark's default of 200 shuffle partitions is 200 tasks per query
        conf["spark.sql.shuffle.partitions"] = cores.group(1)
    builder = SparkSession.builder.master(location.master).appName("aha")
    for key, value in {**conf, **location.conf}.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate(), True
    except PySparkException as exc:
        raise StoreError(f"--db {location.text}: Spark did not start ({exc}). It needs Java 17 (java on PATH or "
                         "JAVA_HOME) and, for spark://, a master that answers.") from None


def _canonical_schemas() -> dict[str, sch.Schema]:
    """The canonical tables' Ibis schemas, from the DuckDB DDL (one definition of the columns)."""
    import duckdb

    con = duckdb.connect()
    try:
        for ddl in schema.DDL:
            con.execute(ddl)
        backend = ibis.duckdb.from_connection(con)
        return {name: backend.table(name).schema() for name in CANONICAL}
    finally:
        con.close()


def _empty(columns: sch.Schema) -> str:
    casts = ", ".join(f"CAST(NULL AS {SPARK_TYPES[type(t)]}) AS `{n}`" for n, t in columns.items())
    return f"SELECT {casts} WHERE false"


def _quote(name: str) -> str:
    return sge.to_identifier(name, quoted=True).sql("spark")


def _json(column: str, kind: str | None) -> str:
    """The properties as JSON text without top-level null members, as `aha import` stores them (a struct's null
    fields `to_json` leaves out itself). Only text that holds `null` is parsed again: the rest is as it was."""
    if kind is None:
        return "CAST(NULL AS STRING)"
    text = f"CAST({column} AS STRING)" if kind == "string" else f"to_json({column})"
    members = f"try_variant_get(try_parse_json({text}), '$', 'map<string,variant>')"
    kept = f"to_json(map_filter({_inner_nulls_removed(members)}, (k, v) -> {_KEPT}))"
    return f"CASE WHEN {text} LIKE '%null%' OR {_may_hold_pipeline(text)} THEN {kept} ELSE {text} END"


def _merged(column: str, kind: str | None, extra: list[tuple[str, str]]) -> str:
    """The extra columns as one object (null values kept), the properties column's members merged over it (its null
    members remove the key), as `aha import` merges them (aha.store.lake `_merged`, DuckDB's)."""
    fields = ", ".join(f"{sge.convert(name).sql('spark')}, {_key_value(_quote(name), kind_) or _column(name, kind_)}"
                       for name, kind_ in extra)
    values = f"to_json(named_struct({fields}), map('ignoreNullFields', 'false'))"
    if kind is None:
        return values
    text = f"CAST({column} AS STRING)" if kind == "string" else f"to_json({column})"
    doc = f"try_variant_get(try_parse_json({text}), '$', 'map<string,variant>')"
    base = f"try_variant_get(to_variant_object(named_struct({fields})), '$', 'map<string,variant>')"
    return (f"CASE WHEN {doc} IS NULL THEN {values} ELSE to_json(map_concat("
            f"map_filter({base}, (k, v) -> NOT array_contains(map_keys({doc}), k)), "
            f"map_filter({_inner_nulls_removed(doc)}, (k, v) -> {_KEPT}))) END")


def _column(name: str, kind: str) -> str:
    """A property column's value; a 4-byte float as the double it is, as import and the DuckDB lake store it
    (`to_json` printed a FLOAT 0.1 as `0.1`, the double 0.10000000149011612 elsewhere: `where: {score: 0.1}` was
    reached on Spark only, and the segments were named otherwise)."""
    return f"CAST({_quote(name)} AS DOUBLE)" if kind == "float" else _quote(name)


# A member of the properties column kept: not null (import stores no null member) and not pipeline metadata by name
# (import leaves `mp_processing_time_ms` out of a Mixpanel export's properties: store/metadata.py).
_KEPT = f"NOT is_variant_null(v) AND NOT {metadata.pipeline_name_sql('k')}"


# How deep `_inner_nulls_removed` looks: an object nested deeper keeps its null members on Spark (docs/engine.md).
NULLS_DEPTH = 12


def _inner_nulls_removed(members: str, depth: int = NULLS_DEPTH) -> str:
    """A map of members whose object values have no null members at any depth (down to `depth`), as import stores
    them: it merges the properties into `{}` (a JSON merge patch, RFC 7386), which removes a null member inside an
    object member too (`{"x": {"y": null}}` is `{"x": {}}`) but leaves an array as it is (`[null]`, `[{"a": null}]`).
    Spark SQL has no recursion: each level is one more lambda."""
    if depth == 0:
        return members
    k, v = f"k{depth}", f"v{depth}"
    inner = f"try_variant_get({v}, '$', 'map<string,variant>')"
    cleaned = f"map_filter({_inner_nulls_removed(inner, depth - 1)}, ({k}i, {v}i) -> NOT is_variant_null({v}i))"
    value = f"CASE WHEN {inner} IS NULL THEN {v} ELSE to_variant_object({cleaned}) END"
    return f"transform_values({members}, ({k}, {v}) -> {value})"


def _may_hold_pipeline(text: str) -> str:
    """Text in which a pipeline member's name could be (then parsed, and the member left out)."""
    return f"{text} RLIKE {sge.convert('(?i)' + metadata.pipeline_text_pattern()).sql('spark')}"


# GA4's BigQuery export: a list of {key, value: {string_value, int_value, float_value, double_value}} (as
# store/values.py `key_value_object` reads it for import and the DuckDB lake), in Spark's type names.
_KEY_VALUE_LIST = re.compile(r"array<struct<key:string,value:struct<(.*)>>>")


def _key_value(ref: str, kind: str) -> str | None:
    """A GA4 key/value list column as an object `{key: value}` (a VARIANT; the first set `*_value`, else null), as
    import and the DuckDB lake read it (a row naming a key twice is left out: `_keys_once`); None for a column of
    another type."""
    shape = _KEY_VALUE_LIST.fullmatch(kind)
    fields = re.findall(r"(?:^|,)([A-Za-z0-9_]*_value):", shape[1]) if shape else []
    if not fields:
        return None
    value = "coalesce(" + ", ".join(f"CAST(x.value.`{f}` AS VARIANT)" for f in fields) + ", parse_json('null'))"
    named = f"filter({ref}, x -> x.key IS NOT NULL)"
    return f"to_variant_object(map_from_entries(transform({named}, x -> struct(x.key, {value}))))"


def _keys_once(ref: str, kind: str) -> str | None:
    """A GA4 list's row names each key once (import refuses an object naming one twice: `accepted_rows`)."""
    if _KEY_VALUE_LIST.fullmatch(kind) is None:
        return None
    keys = f"filter(transform({ref}, x -> x.key), k -> k IS NOT NULL)"
    return f"({ref} IS NULL OR size(array_distinct({keys})) = size({keys}))"


def _is_object(column: str) -> str:
    """JSON text whose value is an object (what `aha import` accepts as properties)."""
    return f"coalesce(schema_of_variant(try_parse_json({column})) LIKE 'OBJECT%', FALSE)"


def _epoch(micros: str) -> str:
    """In UTC: the session's time zone is UTC (`_session`), and a TIMESTAMP_NTZ is its UTC wall-clock time."""
    return f"CAST(timestamp_micros({micros}) AS TIMESTAMP_NTZ)"
