"""Back-pressure: when too many calls are in flight, the server answers 429 with Retry-After, stores nothing of the
refused call, and accepts again once the earlier calls are durable (issue 5: "429 with Retry-After")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from aha.ingest.records import DeadLetter
from aha.surfaces.api.app import create_app
from tests.serving import create_key

LETTER = DeadLetter(datetime(2026, 1, 1), "web", None, "x", "test", "{}")


class HeldSpool:
    """A spool whose writes become durable only when the test says so."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[int, int], None]] = []

    def append(self, data: bytes, durable: Callable[[int, int], None]) -> None:
        self.waiting.append(durable)


def test_ingestor_refuses_past_its_in_flight_bound(tmp_path: Path) -> None:
    app = create_app(tmp_path / "aha.duckdb", fsync=False, max_in_flight=3)
    with TestClient(app):
        ingestor = app.state.ingestor
        real, held = ingestor._spool, HeldSpool()
        ingestor._spool = held
        try:
            assert ingestor.submit([LETTER, LETTER], lambda: None)  # 2 in flight
            assert not ingestor.submit([LETTER, LETTER], lambda: None)  # 4 > 3: refused, nothing spooled
            assert len(held.waiting) == 1 and ingestor.in_flight == 2
        finally:
            ingestor._spool = real


def test_busy_server_answers_429_with_retry_after(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    app = create_app(db, fsync=False)
    with TestClient(app) as client:
        monkeypatch.setattr(app.state.ingestor, "submit", lambda records, done: False)
        answer = client.post("/v1/track", json={"userId": "u1", "event": "E", "messageId": "m1"}, auth=(key, ""))
        assert answer.status_code == 429
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.json()["status"] == 429 and answer.json()["field"] == "request"
        monkeypatch.undo()
        again = client.post("/v1/track", json={"userId": "u1", "event": "E", "messageId": "m1"}, auth=(key, ""))
        assert again.status_code == 200
