"""In-app nudges through the real server: `aha rules run` records them, the product fetches a user's messages and
acknowledges each once; held-out users get none; a browser reads only its own user's messages."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from aha.guidance.rules import held_out
from aha.store import open_store
from aha.surfaces.api.state import IDENTITY_SECRET_ENV, user_hash
from tests.journeys import write_events
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
