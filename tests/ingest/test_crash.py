"""A 200 survives `kill -9`: calls acknowledged before a SIGKILL are stored exactly once after restart, even when
the client also retries them (dedupe by messageId across the restart)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serving import Server, create_key, free_port, rows

BATCH = 50


def batch(number: int) -> dict[str, object]:
    return {"batch": [{"type": "track", "userId": f"u{number}", "event": "Crash Test", "messageId": f"c{number}-{i}"}
                      for i in range(BATCH)]}


def send(server: Server, key: str, numbers: range, acked: set[str]) -> None:
    """Send batches one after another; record the messageIds of every 200; stop at the first connection error."""
    with httpx.Client(auth=(key, ""), timeout=10) as client:
        for number in numbers:
            try:
                response = client.post(server.url + "/v1/batch", json=batch(number))
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                acked.update(f"c{number}-{i}" for i in range(BATCH))


@pytest.mark.slow
def test_acknowledged_calls_survive_sigkill_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    server = Server(db, free_port()).start()
    acked: set[str] = set()
    sender = threading.Thread(target=send, args=(server, key, range(100_000), acked))
    sender.start()
    time.sleep(1.5)
    server.kill()  # mid-stream: the sender's next request fails, unacknowledged
    sender.join(timeout=30)
    assert len(acked) >= 10 * BATCH, "the load should have been acknowledged for a while before the kill"
    first_phase = len(acked) // BATCH

    server = Server(db, free_port()).start()
    retried: set[str] = set()
    send(server, key, range(first_phase + 2), retried)  # the SDK retries everything, acknowledged or not
    server.stop()
    stored = rows(db, "SELECT message_id, count(*) FROM events GROUP BY message_id")
    counts = dict(stored)
    assert set(counts.values()) == {1}  # exactly once
    assert acked <= set(counts)  # nothing acknowledged was lost
    assert set(counts) == acked | retried
