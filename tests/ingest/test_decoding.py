"""The ingestion hot path's shortcuts give the answers of the slow paths they stand in for (issue 17 item 6).

`bodies.decode_body` reads bodies with msgspec and falls back to the standard library's decoder (with aha's strict
hooks) wherever msgspec could answer differently; `payloads.too_deep` recurses instead of keeping a stack; the
spool lines are msgspec's. Each is checked against a second method on generated documents and on the edge cases
where the two parsers are known to differ.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.ingest import bodies
from aha.ingest.payloads import Call, too_deep, validate_call
from aha.ingest.records import decode, encode

LIMIT = 10_000_000


def stdlib(body: bytes) -> Any:
    """The reference: what the standard library's strict decoder makes of `body`, or the refusal."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ("refused", 400)
    try:
        return ("doc", bodies._DECODER.decode(text))
    except bodies.Refused as refused:
        return ("refused", refused.status)
    except (ValueError, RecursionError):
        return ("refused", 400)


def fast(body: bytes) -> Any:
    try:
        return ("doc", bodies.decode_body(body, None, LIMIT).doc)
    except bodies.Refused as refused:
        return ("refused", refused.status)


def same(a: Any, b: Any) -> bool:
    """Equal JSON values, with types (1 is not 1.0 nor True) and NaN-free floats compared exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


EDGES = [
    b'{"a":123456789012345678901234567890}',  # past 64 bits: msgspec and Python keep it exact (orjson would not)
    b'{"a":-9223372036854775809,"b":18446744073709551616}',
    b'{"a":' + b"9" * 4300 + b"}",  # the longest integer allowed
    b'{"a":' + b"9" * 4301 + b"}",  # one digit more: refused
    b'{"a":1.' + b"0" * 4400 + b"}",  # a float longer than the bound: refused (msgspec alone would read 1.0)
    b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":1e999}', b'{"a":-1e400}',
    b'{"a":1e308,"b":5e-324,"c":1e-400,"d":-0.0,"e":-0,"f":0.1,"g":2.2250738585072011e-308}',
    b'{"a":1.2345678901234567890123}',
    b'{"a":"\\ud800"}', b'{"\\udfff":1}', b'{"a":"\\ud83d\\ude00"}', b'{"a":"\\u0000"}',
    b'\xef\xbb\xbf{"bom":1}', b'\xef\xbb\xbf\xef\xbb\xbf{}',
    b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}', b'{"a":"\xc0\x80"}', b'{"a":"\x01"}',
    b'{"a":1,"a":2}', b'{"a":1}\x00', b' {"a":1} \n', b'{"a":01}', b'{"a":1.}', b'[' * 2000 + b']' * 2000,
    b'"text"', b"[]", b"", b"nul", b'{"a":true,"b":false,"c":null}',
]


@pytest.mark.parametrize("body", EDGES, ids=range(len(EDGES)))
def test_the_fast_decoder_answers_as_the_standard_library_on_edge_cases(body: bytes) -> None:
    expected, got = stdlib(body), fast(body)
    assert expected[0] == got[0], (expected, got)
    assert same(expected[1], got[1]) if expected[0] == "doc" else expected == got


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values, st.booleans())
def test_the_fast_decoder_answers_as_the_standard_library_on_generated_documents(value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    expected, got = stdlib(body), fast(body)
    assert expected[0] == got[0]
    assert same(expected[1], got[1]) if expected[0] == "doc" else expected == got


def too_deep_by_stack(value: Any, limit: int) -> bool:
    """The former iterative walk, kept as the second method."""
    if not isinstance(value, dict | list):
        return limit < 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth >= limit and children:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=-1, max_value=6))
def test_too_deep_answers_as_the_stack_walk(value: Any, limit: int) -> None:
    assert too_deep(value, limit) == too_deep_by_stack(value, limit)


@pytest.mark.parametrize(("depth", "leaf", "expected"), [
    (32, 1, False),  # a scalar at depth 32: the limit itself
    (33, 1, True),  # one level more
    (32, {}, False),  # an empty container at 32 has no members beyond it
    (32, [1], True),
    (5000, 1, True),  # far past Python's recursion limit: the walk stops at the limit
])
def test_too_deep_at_the_limit(depth: int, leaf: Any, expected: bool) -> None:
    assert too_deep(nested(depth, leaf)) is expected
    assert too_deep_by_stack(nested(depth, leaf), 32) is expected


def test_spool_lines_round_trip_exactly() -> None:
    """msgspec's lines decode to the call encoded: datetimes to the microsecond, integers past 64 bits, text."""
    call = validate_call({"type": "track", "userId": "u1", "event": "É", "messageId": "m1",
                          "originalTimestamp": "2026-01-05T11:59:58.123456+02:00",
                          "properties": {"big": 2**80, "f": 0.1, "s": "\u2028x\u00e9", "n": None, "l": [1, {"a": []}]}},
                         received_at=datetime(2026, 1, 5, 12), source="web")
    assert isinstance(call, Call)
    line = encode(call)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line) == call
    assert call.original_timestamp == datetime(2026, 1, 5, 9, 59, 58, 123456)  # +02:00 read as UTC
