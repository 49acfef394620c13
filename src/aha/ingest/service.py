"""The write path: accepted calls → spool (fsync, then acknowledge) → one writer thread → DuckDB.

Why this shape: a 200 must survive `kill -9` the next instant, so nothing is acknowledged before it is on disk; but a
DuckDB commit per request would cap throughput at a few hundred requests a second. The spool's group commit makes
durability cheap, and the single writer turns many small requests into few large, idempotent transactions. A bounded
count of calls in flight (spooled, not yet stored) is the back-pressure: past it, `submit` refuses and the API answers
429 with Retry-After. On start, whatever the spool holds past the stored checkpoint is replayed first.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aha.ingest import takeover
from aha.ingest.keys import KeyRing
from aha.ingest.records import Record, encode
from aha.ingest.spool import Spool, remove_older
from aha.store.calls import WriteCounts, load_checkpoint, save_checkpoint
from aha.store.database import Store

log = logging.getLogger("aha.ingest")

MAX_IN_FLIGHT = 200_000  # calls spooled but not yet in DuckDB; beyond this, back-pressure
WRITE_BATCH = 50_000  # calls per DuckDB transaction at most


@dataclass(frozen=True, slots=True)
class _Item:
    records: Sequence[Record]
    generation: int
    end: int


@dataclass
class Stats:
    stored_calls: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    replayed: int = 0
    write_errors: int = 0


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Ingestor:
    """Owns the store for the server's lifetime; `submit` is thread-safe and never blocks on DuckDB."""

    def __init__(self, db_path: str | Path, *, fsync: bool = True, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.db_path = Path(db_path)
        self.fsync = fsync
        self.max_in_flight = max_in_flight
        self.stats = Stats()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._store: Store | None = None
        self._spool: Spool | None = None
        self._writer: threading.Thread | None = None
        self.keys: KeyRing | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> None:
        store = Store(self.db_path)
        self._store = store
        self.keys = KeyRing(store)
        generation, _ = load_checkpoint(store)
        remove_older(self.db_path, generation)
        self._replay(store)
        self._spool = Spool(self.db_path, generation, fsync=self.fsync)
        self._writer = threading.Thread(target=self._write_loop, name="aha-writer", daemon=True)
        self._writer.start()

    def _replay(self, store: Store) -> None:
        """Store what was acknowledged but not yet stored when the last server stopped (idempotent)."""
        self.stats.replayed += takeover.replay(store, self._tally)

    def stop(self) -> None:
        """Finish: everything acknowledged is stored before the store closes."""
        if self._spool is not None:
            self._spool.close()
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
        if self._store is not None:
            self._store.close()
        self._spool = self._writer = self._store = None

    # -- accepting ----------------------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The open store (the writer thread's connection: others take `store.cursor()`)."""
        if self._store is None:
            raise RuntimeError("ingestor not started")
        return self._store

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(self, records: Sequence[Record], done: Callable[[], None]) -> bool:
        """Spool `records`; `done()` runs (on the spool thread) once they are durable. False: too busy, retry later."""
        spool = self._spool
        if spool is None:
            raise RuntimeError("ingestor not started")
        with self._lock:
            if self._in_flight and self._in_flight + len(records) > self.max_in_flight:
                return False
            self._in_flight += len(records)
        data = b"".join(encode(r) for r in records)

        def durable(generation: int, end: int) -> None:
            self._queue.put(_Item(records, generation, end))
            done()

        spool.append(data, durable)
        return True

    # -- storing ------------------------------------------------------------------------------------------------

    def _store_records(self, store: Store, records: Sequence[Record], checkpoint: tuple[int, int]) -> None:
        self._tally(takeover.write_records(store, records, checkpoint))

    def _tally(self, counts: WriteCounts) -> None:
        self.stats.stored_calls += counts.calls
        self.stats.duplicates += counts.duplicates
        self.stats.dead_letters += counts.dead_letters

    def _write_loop(self) -> None:
        store, spool = self._store, self._spool
        assert store is not None and spool is not None
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            items = [first]
            count = len(first.records)
            while count < WRITE_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                items.append(item)
                count += len(item.records)
            records = [r for item in items for r in item.records]
            last = items[-1]
            while True:
                try:
                    self._store_records(store, records, (last.generation, last.end))
                    break
                except Exception:  # the calls are safe in the spool; keep trying, say so, never drop them
                    self.stats.write_errors += 1
                    log.exception("writing %d calls to the store failed; retrying", len(records))
                    time.sleep(1.0)
            with self._lock:
                self._in_flight -= len(records)
            if self._queue.empty():
                spool.rotate_if_drained(last.end, lambda generation: save_checkpoint(store, generation, 0))
