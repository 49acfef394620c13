"""The Ibis side of a DuckDB store, made on the first use of `Store.ibis` (aha.store.database).

Importing Ibis and SQLGlot costs 0.6–0.9 s of CPU, more than importing 10,000 events takes; `aha import`, the
tracking server's ingest and every other path that runs SQL on `store.raw` never import this module. Importing it
applies aha's patches for Ibis 12 on DuckDB 2 and SQLGlot 30 (`compat`) and each dialect's JSON rules (`dialects`)
before any backend compiles an expression.
"""

from __future__ import annotations

from typing import Any

import duckdb
import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
from ibis.formats.pyarrow import PyArrowData

from aha.store import compat, dialects  # noqa: F401  (their patches and rules, before any backend compiles)


def duckdb_backend(con: duckdb.DuckDBPyConnection, identity: tuple[tuple[Any, ...], dict[str, Any]] | None) -> Any:
    """Ibis's DuckDB backend on an open connection, as `ibis.duckdb.connect(*args, **kwargs)` made it: its
    `_post_connect` settings (which `database.configure` applied when connecting, so setting them again changes
    nothing) and, given `identity` (args, kwargs), its identity: tables of two stores never compare equal as
    expressions. Without it, `ibis.duckdb.from_connection`'s (a cursor's, as before)."""
    backend = ibis.duckdb.from_connection(con)
    if identity is not None:
        backend._con_args, backend._con_kwargs = identity
    return backend


class ArrowData(PyArrowData):
    """Ibis's `DuckDBPyArrowData`, here so that reading a result does not import its pandas-importing module."""

    @classmethod
    def convert_scalar(cls, scalar: pa.Scalar, dtype: dt.DataType) -> pa.Scalar:
        return pa.scalar(None) if dtype.is_null() else super().convert_scalar(scalar, dtype)

    @classmethod
    def convert_column(cls, column: pa.Array, dtype: dt.DataType) -> pa.Array:
        return pa.nulls(len(column)) if dtype.is_null() else super().convert_column(column, dtype)
