"""One dedupe rule for every path into the store, and a dead server's spool taken in by whoever opens the store next
(issue 12, items 7 and 11). The server is the real `aha serve` on 127.0.0.1; the commands the real console script.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path

import httpx
import pytest

import aha as aha_api
from aha.ingest import takeover
from aha.ingest.payloads import Call, validate_call
from aha.ingest.records import encode
from aha.ingest.spool import Spool
from aha.store import open_store
from tests.serving import Server, aha, create_key, free_port, rows, sample_db
from tests.serving import running as serving


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return sample_db(tmp_path)


def track(message_id: str, user: str = "u-x") -> dict[str, str]:
    return {"type": "track", "userId": user, "event": "Dedupe Test", "messageId": message_id,
            "timestamp": "2026-02-01T00:00:00Z"}


def csv_of(message_ids: list[str]) -> str:
    lines = [f"{m},Dedupe Test,u-x,2026-02-01T00:00:00Z" for m in message_ids]
    return "message_id,event,user_id,timestamp\n" + "\n".join(lines) + "\n"


def count_of(db: Path, event: str) -> int:
    found = rows(db, f"SELECT count(*) FROM events WHERE event = '{event}'")
    return int(str(found[0][0]))


def test_import_then_http_and_http_then_import_store_each_message_id_once(sample: Path) -> None:
    """Before: import then HTTP stored a1..a3 twice (HTTP checked only its own ledger); the other order held."""
    db = sample
    key = create_key(db)
    (db.parent / "a.csv").write_text(csv_of(["a1", "a2", "a3"]))
    (db.parent / "b.csv").write_text(csv_of(["b1", "b2", "b3"]))
    first = aha("import", "a.csv", "--db", str(db), "--json", cwd=db.parent)
    assert json.loads(first.stdout)["imported"] == 3, first.stderr
    with serving(db) as server:
        sent = httpx.post(server.url + "/v1/batch", auth=(key, ""), timeout=30,
                          json={"batch": [track(m) for m in ("a1", "a2", "a3", "b1", "b2", "b3")]})
        assert sent.status_code == 200
    then = aha("import", "b.csv", "--db", str(db), "--json", cwd=db.parent)
    assert (json.loads(then.stdout)["imported"], json.loads(then.stdout)["duplicates"]) == (0, 3)
    # by hand: a1..a3 from the import, b1..b3 from HTTP; each once
    assert rows(db, "SELECT message_id, count(*) FROM events WHERE event = 'Dedupe Test' GROUP BY 1 ORDER BY 1") == [
        ("a1", 1), ("a2", 1), ("a3", 1), ("b1", 1), ("b2", 1), ("b3", 1)]


def spooled_calls(db: Path, message_ids: list[str]) -> list[Call]:
    """Append calls to the spool exactly as the server does before it answers 200, with no server to store them."""
    store = open_store(db)
    store.close()
    calls = []
    for message_id in message_ids:
        call = validate_call(track(message_id, user=f"user-{message_id}"), received_at=datetime(2026, 2, 1),
                             source="web")
        assert isinstance(call, Call)
        calls.append(call)
    spool = Spool(db, 1, fsync=False)
    durable = threading.Event()
    spool.append(b"".join(encode(c) for c in calls), lambda generation, end, error: durable.set())
    durable.wait()
    spool.close()
    return calls


def test_any_command_takes_in_what_a_dead_server_left_in_its_spool(sample: Path) -> None:
    """Three acknowledged calls only in the spool: `aha report`, the Python API and a read-only command count
    them, once; a server started afterwards does not store them again. Before: invisible until a server ran."""
    db = sample
    before = json.loads(aha("report", "--json", "--db", str(db), cwd=db.parent).stdout)["overview"]["events"]
    spooled_calls(db, ["s1", "s2", "s3"])
    listed = aha("keys", "list", "--db", str(db), cwd=db.parent)  # opens read-only: takes the spool in first
    assert listed.returncode == 0, listed.stderr
    assert count_of(db, "Dedupe Test") == 3
    report = json.loads(aha("report", "--json", "--db", str(db), cwd=db.parent).stdout)
    assert report["overview"]["events"] == before + 3
    project = aha_api.open(str(db), str(db.parent / "aha.yaml"))
    try:
        assert project.report().overview.events == before + 3
    finally:
        project.close()
    create_key(db)
    with serving(db) as server:
        assert httpx.get(server.url + "/health", timeout=30).json()["replayed"] == 0
    assert count_of(db, "Dedupe Test") == 3


def test_a_torn_last_line_is_cut_and_the_complete_ones_counted(tmp_path: Path) -> None:
    """A crash mid-write leaves half a line (never acknowledged): the takeover stores the whole lines, cuts the
    half, and leaves nothing pending, so the next open does not take over again."""
    db = tmp_path / "aha.duckdb"
    spooled_calls(db, ["t1", "t2"])
    spool = Path(f"{db}.spool.000001")
    whole = spool.stat().st_size
    with spool.open("ab") as f:
        f.write(b'{"k":"c","t":"track","m":"t3"')
    store = open_store(db, read_only=True)
    try:
        assert store.raw.execute("SELECT message_id FROM events ORDER BY 1").fetchall() == [("t1",), ("t2",)]
        assert takeover.pending_bytes(store) == 0
    finally:
        store.close()
    assert spool.stat().st_size == whole


def test_sigkilled_server_events_count_and_a_restart_does_not_double_them(sample: Path) -> None:
    """The real server, killed right after answering: whatever its writer had not stored is taken in by
    `aha report`; every acknowledged call counts exactly once, also after a restarted server's replay."""
    db = sample
    key = create_key(db)
    before = json.loads(aha("report", "--json", "--db", str(db), cwd=db.parent).stdout)["overview"]["events"]
    server = Server(db, free_port()).start()
    acknowledged = 0
    with httpx.Client(auth=(key, ""), timeout=30) as client:
        for number in range(20):
            batch = [track(f"k{number}-{i}", user=f"k{i}") for i in range(2_000)]
            assert client.post(server.url + "/v1/batch", json={"batch": batch}).status_code == 200
            acknowledged += len(batch)
    server.kill()
    report = json.loads(aha("report", "--json", "--db", str(db), cwd=db.parent).stdout)
    assert report["overview"]["events"] == before + acknowledged
    with serving(db):
        pass
    assert count_of(db, "Dedupe Test") == acknowledged
    assert rows(db, "SELECT count(*) FROM (SELECT message_id FROM events GROUP BY 1 HAVING count(*) > 1)") == [(0,)]
