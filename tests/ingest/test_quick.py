"""The quick check of plain calls answers what pydantic's models answer (issue 17 item 6).

`aha.ingest.quick.quick` stands in for `MODELS[kind].model_validate` on the calls SDKs send; whenever it answers,
its fields must equal the models' own, value and type; when it cannot tell it answers None and the models decide.
The calls are generated from values on both sides of every rule (ids that are floats, booleans or past 64 bits,
times in each ISO shape and in wrong ones, objects that are lists), so a rule the quick check gets wrong fails here.
"""

from __future__ import annotations

from dataclasses import astuple
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.ingest import payloads, quick
from aha.ingest.payloads import MODELS, Call, fields_of, utc_naive, validate_call

IDS = [None, "u1", "", "  u2 ", "é", 7, 0, -3, (1 << 63) - 1, 1 << 63, -(1 << 63), -(1 << 63) - 1, 1 << 70, 3.0, 3.5,
       True, False, [], {}, "x" * 100]
TIMES = ["2026-12-01T10:00:00.000Z", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00", "2026-12-01T10:00:00.5Z",
         "2026-12-01T10:00:00.123456+05:30", "2026-12-01T10:00:00.1234567Z", "2026-12-01", "2026-12-01 10:00:00Z",
         "2026-02-30T10:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T10:00:60Z", "2026-12-01T10:00:00-00:00",
         "2026-12-01T10:00:00+0530", "2026-12-01T10:00:00+23:59", "2026-12-01T10:00:00+24:00", "2026-12-01T10:00Z",
         "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2026-12-01T10:00:00,5Z",
         "2026-12-01t10:00:00z", "20261201T100000Z", 1_700_000_000, 1.5, None, True, "", "soon"]
OBJECTS = [None, {}, {"a": 1, "b": {"c": [1, None]}}, [], "x", 1, True, {"groupId": "acme", "traits": {"t": 1}},
           {"groupId": 5}, {"traits": "no"}]
TEXTS = [None, "E", "", " ", "  Signed Up ", 5, True, [], "x" * 200]
MESSAGE_IDS = [None, "m1", "", "   ", " m2 ", "x" * 99, "x" * 100, 5, True]
TYPES = [None, "track", "Track", "page", "screen", "identify", "group", "alias", "nope", 5, True, []]


def optional(values: list[Any]) -> st.SearchStrategy[Any]:
    """A member's value, or the member left out (a sentinel the call builder drops)."""
    return st.sampled_from([*values, ...])


POOLS = {"type": TYPES, "userId": IDS, "anonymousId": IDS, "messageId": MESSAGE_IDS, "timestamp": TIMES,
         "originalTimestamp": TIMES, "sentAt": TIMES, "context": OBJECTS, "event": TEXTS, "properties": OBJECTS,
         "traits": OBJECTS, "name": TEXTS, "category": TEXTS, "groupId": IDS, "previousId": IDS}
# a plain call of every kind at once (each kind reads its own members), which the changes below make odd
BASE = {"userId": "u1", "messageId": "m1", "timestamp": "2026-12-01T10:00:00.000Z", "context": {"library": {}},
        "event": "E", "properties": {"p": 1}, "traits": {"t": 1}, "name": "Home", "groupId": "g", "previousId": "a"}
CHANGE = st.sampled_from(sorted(POOLS)).flatmap(lambda name: st.tuples(st.just(name), optional(POOLS[name])))


def _call(changes: list[tuple[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    call = {**BASE, **extra}
    for name, value in changes:
        if value is ...:
            call.pop(name, None)
        else:
            call[name] = value
    return call


# mostly one to three members changed from the plain call (so both paths are taken often), sometimes many
CALLS = st.builds(_call, st.lists(CHANGE, max_size=3) | st.lists(CHANGE, max_size=15),
                  st.dictionaries(st.sampled_from(["integrations", "version", "channel", "model_config",
                                                   "model_fields", "_x"]),
                                  st.sampled_from([None, 1, "v", {}, []]), max_size=2))
KINDS = st.sampled_from(["track", "page", "screen", "identify", "group", "alias"])


def models(raw: dict[str, Any], kind: str) -> Any:
    try:
        return fields_of(MODELS[kind].model_validate(raw))
    except Exception as exc:  # the refusal's kind is all that is compared
        return type(exc)


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (1 is not 1.0 nor True); datetimes equal as moments (what validate_call uses)."""
    if type(a) is not type(b) and not (isinstance(a, datetime) and isinstance(b, datetime)):
        return False
    if isinstance(a, datetime):  # the same moment in naive UTC (a UTC time may come naive from the quick check)
        return utc_naive(a) == utc_naive(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=2000, deadline=None)
@given(CALLS, KINDS)
def test_the_quick_check_answers_as_the_models(raw: dict[str, Any], kind: str) -> None:
    found = quick.quick(raw, kind)
    if found is None:
        return
    expected = models(raw, kind)
    assert not isinstance(expected, type), f"the models refuse ({expected.__name__}) a call the quick check took"
    assert same(astuple(found), astuple(expected))


def without_quick(raw: Any, **kwargs: Any) -> Any:
    original = payloads.quick
    payloads.quick = lambda raw, kind: None  # type: ignore[assignment]
    try:
        return validate_call(raw, **kwargs)
    finally:
        payloads.quick = original


@settings(max_examples=1000, deadline=None)
@given(CALLS, st.sampled_from([None, "track", "identify", "group", "alias", "page"]))
def test_validate_call_answers_the_same_with_and_without_the_quick_check(raw: dict[str, Any],
                                                                         route: str | None) -> None:
    kwargs = {"received_at": datetime(2026, 12, 1, 10, 0, 5), "source": "web", "call_type": route,
              "sent_at": datetime(2026, 12, 1, 10, 0, 1)}
    got, expected = validate_call(raw, **kwargs), without_quick(raw, **kwargs)
    if isinstance(got, Call) and isinstance(expected, Call) and got.message_id.startswith("aha-"):
        assert expected.message_id.startswith("aha-")  # a server-assigned id: new for every call
        got.message_id = expected.message_id
    assert got == expected


PLAIN = {"type": "track", "userId": "u1", "event": "Bench", "messageId": "m-1", "properties": {"plan": "pro"},
         "timestamp": "2026-12-01T10:00:00.000Z", "context": {"library": {"name": "analytics-python"}}}


@pytest.mark.parametrize("raw", [PLAIN, {**PLAIN, "type": "page", "name": "Home"},
                                 {"type": "identify", "anonymousId": 7, "traits": {"email": "a@b.c"}},
                                 {"type": "group", "userId": "u", "groupId": 42, "sentAt": "2026-12-01T10:00:01Z"},
                                 {"type": "alias", "userId": "u", "previousId": "a-1"}])
def test_what_sdks_send_takes_the_quick_path(raw: dict[str, Any]) -> None:
    """The calls of bench_ingest.py and of the SDKs are read quickly (else the speed-up would be lost unseen)."""
    found = quick.quick(raw, str(raw["type"]))
    assert found is not None
    assert same(astuple(found), astuple(fields_of(MODELS[str(raw["type"])].model_validate(raw))))
