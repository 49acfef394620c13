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
    # repeated member names are refused (docs/ingest.md, "Values"); colons in strings are not names
    b'{"p":{"q":[{"a":1,"a":1}]}}', b'{"a" :1,"a"\n:2}', b'{"a\\u003a":1,"a\\u003a":2}',
    b'{"t":"10:00:00","u":"https://x"}', b'{"a\\u003a":"b:"}', b'{"a":"\\":","b":{"\\":":1}}',
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


def _object_text(pairs: list[tuple[str, Any]], gap: str) -> str:
    return "{" + ",".join(f"{json.dumps(k)}{gap}:{json.dumps(v)}" for k, v in pairs) + "}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", ":", '":', "a:"]), json_values), max_size=5),
       st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers()), max_size=3), st.sampled_from(["", " ", "\n"]))
def test_the_fast_decoder_refuses_repeated_names_as_the_standard_library(
        outer: list[tuple[str, Any]], inner: list[tuple[str, Any]], gap: str) -> None:
    body = _object_text([*outer, ("in", 0)], gap).replace('"in"' + gap + ":0", '"in":' + _object_text(inner, gap))
    expected, got = stdlib(body.encode()), fast(body.encode())
    assert expected[0] == got[0]
    keys = [k for k, _ in outer] + ["in"]
    repeated = len(set(keys)) < len(keys) or len({k for k, _ in inner}) < len(inner)
    assert (got[0] == "refused") == repeated


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


def containers(value: Any) -> int:
    """How many containers nest in `value` (`{"a": [1]}`: 2), by recursion: the second method."""
    if isinstance(value, dict):
        return 1 + max((containers(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((containers(v) for v in value), default=0)
    return 0


tricky_text = st.text(alphabet='{}[]"\\ab\u00e9', max_size=8)  # brackets, quotes and backslashes inside strings
tricky_values = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=40,
)


@settings(max_examples=600, deadline=None)
@given(tricky_values, st.integers(min_value=0, max_value=12), st.booleans())
def test_the_nesting_bound_is_never_below_the_nesting(value: Any, cap: int, ascii_only: bool) -> None:
    """`bodies.nesting_bound` may overstate (then too_deep walks the calls) but never understate."""
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    bound = bodies.nesting_bound(body, cap)
    assert bound is None or containers(value) <= bound <= cap
    if containers(value) == 0:
        assert bound == 0


@pytest.mark.parametrize(("depth", "refused"), [(3, False), (29, False), (30, False), (31, True), (40, True)])
def test_a_batch_with_a_call_nested_too_deeply_is_refused_with_or_without_the_bound(depth: int, refused: bool) -> None:
    """The call's properties are `{"k": nested(depth)}`: its deepest value sits at depth + 2 of the call (the call,
    properties, then `depth` containers), so 31 puts one at 33, past MAX_DEPTH (32); the body adds two containers
    (the batch object and its list), 34 at depth 30: the bound's cap. The bound skips the walk only where it cannot
    matter."""
    plain = {"type": "track", "userId": "u", "event": "E", "messageId": "m-0"}
    calls = [plain, {**plain, "messageId": "m-1", "properties": {"k": nested(depth)}}]
    body = json.dumps({"batch": calls}).encode()
    decoded = bodies.decode_body(body, None, LIMIT)
    assert (decoded.nesting is not None) is (depth == 3)  # the walk is skipped for the shallow body only
    received = datetime(2026, 12, 1)
    quick = bodies.batch(decoded.doc, "web", received, len(body), decoded.escaped, decoded.nesting)
    slow = bodies.batch(decoded.doc, "web", received, len(body), decoded.escaped, None)
    assert [r.index for r in quick.rejected] == [r.index for r in slow.rejected] == ([1] if refused else [])
    assert quick.accepted == slow.accepted == (1 if refused else 2)
