"""The tracking API end to end: the real `aha serve`, the official Segment client and raw HTTP, read back through
`aha report --json` and the store; one error shape on every error route; the OpenAPI document."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from segment.analytics.client import Client

from tests.conftest import TEMPLATE
from tests.serving import create_key, report, rows, running


def assert_error_shape(response: httpx.Response, status: int, field: str) -> None:
    """The canonical error JSON (datasette's test_error_shape): ok, status, field, reason, errors."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"ok", "status", "field", "reason", "errors"}
    assert body["ok"] is False and body["status"] == status and body["field"] == field
    assert body["errors"] == [{"field": field, "reason": body["reason"]}]


def test_segment_client_and_raw_http_reach_the_report(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    start = datetime.now(UTC) - timedelta(hours=3)
    with running(db) as server:
        client = Client(write_key=key, host=server.url, sync_mode=True, max_retries=0)
        # v1: anonymous signup, then identified as u1 -> the signup is u1's (retroactively, through identities)
        client.track(anonymous_id="a1", event="Signed Up", timestamp=start, properties={"source": "ads"})
        client.identify(user_id="u1", anonymous_id="a1", traits={"plan": "pro"}, timestamp=start)
        client.track(user_id="u1", event="Workspace Created", timestamp=start + timedelta(minutes=5))
        client.group(user_id="u1", group_id="acme", traits={"seats": 5}, timestamp=start)
        client.page(user_id="u1", name="Home", timestamp=start + timedelta(minutes=6))
        # u2 over raw HTTP, gzip, key in the body; the SDK-style retry of the same batch counts once
        batch = {
            "writeKey": key,
            "batch": [
                {"type": "track", "userId": "u2", "event": "Signed Up", "messageId": "u2-signup",
                 "timestamp": start.isoformat()},
                {"type": "alias", "previousId": "old-u2", "userId": "u2", "messageId": "u2-alias"},
            ],
        }
        for _ in range(2):
            sent = httpx.post(server.url + "/v1/batch", content=gzip.compress(json.dumps(batch).encode()),
                              headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
            assert sent.status_code == 200, sent.text
            assert sent.json() == {"ok": True, "success": True, "accepted": 2, "rejected": []}
    # by hand: 4 events (2 Signed Up, Workspace Created, Page Viewed); users u1 (via a1) and u2 signed up
    overview = report(db, TEMPLATE)["overview"]
    assert isinstance(overview, dict)
    assert (overview["events"], overview["signed_up_users"], overview["users_without_signup"]) == (4, 2, 0)
    assert rows(db, "SELECT anonymous_id, user_id FROM identities ORDER BY 1") == [("a1", "u1"), ("old-u2", "u2")]
    assert rows(db, "SELECT user_id, account_id FROM memberships") == [("u1", "acme")]
    assert rows(db, "SELECT user_id, traits::VARCHAR FROM users") == [("u1", '{"plan":"pro"}')]
    assert rows(db, "SELECT account_id, traits::VARCHAR FROM accounts") == [("acme", '{"seats":5}')]
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM ingested") == [(7, 7)]
    assert rows(db, "SELECT DISTINCT source FROM events") == [("web",)]


def test_error_routes_share_one_shape_and_openapi_is_served(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    create_key(db, "analyst", "read")
    with running(db) as server:
        assert_error_shape(httpx.post(server.url + "/v1/track", json={"userId": "u"}, auth=(key, "")), 400, "event")
        assert_error_shape(httpx.post(server.url + "/v1/track", json={"userId": "u"}, auth=("nope", "")), 401,
                           "writeKey")
        assert_error_shape(httpx.get(server.url + "/v1/nothing"), 404, "path")
        assert_error_shape(httpx.get(server.url + "/v1/track"), 405, "path")
        document = httpx.get(server.url + "/openapi.json").json()
        assert {"/v1/track", "/v1/identify", "/v1/group", "/v1/alias", "/v1/page", "/v1/screen", "/v1/batch",
                "/v1/import", "/health"} <= set(document["paths"])
        health = httpx.get(server.url + "/health").json()
        assert health["ok"] is True


def test_calls_without_message_id_are_each_stored(tmp_path: Path) -> None:
    """Issue 12 item 9: identical calls without messageId were one content hash, so a genuine repeat was merged
    (and a batch answered "accepted": 2 while storing 1). Each now gets a server-assigned id: accepted = stored."""
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    click = {"type": "track", "userId": "u1", "event": "Click", "timestamp": "2026-01-05T10:00:00Z"}
    accepted = 0
    with running(db) as server:
        for body, path in (({"batch": [click, click]}, "/v1/batch"), (click, "/v1/track"), (click, "/v1/track")):
            answer = httpx.post(server.url + path, json=body, auth=(key, ""))
            assert answer.status_code == 200, answer.text
            accepted += answer.json()["accepted"]
        # with a messageId, a retry is still the same call: accepted (it is stored), stored once
        for _ in range(2):
            answer = httpx.post(server.url + "/v1/track", json={**click, "messageId": "m1"}, auth=(key, ""))
            assert answer.json()["accepted"] == 1
    assert accepted == 4
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM events WHERE message_id <> 'm1'") == [(4, 4)]
    assert rows(db, "SELECT count(*) FROM events WHERE message_id = 'm1'") == [(1,)]
