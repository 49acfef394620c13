"""One JSON member by its literal name: an Ibis operation of aha's own, compiled per dialect.

Ibis's `json[key]` hands the key to SQLGlot's JSON-path parser, which reads `$browser` as `browser`, `a.b` as a nested
path, fails on a quote and, on DuckDB, writes a key holding `'` into the SQL text unescaped. This operation carries a
JSON Pointer (`aha.jsonpointer`) and each dialect receives it as an escaped string literal:
- DuckDB: `json_extract(doc, '/pointer')` (DuckDB reads a path starting with `/` as a JSON Pointer);
- Spark SQL: `get_json_object(doc, '$['name']...')`; a member name holding `'` or `]` cannot be written in Spark's
  path syntax and is refused when compiling, naming the key.
"""

from __future__ import annotations

import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.rules as rlz
import ibis.expr.types as ir
import sqlglot.expressions as sge
from ibis.backends.sql.compilers.base import SQLGlotCompiler
from ibis.backends.sql.compilers.pyspark import PySparkCompiler
from ibis.common.exceptions import UnsupportedOperationError

from aha.jsonpointer import members, pointer, shown


class JSONMember(ops.Value):
    """The value at a JSON Pointer inside a JSON document (null when absent)."""

    arg: ops.Value[dt.JSON]
    pointer: str

    dtype = dt.json
    shape = rlz.shape_like("arg")


def member(doc: ir.JSONValue, key: str) -> ir.JSONValue:
    """The member `key` of `doc` (see aha.jsonpointer for the key rule)."""
    return JSONMember(doc, pointer(key)).to_expr()


def _generic(self: SQLGlotCompiler, op: JSONMember, *, arg: sge.Expression, pointer: str) -> sge.Expression:
    return sge.Anonymous(this="json_extract", expressions=[arg, sge.Literal.string(pointer)])


def _spark(self: SQLGlotCompiler, op: JSONMember, *, arg: sge.Expression, pointer: str) -> sge.Expression:
    names = members(pointer)
    bad = next((name for name in names if "'" in name or "]" in name), None)
    if bad is not None:
        raise UnsupportedOperationError(f"Spark SQL cannot read the property key {shown(bad)}: its JSON path syntax "
                                        "has no escape for ' or ]. Rename the property in the data.")
    path = "$" + "".join(f"['{name}']" for name in names)
    return sge.Anonymous(this="get_json_object", expressions=[arg, sge.Literal.string(path)])


SQLGlotCompiler.visit_JSONMember = _generic
PySparkCompiler.visit_JSONMember = _spark
