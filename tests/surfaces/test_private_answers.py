"""Answers of the real server that show users' data are never stored by a browser or a proxy (`Cache-Control:
no-store`, as every dashboard page): a user's checklist (by read key, and by a browser's `user_hash`, which sends no
Authorization header, so a shared cache in front of the server could keep it and show it stale), in-app messages, and
an analysis of the read API."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from aha.store import open_store
from aha.surfaces.api.state import IDENTITY_SECRET_ENV, user_hash
from tests.journeys import write_events
from tests.serving import Server, create_key, free_port

DEFINITIONS = """
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 3d, level: primary}
rules:
  - {id: hello, when: {not_reached: connected, after: 1h}, then: {in_app: "Connect a source"}}
"""


def test_answers_with_users_data_are_not_stored(tmp_path: Path) -> None:
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("u1", "Signed Up", "2026-01-01T10:00:00"), ("u1", "Connected", "2026-01-01T11:00:00")])
    store.close()
    (tmp_path / "aha.yaml").write_text(DEFINITIONS)
    read_key = create_key(tmp_path / "aha.duckdb", "reader", "read")
    os.environ[IDENTITY_SECRET_ENV] = "a-secret"
    server = Server(tmp_path / "aha.duckdb", free_port(), args=("--rules-every", "0")).start()
    try:
        bearer = {"Authorization": f"Bearer {read_key}"}
        answers = {
            "checklist": httpx.get(f"{server.url}/v1/users/u1/milestones", headers=bearer),
            "checklist by user_hash": httpx.get(f"{server.url}/v1/users/u1/milestones",
                                                params={"user_hash": user_hash("a-secret", "u1")}),
            "checklist as of": httpx.get(f"{server.url}/v1/users/u1/milestones", headers=bearer,
                                         params={"as_of": "2026-01-02"}),
            "messages": httpx.get(f"{server.url}/v1/users/u1/messages", headers=bearer),
            "query": httpx.post(f"{server.url}/v1/query/funnel", headers=bearer, timeout=120,
                                json={"definitions": DEFINITIONS, "options": {}}),
        }
        assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 200)
        assert {name: a.headers.get("cache-control") for name, a in answers.items()} == \
            dict.fromkeys(answers, "no-store")
        assert answers["checklist"].json()["entity_id"] == "u1"
    finally:
        server.stop()
        os.environ.pop(IDENTITY_SECRET_ENV, None)
