"""How each backend's SQL spells the JSON operations the engine uses: the one place aha writes dialect SQL by hand.

The engine builds backend-neutral Ibis expressions (`aha.engine.members.JSONMember`, Ibis's `.str` / `.float`
unwraps); here each dialect's compiler learns to render them (by the operation's name, Ibis's `visit_<Name>` rule:
the store never imports the engine), so that a JSON member read is the same value on every
backend: the member's JSON text (a string quoted, a number as written), NULL when absent.
- DuckDB (and any SQLGlot compiler without its own rule): `json_extract(doc, '/pointer')`, a JSON Pointer.
- Spark SQL (4.0+, which has the VARIANT type): `to_json(variant_get(parse_json(doc), '$["name"]', 'variant'))`.
  `get_json_object` would return a string member unquoted, so `"3"` and `3` would read alike; a member name holding
  `"` or `\\` cannot be written in Spark's path syntax and is refused when compiling, naming the key. Ibis renders
  the unwraps on Spark as Python UDFs (which need pandas on every executor and run row by row); here they are
  `schema_of_variant` checks, with the same rule as DuckDB's: a value of another JSON type is NULL.
- A member as text or as a finite number (`JSONText`, `JSONNumber`, what property filters and segments read): on
  DuckDB `json_extract_string`, one parse of the document where Ibis's unwrap-or-cast parsed it three times (nine
  for a number); on Spark the unwraps above, as before.
- Ibis's own Spark rules mended here: a filtered median (`_spark_median`), an ordered `group_concat` (the paths).
"""

from __future__ import annotations

import re
from typing import Any

import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import sqlglot.expressions as sge
from ibis.backends.sql.compilers.base import SQLGlotCompiler
from ibis.backends.sql.compilers.pyspark import PySparkCompiler
from ibis.common.exceptions import UnsupportedOperationError

from aha.jsonpointer import members, shown

_INTEGERS = ("TINYINT", "SMALLINT", "INT", "BIGINT")


def _generic(self: SQLGlotCompiler, op: ops.Value, *, arg: sge.Expression, pointer: str) -> sge.Expression:
    return sge.Anonymous(this="json_extract", expressions=[arg, sge.Literal.string(pointer)])


def _text(self: SQLGlotCompiler, op: ops.Value, *, arg: sge.Expression, pointer: str) -> sge.Expression:
    """DuckDB: `json_extract_string` unquotes a string and prints any other value (one parse of the document); a
    JSON `null` member, which it reads as NULL, is the text `null` (the cast, evaluated only for those rows)."""
    found = sge.Anonymous(this="json_extract_string", expressions=[arg, sge.Literal.string(pointer)])
    return self.f.coalesce(found, self.cast(_generic(self, op, arg=arg.copy(), pointer=pointer), dt.string))


def _number(self: SQLGlotCompiler, op: ops.Value, *, arg: sge.Expression, pointer: str) -> sge.Expression:
    """DuckDB: the member's text cast to a double (a JSON number prints as it reads back; a string that spells one
    casts alike), kept when `isfinite`: two parses of the document, not nine."""
    def read() -> sge.Expression:
        found = sge.Anonymous(this="json_extract_string", expressions=[arg.copy(), sge.Literal.string(pointer)])
        return sge.TryCast(this=found, to=self.type_mapper.from_ibis(dt.float64), safe=True)
    return self.if_(self.f.isfinite(read()), read(), self.cast(sge.Null(), dt.float64))


def _finite(self: SQLGlotCompiler, read: Any) -> sge.Expression:
    """`read()` where it is finite, else NULL, on Spark (no `isfinite` there): `x - x = 0` holds for finite x only
    (inf - inf and NaN - NaN are NaN), with no float literal."""
    test = sge.EQ(this=sge.Paren(this=sge.Sub(this=read(), expression=read())), expression=sge.convert(0))
    return self.if_(test, read(), self.cast(sge.Null(), dt.float64))


def _variant(arg: sge.Expression) -> sge.Expression:
    return sge.Anonymous(this="parse_json", expressions=[arg])


def _spark_member(self: SQLGlotCompiler, op: ops.Value, *, arg: sge.Expression, pointer: str) -> sge.Expression:
    names = members(pointer)
    bad = next((name for name in names if '"' in name or "\\" in name), None)
    if bad is not None:
        raise UnsupportedOperationError(f'Spark SQL cannot read the property key {shown(bad)}: its JSON path syntax '
                                        'has no escape for " or \\. Rename the property in the data.')
    got, path = _variant(arg), "$"
    for name in names:
        if _INDEX.fullmatch(name) is None:
            path += f'["{name}"]'
            continue
        # A JSON Pointer's `0` is an array's first item or an object's member "0" (RFC 6901), as DuckDB reads it;
        # Spark's path tells them apart (`[0]`, `["0"]`): at most one of the two is found.
        got = sge.Coalesce(this=_get(got, f"{path}[{name}]"), expressions=[_get(got.copy(), f'{path}["{name}"]')])
        path = "$"
    return sge.Anonymous(this="to_json", expressions=[_get(got, path) if path != "$" else got])


_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")  # an array index as RFC 6901 writes it (no leading zero), Spark's int


def _get(variant: sge.Expression, path: str) -> sge.Expression:
    return sge.Anonymous(this="variant_get", expressions=[variant, sge.Literal.string(path),
                                                          sge.Literal.string("variant")])


def _unwrap(kinds: tuple[str, ...], target: str, decimals: bool = False) -> Any:
    """An unwrap on Spark: the value as `target` when its JSON type is one of `kinds`, else NULL."""
    def visit(self: SQLGlotCompiler, op: ops.Value, *, arg: sge.Expression) -> sge.Expression:
        kind = sge.Anonymous(this="schema_of_variant", expressions=[_variant(arg)])
        test: sge.Expression = sge.In(this=kind, expressions=[sge.Literal.string(k) for k in kinds])
        if decimals:
            test = sge.Or(this=test, expression=sge.Like(this=kind.copy(), expression=sge.Literal.string("DECIMAL%")))
        value = sge.Anonymous(this="variant_get", expressions=[_variant(arg.copy()), sge.Literal.string("$"),
                                                               sge.Literal.string(target)])
        return sge.Case(ifs=[sge.If(this=test, true=value)])
    return visit


_spark_string = _unwrap(("STRING",), "string")
_spark_float = _unwrap((*_INTEGERS, "DOUBLE", "FLOAT"), "double", decimals=True)


def _spark_text(self: SQLGlotCompiler, op: ops.Value, *, arg: sge.Expression, pointer: str) -> sge.Expression:
    """Spark: the string unwrapped, else the member's JSON text."""
    found = _spark_member(self, op, arg=arg, pointer=pointer)
    return self.f.coalesce(_spark_string(self, op, arg=found), self.cast(found.copy(), dt.string))


def _spark_number(self: SQLGlotCompiler, op: ops.Value, *, arg: sge.Expression, pointer: str) -> sge.Expression:
    """Spark: a JSON number, else a string cast to a double, kept when finite."""
    found = _spark_member(self, op, arg=arg, pointer=pointer)

    def read() -> sge.Expression:
        spelled = sge.TryCast(this=_spark_string(self, op, arg=found.copy()),
                              to=self.type_mapper.from_ibis(dt.float64), safe=True)
        return self.f.coalesce(_spark_float(self, op, arg=found.copy()), spelled)
    return _finite(self, read)


def _spark_median(self: Any, op: ops.Median, *, arg: sge.Expression, where: sge.Expression | None) -> sge.Expression:
    """Ibis 12 filters the 0.5 along with the values (`percentile(IF(w, x, NULL), IF(w, 0.5, NULL))`), which Spark
    refuses as not constant; the filter belongs to the values only, as in its own `visit_Quantile`."""
    if where is not None:
        arg = self.if_(where, arg, sge.Null())
    return self.f.percentile(arg, sge.convert(0.5))


_ibis_group_concat = PySparkCompiler.visit_GroupConcat


def _spark_group_concat(self: Any, op: ops.Value, *, arg: sge.Expression, sep: sge.Expression,
                        where: sge.Expression | None, order_by: list[sge.Expression]) -> sge.Expression:
    """An ordered `group_concat` (Ibis 12 refuses `order_by` on Spark): the values collected as structs of the
    ascending sort keys and the value, sorted, then joined; NULL when nothing is collected, as on DuckDB."""
    if not order_by:
        return _ibis_group_concat(self, op, arg=arg, sep=sep, where=where, order_by=order_by)
    keys = []
    for key in order_by:
        if isinstance(key, sge.Ordered):
            if key.args.get("desc"):
                raise UnsupportedOperationError("a descending group_concat order is not written for Spark")
            key = key.this
        keys.append(key)
    fields: list[sge.Expression] = []
    for i, key in enumerate(keys):
        fields += [sge.Literal.string(f"k{i}"), key]
    value: sge.Expression = self.f.named_struct(*fields, sge.Literal.string("v"), arg)
    if where is not None:
        value = self.if_(where, value, sge.Null())
    collected = self.f.array_sort(self.f.collect_list(value))
    element = sge.to_identifier("x")
    pick = sge.Lambda(this=sge.Dot(this=element.copy(), expression=sge.to_identifier("v")), expressions=[element])
    values = self.f.transform(collected, pick)
    return self.if_(self.f.size(collected).eq(0), sge.Null(), self.f.array_join(values, sep))


SQLGlotCompiler.visit_JSONMember = _generic
SQLGlotCompiler.visit_JSONText = _text
SQLGlotCompiler.visit_JSONNumber = _number
PySparkCompiler.visit_Median = _spark_median
PySparkCompiler.visit_GroupConcat = _spark_group_concat
PySparkCompiler.visit_JSONMember = _spark_member
PySparkCompiler.visit_JSONText = _spark_text
PySparkCompiler.visit_JSONNumber = _spark_number
PySparkCompiler.visit_UnwrapJSONString = _spark_string
PySparkCompiler.visit_UnwrapJSONInt64 = _unwrap(_INTEGERS, "bigint")
PySparkCompiler.visit_UnwrapJSONFloat64 = _spark_float
PySparkCompiler.visit_UnwrapJSONBoolean = _unwrap(("BOOLEAN",), "boolean")


def _spark_epoch_seconds(self: Any, op: ops.Value, *, arg: sge.Expression) -> sge.Expression:
    """Seconds since 1970 with their fraction, as DuckDB's `epoch` gives them: Ibis 12 writes Spark's
    `unix_timestamp`, whole seconds, so a time to value, an activation's `≤ N days` and a retention day differed from
    DuckDB's by up to a second at every boundary (an event 0.3 s before day 1 was counted on day 1)."""
    micros = self.f.unix_micros(self.cast(arg, dt.Timestamp()))
    return sge.Div(this=micros, expression=sge.convert(1_000_000))


PySparkCompiler.visit_ExtractEpochSeconds = _spark_epoch_seconds
