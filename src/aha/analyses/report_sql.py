"""The report's reads compiled once per definitions and kept in the file, like the update's (issue 17.4).

A refreshed report reads the same state table with the same statements every time; only `as_of` differs. Building
the analyses' Ibis expressions and compiling them cost a third of the reads after a refresh (0.1–0.15 s). Each read
is compiled with `compiled.AS_OF` standing for `as_of`, kept per process and in the file's `aha_compiled` table
(under its key and `compiled.version()`: aha's code, Ibis, SQLGlot, DuckDB), and run with this `as_of` put in, so a
fresh process reports from a refreshed state without building or compiling an expression.

Only where the statements' meaning cannot drift: a DuckDB file (`Store.incremental`) whose state is read from the
file's own entities table or the in-memory copy a rebuild reads while the file's is written (which one is in the
key; not a signup range's restriction, not a segment's join), and kept statements enabled (`AHA_KEPT_SQL`). Kept
across files too (aha.analyses.compiled, statement_cache), with the file's table shape in the key. Anywhere else
the analyses run their expressions as before. A store that cannot write (opened read-only, or inside the server's
read transaction) runs what the file keeps and keeps nothing new.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import duckdb

from aha.analyses import compiled
from aha.analyses.state import ENTITIES_TABLE, LAYOUT, MilestoneState, Named
from aha.definitions import content_hash
from aha.store import Store, schema
from aha.store.database import MEMORY

_kept: dict[tuple[str, ...], list[str]] = {}
_saving = threading.Lock()  # the report's timing runs on a second connection, in a thread: one save at a time


def usable(store: Store, ms: MilestoneState) -> bool:
    """Whether `ms` is read from the file's entities table of a DuckDB file (see the module's note): its entities
    are the stored state's by name (`state.Named`), not an expression over them."""
    return (store.incremental and compiled.enabled() and isinstance(ms.source, Named)
            and ms.source.database in (None, MEMORY))


def statements(store: Store, ms: MilestoneState, key: tuple[str, ...],
               compile_: Callable[[MilestoneState], list[str]]) -> list[str]:
    """The statements kept under `key` for `ms`'s definitions, or `compile_` (given `ms` with `compiled.AS_OF` as
    its `as_of`) kept now; either way with `ms.as_of` put in. Call only when `usable(store, ms)`."""
    assert isinstance(ms.source, Named)
    database = ms.source.database or ""  # the file's table, or a rebuild's copy in memory
    full = ("report", LAYOUT, str(schema.SCHEMA_VERSION), content_hash(ms.definitions), database,
            compiled.shape(store), *key)
    mine = (str(store.path), *full)  # per file: each file keeps its own
    found = _kept.get(mine)
    if found is None:
        found = compiled.load(store, full)
        if found is None:
            found = _renamed(store, full, database)
            if found is not None:
                _save(store, full, found)
        if found is None:
            found = compile_(replace(ms, as_of=compiled.AS_OF))
            _save(store, full, found)
        with _saving:
            if len(_kept) >= compiled.KEPT * 4:
                _kept.pop(next(iter(_kept)))
            _kept[mine] = found
    sentinel, value = compiled.sentinel_sql(compiled.AS_OF), compiled.literal(ms.as_of)
    return [sql.replace(sentinel, value) for sql in found]


FILE, COPY = f'"{ENTITIES_TABLE}"', f'"{MEMORY}"."{ENTITIES_TABLE}"'  # how compiled reads name the two tables


def _renamed(store: Store, full: tuple[str, ...], database: str) -> list[str] | None:
    """The same reads kept for the other entities table (a rebuild's copy in memory, the file's), with the table's
    name changed: the statements differ in nothing else. So the reports after a cold one (reading the file's table)
    run what the cold one (reading its copy in memory) kept, and the other way round."""
    found = compiled.load(store, (*full[:4], MEMORY if database == "" else "", *full[5:]))
    if found is None:
        return None
    if database == "":  # every mention of the table is the copy's
        if any(sql.count(FILE) != sql.count(COPY) for sql in found):
            return None
        return [sql.replace(COPY, FILE) for sql in found]
    if any(f'"{MEMORY}"' in sql for sql in found):
        return None
    return [sql.replace(FILE, COPY) for sql in found]


def records(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """A kept read's rows as dicts, NULL as None (what `Store.records` gives for the same statement)."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read(store: Store, ms: MilestoneState, key: tuple[str, ...], query: Callable[[MilestoneState], Any]) -> list[
        dict[str, Any]]:
    """The rows of `query(ms)` (an Ibis table expression): from the kept statement where `usable`, else by Ibis."""
    if not usable(store, ms):
        return store.records(query(ms))
    (sql,) = statements(store, ms, key, lambda m: [str(store.ibis.compile(query(m)))])
    return records(store.raw, sql)


def _save(store: Store, key: tuple[str, ...], found: list[str]) -> None:
    """Keep `found` in the file unless this handle cannot write now (inside a transaction; a read-only file)."""
    if store.in_transaction:
        return
    # A read-only file refuses the write: the statements stay this process's.
    with _saving, contextlib.suppress(duckdb.Error):
        compiled.save(store, key, found)
