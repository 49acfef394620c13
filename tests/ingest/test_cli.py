"""`aha keys` and `aha dead-letters` through the console script: keys hashed, listing by reason, replay idempotent."""

from __future__ import annotations

import json
from pathlib import Path

from aha.store import open_store
from tests.serving import aha, create_key


def test_keys_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    assert key.startswith("aha_write_")
    store = open_store(db, read_only=True)
    assert key.split("_", 3)[3] not in str(store.raw.execute("SELECT * FROM api_keys").fetchall())
    store.close()
    again = aha("keys", "create", "--name", "web", "--db", str(db), cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == "error: a key named 'web' exists already; pick another --name (`aha keys list`)."
    assert aha("keys", "revoke", "web", "--db", str(db), cwd=tmp_path).returncode == 0
    listed = json.loads(aha("keys", "list", "--json", "--db", str(db), cwd=tmp_path).stdout)
    assert [(k["name"], k["kind"], k["revoked"]) for k in listed] == [("web", "write", True)]


def test_dead_letters_replay_after_a_fix_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    store = open_store(db)
    # one call refused by an older rule (now valid), one still invalid, one from a file import
    store.raw.execute(
        """INSERT INTO dead_letters (received_at, source, file, line, field, reason, raw) VALUES
           ('2026-03-01 12:00', 'web', 'http', 0, 'event', 'old rule', '{"type":"track","userId":"u","event":"E",
             "messageId":"m1"}'),
           ('2026-03-01 12:00', 'web', 'http', 1, 'userId', 'userId or anonymousId is required',
             '{"type":"track","event":"E"}'),
           ('2026-03-01 12:00', 'events.csv', 'events.csv', 3, 'timestamp', 'no timestamp', 'u,E,')"""
    )
    store.close()
    listed = aha("dead-letters", "--db", str(db), "--json", cwd=tmp_path)
    assert [(g["reason"], g["count"], g["locations"]) for g in json.loads(listed.stdout)] == [
        ("no timestamp", 1, ["events.csv:3"]), ("old rule", 1, ["http"]),
        ("userId or anonymousId is required", 1, ["http"])]
    first = json.loads(aha("dead-letters", "--replay", "--db", str(db), "--json", cwd=tmp_path).stdout)
    assert first == {"examined": 3, "stored": 1, "still_rejected": 1, "not_replayable": 1, "duplicates": 0}
    second = json.loads(aha("dead-letters", "--replay", "--db", str(db), "--json", cwd=tmp_path).stdout)
    assert second == {"examined": 2, "stored": 0, "still_rejected": 1, "not_replayable": 1, "duplicates": 0}
    store = open_store(db, read_only=True)
    assert store.raw.execute("SELECT message_id, user_id FROM events").fetchall() == [("m1", "u")]
    store.close()


def test_replay_stores_one_call_per_message_id_and_keeps_the_duplicates(tmp_path: Path) -> None:
    """Two letters of one batch with the same messageId, and one whose messageId is stored already: one call is
    stored, two are duplicates, and only the stored one's letter is removed. Before: "3 stored now", all deleted."""
    db = tmp_path / "aha.duckdb"
    store = open_store(db)
    store.raw.execute(
        """INSERT INTO events VALUES ('m-old', 'E', 'u0', NULL, NULL, '2026-11-30 12:00', now()::TIMESTAMP, '{}',
                                      'web')""")
    call = '{"type":"track","userId":"%s","event":"E","messageId":"%s","timestamp":"2026-11-30T12:00:00Z"}'
    store.raw.executemany(
        "INSERT INTO dead_letters (received_at, source, file, line, field, reason, raw) "
        "VALUES (now()::TIMESTAMP, 'web', 'http', ?, 'event', 'old rule', ?)",
        [[0, call % ("u1", "m-dup")], [1, call % ("u2", "m-dup")], [2, call % ("u3", "m-old")]])
    store.close()
    done = aha("dead-letters", "--replay", "--db", str(db), cwd=tmp_path)
    assert done.stdout.strip() == ("3 dead letters: 1 stored now, 2 duplicates of stored calls (kept), 0 still "
                                   "rejected, 0 from file imports (re-run aha import after fixing the file)")
    store = open_store(db, read_only=True)
    assert store.raw.execute("SELECT message_id, user_id FROM events ORDER BY 1").fetchall() == [
        ("m-dup", "u1"), ("m-old", "u0")]
    assert store.raw.execute("SELECT line FROM dead_letters ORDER BY line").fetchall() == [(1,), (2,)]
    store.close()


def test_key_names_are_bounded(tmp_path: Path) -> None:
    """A key's name is stored with every event it sends: 64 characters at most, refused in one line beyond."""
    db = tmp_path / "aha.duckdb"
    assert create_key(db, "w" * 64).startswith("aha_write_")
    long = aha("keys", "create", "--name", "x" * 5000, "--db", str(db), cwd=tmp_path)
    assert (long.returncode, long.stderr.strip()) == (
        2, f"error: --name '{'x' * 20}'… is 5,000 characters; use at most 64 (e.g. --name web).")
