"""One JSON member by its literal name: an Ibis operation of aha's own, compiled per dialect (aha.store.dialects).

Ibis's `json[key]` hands the key to SQLGlot's JSON-path parser, which reads `$browser` as `browser`, `a.b` as a nested
path, fails on a quote and, on DuckDB, writes a key holding `'` into the SQL text unescaped. This operation carries a
JSON Pointer (`aha.jsonpointer`); the store renders it for each backend (DuckDB's `json_extract` with the pointer,
Spark's `variant_get`), so that the engine holds no dialect SQL.
"""

from __future__ import annotations

import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.rules as rlz
import ibis.expr.types as ir

from aha.jsonpointer import pointer


class JSONMember(ops.Value):
    """The value at a JSON Pointer inside a JSON document (null when absent)."""

    arg: ops.Value[dt.JSON]
    pointer: str

    dtype = dt.json
    shape = rlz.shape_like("arg")


def member(doc: ir.JSONValue, key: str) -> ir.JSONValue:
    """The member `key` of `doc` (see aha.jsonpointer for the key rule)."""
    return JSONMember(doc, pointer(key)).to_expr()
