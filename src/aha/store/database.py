"""Opening the event store: the one place that connects to a backend and executes.

The DuckDB file is the default; `Store` wraps an Ibis backend so the engine's expressions run unchanged elsewhere.
That backend is made on first use (`Store.ibis`, aha.store.backend): importing files and the tracking server's
ingest run SQL on `raw` only and never import Ibis or SQLGlot (0.6–0.9 s of CPU per process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from aha.store import schema, urls
from aha.store.connection import (  # noqa: F401  (connect, limit_memory: re-exported)
    StoreError,
    _connect,
    check_path,
    configure,
    connect,
    limit_memory,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir


MEMORY = "aha_mem"  # an in-memory database attached beside the file; every connection of the process sees it


class Store:
    """An open event store. `raw` is the DuckDB connection for DuckDB-only import SQL; `ibis` runs expressions."""

    parallel_reads = True  # `cursor()` gives a second connection whose queries run beside this one's
    dialect = "duckdb"  # the SQL `rows` takes
    keeps_answers = True  # answers are kept in the file (aha.analyses.result_cache), keyed by the data version
    incremental = True  # the state can be brought up to date by row id (aha.analyses.incremental): a DuckDB file
    _identity: tuple[tuple[Any, ...], dict[str, Any]] | None  # the `ibis.duckdb.connect(...)` call `ibis` stands for

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self._start()
        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no such database. Create one with `aha sample` or `aha import FILE`.")
        check_path(self.path)
        self._identity = ((str(self.path),), {"read_only": read_only})
        self._attach(_connect(self.path, read_only), ensure_schema=not read_only)

    def _start(self) -> None:
        self._pending: list[Future[None]] = []  # work `background` started; `settle` waits for it
        self._worker: ThreadPoolExecutor | None = None
        self._in_transaction = False
        self._ibis: Any = None
        self._making = threading.Lock()  # two threads' first use of `ibis` make one backend
        self._submitting = threading.Lock()  # two threads' first `background` make one worker
        self._identity = None

    def _attach(self, con: duckdb.DuckDBPyConnection, ensure_schema: bool) -> None:
        self.raw: duckdb.DuckDBPyConnection = con  # `connect`ed: configured as Ibis's backend configures it
        self.raw.execute("SET enable_progress_bar = false")  # it would print into `--json` output on long queries
        limit_memory(self.raw)
        if ensure_schema:
            self._ensure_schema()
        self._check_version()

    @property
    def ibis(self) -> Any:
        """The Ibis backend on `raw`, made (and Ibis imported) on first use."""
        if self._ibis is None:
            from aha.store.backend import duckdb_backend

            with self._making:
                if self._ibis is None:
                    self._ibis = duckdb_backend(self.raw, self._identity)
        return self._ibis

    @ibis.setter
    def ibis(self, backend: Any) -> None:
        self._ibis = backend

    @property
    def label(self) -> str:
        """How messages name this store: the `--db` it was opened from."""
        return str(self.path)

    # -- schema and versioning ---------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        if self._schema_in_place():  # every table, the sequence and both versions there: the DDL would do nothing
            self._migrate()
            return
        for ddl in schema.DDL:
            self.raw.execute(ddl)
        self.raw.execute(
            f"INSERT INTO {schema.META} VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
            [str(schema.SCHEMA_VERSION)],
        )
        self.raw.execute(f"INSERT INTO {schema.META} VALUES ('data_version', '0') ON CONFLICT DO NOTHING")
        self._migrate()

    def _schema_in_place(self) -> bool:
        """The file has every table and sequence of `schema.DDL` and both version rows: one catalog read instead of
        the seventeen statements (each a transaction) that find nothing to do on every open of an existing file."""
        tables, sequences = schema.CREATED
        found = one_row(self.raw, """SELECT
                (SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()
                    AND schema_name = 'main' AND list_contains($tables, table_name)),
                (SELECT count(*) FROM duckdb_sequences() WHERE database_name = current_database()
                    AND schema_name = 'main' AND list_contains($sequences, sequence_name))""",
                        {"tables": list(tables), "sequences": list(sequences)})
        if found is None or (found[0], found[1]) != (len(tables), len(sequences)):
            return False
        versions = one_row(self.raw, f"SELECT count(*) FROM {schema.META} "
                                     "WHERE key IN ('schema_version', 'data_version')")
        return versions is not None and versions[0] == 2

    def _migrate(self) -> None:
        """Bring a file written by an older aha up to this schema version, all steps or none."""
        row = one_row(self.raw, f"SELECT value FROM {schema.META} WHERE key = 'schema_version'")
        version = int(row[0]) if row else schema.SCHEMA_VERSION
        if version >= schema.SCHEMA_VERSION:
            return
        with self.transaction() as con:
            for step in range(version + 1, schema.SCHEMA_VERSION + 1):
                for statement in schema.MIGRATIONS.get(step, ()):
                    con.execute(statement)
            con.execute(f"UPDATE {schema.META} SET value = ? WHERE key = 'schema_version'",
                        [str(schema.SCHEMA_VERSION)])

    def _check_version(self) -> None:
        try:
            row = one_row(self.raw, f"SELECT value FROM {schema.META} WHERE key = 'schema_version'")
        except duckdb.CatalogException:
            raise StoreError(f"{self.path}: not an aha database (no {schema.META} table).") from None
        version = int(row[0]) if row else 0
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer aha (schema {version}, this one reads {schema.SCHEMA_VERSION}). "
                "Upgrade aha."
            )

    @property
    def data_version(self) -> int:
        """Bumped on every write of events or identities, so cached milestone state knows when it is stale."""
        row = one_row(self.raw, f"SELECT value FROM {schema.META} WHERE key = 'data_version'")
        return int(row[0]) if row else 0

    def bump_data_version(self) -> None:
        self.raw.execute(
            f"UPDATE {schema.META} SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'data_version'"
        )

    def meta(self, key: str) -> str | None:
        """One value of the store's key-value table (state keys, the latest event time)."""
        value = self.scalar(f"SELECT value FROM {schema.META} WHERE key = ?", [key])
        return None if value is None else str(value)

    def set_meta(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self.raw.execute(f"INSERT OR REPLACE INTO {schema.META} VALUES (?, ?)", [key, value])

    # -- reading -------------------------------------------------------------------------------------

    def table(self, name: str) -> ir.Table:
        return self.ibis.table(name)

    def exists(self, name: str) -> bool:
        """Whether the database file holds a table of this name."""
        return bool(self.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                "AND schema_name = 'main' AND table_name = ?", [name]))

    def execute(self, expr: ir.Expr) -> Any:
        return expr.execute()

    def to_pyarrow(self, expr: ir.Expr) -> Any:
        """`expr.to_pyarrow()` without its import of pandas: Ibis's DuckDB backend reaches its Arrow mapper through
        a module that imports pandas first (0.3–0.8 s of every command that reads a result). Same relation, same
        mapping to the expression's schema (NULL-typed columns as nulls, as Ibis's mapper does)."""
        relation = getattr(self.ibis, "_to_duckdb_relation", None)
        if relation is None:  # another backend: its own way
            return expr.to_pyarrow()
        from aha.store.backend import ArrowData

        return expr.__pyarrow_result__(relation(expr).to_arrow_table(), data_mapper=ArrowData)

    def records(self, expr: ir.Table) -> list[dict[str, Any]]:
        """A small result as plain rows, with None for NULL: through Arrow, not a pandas frame (whose per-column
        conversions cost more than the analyses' final queries themselves)."""
        rows: list[dict[str, Any]] = self.to_pyarrow(expr).to_pylist()
        return rows

    def materialise(self, name: str, expr: ir.Table, temp: bool = False) -> ir.Table:
        """Store an expression's result as a table and return it bound; `temp` keeps it in memory, never on disk.

        One `CREATE OR REPLACE TABLE … AS` statement: ibis 12's `create_table` creates an empty table, inserts,
        and for temp tables copies the result once more, which doubled the cost of the state pass.
        """
        self.ibis._run_pre_execute_hooks(expr)  # registers in-memory tables (ibis.memtable) the query reads
        sql = self.ibis.compile(expr)
        kind = "TEMP TABLE" if temp else "TABLE"
        self.raw.execute(f'CREATE OR REPLACE {kind} "{name}" AS {sql}')
        return self.ibis.table(name, database="temp" if temp else None)

    def temp_view(self, name: str, expr: ir.Table) -> ir.Table:
        """Name an expression several queries read, and return it bound: each of them then compiles against the
        name, not the whole expression again (compiling a union of a dozen selects costs more than running it)."""
        self.ibis._run_pre_execute_hooks(expr)
        self.raw.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {self.ibis.compile(expr)}')
        return self.ibis.table(name, database="temp")

    def memory_table(self, name: str, expr: ir.Table) -> ir.Table:
        """Store an expression's result in the attached in-memory database and return it bound. Unlike a temp
        table, a second connection of this process can read it: `background` copies it into the file from there
        while this connection goes on reading it."""
        self.raw.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {MEMORY}")
        self.ibis._run_pre_execute_hooks(expr)
        self.raw.execute(f'CREATE OR REPLACE TABLE {MEMORY}."{name}" AS {self.ibis.compile(expr)}')
        return self.ibis.table(name, database=MEMORY)

    def background(self, work: Callable[[Store], None], best_effort: bool = False,
                   lock: AbstractContextManager[Any] | None = None) -> None:
        """Run `work` in one transaction on a second connection to this database, in a thread, while this one goes
        on (DuckDB runs both at once); `settle` waits for it and raises what it raised. On two cores the file write
        of the state then overlaps the analyses' Python, which leaves a core idle. Works run one at a time, in the
        order given (from any thread). Inside a `transaction` (the server's reads) the work runs here and now, in
        it: another connection would not see its uncommitted rows. `best_effort`: a write the store can do without
        (statements kept for later processes): a DuckDB error (a read-only file) is dropped, not raised by `settle`.
        `lock`: held around the whole transaction, begin to commit: works of other handles (`cursor`, each with its
        own thread) that write the same rows or create the same table take it too, or DuckDB refuses one of them
        as a conflict.
        """
        if self.in_transaction:
            work(self)
            return
        with self._submitting:
            cursor = self.cursor()

            def run() -> None:
                try:
                    with lock or nullcontext(), _atomic(cursor.raw):
                        work(cursor)
                except duckdb.Error:
                    if not best_effort:
                        raise
                finally:
                    cursor.raw.close()

            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aha-store")
            self._pending.append(self._worker.submit(run))

    def settle(self) -> None:
        """Wait for the work `background` started; re-raise its first error. Writers call this first."""
        while self._pending:  # a future leaves the list only once done: an interrupted wait leaves it pending
            future = self._pending[0]
            try:
                future.result()
            finally:
                if future.done():
                    self._pending.pop(0)

    def union_sql(self, parts: list[ir.Table]) -> str:
        """The UNION ALL of `parts` (same columns, in order), each compiled on its own: Ibis' compile time grows
        faster than the expression, so eleven small selects compile in a fifth of the time of their union."""
        for part in parts:
            self.ibis._run_pre_execute_hooks(part)
        return "\nUNION ALL\n".join(f"({self.ibis.compile(part)})" for part in parts)

    def temp_union_view(self, name: str, parts: list[ir.Table]) -> ir.Table:
        """A temp view of `union_sql(parts)`, returned bound (`temp_view` for a union)."""
        self.raw.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {self.union_sql(parts)}')
        return self.ibis.table(name, database="temp")

    def append(self, name: str, expr: ir.Table, temp: bool = False) -> None:
        """Insert an expression's rows into a table `materialise` made (same columns, by name)."""
        self.ibis._run_pre_execute_hooks(expr)
        table = f'temp."{name}"' if temp else f'"{name}"'
        self.raw.execute(f"INSERT INTO {table} BY NAME {self.ibis.compile(expr)}")

    def drop(self, name: str, view: bool = False, temp: bool = False) -> None:
        """Drop a table (or view) if it exists; `temp`: the connection's own, not the file's."""
        kind = "VIEW" if view else "TABLE"
        self.raw.execute(f'DROP {kind} IF EXISTS {"temp." if temp else ""}"{name}"')

    def value(self, expr: ir.Scalar) -> Any:
        """A scalar expression's value, run on this handle (which may be `background`'s second connection)."""
        self.ibis._run_pre_execute_hooks(expr)
        row = one_row(self.raw, self.ibis.compile(expr))
        return row[0] if row else None

    def keep(self, name: str) -> None:
        """Write a table `memory_table` made into the file, under the same name."""
        self.raw.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM {MEMORY}."{name}"')

    def create_view(self, name: str, parts: list[ir.Table]) -> None:
        """A view kept with the store (the file's): the UNION ALL of `parts`, compiled apart (`union_sql`)."""
        self.raw.execute(f'CREATE OR REPLACE VIEW "{name}" AS {self.union_sql(parts)}')

    def json_keys(self, table: str, columns: tuple[str, ...]) -> list[str]:
        """Every top-level key of the JSON objects in `columns` of `table`, sorted."""
        parts = " UNION ALL ".join(f"SELECT unnest(json_keys({col})) AS k FROM {table} WHERE {col} IS NOT NULL"
                                   for col in columns)
        return [r[0] for r in self.raw.execute(f"SELECT DISTINCT k FROM ({parts}) ORDER BY k").fetchall()]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """A query in this store's `dialect`, every row."""
        return [tuple(r) for r in self.raw.execute(sql).fetchall()]

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        row = one_row(self.raw, sql, params)
        return row[0] if row else None

    @property
    def in_transaction(self) -> bool:
        """Inside `transaction`: what this connection writes is not yet visible to any other."""
        return self._in_transaction

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on this handle, begun once the background work is done: begun beside a state still being
        written by the background connection, its snapshot lacks that state, and its own write of the same tables
        conflicts with it ("Catalog write-write conflict on create ... aha_entities")."""
        self.settle()
        self._in_transaction = True
        try:
            with _atomic(self.raw):
                yield self.raw
        finally:
            self._in_transaction = False

    def cursor(self) -> Store:
        """A second handle on this open database (its own transactions and temp tables), for another thread.

        DuckDB lets one process share a database between connections (`con.cursor()`); other processes cannot
        open the file at all while this one writes, which is why the server answers reads itself.
        """
        other = object.__new__(Store)
        other.path = self.path
        other._start()
        other.raw = self.raw.cursor()
        configure(other.raw)
        return other

    def close(self) -> None:
        try:
            self.settle()
        finally:
            if self._worker is not None:
                self._worker.shutdown()
            self.raw.close()  # what Ibis's `disconnect` does, without making the backend to close it


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
    """The first row of a query (None if none), its result read to the end: DuckDB 2 refuses any other work on the
    connection (Ibis's next query) while a SELECT that `execute()` started is partly read; 1.x dropped it."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def timestamp_sql(moment: datetime) -> str:
    """A naive UTC datetime as a DuckDB timestamp literal, for SQL kept as text or with no parameter to bind."""
    return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"


@contextmanager
def _atomic(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction on `con`: committed if the block returns, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def open_store(path: str | Path, read_only: bool = False) -> Store:
    """Open the store `--db` names (`aha.store.urls`: a DuckDB file, a Parquet location, Spark); a DuckDB file
    after taking in what a dead server left in its spool.

    A server that died after answering 200 leaves those calls in `<db>.spool.*` (`aha.ingest.takeover`); without
    this, `aha report` would not count them until a server ran again. Opening for writing proves no server is
    alive on the file (it would hold DuckDB's lock), so the spool is ours to drain. A read-only open that finds a
    pending spool opens for writing once to take it in. (The server opens `Store` itself and replays on start.)
    """
    location = urls.parse(path)
    if location.kind == "parquet":
        from aha.store.lake import LakeStore

        return LakeStore(location)
    if location.kind == "spark":
        from aha.store.spark import SparkStore

        return SparkStore(location)
    store = Store(location.path, read_only=read_only)
    if not any(store.path.parent.glob(f"{store.path.name}.spool.*")):  # no server ever spooled here
        return store
    from aha.ingest import takeover  # the spool's format is ingest's (imported only when there is a spool)

    if not takeover.pending_bytes(store):
        return store
    if not read_only:
        takeover.replay(store)
        return store
    store.close()
    writer = Store(path)
    try:
        takeover.replay(writer)
    finally:
        writer.close()
    return Store(path, read_only=True)
