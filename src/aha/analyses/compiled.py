"""Compiled SQL kept for the incremental update (issue 15, freshness): building and compiling the engine's Ibis
expressions cost three quarters of an update of a few users, and they are the same every time for the same
definitions. The first update of a process records the statements it runs; later ones run them again.

What changes between updates is passed in, never compiled in: the entities to recompute are temp tables of fixed
names (aha.analyses.incremental), and the two moments an update's SQL holds, `as_of` and the earliest recomputed
`t0` (`since`), are compiled as sentinel timestamps that each run replaces by its own values. A DuckDB file only
(`Store.incremental`); other backends never update incrementally.

The statements are also kept in the file (table `aha_compiled`), under their key and the versions that wrote them
(aha's code fingerprint, Ibis, SQLGlot, DuckDB): a fresh process (`aha report` after `aha import`) runs them without
building or compiling an expression. Rows another version wrote are dropped when one is kept.

And per user, outside any file (aha.analyses.statement_cache, docs/engine.md "Kept statements"): a new file with
the same definitions, tables and versions runs what another file compiled. Every key then also holds `shape(store)`,
the file's tables and their columns: the one thing read from the file (besides `as_of` and `since`, sentinels) that
compiled SQL could depend on. A program in which a moment derived from a sentinel leaked (its year, 2199, outside
the sentinels) is not kept.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import duckdb

from aha import progress
from aha.analyses import statement_cache
from aha.analyses.result_cache import code_version
from aha.store import Store
from aha.store.database import timestamp_sql

T = TypeVar("T")
AS_OF = datetime(2199, 1, 2, 3, 4, 5, 678901)  # stands for `as_of` in compiled SQL
SINCE = datetime(2199, 1, 2, 3, 4, 6, 678901)  # stands for the earliest recomputed t0
KEPT = 16  # programs kept per process (one per definitions and kind of update)
TABLE = "aha_compiled"  # (key, version, body): the programs kept in the file, body a JSON list of statements
LAYOUT = "compiled-2"  # part of the version: bump when what a kept program means changes
SWITCH = "AHA_KEPT_SQL"  # environment: "off" keeps and reads no compiled statement (every one built and compiled)
# The report's timing thread keeps its reads through its own handle (`Store.cursor`, its own background thread): one
# copy into a file at a time, or two first `CREATE TABLE IF NOT EXISTS` conflict and one program is not kept.
_copying = threading.Lock()
_programs: dict[tuple[str, ...], list[str]] = {}
_texts: dict[tuple[str, ...], str] = {}
# Inside one analysis (`one_read`), per store handle: the file's shape and the bodies it keeps for this version,
# each read once. A cold report otherwise read the shape nine times and each kept program by a query of its own
# (~20 catalog reads, 0.05-0.1 s of a 0.5 s report at 1M events, mostly waiting beside the background write).
_read: dict[int, dict[str, Any]] = {}


@contextmanager
def one_read(store: Store) -> Iterator[None]:
    """Within: `shape(store)` and the file's kept programs are read once. For one analysis, during which nothing
    changes the file's own tables (aha writes only `aha_…` tables and temp tables while it answers); re-entrant.
    A program kept by another process meanwhile is not seen: it is compiled again, never wrong."""
    handle = id(store)
    outer = handle not in _read
    if outer:
        _read[handle] = {}
    try:
        yield
    finally:
        if outer:
            _read.pop(handle, None)


def enabled() -> bool:
    """Whether compiled statements are kept and read (`AHA_KEPT_SQL=off`: the expressions' way, for comparisons)."""
    return os.environ.get(SWITCH, "").lower() != "off"


def sentinel_sql(moment: datetime) -> str:
    """How Ibis renders a timestamp literal for DuckDB (checked by tests/engine/test_compiled.py)."""
    seconds = moment.second + moment.microsecond / 1e6
    return f"MAKE_TIMESTAMP({moment.year}, {moment.month}, {moment.day}, {moment.hour}, {moment.minute}, {seconds})"


literal = timestamp_sql  # this run's moment in place of a sentinel


class _Program:
    """A connection stand-in for the store while an update runs: every statement is recorded (when recording) and
    run with the sentinels replaced. `since_sql` is the one read whose value later statements hold."""

    def __init__(self, con: duckdb.DuckDBPyConnection, as_of: datetime, since_sql: str,
                 recorded: list[str] | None) -> None:
        self.con, self.since_sql, self.recorded = con, since_sql, recorded
        self.values = {sentinel_sql(AS_OF): literal(as_of)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)

    def execute(self, sql: str, params: Any = None) -> Any:
        if self.recorded is not None:
            if params:
                raise AssertionError("a compiled update takes no parameters")
            self.recorded.append(sql)
        if sql == self.since_sql:
            rows = self.con.execute(sql).fetchall()
            self.values[sentinel_sql(SINCE)] = literal(rows[0][0] or datetime.max)
            return _Rows(rows)
        for sentinel, value in self.values.items():
            sql = sql.replace(sentinel, value)
        return self.con.execute(sql)


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def fetchall(self) -> list[Any]:
        return self.rows


def run(store: Store, key: tuple[str, ...], as_of: datetime, since_sql: str, steps: Callable[[], T]) -> T | None:
    """Run the statements kept under `key` on `store` (returning None), or else `steps()`, with `store.raw`
    recording what it runs under `key` (returning what `steps` returns). Either way the sentinels are replaced."""
    real = store.raw
    on = enabled()
    key = (*key, shape(store)) if on else key
    kept = _programs.get(key) if on else None
    if kept is None and on:
        kept = _load(store, key)
        if kept is not None:
            _keep(_programs, key, kept)
    if kept is not None:
        program = _Program(real, as_of, since_sql, None)
        with progress.stage("", total=len(kept)):
            for sql in kept:
                program.execute(sql)
                progress.advance()
        return None
    recorded: list[str] = []
    assert store.ibis is not None  # made now on the real connection: made while recording, it would keep the recorder
    store.raw = _Program(real, as_of, since_sql, recorded)  # type: ignore[assignment]
    try:
        result = steps()
    finally:
        store.raw = real
    if on and not leaked(recorded):
        _keep(_programs, key, recorded)
        _save(store, key, recorded)
    return result


def text(store: Store, key: tuple[str, ...], as_of: datetime, compile_: Callable[[], str]) -> str:
    """One statement compiled once per `key` (with `AS_OF` for `as_of`), with this `as_of` put in."""
    if not enabled():
        return compile_().replace(sentinel_sql(AS_OF), literal(as_of))
    key = (*key, shape(store))
    sql = _texts.get(key)
    if sql is None:
        found = _load(store, key)
        sql = found[0] if found else compile_()
        if not found:
            _save(store, key, [sql])
        if not leaked([sql]):
            _keep(_texts, key, sql)
    return sql.replace(sentinel_sql(AS_OF), literal(as_of))


@functools.cache
def version() -> str:
    """What a kept program depends on besides its key: this layout, aha's code, and the versions of the libraries
    that wrote its SQL and run it."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    def of(name: str) -> str:
        try:
            return installed(name)
        except PackageNotFoundError:  # pragma: no cover - a source tree without the package installed
            return "unknown"

    return f"{LAYOUT}|{code_version()}|ibis {of('ibis-framework')}|sqlglot {of('sqlglot')}|duckdb {duckdb.__version__}"


def shape(store: Store) -> str:
    """A fingerprint of the file's own tables and views (not aha's state and caches, named `aha_…`, whose columns
    follow from the definitions and aha's code, both in every key) and their columns: which exist, their names and
    types. What a compile reads of the file besides the moments. Read once inside `one_read`."""
    read = _read.get(id(store))
    if read is not None and "shape" in read:
        return str(read["shape"])
    rows = store.raw.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT starts_with(table_name, 'aha_') ORDER BY ALL").fetchall()
    found = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
    if read is not None:
        read["shape"] = found
    return found


def leaked(statements: list[str]) -> bool:
    """Whether a statement holds the sentinels' year outside the sentinels: a moment computed from one in Python
    (not replaced per run: the program would hold a wrong moment)."""
    sentinels = (sentinel_sql(AS_OF), sentinel_sql(SINCE))
    for sql in statements:
        for sentinel in sentinels:
            sql = sql.replace(sentinel, "")
        if str(AS_OF.year) in sql:
            return True
    return False


def _name(key: tuple[str, ...]) -> str:
    return json.dumps(list(key))


def _load(store: Store, key: tuple[str, ...]) -> list[str] | None:
    """The statements the file keeps under `key` for this version, else those this user's cache keeps, if any.
    Inside `one_read` every body the file keeps for this version is read by the first call, in one query."""
    read = _read.get(id(store))
    if read is not None:
        if "bodies" not in read:
            read["bodies"] = dict(store.raw.execute(f"SELECT key, body FROM {TABLE} WHERE version = ?",
                                                    [version()]).fetchall()) if store.exists(TABLE) else {}
        body = read["bodies"].get(_name(key))
        if body is not None:
            return [str(sql) for sql in json.loads(body)]
    elif store.exists(TABLE):
        rows = store.raw.execute(f"SELECT body FROM {TABLE} WHERE key = ? AND version = ?",
                                 [_name(key), version()]).fetchall()
        if rows:
            return [str(sql) for sql in json.loads(rows[0][0])]
    found = statement_cache.load(list(key), version())
    if found is not None and not store.in_transaction:  # kept in the file too (a read-only file refuses: no matter)
        _save_file(store, key, found)
    return found


def _save(store: Store, key: tuple[str, ...], statements: list[str]) -> None:
    """Keep `statements` in the file under `key` (replacing any), dropping what other versions kept, and in this
    user's cache. Not if a sentinel leaked (`leaked`)."""
    if leaked(statements):
        return
    statement_cache.save(list(key), version(), statements)
    _save_file(store, key, statements)


def _save_file(store: Store, key: tuple[str, ...], statements: list[str]) -> None:
    """Keep `statements` in the file under `key`, dropping what other versions kept: written by the store's
    background connection, in one transaction queued behind the state's own write (`Store.background`, best
    effort: a file that cannot be written keeps nothing, as before). On the report's connection these writes waited
    for the state's background commit (0.2 s of a 0.4 s cold report at 1M events) and cost three autocommits
    each. Inside a transaction (the server's reads) they run there, as every background write does."""
    name, ver, body = _name(key), version(), json.dumps(statements)

    def write(handle: Store) -> None:
        con = handle.raw
        con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key VARCHAR PRIMARY KEY, version VARCHAR NOT NULL, "
                    "body VARCHAR NOT NULL)")
        con.execute(f"DELETE FROM {TABLE} WHERE version <> ? OR key = ?", [ver, name])
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?)", [name, ver, body])

    store.background(write, best_effort=True, lock=_copying)


def _keep(kept: dict[tuple[str, ...], Any], key: tuple[str, ...], value: Any) -> None:
    if len(kept) >= KEPT:
        kept.pop(next(iter(kept)))
    kept[key] = value


load, save = _load, _save  # the report's kept reads (aha.analyses.report_sql) share the table and its versions
