"""The spool under pressure (issue 12 items 1, 4 and 12): it rotates under constant load, a restart replays every
generation, a write that fails gives every slot back, and a full disk answers 503 with Retry-After, makes /health
say so, and recovers by itself when space returns (on a small tmpfs the test mounts; it needs root)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from aha.ingest.payloads import Call, validate_call
from aha.ingest.records import Record, encode
from aha.ingest.service import Ingestor
from aha.ingest.spool import Spool, generations, spool_path
from tests.serving import create_key, health, rows, running, settled

RECEIVED = datetime(2026, 1, 5, 12)
ROTATE = 4096


def calls(first: int, count: int) -> list[Record]:
    made = [validate_call({"type": "track", "userId": f"u{i}", "event": "Spooled", "messageId": f"m{i}"},
                          received_at=RECEIVED, source="web") for i in range(first, first + count)]
    assert all(isinstance(c, Call) for c in made)
    return list(made)  # type: ignore[arg-type]


def submit_and_wait(ingestor: Ingestor, records: Sequence[Record]) -> str | None:
    """Submit; return once the spool has answered (None: durable, else the error)."""
    answered = threading.Event()
    result: list[str | None] = []

    def done(error: str | None) -> None:
        result.append(error)
        answered.set()

    assert ingestor.submit(records, done)
    assert answered.wait(60)
    return result[0]


def wait_stored(ingestor: Ingestor) -> None:
    for _ in range(6000):
        if ingestor.in_flight == 0:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{ingestor.in_flight} calls still in flight after 60 s")


def test_the_spool_rotates_while_the_writer_never_catches_up(tmp_path: Path) -> None:
    """Constant load: the writer is held, so it is never idle; the old rule (rotate only when drained) let one file
    grow without bound. Now each file stops near ROTATE bytes and the stored generations are deleted."""
    db = tmp_path / "aha.duckdb"
    ingestor = Ingestor(db, fsync=False, rotate_bytes=ROTATE)
    ingestor.start()
    gate = threading.Event()
    real = ingestor._store_records

    def held(store, records, checkpoint):  # type: ignore[no-untyped-def]
        gate.wait()
        real(store, records, checkpoint)

    ingestor._store_records = held  # type: ignore[method-assign]
    batch_bytes = len(b"".join(encode(r) for r in calls(0, 10)))
    for number in range(40):
        assert submit_and_wait(ingestor, calls(number * 10, 10)) is None
    files = generations(db)
    assert len(files) >= 40 * batch_bytes // (ROTATE + batch_bytes)
    assert max(spool_path(db, g).stat().st_size for g in files) < ROTATE + batch_bytes
    gate.set()
    wait_stored(ingestor)
    assert submit_and_wait(ingestor, calls(400, 1)) is None
    wait_stored(ingestor)
    assert generations(db) == [files[-1]] or generations(db) == [files[-1] + 1]  # only the current one is left
    ingestor.stop()
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM events") == [(401, 401)]


def test_a_restart_replays_every_generation(tmp_path: Path) -> None:
    """Acknowledged lines spread over several generations (the writer never ran) are all stored, once."""
    db = tmp_path / "aha.duckdb"
    spool = Spool(db, 1, fsync=False, rotate_bytes=ROTATE)
    durable = threading.Semaphore(0)
    for number in range(30):
        spool.append(b"".join(encode(r) for r in calls(number * 10, 10)), lambda g, e, err: durable.release())
    for _ in range(30):
        assert durable.acquire(timeout=60)
    spool.close()
    assert len(generations(db)) > 1
    for _ in range(2):  # the second start finds nothing left to replay
        ingestor = Ingestor(db, fsync=False)
        ingestor.start()
        ingestor.stop()
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM events") == [(300, 300)]
    assert len(generations(db)) <= 1


class FailingSpool:
    """A spool whose disk is full: every append fails (on the spool thread, as a real one would)."""

    def append(self, data: bytes, done) -> None:  # type: ignore[no-untyped-def]
        threading.Thread(target=done, args=(1, 0, "OSError: [Errno 28] No space left on device")).start()


def test_a_failed_write_gives_every_slot_back(tmp_path: Path) -> None:
    ingestor = Ingestor(tmp_path / "aha.duckdb", fsync=False, max_in_flight=50)
    ingestor.start()
    real, ingestor._spool = ingestor._spool, FailingSpool()  # type: ignore[assignment]
    try:
        for _ in range(20):  # 20 x 10 calls: far past the bound if any slot leaked
            assert submit_and_wait(ingestor, calls(0, 10)) == "OSError: [Errno 28] No space left on device"
        assert ingestor.in_flight == 0
    finally:
        ingestor._spool = real
    assert submit_and_wait(ingestor, calls(0, 10)) is None
    ingestor.stop()
    assert rows(tmp_path / "aha.duckdb", "SELECT count(*) FROM events") == [(10,)]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the disk is full (ENOSPC)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (64 * 1024))
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def test_a_full_disk_answers_503_and_recovers(small_disk: Path) -> None:
    db = small_disk / "aha.duckdb"
    key = create_key(db)
    with running(db) as server:
        def post(user: str) -> httpx.Response:  # 8 KB: more than the spool file's last page can still take
            return httpx.post(server.url + "/v1/track", auth=(key, ""), timeout=30,
                              json={"userId": user, "event": "E", "messageId": user, "properties": {"p": "x" * 8000}})

        assert post("before").status_code == 200
        assert settled(server)["in_flight"] == 0
        filler = fill(small_disk)
        refused = [post(f"full{i}") for i in range(5)]
        assert [r.status_code for r in refused] == [503] * 5
        assert all(int(r.headers["Retry-After"]) >= 1 and r.json()["field"] == "request" for r in refused)
        state = httpx.get(server.url + "/health", timeout=30)
        assert state.status_code == 503 and state.json()["ok"] is False
        assert "No space left on device" in str(state.json()["problem"])
        assert state.json()["in_flight"] == 0  # the refused calls took no slot with them
        os.unlink(filler)
        assert health(server)["ok"] is True  # space returned: /health says so before any write
        assert post("after").status_code == 200
        assert settled(server)["in_flight"] == 0
    assert rows(db, "SELECT user_id FROM events ORDER BY 1") == [("after",), ("before",)]


def test_a_writer_that_keeps_failing_does_not_hang_shutdown(tmp_path: Path) -> None:
    """The writer retries a failing store write forever (the calls are safe in the spool); a stop used to join it
    forever too. Now it gives up at shutdown, /health named the problem meanwhile, and the next start stores all."""
    db = tmp_path / "aha.duckdb"
    ingestor = Ingestor(db, fsync=False)
    ingestor.start()

    def failing(store, records, checkpoint):  # type: ignore[no-untyped-def]
        raise OSError("disk gone")

    ingestor._store_records = failing  # type: ignore[method-assign]
    assert submit_and_wait(ingestor, calls(0, 10)) is None  # durable in the spool: acknowledged
    for _ in range(6000):
        if ingestor.problem() is not None:
            break
        threading.Event().wait(0.01)
    assert ingestor.problem() == "the store cannot be written (calls wait in the spool): OSError: disk gone"
    ingestor.stop()  # returns: the writer gave up
    again = Ingestor(db, fsync=False)
    again.start()
    assert again.stats.replayed == 10
    again.stop()
    assert rows(db, "SELECT count(*) FROM events") == [(10,)]


def test_the_first_call_is_written_at_once_on_a_machine_just_started(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`time.monotonic` counts from the machine's boot: on a machine up for 10 s, with an interval of an hour, the
    first call (no transaction before it) is still written at once (the writer took "no transaction yet" for one at
    monotonic 0 and kept it waiting for the rest of the hour; CI's fresh machine met it)."""
    import time
    from types import SimpleNamespace

    from aha.ingest import service

    offset = time.monotonic() - 10.0
    monkeypatch.setattr(service, "time", SimpleNamespace(monotonic=lambda: time.monotonic() - offset,
                                                              sleep=time.sleep))
    ingestor = Ingestor(tmp_path / "aha.duckdb", fsync=False, write_every=3600)
    ingestor.start()
    try:
        assert submit_and_wait(ingestor, calls(0, 1)) is None
        wait_stored(ingestor)
        assert ingestor.stats.transactions == 1 and ingestor.stats.stored_calls == 1
    finally:
        ingestor.stop()
    assert rows(tmp_path / "aha.duckdb", "SELECT count(*) FROM events") == [(1,)]


def test_the_writer_gathers_requests_into_one_transaction_per_interval(tmp_path: Path) -> None:
    """A transaction's fixed cost is paid per transaction: under load the writer used to start one per request it
    found waiting, and spent a core on them. Now it starts at most one per `write_every`: a first call alone is
    written at once, the next 20 requests wait for the interval (here an hour) and are written together when the
    server stops, every call stored once."""
    db = tmp_path / "aha.duckdb"
    ingestor = Ingestor(db, fsync=False, write_every=3600)
    ingestor.start()
    assert submit_and_wait(ingestor, calls(0, 1)) is None
    wait_stored(ingestor)  # the first transaction: nothing before it, so it does not wait
    assert ingestor.stats.transactions == 1
    for number in range(20):
        assert submit_and_wait(ingestor, calls(1 + number * 5, 5)) is None
    assert ingestor.in_flight == 100  # spooled and acknowledged, waiting for the interval
    ingestor.stop()  # a stop ends the wait: everything is written before the store closes
    assert ingestor.stats.transactions == 2
    assert ingestor.stats.stored_calls == 101
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM events") == [(101, 101)]
