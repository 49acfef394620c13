"""A slow or hostile reader must not stop the server, and a slow server must not be taken for a dead one (issue 12:
items 2, 3 and 12's second `aha serve`). Everything here runs the real `aha serve` on 127.0.0.1."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from aha.ingest import running as discovery
from tests.definitions.test_load import alias_bomb
from tests.serving import aha, create_key, sample_db
from tests.serving import running as serving

BOMB_MESSAGE = ("line 6, column 5: refused: aliases expand to more than 100,000 values. Write the values out "
                "instead of nesting aliases.")


@pytest.fixture
def served_db(tmp_path: Path) -> Path:
    return sample_db(tmp_path)


def test_alias_bomb_to_validate_is_refused_and_the_server_keeps_storing(served_db: Path) -> None:
    """Before: the reader thread and the event loop walked 387 million strings; /health and ingestion stopped."""
    db = served_db
    write = create_key(db)
    (db.parent / "bomb.yaml").write_text(alias_bomb())
    local = aha("validate", "bomb.yaml", cwd=db.parent)  # the console script, no server: one line, exit 2
    assert (local.returncode, local.stderr.strip()) == (2, f"error: bomb.yaml: {BOMB_MESSAGE}")
    with serving(db) as server:
        info = discovery.read(db)
        assert info is not None
        auth = {"Authorization": f"Bearer {info.token}"}
        for analysis in ("validate", "report"):
            answer = httpx.post(f"{server.url}/v1/query/{analysis}", headers=auth, timeout=120,
                                json={"definitions": alias_bomb(), "source": "bomb.yaml"})
            assert answer.status_code == 422
            assert answer.json()["reason"] == f"bomb.yaml: {BOMB_MESSAGE}"
        long_key = httpx.post(f"{server.url}/v1/query/report", headers=auth, timeout=120,
                              json={"options": {"k" * 100_000: 1}})
        assert long_key.status_code == 422 and long_key.json()["field"] == "options." + "k" * 79 + "…"
        deep = httpx.post(f"{server.url}/v1/query/report", headers=auth, timeout=120,
                          content=b"[" * 200_000 + b"]" * 200_000)
        assert (deep.status_code, deep.json()["reason"]) == (400, "JSON nested too deep")
        assert httpx.get(server.url + "/health", timeout=30).json()["ok"] is True
        event = {"userId": "u-after", "event": "Page Viewed", "messageId": "after-bomb",
                 "timestamp": "2026-02-01T00:00:00Z"}
        assert httpx.post(server.url + "/v1/track", json=event, auth=(write, ""), timeout=30).status_code == 200
        served = aha("validate", "bomb.yaml", "--db", str(db), cwd=db.parent)
        assert (served.returncode, served.stderr.strip()) == (2, f"error: bomb.yaml: {BOMB_MESSAGE}")
    stored = aha("dead-letters", "--json", "--db", str(db), cwd=db.parent)
    assert stored.returncode == 0 and stored.stdout.strip() == "[]"


def test_a_stopped_server_keeps_its_discovery_file(served_db: Path) -> None:
    """Liveness is the process and its lock: a server that cannot answer (SIGSTOP stands for a freeze) is not
    stale. Before: no /health within 3 s, the file was removed, and every later command failed on the lock."""
    db = served_db
    with serving(db) as server:
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            found = discovery.find_live(db)
            assert found is not None and found.pid == server.process.pid
            assert discovery.info_path(db).exists()
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        listed = aha("keys", "list", "--db", str(db), cwd=db.parent)
        assert listed.returncode == 0, listed.stderr
        assert discovery.info_path(db).exists()


def test_a_killed_server_is_stale_at_once(served_db: Path) -> None:
    """SIGKILL leaves the file behind; the kernel drops the lock with the process, so the next command opens the
    database itself (the pid may even be reused by another process: the lock decides)."""
    db = served_db
    with serving(db) as server:
        server.kill()
        assert discovery.info_path(db).exists()
        assert not discovery.lock_held(db)
        done = aha("keys", "list", "--db", str(db), cwd=db.parent)
        assert done.returncode == 0, done.stderr
        assert not discovery.info_path(db).exists()


def test_a_second_serve_on_the_same_database_says_so_in_one_line(served_db: Path) -> None:
    db = served_db
    with serving(db) as server:
        second = aha("serve", "--db", str(db), "--port", "9", cwd=db.parent)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: --db {db}: already served by `aha serve` (pid {server.process.pid if server.process else 0}) "
            f"at {server.url}. Send events there, or stop that server first."]
