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


class JSONText(ops.Value):
    """The member at `pointer` as text (`matchers.text`): a string unquoted, any other JSON value as its JSON text
    (a number as written, `true`, `null`, an object compacted), null when absent. One operation rather than Ibis's
    unwrap-or-cast, so that a backend reads the member once (DuckDB: one parse per row, not three)."""

    arg: ops.Value[dt.JSON]
    pointer: str

    dtype = dt.string
    shape = rlz.shape_like("arg")


class JSONNumber(ops.Value):
    """The member at `pointer` as a finite number (`matchers.number`): a JSON number, or a string that spells one;
    null for anything else, NaN and ±Infinity included."""

    arg: ops.Value[dt.JSON]
    pointer: str

    dtype = dt.float64
    shape = rlz.shape_like("arg")


def member(doc: ir.JSONValue, key: str) -> ir.JSONValue:
    """The member `key` of `doc` (see aha.jsonpointer for the key rule)."""
    return JSONMember(doc, pointer(key)).to_expr()


def member_text(doc: ir.JSONValue, key: str) -> ir.StringValue:
    return JSONText(doc, pointer(key)).to_expr()


def member_number(doc: ir.JSONValue, key: str) -> ir.FloatingValue:
    return JSONNumber(doc, pointer(key)).to_expr()
