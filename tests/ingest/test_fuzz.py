"""Property-based fuzzing of the tracking API through the real server (issue 12, "what must be shown").

Arbitrary JSON values in every field a call has (strings with lone surrogates, NUL and other control characters,
huge and tiny numbers, deep and wide values), arbitrary top-level documents, and odd encodings (UTF-8 with and
without BOM, raw surrogate bytes, UTF-16, Latin-1, gzip, gzip with trailing bytes, truncated gzip). Every request is
answered 2xx, or 4xx in the one error shape naming a field and a reason; never 5xx. Afterwards nothing is left in
flight and a good event is still stored.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving import Server, create_key, free_port, rows, settled

ROUTES = ("/v1/track", "/v1/identify", "/v1/group", "/v1/alias", "/v1/page", "/v1/screen", "/v1/batch", "/v1/import")
FIELDS = ("type", "userId", "anonymousId", "event", "messageId", "properties", "traits", "timestamp",
          "originalTimestamp", "sentAt", "context", "groupId", "previousId", "name", "integrations")

# any code point, with lone surrogates (category Cs) and control characters (Cc, NUL included) drawn often: left to
# st.characters() alone, a surrogate turns up in about 1 string of 700
texts = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"]), st.characters(categories=["Cc"])),
                max_size=40)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False), texts,
    st.sampled_from(["2026-01-01T00:00:00Z", "0001-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "", " "]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
                      max_leaves=20)
calls = st.fixed_dictionaries(
    {},
    optional={name: (st.sampled_from(["track", "identify", "group", "alias", "page", "screen", "TRACK", "x"])
                     if name == "type" else values) for name in FIELDS},
)
# calls that pass most rules, so that what is odd in them (a string, a number, a key) reaches the deep checks
near_valid = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "identify", "page"]), "userId": texts | st.integers(), "event": texts},
    optional={"properties": st.dictionaries(texts, values, max_size=4), "traits": st.dictionaries(texts, values),
              "messageId": texts, "context": st.dictionaries(texts, values, max_size=3)},
)
documents = st.one_of(
    near_valid,
    st.fixed_dictionaries({"batch": st.lists(near_valid, min_size=1, max_size=5)}),
    calls,
    st.fixed_dictionaries({"batch": st.lists(calls | values, max_size=5)}, optional={"sentAt": values,
                                                                                     "context": values}),
    values,
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    doc = draw(documents)
    text = json.dumps(doc, ensure_ascii=draw(st.sampled_from([True, True, True, False])))
    # mostly well-formed bodies (so the values reach validation), the odd encodings in between
    form = draw(st.sampled_from(["utf8"] * 10 + ["bom", "utf16", "latin1", "gzip", "gzip-junk", "gzip-cut", "nan",
                                                 "cut"]))
    headers = {"Content-Type": "application/json"}
    raw = text.encode("utf-8", "surrogatepass")
    if form == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif form == "utf16":
        raw = text.encode("utf-16", "surrogatepass")
    elif form == "latin1":
        raw = text.encode("latin-1", "replace")
    elif form.startswith("gzip"):
        headers["Content-Encoding"] = "gzip"
        raw = gzip.compress(raw)
        raw = raw + b"junk" if form == "gzip-junk" else raw[:-5] if form == "gzip-cut" else raw
    elif form == "nan":
        raw = raw.replace(b"null", b"NaN", 1).replace(b"0", b"-Infinity", 1)
    elif form == "cut":
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    return raw, headers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    db = tmp_path_factory.mktemp("fuzz") / "aha.duckdb"
    key = create_key(db)
    running = Server(db, free_port()).start()
    yield running, key
    running.stop()


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    if response.status_code < 300:
        assert body["ok"] is True and isinstance(body["accepted"], int)
        assert all(r["field"] and r["reason"] for r in body["rejected"])
    else:
        assert 400 <= response.status_code < 500
        assert body["ok"] is False and body["status"] == response.status_code
        assert isinstance(body["field"], str) and body["field"] and isinstance(body["reason"], str) and body["reason"]


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(route=st.sampled_from(ROUTES), body=bodies(),
       auth=st.sampled_from(["header", "header", "header", "body", "none", "bad"]))
def test_any_request_is_answered_2xx_or_a_4xx_naming_the_problem(
    server: tuple[Server, str], route: str, body: tuple[bytes, dict[str, str]], auth: str
) -> None:
    running, key = server
    raw, headers = body
    if auth == "body" and "Content-Encoding" not in headers and raw.startswith(b"{") and raw.rstrip().endswith(b"}"):
        member = b'"writeKey": "' + key.encode() + b'"'
        raw = b"{" + member + (b", " + raw[1:] if raw.strip() != b"{}" else b"}")
    credentials = (key, "") if auth == "header" else ("aha_write_00000000_nope", "") if auth == "bad" else None
    check(httpx.post(running.url + route, content=raw, headers=headers, auth=credentials, timeout=60))


def test_after_the_fuzzing_nothing_is_in_flight_and_good_events_are_stored(server: tuple[Server, str]) -> None:
    running, key = server
    assert settled(running)["in_flight"] == 0
    good = httpx.post(running.url + "/v1/track", auth=(key, ""), timeout=60,
                      json={"userId": "after-fuzz", "event": "Still Works", "messageId": "after-fuzz"})
    assert good.status_code == 200 and good.json()["accepted"] == 1
    state = settled(running)
    assert state["in_flight"] == 0 and state["ok"] is True and state["write_errors"] == 0
    running.stop()
    assert rows(running.db, "SELECT user_id FROM events WHERE message_id = 'after-fuzz'") == [("after-fuzz",)]
