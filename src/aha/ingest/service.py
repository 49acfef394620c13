"""The write path: accepted calls → spool (fsync, then acknowledge) → one writer thread → DuckDB.

Why this shape: a 200 must survive `kill -9` the next instant, so nothing is acknowledged before it is on disk; but a
DuckDB commit per request would cap throughput at a few hundred requests a second. The spool's group commit makes
durability cheap, and the single writer turns many small requests into few large, idempotent transactions. A bounded
count of calls in flight (spooled, not yet stored) is the back-pressure: past it, `submit` refuses and the API answers
429 with Retry-After. On start, whatever the spool holds past the stored checkpoint is replayed first.

Every slot taken is given back on every path: when the records are stored, or when the spool could not write them
(a full disk: the API answers 503 and `problem()` says why until a write succeeds or space returns).
"""

from __future__ import annotations

import errno
import logging
import math
import os
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
from aha.ingest.spool import ROTATE_BYTES, Spool, generations, remove_older
from aha.store.calls import WriteCounts, load_checkpoint, prepare_dedupe, save_checkpoint
from aha.store.database import Store

log = logging.getLogger("aha.ingest")

MAX_IN_FLIGHT = 200_000  # calls spooled but not yet in DuckDB; beyond this, back-pressure
WRITE_BATCH = 50_000  # calls per DuckDB transaction at most
# at most one DuckDB transaction this often: a transaction's fixed cost (~15 statements, the dedupe scan of the
# last days' message ids) is paid per transaction, so a writer that starts one as soon as a request is spooled
# spends a whole core on small ones under load (docs/benchmarks.md "Ingestion"); the 200 never waits for this
WRITE_EVERY_SECONDS = 0.25
FREE_BYTES_TO_RECOVER = 1 << 20  # after ENOSPC, this much free space counts as "space returned"


@dataclass(frozen=True, slots=True)
class _Item:
    lines: bytes  # spool lines (this process's or a worker's), read into columns by the writer
    count: int
    generation: int
    end: int


@dataclass
class Stats:
    stored_calls: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    replayed: int = 0
    write_errors: int = 0
    transactions: int = 0  # DuckDB transactions the writer committed




def replay_spool(store: Store, on_batch: Callable[[WriteCounts], None] | None = None) -> tuple[int, int]:
    """Store what the spool holds past the stored checkpoint (acknowledged, not yet stored: idempotent), every
    generation from the checkpoint's on (`takeover.replay`); then start a fresh generation. Returns (new
    generation, calls replayed).

    Only one process may do this at a time: the one that holds the database open for writing.
    """
    replayed = takeover.replay(store, on_batch)
    generation, offset = load_checkpoint(store)
    files = generations(store.path)
    if not files and offset == 0:
        return generation, replayed
    fresh = max([generation, *files]) + 1
    save_checkpoint(store, fresh, 0)
    remove_older(store.path, fresh)
    return fresh, replayed


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Ingestor:
    """Owns the store for the server's lifetime; `submit` is thread-safe and never blocks on DuckDB."""

    def __init__(self, db_path: str | Path, *, fsync: bool = True, max_in_flight: int = MAX_IN_FLIGHT,
                 rotate_bytes: int = ROTATE_BYTES, write_every: float = WRITE_EVERY_SECONDS) -> None:
        self.db_path = Path(db_path)
        self.fsync = fsync
        self.max_in_flight = max_in_flight
        self.rotate_bytes = rotate_bytes
        self.write_every = write_every
        self.stats = Stats()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._store: Store | None = None
        self._spool: Spool | None = None
        self._writer: threading.Thread | None = None
        self._writer_error: str | None = None
        self._stopping = False
        self._removed_below = 0
        self.keys: KeyRing | None = None
        # called on the writer thread after each committed batch, before its calls stop counting as in flight
        # (the server's live checklists: aha.surfaces.api.live); a listener must be quick and must not raise
        self.committed: list[Callable[[], None]] = []

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> None:
        store = Store(self.db_path)
        self._store = store
        self.keys = KeyRing(store)
        prepare_dedupe(store, datetime.now(UTC).replace(tzinfo=None))  # built while the spool replays, if needed
        generation, self.stats.replayed = replay_spool(store, self._tally)
        self._removed_below = generation
        self._spool = Spool(self.db_path, generation, fsync=self.fsync, rotate_bytes=self.rotate_bytes)
        self._writer = threading.Thread(target=self._write_loop, name="aha-writer", daemon=True)
        self._writer.start()

    def stop(self) -> None:
        """Finish: everything acknowledged is stored before the store closes."""
        if self._spool is not None:
            self._spool.close()
        if self._writer is not None:
            self._stopping = True  # a writer that keeps failing gives up: its calls stay in the spool for next start
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

    def key_check(self) -> Callable[[str], tuple[str, str] | None]:
        """The key ring's check as it is now (a worker process's keys are checked here)."""
        if self.keys is None:
            raise RuntimeError("ingestor not started")
        return self.keys.check

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def problem(self) -> str | None:
        """Why writes fail right now (the spool or the store cannot be written), or None."""
        spool = self._spool
        if spool is None:
            return "not started"
        if spool.error is not None and not (spool.error_number == errno.ENOSPC and self._space_returned()):
            return f"the spool cannot be written: {spool.error}"
        if self._writer_error is not None:
            return f"the store cannot be written (calls wait in the spool): {self._writer_error}"
        return None

    def _space_returned(self) -> bool:
        try:
            stat = os.statvfs(self.db_path.parent)
        except OSError:
            return False
        return stat.f_bavail * stat.f_frsize >= FREE_BYTES_TO_RECOVER

    def submit(self, records: Sequence[Record], done: Callable[[str | None], None]) -> bool:
        """Spool `records`; `done(None)` runs (on the spool thread) once they are durable, `done(error)` if they
        could not be written. False: too busy, retry later (nothing was written)."""
        data = b"".join(encode(r) for r in records)  # before a slot is taken: if this raised, nothing is owed
        return self._submit(data, len(records), done)

    def submit_lines(self, data: bytes, count: int, done: Callable[[str | None], None]) -> bool:
        """`submit` for records a worker process validated and encoded (`count` spool lines, each ending in a
        newline): the writer decodes them, off the event loop."""
        if not data.endswith(b"\n") or data.count(b"\n") != count:
            raise ValueError(f"{count} spool lines expected")
        return self._submit(data, count, done)

    def _submit(self, data: bytes, count: int, done: Callable[[str | None], None]) -> bool:
        spool = self._spool
        if spool is None:
            raise RuntimeError("ingestor not started")
        with self._lock:
            if self._in_flight and self._in_flight + count > self.max_in_flight:
                return False
            self._in_flight += count

        def durable(generation: int, end: int, error: str | None) -> None:
            if error is None:
                self._queue.put(_Item(data, count, generation, end))
            else:
                self._release(count)
            try:
                done(error)
            except Exception:  # the waiter is gone (e.g. the loop closed): the records are safe either way
                log.debug("a spool waiter could not be told", exc_info=True)

        try:
            spool.append(data, durable)
        except BaseException:
            self._release(count)
            raise
        return True

    def _release(self, count: int) -> None:
        with self._lock:
            self._in_flight -= count

    # -- storing ------------------------------------------------------------------------------------------------

    def _store_records(self, store: Store, items: Sequence[_Item], checkpoint: tuple[int, int]) -> None:
        self._tally(takeover.write_lines(store, b"".join(item.lines for item in items), checkpoint))

    def _tally(self, counts: WriteCounts) -> None:
        self.stats.stored_calls += counts.calls
        self.stats.duplicates += counts.duplicates
        self.stats.dead_letters += counts.dead_letters

    def _write_loop(self) -> None:
        store, spool = self._store, self._spool
        assert store is not None and spool is not None
        stopping = False
        started = -math.inf  # no transaction yet: the first is not kept waiting (0.0 was "monotonic's zero", the
        # machine's boot: on a machine up for less than `write_every` the first call waited that long)
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            items = [first]
            count = first.count
            due = started + self.write_every  # gather what arrives until then (a stop ends the wait at once)
            while count < WRITE_BATCH:
                try:
                    wait = due - time.monotonic()
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                items.append(item)
                count += item.count
            last = items[-1]
            started = time.monotonic()
            while True:
                try:
                    self._store_records(store, items, (last.generation, last.end))
                    self.stats.transactions += 1
                    self._writer_error = None
                    break
                except Exception as exc:  # the calls are safe in the spool; keep trying, say so, never drop them
                    self.stats.write_errors += 1
                    self._writer_error = f"{type(exc).__name__}: {exc}"
                    if self._stopping:
                        log.error("stopping with %d calls not stored; they stay in the spool for the next start",
                                  count)
                        return
                    log.exception("writing %d calls to the store failed; retrying", count)
                    time.sleep(1.0)
            for listener in self.committed:
                listener()
            self._release(count)
            if last.generation > self._removed_below:  # the checkpoint has moved past the older files
                remove_older(self.db_path, last.generation)
                self._removed_below = last.generation
