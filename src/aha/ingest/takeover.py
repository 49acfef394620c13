"""Calls a server acknowledged but had not stored when it stopped: whoever opens the store next takes them in.

The server answers 200 once a call is in its spool and stores it moments later; if it dies in between (SIGKILL, a
power cut), the call is only in the spool. A restarted server replays the spool from the checkpoint, and so does any
command that opens the store for writing (`aha.store.open_store`): holding DuckDB's write lock means no server is
alive on this file, so nobody else appends to the spool or moves the checkpoint meanwhile. Writing is idempotent
under the store's one dedupe rule and records the checkpoint in the same transaction, so what was taken in is not
taken in again, by a command or by the next server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aha.ingest.records import lines_tables
from aha.ingest.spool import generations, read_lines, remove_older, spool_path, truncate_torn_tail
from aha.store.calls import WriteCounts, load_checkpoint, write_calls
from aha.store.database import Store

REPLAY_BATCH = 50_000  # records per transaction


def pending_bytes(store: Store) -> int:
    """Bytes of every spool generation after the stored checkpoint (0: nothing to take in)."""
    generation, offset = load_checkpoint(store)
    pending = 0
    for number in generations(store.path):
        if number < generation:
            continue
        path = spool_path(store.path, number)
        size = path.stat().st_size if path.exists() else 0
        pending += max(size - offset, 0) if number == generation else size
    return pending


def replay(store: Store, on_batch: Callable[[WriteCounts], None] | None = None) -> int:
    """Store every complete spool line past the checkpoint, in every generation from the checkpoint's on (a server
    rotates its spool under load, so a crash can leave several); returns the records read. Files before the
    checkpoint's generation are removed. `store` must hold DuckDB's write lock (so no server appends meanwhile): a
    torn last line, never acknowledged (its fsync never finished), is cut first, as a starting server does."""
    generation, offset = load_checkpoint(store)
    remove_older(store.path, generation)
    read = 0
    for number in [g for g in generations(store.path) if g >= generation]:
        path = spool_path(store.path, number)
        truncate_torn_tail(path)
        start = offset if number == generation else 0
        chunk: list[bytes] = []
        end = start
        for line, end in read_lines(path, start):
            chunk.append(line)
            if len(chunk) >= REPLAY_BATCH:
                read += _write(store, chunk, (number, end), on_batch)
                chunk = []
        if chunk or end != start:
            read += _write(store, chunk, (number, end), on_batch)
    return read


def write_lines(store: Store, lines: bytes, checkpoint: tuple[int, int] | None) -> WriteCounts:
    """Store spool `lines` (calls and dead letters, `records.encode`d) in one transaction that also records
    `checkpoint`: read straight into columns (`records.lines_tables`), the records never built again."""
    calls, dead = lines_tables(lines)
    return write_calls(store, calls, dead, checkpoint, datetime.now(UTC).replace(tzinfo=None))


def _write(store: Store, lines: list[bytes], checkpoint: tuple[int, int],
           on_batch: Callable[[WriteCounts], None] | None) -> int:
    counts = write_lines(store, b"".join(lines), checkpoint)
    if on_batch is not None:
        on_batch(counts)
    return len(lines)
