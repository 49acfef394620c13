"""The writer's dedupe index (store/recent_ids.py) answers as the dedupe rule in SQL does (store/calls.py).

Two real DuckDB files receive the same random sequence of batches, imports and clock steps: one writer checks its
index (built whatever the store's size), the other the SQL rule. Every batch's counts and every stored row must be
the same. Hand cases: the window's edge inside the index, a write by another path, a batch rolled back, a batch
written while the index is being built, and two ids whose first hashes collide.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from aha.ingest.payloads import Call
from aha.ingest.records import calls_table, dead_table
from aha.store import calls as calls_module
from aha.store import recent_ids
from aha.store.calls import DEDUPE_DAYS, write_calls
from aha.store.database import Store
from tests.ingest.test_dedupe_rule import call

NOW = datetime(2026, 12, 4, 12, 0)


def write(store: Store, batch: list[Call], now: datetime) -> tuple[int, int, int]:
    counts = write_calls(store, calls_table(batch), dead_table([]), None, now)
    index = recent_ids._indexes.get(store)
    if index is not None:
        assert index.ready.wait(30)
    return counts.calls, counts.events, counts.duplicates


def imported(store: Store, message_id: str, at: datetime) -> None:
    """An event stored as `aha import` stores it: another path, which bumps the data version."""
    store.raw.execute("""INSERT INTO events (message_id, event, user_id, timestamp, received_at, properties, source)
                         VALUES ($m, 'E', 'u', $t, $t, '{}', 'import')""", {"m": message_id, "t": at})
    store.bump_data_version()


def stored_rows(store: Store) -> list[tuple[object, ...]]:
    return store.raw.execute("""SELECT 'e', message_id, received_at FROM events UNION ALL
                                SELECT 'i', message_id, received_at FROM ingested ORDER BY ALL""").fetchall()


@pytest.fixture
def indexed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(recent_ids, "MIN_BUILD_ROWS", 0)
    monkeypatch.setattr(recent_ids, "RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(recent_ids, "_served", Everything())  # every store these tests write keeps an index
    yield


class Everything:
    def __contains__(self, item: object) -> bool:
        return True


@pytest.mark.parametrize("seed", range(6))
def test_the_index_stores_what_the_sql_rule_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   indexed: None, seed: int) -> None:
    rng = random.Random(seed)
    with_index, with_sql = Store(tmp_path / "index.duckdb"), Store(tmp_path / "sql.duckdb")
    real = recent_ids.index_for
    monkeypatch.setattr(calls_module.recent_ids, "index_for",
                        lambda store, cutoff, version: real(store, cutoff, version) if store is with_index else None)
    pool = [f"m{i}" for i in range(40)]
    now, used = NOW, 0
    try:
        for _ in range(40):
            now += timedelta(hours=rng.choice([0, 1, 30, 24 * 3, -2, -30]))  # ids leave the window; clock steps back
            if rng.random() < 0.15:
                message_id = rng.choice(pool)
                for store in (with_index, with_sql):
                    imported(store, message_id, now)
                continue
            batch = [call(rng.choice(pool), now, rng.choice(["track", "track", "identify"]))
                     for _ in range(rng.randint(1, 12))]
            got, want = write(with_index, batch, now), write(with_sql, batch, now)
            assert got == want
            used += recent_ids._indexes[with_index].usable(with_index.data_version)
        assert stored_rows(with_index) == stored_rows(with_sql)
        assert recent_ids._indexes.get(with_sql) is None
        assert used >= 20  # the index answered most batches (each import makes it rebuild once)
    finally:
        with_index.close()
        with_sql.close()


def test_an_id_received_before_the_window_counts_as_new_inside_the_index(tmp_path: Path, indexed: None) -> None:
    store = Store(tmp_path / "aha.duckdb")
    try:
        assert write(store, [call("a", NOW)], NOW) == (1, 1, 0)
        index = recent_ids._indexes[store]
        edge = NOW + timedelta(days=DEDUPE_DAYS)  # received exactly at the cutoff: still within (>=)
        assert write(store, [call("a", edge)], edge) == (0, 0, 1)
        assert index.usable(store.data_version)
        later = edge + timedelta(microseconds=1)
        assert write(store, [call("a", later)], later) == (1, 1, 0)
        assert recent_ids._indexes[store] is index  # answered by the same index, not a rebuild
    finally:
        store.close()


def test_an_import_between_batches_is_seen_and_the_index_rebuilt(tmp_path: Path, indexed: None) -> None:
    store = Store(tmp_path / "aha.duckdb")
    try:
        assert write(store, [call("a", NOW)], NOW) == (1, 1, 0)
        first = recent_ids._indexes[store]
        imported(store, "b", NOW)
        assert write(store, [call("b", NOW), call("c", NOW)], NOW) == (1, 1, 1)  # the SQL rule while it rebuilds
        assert recent_ids._indexes[store] is not first
        assert write(store, [call("a", NOW), call("b", NOW), call("c", NOW)], NOW) == (0, 0, 3)
        assert recent_ids._indexes[store].usable(store.data_version)
    finally:
        store.close()


def test_a_batch_rolled_back_never_enters_the_index(tmp_path: Path, indexed: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "aha.duckdb")
    try:
        assert write(store, [call("a", NOW)], NOW) == (1, 1, 0)

        def fail(*args: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(calls_module, "save_checkpoint", fail)
        with pytest.raises(OSError):
            write_calls(store, calls_table([call("b", NOW)]), dead_table([]), (1, 10), NOW)
        monkeypatch.undo()
        monkeypatch.setattr(recent_ids, "MIN_BUILD_ROWS", 0)
        assert recent_ids._indexes[store].usable(store.data_version)
        assert write(store, [call("a", NOW), call("b", NOW)], NOW) == (1, 1, 1)  # b was never stored
    finally:
        store.close()


def test_batches_written_while_the_index_is_built_are_in_it(tmp_path: Path, indexed: None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "aha.duckdb")
    release = threading.Event()
    build = recent_ids.RecentIds._build

    def slow(self: recent_ids.RecentIds, cursor: object, cutoff: datetime) -> None:
        release.wait(30)
        build(self, cursor, cutoff)

    monkeypatch.setattr(recent_ids.RecentIds, "_build", slow)
    try:
        counts = write_calls(store, calls_table([call("a", NOW)]), dead_table([]), None, NOW)
        assert counts.calls == 1
        index = recent_ids._indexes[store]
        assert not index.ready.is_set()
        counts = write_calls(store, calls_table([call("b", NOW), call("a", NOW)]), dead_table([]), None, NOW)
        assert (counts.calls, counts.duplicates) == (1, 1)  # the SQL rule answered; b goes to the index's pending
        release.set()
        assert index.ready.wait(30) and index.usable(store.data_version)
        assert index.size() >= 2
        assert write(store, [call("a", NOW), call("b", NOW), call("c", NOW)], NOW) == (1, 1, 2)
    finally:
        release.set()
        store.close()


def test_a_first_hash_collision_is_told_apart_by_the_second() -> None:
    index = recent_ids.RecentIds()
    index.ready.set()
    u = np.uint64
    index.add(np.array([5, 5, 9], u), np.array([1, 2, 3], u), np.array([100, 100, 100], np.int64), datetime(1970, 1, 1))
    found = index.stored(np.array([5, 5, 5, 9, 7], u), np.array([1, 2, 3, 3, 1], u), datetime(1970, 1, 1))
    assert found.tolist() == [True, True, False, True, False]


def test_runs_merge_and_answer_as_a_set_does() -> None:
    rng = np.random.default_rng(0)
    index = recent_ids.RecentIds()
    index.ready.set()
    kept: set[tuple[int, int]] = set()
    epoch = datetime(1970, 1, 1)
    for size in rng.integers(1, 300, 200):
        h1 = rng.integers(0, 50_000, size, dtype=np.uint64)
        h2 = h1 * np.uint64(3)
        index.add(h1, h2, np.full(size, 10, np.int64), epoch)
        kept.update(zip(h1.tolist(), h2.tolist(), strict=True))
    assert len(index.runs) <= 20  # sizes fall geometrically
    probe = rng.integers(0, 60_000, 5_000, dtype=np.uint64)
    got = index.stored(probe, probe * np.uint64(3), epoch)
    assert got.tolist() == [(int(p), int(p) * 3) in kept for p in probe]
    assert not index.stored(probe, probe * np.uint64(3), datetime(1970, 1, 1, 0, 0, 1)).any()  # all expired


def test_a_clock_stepped_back_still_finds_ids_the_index_dropped(tmp_path: Path, indexed: None) -> None:
    """Merging runs drops entries received before the cutoff of that moment; when the clock then steps back, the
    window reaches further back again and those ids are stored by the SQL rule's reckoning: they must not be
    stored a second time."""
    store = Store(tmp_path / "aha.duckdb")
    try:
        assert write(store, [call("a", NOW)], NOW) == (1, 1, 0)
        later = NOW + timedelta(days=DEDUPE_DAYS, hours=1)  # a has left the window
        assert write(store, [call("b", later)], later) == (1, 1, 0)  # a merge drops a's entry
        assert write(store, [call("c", later)], later) == (1, 1, 0)
        back = later - timedelta(hours=2)  # the clock steps back: a is within the window again
        assert write(store, [call("a", back)], back) == (0, 0, 1)
        assert store.raw.execute("SELECT count(*) FROM events WHERE message_id = 'a'").fetchall() == [(1,)]
        assert write(store, [call("d", later)], later) == (1, 1, 0)  # the clock caught up: the index answers again
        assert recent_ids._indexes[store].usable(store.data_version)
    finally:
        store.close()


def test_a_clock_stepped_back_before_the_build_cutoff_still_finds_older_ids(tmp_path: Path, indexed: None) -> None:
    """The build reads only ids received since its cutoff; a clock stepped back behind it must not take older
    stored ids for new ones."""
    store = Store(tmp_path / "aha.duckdb")
    try:
        imported(store, "a", NOW)  # stored before the index exists, received at NOW
        later = NOW + timedelta(days=DEDUPE_DAYS, hours=1)
        assert write(store, [call("b", later)], later) == (1, 1, 0)  # builds the index from later's window
        back = later - timedelta(hours=2)
        assert write(store, [call("a", back)], back) == (0, 0, 1)
    finally:
        store.close()


def test_a_failed_build_answers_by_sql_and_keeps_nothing(tmp_path: Path, indexed: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that fails leaves the SQL rule answering; the batches written after it are not kept in memory for
    a build that will never take them (they were, for the server's life)."""
    store = Store(tmp_path / "aha.duckdb")

    def failing(self: recent_ids.RecentIds, cursor: object, cutoff: datetime) -> None:
        cursor.close()  # type: ignore[attr-defined]
        build(self, cursor, cutoff)  # its query fails on the closed cursor

    def written(store: Store, batch: list[Call]) -> tuple[int, int, int]:
        counts = write_calls(store, calls_table(batch), dead_table([]), None, NOW)
        return counts.calls, counts.events, counts.duplicates

    build = recent_ids.RecentIds._build
    try:
        assert write(store, [call("a", NOW)], NOW) == (1, 1, 0)
        index = recent_ids._indexes[store]
        monkeypatch.setattr(recent_ids.RecentIds, "_build", failing)
        imported(store, "x", NOW)  # another path wrote: the index is built again, and that build fails
        assert written(store, [call("b", NOW)]) == (1, 1, 0)
        again = recent_ids._indexes[store]
        assert again is not index
        for _ in range(200):
            if again.failed:
                break
            threading.Event().wait(0.05)
        assert again.failed
        for i in range(3):
            assert written(store, [call("a", NOW), call(f"c{i}", NOW)]) == (1, 1, 1)  # the SQL rule answers
        assert again._building is None and again.size() == 0
    finally:
        store.close()


def test_only_the_servers_writer_builds_an_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dead-letter replay writes through the server's reader (a cursor: another Store) or a CLI process, and a
    CLI opening a store takes over a dead server's spool: each is a few calls, which the SQL rule checks in
    milliseconds. None may start a build of its own (at 100M recent ids 31 s of CPU and a 7.6 GB peak, kept as a
    second 2.4 GB index in the server for its life); the writer's index sees their write and is built again."""
    from aha.ingest.deadletters import replay
    from aha.store.calls import prepare_dedupe

    monkeypatch.setattr(recent_ids, "MIN_BUILD_ROWS", 0)
    monkeypatch.setattr(recent_ids, "RECHECK_SECONDS", 0.0)
    store = Store(tmp_path / "aha.duckdb")
    try:
        prepare_dedupe(store, NOW)  # the server's writer
        assert write(store, [call("a", NOW)], NOW) == (1, 1, 0)
        raw = '{"type": "track", "event": "E", "userId": "u", "messageId": "d", "timestamp": "2026-12-04T12:00:00Z"}'
        store.raw.execute("""INSERT INTO dead_letters (received_at, source, file, line, field, reason, raw)
                             VALUES ($t, 'web', 'http', 1, 'event', 'was refused then', $raw)""",
                          {"t": NOW, "raw": raw})
        reader = store.cursor()
        try:
            assert replay(reader, NOW).stored == 1
            assert recent_ids._indexes.get(reader) is None
        finally:
            reader.close()
        other = Store(tmp_path / "other.duckdb")  # a store no server writes to (a CLI's)
        try:
            assert write(other, [call("a", NOW)], NOW) == (1, 1, 0)
            assert recent_ids._indexes.get(other) is None
        finally:
            other.close()
        assert write(store, [call("d", NOW), call("a", NOW), call("e", NOW)], NOW) == (1, 1, 2)
        assert write(store, [call("d", NOW), call("e", NOW)], NOW) == (0, 0, 2)
        assert recent_ids._indexes[store].usable(store.data_version)
    finally:
        store.close()
