"""Bad input through the real server: each case gets its exact status (and field), and lands in the dead letters.

The server runs once for the module; the dead-letter store is read after it stops (DuckDB admits one process).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving import Server, create_key, free_port, rows, running, settled


@dataclass(frozen=True)
class Case:
    path: str
    body: bytes
    status: int
    field: str | None  # the error's field (single calls) or the rejected call's field (batches)
    reason: str  # a fragment of the dead letter's reason
    marker: str | None = None  # text the dead letter's raw payload holds
    auth: str = "write"  # write | read | wrong | none
    headers: tuple[tuple[str, str], ...] = ()


def j(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for _ in range(depth):
        doc = {"a": doc}
    return doc


FUTURE = (datetime.now(UTC) + timedelta(days=3)).isoformat()
GZIP = (("Content-Encoding", "gzip"),)
CASES = {
    "malformed_json": Case("/v1/track", b'{"userId": "m1", ', 400, "body", "not valid JSON", "m1"),
    "not_an_object": Case("/v1/track", b'["m2"]', 400, "body", "not a JSON object", "m2"),
    "user_id_wrong_type": Case("/v1/track", j({"userId": ["m3"], "event": "E"}), 400, "userId", "", "m3"),
    "no_user_or_anonymous_id": Case("/v1/track", j({"event": "m4"}), 400, "userId", "userId or anonymousId", "m4"),
    "track_without_event": Case("/v1/track", j({"userId": "m5"}), 400, "event", "event is required", "m5"),
    "blank_event": Case("/v1/track", j({"userId": "m6", "event": "  "}), 400, "event", "empty", "m6"),
    "message_id_100_chars": Case("/v1/track", j({"userId": "m7", "event": "E", "messageId": "x" * 100}), 400,
                                 "messageId", "longer than 99", "m7"),
    "oversized_event": Case("/v1/track", j({"userId": "m8", "event": "E", "properties": {"p": "x" * 40_000}}), 413,
                            "body", "the limit is", "m8"),
    "oversized_batch_body": Case("/v1/batch", j({"batch": [{"type": "track", "userId": "m9", "event": "E",
                                 "properties": {"p": "x" * 30_000}}] * 20}), 413, "body", "the limit is", "m9"),
    "too_many_calls": Case("/v1/batch", j({"batch": [{"type": "track", "userId": "m10", "event": "E"}] * 2501}), 413,
                           "batch", "the limit is 2500", "m10"),
    "bad_timestamp": Case("/v1/track", j({"userId": "m11", "event": "E", "timestamp": "yesterday"}), 400,
                          "timestamp", "ISO 8601", "m11"),
    "future_timestamp": Case("/v1/track", j({"userId": "m12", "event": "E", "timestamp": FUTURE}), 400,
                             "timestamp", "more than a day in the future", "m12"),
    "wrong_key": Case("/v1/track", j({"userId": "m13", "event": "E"}), 401, "writeKey", "invalid write key",
                      auth="wrong"),
    "no_key": Case("/v1/track", j({"userId": "m14", "event": "E"}), 401, "writeKey", "missing or invalid write key",
                   "m14", auth="none"),
    "read_key_cannot_write": Case("/v1/track", j({"userId": "m15", "event": "E"}), 403, "writeKey",
                                  "a read key cannot write", auth="read"),
    "gzip_bomb": Case("/v1/batch", gzip.compress(b" " * 50_000_000), 413, "body", "decompressed body exceeds",
                      headers=GZIP),
    "not_gzip": Case("/v1/track", b"plain m17", 400, "body", "not valid gzip", "m17", headers=GZIP),
    "unknown_encoding": Case("/v1/track", j({"userId": "m18"}), 400, "Content-Encoding", "unsupported encoding",
                             headers=(("Content-Encoding", "br"),)),
    "nested_properties": Case("/v1/track", j({"userId": "m19", "event": "E", "properties": nested(40)}), 400,
                              "body", "nested deeper than 32", "m19"),
    "json_deeper_than_the_parser": Case("/v1/batch", b"[" * 100_000 + b'"m20"' + b"]" * 100_000, 400, "body",
                                        "nested too deeply", "m20"),
    "invalid_utf8": Case("/v1/track", b'{"userId": "m21", "event": "\xff\xfe"}', 400, "body", "not valid UTF-8", "m21"),
    "properties_not_object": Case("/v1/track", j({"userId": "m22", "event": "E", "properties": [1]}), 400,
                                  "properties", "not a JSON object", "m22"),
    "identify_traits_not_object": Case("/v1/identify", j({"userId": "m23", "traits": "pro"}), 400, "traits",
                                       "not a JSON object", "m23"),
    "alias_without_previous_id": Case("/v1/alias", j({"userId": "m24"}), 400, "previousId", "previousId is required",
                                      "m24"),
    "group_without_group_id": Case("/v1/group", j({"userId": "m25"}), 400, "groupId", "groupId is required", "m25"),
    "batch_not_a_list": Case("/v1/batch", j({"batch": {"userId": "m26"}}), 400, "batch", "a list of calls", "m26"),
    # in a batch, a bad call costs only itself: 200, the good ones stored, the bad one listed and dead-lettered
    "unknown_type_in_batch": Case("/v1/batch", j({"batch": [{"type": "track", "userId": "ok27", "event": "E"},
                                  {"type": "boom", "userId": "m27"}]}), 200, "type", "unknown call type", "m27"),
    "duplicate_message_id_in_batch": Case("/v1/batch", j({"batch": [
        {"type": "track", "userId": "ok28", "event": "E", "messageId": "dup28"},
        {"type": "track", "userId": "m28", "event": "E", "messageId": "dup28"}]}), 200, "messageId",
        "duplicate messageId in this batch", "m28"),
    # issue 12: strings that cannot be stored, numbers JSON does not have, ids that are not ids, broken gzip
    "lone_surrogate": Case("/v1/track", b'{"userId": "m30", "event": "E", "properties": {"p": "\\ud800"}}', 400,
                           "properties.p", "lone surrogate", "m30"),
    "lone_surrogate_in_a_key": Case("/v1/identify", b'{"userId": "m31", "traits": {"\\udfff": 1}}', 400,
                                    "traits.\\udfff", "lone surrogate", "m31"),
    "nul_in_event": Case("/v1/track", b'{"userId": "m32", "event": "a\\u0000b"}', 400, "event", "NUL", "m32"),
    "lone_surrogate_in_batch": Case("/v1/batch", b'{"batch": [{"type": "track", "userId": "ok33", "event": "E"}, '
                                    b'{"type": "track", "userId": "m33\\ud83d", "event": "E"}]}', 200, "userId",
                                    "lone surrogate", "m33"),
    "nan": Case("/v1/track", b'{"userId": "m34", "event": "E", "properties": {"p": NaN}}', 400, "body",
                "NaN is not valid JSON", "m34"),
    "infinity": Case("/v1/track", b'{"userId": "m35", "event": "E", "properties": {"p": -Infinity}}', 400, "body",
                     "-Infinity is not valid JSON", "m35"),
    "float_overflow": Case("/v1/track", b'{"userId": "m36", "event": "E", "properties": {"p": 1e999}}', 400, "body",
                           "out of range", "m36"),
    "five_thousand_digit_user_id": Case("/v1/track", b'{"event": "m37", "userId": ' + b"7" * 5000 + b"}", 400,
                                        "body", "more than 4300 digits", "m37"),
    "boolean_user_id": Case("/v1/track", j({"userId": True, "event": "m38"}), 400, "userId", "not true/false", "m38"),
    "boolean_group_id": Case("/v1/group", j({"userId": "m39", "groupId": False}), 400, "groupId", "not true/false",
                             "m39"),
    "gzip_with_trailing_garbage": Case("/v1/track", gzip.compress(j({"userId": "m40", "event": "E"})) + b"junk", 400,
                                       "body", "4 bytes after the end of the gzip data", "m40", headers=GZIP),
    "truncated_gzip": Case("/v1/track", gzip.compress(j({"userId": "m41", "event": "E"}))[:-8], 400, "body",
                           "truncated", headers=GZIP),
    "missing_ids_in_batch": Case("/v1/import", j({"batch": [{"type": "page", "anonymousId": "ok29"},
                                 {"type": "track", "event": "m29"}]}), 200, "userId", "userId or anonymousId",
                                 "m29"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    db = tmp_path_factory.mktemp("bad") / "aha.duckdb"
    keys = {"write": create_key(db), "read": create_key(db, "analyst", "read"), "wrong": "aha_write_0bad0bad_nope"}
    running = Server(db, free_port()).start()
    yield running, keys
    running.stop()


def send(server: Server, keys: dict[str, str], case: Case) -> httpx.Response:
    auth = (keys[case.auth], "") if case.auth in keys else None
    headers = {"Content-Type": "application/json", **dict(case.headers)}
    return httpx.post(server.url + case.path, content=case.body, headers=headers, auth=auth, timeout=30)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_its_status(server: tuple[Server, dict[str, str]], name: str) -> None:
    case = CASES[name]
    response = send(*server, case)
    assert response.status_code == case.status, response.text
    body = response.json()
    if case.status == 200:
        assert body["accepted"] == 1 and len(body["rejected"]) == 1
        assert body["rejected"][0]["index"] == 1 and body["rejected"][0]["field"] == case.field
        assert case.reason in body["rejected"][0]["reason"]
    else:
        assert body["field"] == case.field and case.reason in body["reason"]


def test_every_bad_input_is_a_dead_letter(server: tuple[Server, dict[str, str]]) -> None:
    running, _ = server
    running.stop()
    letters = rows(running.db, "SELECT reason, coalesce(raw, ''), source FROM dead_letters")
    missing = [
        name for name, case in CASES.items()
        if not any(case.reason in reason and (case.marker is None or case.marker in raw) for reason, raw, _ in letters)
    ]
    assert missing == []
    assert len(letters) == len(CASES)
    stored = {r[0] for r in rows(running.db, "SELECT coalesce(user_id, anonymous_id) FROM events")}
    assert stored == {"ok27", "ok28", "ok29", "ok33"}  # only the good calls of the mixed batches


def test_a_utf8_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    """RFC 8259 lets a parser ignore a BOM; it was a 400 (issue 12)."""
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    with running(db) as server:
        body = "\ufeff".encode() + j({"userId": "bom", "event": "E"})
        answer = httpx.post(server.url + "/v1/track", content=body, auth=(key, ""))
        assert answer.status_code == 200, answer.text
    assert rows(db, "SELECT user_id FROM events") == [("bom",)]


def test_credentials_are_never_stored_or_logged(tmp_path: Path) -> None:
    """A valid writeKey in a malformed body, keys in broken JSON, a key in the query string: none is kept (issue 12
    item 6); the dead letters say [removed] where the key was."""
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    stranger = "aha_write_0bad0bad_notarealsecretbutlooksit"
    with running(db) as server:
        sent = [
            httpx.post(server.url + "/v1/batch", json={"writeKey": key, "batch": "not a list"}),
            httpx.post(server.url + "/v1/batch", json={"writeKey": key, "batch": [{"type": "nope", "userId": key}]}),
            httpx.post(server.url + "/v1/track", content=b'{"writeKey": "' + key.encode() + b'", "userId": '),
            httpx.post(server.url + "/v1/track", json={"writeKey": stranger, "userId": "u", "event": "E"}),
            httpx.post(server.url + f"/v1/track?writeKey={key}&x=1", json={"userId": "u"}, auth=(key, "")),
        ]
        assert [r.status_code for r in sent] == [400, 200, 400, 401, 400]
    letters = rows(db, "SELECT raw FROM dead_letters")
    assert len(letters) == 5
    secret = key.split("_", 3)[3]
    assert not any(secret in str(raw) or "notarealsecret" in str(raw) for (raw,) in letters)
    assert sum("[removed]" in str(raw) for (raw,) in letters) == 4  # the 5th never carried a key in its body
    log = (tmp_path / "server.log").read_text()
    assert "/v1/track?writeKey=[removed]&x=1" in log and secret not in log


def test_lone_surrogates_leak_no_slot_and_never_stop_ingestion(tmp_path: Path) -> None:
    """Issue 12 item 1: a lone surrogate passed the parser and failed in the spool's encoder after the in-flight
    count was raised: 500, the slots never returned, and after enough of them every write got 429. The server here
    allows 40 calls in flight; 200 poisoned requests (with and without a key, single calls and a 10-call batch)
    would have leaked ~300 slots."""
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    poisoned = b'{"userId": "p\\ud800", "event": "E"}'
    batch = b'{"batch": [' + b", ".join([b'{"type": "track", "userId": "p\\udc00", "event": "E"}'] * 10) + b"]}"
    with running(db, "--max-in-flight", "40") as server:
        statuses = []
        for _ in range(50):
            for path, body, auth in (("/v1/track", poisoned, None), ("/v1/track", poisoned, (key, "")),
                                     ("/v1/batch", batch, (key, "")), ("/v1/track", b'{"writeKey": 1' + poisoned[1:],
                                                                       None)):
                statuses.append(httpx.post(server.url + path, content=body, auth=auth).status_code)
        assert sorted(set(statuses)) == [200, 400, 401]  # the batch: 200 with all 10 calls rejected
        assert settled(server)["in_flight"] == 0
        good = httpx.post(server.url + "/v1/track", json={"userId": "good", "event": "E"}, auth=(key, ""))
        assert good.status_code == 200 and good.json()["accepted"] == 1
    assert rows(db, "SELECT user_id FROM events") == [("good",)]
    reasons = rows(db, "SELECT reason, count(*) FROM dead_letters WHERE source = 'web' GROUP BY 1 ORDER BY 1")
    assert reasons == [("contains a lone surrogate (\\ud800), which is not valid Unicode", 50),
                       ("contains a lone surrogate (\\udc00), which is not valid Unicode", 500)]
