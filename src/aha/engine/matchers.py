"""Property filters (`where`, `scope`) compiled into boolean expressions over a JSON column.

Numbers compare numerically whether the JSON holds 50 or "50", because CSV exports often quote numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import ibis
import ibis.expr.types as ir

from aha.definitions.models import Condition, Scalar
from aha.engine.members import member_number, member_text


class Properties(Protocol):
    """Where property values come from: a JSON column, or typed columns extracted once in the events pass."""

    def text(self, key: str) -> ir.StringValue: ...

    def number(self, key: str) -> ir.FloatingValue: ...


def text(json_col: ir.JSONValue, key: str) -> ir.StringValue:
    """A property as text whatever its JSON type: strings unquoted, numbers and booleans as written (`null` for a
    JSON null). `key` is a member's literal name, or a JSON Pointer when it starts with `/` (aha.jsonpointer)."""
    return member_text(json_col, key)


def number(json_col: ir.JSONValue, key: str) -> ir.FloatingValue:
    """A property as a finite number: a JSON number, or text that spells one ("50"). Anything else is null, and so
    are NaN and ±Infinity however they came (text "NaN" or "1e400", which a cast would read as such; a number
    stored before aha refused them, docs/ingest.md "Values"), so one of them never turns a sum into NaN. Each
    backend renders it reading the member once where it can (aha.store.dialects)."""
    return member_number(json_col, key)


@dataclass(frozen=True)
class JsonProperties:
    column: ir.JSONValue

    def text(self, key: str) -> ir.StringValue:
        return text(self.column, key)

    def number(self, key: str) -> ir.FloatingValue:
        return number(self.column, key)


@dataclass(frozen=True)
class ExtractedProperties:
    """Property values pulled out of JSON once per event, so each milestone's filter reads a typed column."""

    table: ir.Table

    def text(self, key: str) -> ir.StringValue:
        return self.table[text_column(key)]

    def number(self, key: str) -> ir.FloatingValue:
        return self.table[number_column(key)]


def text_column(key: str) -> str:
    """A column name per key that any key, however long or odd, maps to safely and uniquely."""
    return f"_p_text__{_digest(key)}"


def number_column(key: str) -> str:
    return f"_p_number__{_digest(key)}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _equals(props: Properties, key: str, expected: Scalar) -> ir.BooleanValue:
    if isinstance(expected, bool):
        return props.text(key) == ("true" if expected else "false")
    if isinstance(expected, int | float):
        return props.number(key) == float(expected)
    return props.text(key) == expected


def condition(props: Properties, key: str, cond: Condition) -> ir.BooleanValue:
    """All operators given for one property must hold; a missing property fails every operator but `ne`/`not_in`."""
    parts: list[ir.BooleanValue] = []
    if cond.eq is not None:
        parts.append(_equals(props, key, cond.eq))
    if cond.ne is not None:
        parts.append(~_equals(props, key, cond.ne).fill_null(False))
    if cond.in_ is not None:
        parts.append(ibis.or_(*[_equals(props, key, v) for v in cond.in_]).fill_null(False))
    if cond.not_in is not None:
        parts.append(~ibis.or_(*[_equals(props, key, v) for v in cond.not_in]).fill_null(False))
    for op, bound in (("gt", cond.gt), ("gte", cond.gte), ("lt", cond.lt), ("lte", cond.lte)):
        if bound is not None:
            n = props.number(key)
            parts.append({"gt": n > bound, "gte": n >= bound, "lt": n < bound, "lte": n <= bound}[op])
    if cond.exists is not None:
        present = props.text(key).notnull() & (props.text(key) != "null")
        parts.append(present if cond.exists else ~present.fill_null(False))
    if cond.contains is not None:
        parts.append(props.text(key).contains(cond.contains))
    return ibis.and_(*parts).fill_null(False)


def where(props: Properties, filters: Mapping[str, Condition]) -> ir.BooleanValue:
    if not filters:
        return ibis.literal(True)
    return ibis.and_(*[condition(props, key, cond) for key, cond in filters.items()])


def scope(traits: ir.JSONValue, signup_props: ir.JSONValue, rules: Mapping[str, Scalar | list[Scalar]]
          ) -> ir.BooleanValue:
    """Scope reads a user trait, falling back to the signup event's property of the same name."""
    if not rules:
        return ibis.literal(True)
    parts = []
    for key, expected in rules.items():
        values = expected if isinstance(expected, list) else [expected]
        value = ibis.coalesce(text(traits, key), text(signup_props, key))
        parts.append(value.isin([str(v).lower() if isinstance(v, bool) else str(v) for v in values]))
    return ibis.and_(*parts).fill_null(False)
