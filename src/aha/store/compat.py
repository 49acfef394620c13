"""Ibis 12 on the newest DuckDB and SQLGlot: the few upstream breaks, adapted in one place (docs/engine.md).

ibis-framework 12.0.0 (February 2026, its latest release) was written against DuckDB 1.x and SQLGlot 29. Each patch
below names the upstream change it adapts to and applies only where that change is present (a feature check, not
a version number: a backport or a fixed Ibis makes it a no-op). `apply()` runs when this module is imported, which
`aha.store.database` does before it connects. `APPLIED` lists what was patched in this process.

Not patched here, because it is aha's own reading rather than Ibis's: DuckDB 2.0 refuses other work on a connection
while a SELECT that `execute()` started is not read to its end (`ResourceInUseException: … unfinished result`), where
1.x silently dropped it. aha reads every result whole (`database.one_row`); so does Ibis everywhere aha calls it
(its relations, `fetchall`).
"""

from __future__ import annotations

import warnings
from typing import Any

import duckdb
import sqlglot.expressions as sge
import sqlglot.generator as generator_module
from sqlglot.generator import Generator

APPLIED: list[str] = []
COPY_WARNING = "Arrow output on a DB-API result"


def _connection_fetch_arrow() -> bool:
    """DuckDB 2.0 removed `fetch_arrow_table()` and `fetch_record_batch()` from the connection (the DB-API cursor);
    its names are `to_arrow_table()` and `to_arrow_reader()`. Ibis 12 calls the old ones on cursors in `list_tables`,
    `list_catalogs`, `list_databases`, `_get_schema_using_query` (`Backend.sql`) and `to_pyarrow_batches`. Give the
    connection the old names back, as aliases of the new (same rows, same Arrow types), without DuckDB 2's warning
    that Arrow from a cursor copies the rows once more (Ibis reads small catalog results this way)."""
    connection: Any = duckdb.DuckDBPyConnection
    if hasattr(connection, "fetch_arrow_table") or not hasattr(connection, "to_arrow_table"):
        return False
    to_table, to_reader = connection.to_arrow_table, connection.to_arrow_reader

    def fetch_arrow_table(self: duckdb.DuckDBPyConnection, rows_per_batch: int = 1_000_000) -> Any:
        return to_table(self)

    def fetch_record_batch(self: duckdb.DuckDBPyConnection, rows_per_batch: int = 1_000_000) -> Any:
        return to_reader(self, batch_size=rows_per_batch)

    # The warning is attributed to the line that calls DuckDB, here: ignored for this module only (a filter, not
    # `catch_warnings`, which swaps the process's filters and is not safe beside the store's threads).
    warnings.filterwarnings("ignore", COPY_WARNING, UserWarning, module=__name__)
    connection.fetch_arrow_table = fetch_arrow_table
    connection.fetch_record_batch = fetch_record_batch
    return True


def _drop_names_its_object() -> bool:
    """SQLGlot 30 moved the object a `DROP` names from `this` to a `tables` list; Ibis 12 still builds
    `Drop(kind=…, this=name)`, which SQLGlot 30 renders without the name (`DROP VIEW IF EXISTS`), a parser error in
    DuckDB (`create_table` from an in-memory table, `drop_table`, `drop_view`, the memtable finalizer). Render a
    `Drop` that carries `this` and no `tables` as if `this` were its one table."""
    if "this" in sge.Drop.arg_types or "tables" not in sge.Drop.arg_types:
        return False
    drop_sql = Generator.drop_sql

    def patched(self: Generator, expression: sge.Drop) -> str:
        named = expression.args.get("this")
        if named is not None and not expression.args.get("tables"):
            expression = expression.copy()
            expression.set("this", None)
            expression.set("tables", [sge.to_table(named) if isinstance(named, str) else named])
        return drop_sql(self, expression)

    Generator.drop_sql = patched  # type: ignore[method-assign]
    # SQLGlot keeps each generator class's dispatch table once built: SQL generated before this patch (a test, or a
    # caller that compiles before opening a store) would keep rendering the nameless DROP. Built again on next use.
    cache = getattr(generator_module, "_DISPATCH_CACHE", None)
    if isinstance(cache, dict):
        cache.clear()
    return True


def apply() -> list[str]:
    """Apply every patch this DuckDB and SQLGlot need (once; a second call changes nothing)."""
    for name, patch in (("duckdb: connection fetch_arrow_table/fetch_record_batch", _connection_fetch_arrow),
                        ("sqlglot: Drop(this=…)", _drop_names_its_object)):
        if name not in APPLIED and patch():
            APPLIED.append(name)
    return APPLIED


apply()
