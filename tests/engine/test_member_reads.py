"""A property read as text or as a number (`matchers.text`, `matchers.number`) is one operation per backend
(aha.store.dialects: on DuckDB `json_extract_string`, one parse of the document where Ibis's unwrap-or-cast parsed it
three times, nine for a number). Each must read exactly what the composition of Ibis's unwraps read before, for every
JSON value a user can send: checked by hand on the edge values, and against that composition on generated documents
(keys with `~`, `/`, spaces and accents; NaN and ±Infinity as an old importer stored them)."""

from __future__ import annotations

import json
import math
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aha.store.dialects  # noqa: F401  (the rules that render aha's JSON operations)
from aha.engine import matchers
from aha.engine.members import member

KEYS = ["a", "a b", "~/x", "é", "/n/m"]  # the last a JSON Pointer into a nested object


def _ibis_text(doc: ir.JSONValue, key: str) -> ir.StringValue:
    """What `matchers.text` was: Ibis's string unwrap, else the member's JSON text."""
    value = member(doc, key)
    return ibis.coalesce(value.str, value.cast("string"))


def _ibis_number(doc: ir.JSONValue, key: str) -> ir.FloatingValue:
    """What `matchers.number` was: Ibis's float unwrap, else the string unwrap cast, kept when finite."""
    value = member(doc, key)
    read = ibis.coalesce(value.float, value.str.try_cast("float64"))
    return ((read - read) == 0).ifelse(read, ibis.null("float64"))


def _select_sql() -> str:
    t = ibis.table({"doc": "json"}, name="docs")
    columns: dict[str, Any] = {}
    for i, key in enumerate(KEYS):
        columns[f"text_{i}"] = matchers.text(t.doc, key)
        columns[f"was_text_{i}"] = _ibis_text(t.doc, key)
        columns[f"number_{i}"] = matchers.number(t.doc, key)
        columns[f"was_number_{i}"] = _ibis_number(t.doc, key)
    return ibis.to_sql(t.select(**columns), dialect="duckdb")


SQL = _select_sql()


def _read(docs: list[str]) -> list[dict[str, Any]]:
    con = duckdb.connect()
    con.execute("CREATE TABLE docs (doc JSON)")
    con.executemany("INSERT INTO docs VALUES (?)", [[d] for d in docs])
    result = con.execute(SQL)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _check(docs: list[str]) -> list[dict[str, Any]]:
    rows = _read(docs)
    for doc, row in zip(docs, rows, strict=True):
        for i in range(len(KEYS)):
            assert _same(row[f"text_{i}"], row[f"was_text_{i}"]), (doc, KEYS[i], "text")
            assert _same(row[f"number_{i}"], row[f"was_number_{i}"]), (doc, KEYS[i], "number")
    return rows


EDGES = {  # value of "a" → (text, number), read by hand
    '"x"': ("x", None), "5": ("5", 5.0), "5.0": ("5.0", 5.0), "1e2": ("100.0", 100.0), "1E400": ("1E400", None),
    "-0.0": ("-0.0", -0.0), "null": ("null", None), "true": ("true", None), "false": ("false", None),
    '{"b": 1, "c" : [1, 2]}': ('{"b":1,"c":[1,2]}', None), '[1, "2"]': ('[1,"2"]', None),
    '"  5 "': ("  5 ", 5.0), '"5"': ("5", 5.0), '"NaN"': ("NaN", None), '"inf"': ("inf", None),
    '"1e400"': ("1e400", None), '"\\u00e9\\n\\"q"': ('é\n"q', None), '""': ("", None), '" "': (" ", None),
    "18446744073709551616": ("18446744073709551616", 1.8446744073709552e19), '"true"': ("true", None),
    "9007199254740993": ("9007199254740993", 9007199254740992.0), "0.1": ("0.1", 0.1), "NaN": (None, None),
    "-Infinity": (None, None),
}


def test_edge_values_read_as_by_hand_and_as_before() -> None:
    docs = [f'{{"a": {value}}}' for value in EDGES] + ["{}"]
    rows = _check(docs)
    for (value, (text, number)), row in zip(EDGES.items(), rows, strict=False):
        if text is not None:
            assert row["text_0"] == text, value
        assert row["number_0"] == number, value
    assert rows[-1]["text_0"] is None and rows[-1]["number_0"] is None  # absent


scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
           | st.sampled_from(["5", " 7 ", "1e400", "NaN", "-Infinity", "0x10", "1_000", "true", "null", "1e-400"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                            max_size=3), max_leaves=6)
documents = st.fixed_dictionaries({}, optional={"a": values, "a b": values, "~/x": values, "é": values,
                                                "n": st.fixed_dictionaries({}, optional={"m": values}) | values})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=30))
def test_generated_documents_read_as_before(docs: list[dict[str, Any]]) -> None:
    _check([json.dumps(doc) for doc in docs])  # json.dumps writes NaN and Infinity as old stores hold them


@pytest.mark.parametrize("key", KEYS)
def test_each_read_parses_the_document_at_most_twice(key: str) -> None:
    t = ibis.table({"doc": "json"}, name="docs")
    text = ibis.to_sql(t.select(v=matchers.text(t.doc, key)), dialect="duckdb").upper()
    number = ibis.to_sql(t.select(v=matchers.number(t.doc, key)), dialect="duckdb").upper()
    assert text.count("JSON_EXTRACT") == 2 and "JSON_TYPE" not in text  # the string read, the cast for a JSON null
    assert number.count("JSON_EXTRACT") == 2 and "JSON_TYPE" not in number  # the test, the value
