"""`aha serve --workers N`: more processes accept tracking calls, and every promise of docs/ingest.md still holds.

Each request here opens its own connection, so the kernel hands connections to every accepting process (the store's
own and its workers); /health says how many calls the workers handed over, so a test knows the workers were used.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serving import Server, create_key, free_port, health, rows, settled

BATCH = 20


def batch(tag: str, number: int) -> dict[str, object]:
    return {"batch": [{"type": "track", "userId": f"u{number % 7}", "event": "Worker Test",
                       "messageId": f"{tag}{number}-{i}"} for i in range(BATCH)]}


def send(server: Server, key: str, tag: str, numbers: range, acked: set[str], stop: threading.Event,
         odd: list[str] | None = None) -> None:
    """One new connection per batch; the messageIds of every 200 are recorded; a connection error is skipped (the
    process that held it may have been killed); any answer but 200, or 503 while the store's process is killed,
    goes to `odd` (the test asserts it stays empty)."""
    for number in numbers:
        if stop.is_set():
            return
        try:
            response = httpx.post(server.url + "/v1/batch", json=batch(tag, number), auth=(key, ""), timeout=30)
        except httpx.HTTPError:
            continue
        if response.status_code == 200 and response.json()["accepted"] == BATCH:
            acked.update(f"{tag}{number}-{i}" for i in range(BATCH))
        elif response.status_code != 503 and odd is not None:
            odd.append(f"{response.status_code} {response.text}")


def stored_counts(db: Path) -> dict[str, int]:
    return {str(m): int(c) for m, c in rows(db, "SELECT message_id, count(*) FROM events GROUP BY message_id")}  # type: ignore[call-overload]


def wait_for(condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


class Load:
    """`senders` threads, each sending batches tagged `prefix` + its number over fresh connections (`send`)."""

    def __init__(self, server: Server, key: str, prefix: str, numbers: range, senders: int = 3) -> None:
        self.acked: set[str] = set()
        self.odd: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=send, args=(server, key, f"{prefix}{n}-", numbers, self.acked,
                                                             self.stop, self.odd)) for n in range(senders)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        """Wait for every sender (after `stop`: each ends after its request in progress)."""
        for thread in self.threads:
            thread.join()


def test_calls_taken_by_worker_processes_are_stored_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    server = Server(db, free_port(), args=("--workers", "3")).start()
    try:
        wait_for(lambda: health(server)["workers"]["processes"] == 2)  # type: ignore[index]
        load = Load(server, key, "t", range(40), senders=4)
        load.finish()
        acked, odd = load.acked, load.odd
        # a retried batch (the same messageIds) through whichever process: acknowledged, stored once
        send(server, key, "t0-", range(10), set(), load.stop)
        # keys are the owner's: an unknown key is refused by every process, a read key cannot write
        read_key = create_key_through(server, "analyst", "read")
        for _ in range(12):
            unknown = httpx.post(server.url + "/v1/batch", json=batch("x", 0), auth=("aha_write_nope_x", ""))
            assert unknown.status_code == 401
            assert httpx.post(server.url + "/v1/batch", json=batch("x", 0), auth=(read_key, "")).status_code == 403
        # every other route is the owner's, passed on unchanged
        documents = {httpx.get(server.url + "/openapi.json").content for _ in range(12)}
        assert len(documents) == 1 and b"/v1/batch" in next(iter(documents))
        state = settled(server)
        assert state["in_flight"] == 0
        workers = state["workers"]
        assert isinstance(workers, dict) and workers["calls"] > 0  # the workers took part
    finally:
        server.stop()
    counts = stored_counts(db)
    assert odd == []
    assert len(acked) == 4 * 40 * BATCH
    assert set(counts) == acked and set(counts.values()) == {1}
    # each refusal is a dead letter, whichever process refused it (a stranger's: under the bound of 60 a minute)
    assert rows(db, "SELECT reason, count(*) FROM dead_letters GROUP BY ALL ORDER BY ALL") == [
        ("a read key cannot write", 12), ("invalid write key", 12)]
    assert not list(tmp_path.glob("aha.duckdb.server.json"))  # a clean stop removes the discovery file


def create_key_through(server: Server, name: str, kind: str) -> str:
    """A key created through the running server (its local token), as `aha keys create` does."""
    import json

    token = json.loads((server.db.parent / f"{server.db.name}.server.json").read_text())["token"]
    answer = httpx.post(server.url + "/v1/admin/keys", json={"name": name, "kind": kind},
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["key"])


@pytest.mark.slow
def test_a_killed_worker_loses_nothing_acknowledged_and_is_replaced(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    server = Server(db, free_port(), args=("--workers", "2")).start()
    try:
        wait_for(lambda: health(server)["workers"]["processes"] == 1)  # type: ignore[index]
        load = Load(server, key, "k", range(10_000))
        acked, odd = load.acked, load.odd
        wait_for(lambda: health(server)["workers"]["calls"] >= 20 * BATCH)  # type: ignore[index,operator]
        victim = health(server)["workers"]["pids"][0]  # type: ignore[index]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: health(server)["workers"]["started"] == 2)  # type: ignore[index]
        wait_for(lambda: health(server)["workers"]["processes"] == 1)  # type: ignore[index]
        before = len(acked)
        wait_for(lambda: len(acked) >= before + 20 * BATCH)  # ingestion goes on
        load.stop.set()
        load.finish()
        settled(server)
    finally:
        server.stop()
    counts = stored_counts(db)
    assert odd == []
    assert acked <= set(counts)  # nothing acknowledged was lost
    assert set(counts.values()) == {1}  # nothing twice


@pytest.mark.slow
def test_killing_the_owner_stops_its_workers_and_a_restart_stores_every_acknowledged_call(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    port = free_port()
    server = Server(db, port, args=("--workers", "2")).start()
    wait_for(lambda: health(server)["workers"]["processes"] == 1)  # type: ignore[index]
    worker = health(server)["workers"]["pids"][0]  # type: ignore[index]
    load = Load(server, key, "o", range(10_000))
    acked, odd = load.acked, load.odd  # odd: e.g. a 401 for a valid key while the store's process is gone
    wait_for(lambda: health(server)["workers"]["calls"] >= 20 * BATCH)  # type: ignore[index,operator]
    server.kill()
    wait_for(lambda: not _alive(worker))  # the worker saw its channel close and stopped
    load.stop.set()
    load.finish()
    assert len(acked) >= 20 * BATCH
    assert odd == []

    server = Server(db, port, args=("--workers", "2")).start()  # the same port: nothing still holds it
    try:
        retried: set[str] = set()
        for n in range(3):  # the clients retry everything they sent, acknowledged or not
            numbers = sorted({int(m.split("-")[1]) for m in acked if m.startswith(f"o{n}-")})
            send(server, key, f"o{n}-", range(max(numbers, default=0) + 2), retried, threading.Event())
        settled(server)
    finally:
        server.stop()
    counts = stored_counts(db)
    assert acked <= set(counts)
    assert set(counts.values()) == {1}
    assert set(counts) == acked | retried


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def _workers(server: Server) -> object:
    """The worker processes /health counts, or None when the request's connection was closed as it was accepted: with
    `--max-connections 4` the earlier polls' connections may still count against the bound while the server drains
    them (CI under load: a ReadError in the wait, not in what the test measures)."""
    try:
        return health(server)["workers"]["processes"]  # type: ignore[index]
    except httpx.TransportError:
        return None


def test_max_connections_bounds_every_process_together(tmp_path: Path) -> None:
    """`--max-connections 4` with two processes: each keeps at most its share (2) open, so of twelve idle
    connections at most four are still served; the rest were closed as they were accepted."""
    from tests.ingest.test_limits import connect, head

    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    server = Server(db, free_port(), args=("--workers", "2", "--max-connections", "4", "--timeout", "120")).start()
    try:
        wait_for(lambda: _workers(server) == 1)
        idle = [connect(server) for _ in range(12)]
        served = 0
        for number, sock in enumerate(idle):
            body = b'{"userId": "u%d", "event": "E"}' % number
            try:
                sock.sendall(head(key, length=len(body)) + body)
                served += sock.recv(100).startswith(b"HTTP/1.1 200 ")
            except OSError:  # reset: closed by the bound
                pass
            finally:
                sock.close()
        assert 1 <= served <= 4
    finally:
        server.stop()
    assert rows(db, "SELECT count(*) FROM events")[0][0] == served


def test_the_writer_reads_a_workers_lines_as_the_records_they_encode() -> None:
    """What the owner stores of a worker's spool lines (`lines_tables`, typed decoding straight to columns) equals
    what it stores of the records themselves (`calls_table`, `dead_table`) and of the lines read back the slow way
    (`decode`, as a replay does): every kind of call, JSON members of every shape, dead letters."""
    from datetime import datetime

    from aha.ingest import bodies
    from aha.ingest.records import DeadLetter, calls_table, dead_table, decode, encode, lines_tables

    received = datetime(2026, 12, 4, 10, 0, 0, 123456)
    calls = [
        {"type": "track", "userId": "u1", "event": "Clicked", "messageId": "m1", "timestamp": "2026-12-04T09:59:00Z",
         "properties": {"n": 10**30, "f": 0.1, "e": 1e-7, "s": "é\u2028\"\\/\t", "nested": {"a": [1, None, True]},
                        "emoji": "\U0001f600"}},
        {"type": "identify", "anonymousId": "a1", "userId": "u1", "traits": {"plan": "pro", "seats": 3}},
        {"type": "group", "userId": "u2", "groupId": "acme", "traits": {}},
        {"type": "alias", "previousId": "a2", "userId": "u2"},
        {"type": "page", "userId": "u3", "name": "Home", "originalTimestamp": "2026-12-04T09:00:00+02:00"},
        {"type": "track", "userId": 7, "event": "No Properties"},
        {"type": "track", "event": "No User"},  # refused: a dead letter
    ]
    outcome = bodies.batch({"batch": calls, "sentAt": "2026-12-04T10:00:00Z"}, "web", received, None, True)
    records = [*outcome.records, DeadLetter(received, None, None, "body", "not valid JSON", "{\"x\": \u00e9")]
    assert sum(isinstance(r, DeadLetter) for r in records) == 2
    data = b"".join(encode(r) for r in records)
    fast_calls, fast_dead = lines_tables(data)
    for reference in (records, [decode(line) for line in data.split(b"\n")[:-1]]):
        assert fast_calls.equals(calls_table([r for r in reference if not isinstance(r, DeadLetter)]))
        assert fast_dead.equals(dead_table([r for r in reference if isinstance(r, DeadLetter)]))
    assert fast_calls.num_rows == 6 and fast_calls.column("properties")[0].as_py().startswith('{"n":1000000000000')
