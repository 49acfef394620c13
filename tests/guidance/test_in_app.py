"""In-app nudges through the real server: `aha rules run` records them, the product fetches a user's messages and
acknowledges each once; held-out users get none; a browser reads only its own user's messages."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from aha.guidance.delivery import message_id
from aha.guidance.rules import held_out
from aha.store import open_store
from aha.surfaces.api.state import IDENTITY_SECRET_ENV, user_hash
from tests.journeys import write_events, write_identities
from tests.serving import Server, aha, create_key, free_port

CONFIG = """
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 3d, level: primary}
rules:
  - id: connect_tip
    when: {not_reached: connected, after: 1h}
    then: {in_app: "Connect your data: it takes two minutes"}
    holdout: 0.3
"""


def test_messages_are_fetched_and_acknowledged_once(tmp_path: Path):
    start = datetime(2026, 1, 1)
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(f"u{i}", "Signed Up", (start + timedelta(minutes=i)).isoformat()) for i in range(20)]
                 + [("u0", "Connected", "2026-01-01T12:00")])
    store.close()
    (tmp_path / "aha.yaml").write_text(CONFIG)
    ran = aha("rules", "run", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    nudged = [f"u{i}" for i in range(20) if not held_out("connect_tip", f"u{i}", 0.3)]
    outs = [f"u{i}" for i in range(20) if held_out("connect_tip", f"u{i}", 0.3)]
    assert nudged and outs
    key = create_key(tmp_path / "aha.duckdb", "reader", "read")
    os.environ[IDENTITY_SECRET_ENV] = "s3cret"
    server = Server(tmp_path / "aha.duckdb", free_port()).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            user = nudged[0]
            (message,) = client.get(f"/v1/users/{user}/messages").json()["messages"]
            assert message["text"] == "Connect your data: it takes two minutes"
            assert client.get(f"/v1/users/{outs[0]}/messages").json()["messages"] == []
            assert client.post(f"/v1/users/{nudged[1]}/messages/{message['id']}/ack").status_code == 404
            assert client.post(f"/v1/users/{user}/messages/{message['id']}/ack").status_code == 200
            assert client.get(f"/v1/users/{user}/messages").json()["messages"] == []
            assert client.post(f"/v1/users/{user}/messages/{message['id']}/ack").status_code == 404
        mine = httpx.get(f"{server.url}/v1/users/{nudged[1]}/messages",
                         params={"user_hash": user_hash("s3cret", nudged[1])})
        assert mine.status_code == 200 and len(mine.json()["messages"]) == 1
        theirs = httpx.get(f"{server.url}/v1/users/{nudged[2]}/messages",
                           params={"user_hash": user_hash("s3cret", nudged[1])})
        assert theirs.status_code == 403
    finally:
        server.stop()
        os.environ.pop(IDENTITY_SECRET_ENV, None)


def test_an_event_in_becomes_a_nudge_out(tmp_path: Path):
    """The whole loop inside `aha serve`: a signup tracked over the API, the rules' schedule finds the user's moment
    has come (as of the wall clock), records the firing, and the product fetches the message."""
    import time

    from aha.ingest.service import now_utc

    (tmp_path / "aha.yaml").write_text(CONFIG.replace("holdout: 0.3", "holdout: 0"))
    db = tmp_path / "aha.duckdb"
    write_key = create_key(db, "web", "write")
    read_key = create_key(db, "reader", "read")
    server = Server(db, free_port(), args=("--rules-every", "0.5")).start()
    try:
        signed_up = (now_utc() - timedelta(hours=2)).isoformat() + "Z"
        tracked = httpx.post(f"{server.url}/v1/track", auth=(write_key, ""),
                             json={"userId": "fresh", "event": "Signed Up", "timestamp": signed_up})
        assert tracked.status_code == 200, tracked.text
        deadline = time.monotonic() + 90
        messages: list[object] = []
        while time.monotonic() < deadline and not messages:
            answer = httpx.get(f"{server.url}/v1/users/fresh/messages",
                               headers={"Authorization": f"Bearer {read_key}"}, timeout=60)
            messages = answer.json().get("messages", []) if answer.status_code == 200 else []
            time.sleep(0.5)
        assert [m["rule_id"] for m in messages] == ["connect_tip"]
    finally:
        server.stop()


def test_a_message_recorded_before_a_merge_is_shown_to_the_merged_user(tmp_path: Path):
    """old1 is nudged (sha256: nudged; new1's own hash would hold it out) as of 02:00; an alias at 03:00 merges
    old1 into new1, and the product now asks for new1. The rules count the person once (`already` as new1), so the
    message recorded for old1 is the person's only one: GET /v1/users/new1/messages lists it, an ack through new1
    marks old1's firing shown, and then neither id lists it. Before, new1 had no message and old1's stayed pending
    for ever: a person counted as nudged who was never shown the nudge."""
    assert (held_out("connect_tip", "old1", 0.3), held_out("connect_tip", "new1", 0.3)) == (False, True)
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("old1", "Signed Up", "2026-01-01T00:00")])
    store.close()
    (tmp_path / "aha.yaml").write_text(CONFIG)
    ran = aha("rules", "run", "--as-of", "2026-01-01T02:00", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    store = open_store(tmp_path / "aha.duckdb")
    write_identities(store, [("old1", "new1", "2026-01-01T03:00")])  # alias(previousId=old1, userId=new1)
    write_events(store, [("new1", "Page Viewed", "2026-01-01T05:00")])
    store.close()
    again = aha("rules", "run", "--as-of", "2026-01-01T06:00", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    key = create_key(tmp_path / "aha.duckdb", "reader", "read")
    server = Server(tmp_path / "aha.duckdb", free_port()).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            (message,) = client.get("/v1/users/new1/messages").json()["messages"]
            assert message["text"] == "Connect your data: it takes two minutes"
            assert message["id"] == message_id("connect_tip", "old1")
            acked = client.post(f"/v1/users/new1/messages/{message['id']}/ack")
            assert acked.status_code == 200, acked.text
            assert client.get("/v1/users/new1/messages").json()["messages"] == []
            assert client.get("/v1/users/old1/messages").json()["messages"] == []
            assert client.post(f"/v1/users/new1/messages/{message['id']}/ack").status_code == 404
    finally:
        server.stop()
    store = open_store(tmp_path / "aha.duckdb")
    rows = store.raw.execute("SELECT user_id, status FROM aha_firings ORDER BY user_id").fetchall()
    assert rows == [("old1", "delivered")]
