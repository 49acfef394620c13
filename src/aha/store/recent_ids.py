"""The writer's dedupe index: which message ids the store received in the last DEDUPE_DAYS, answered from memory.

The dedupe rule (docs/semantics.md, "Events counted once") is one SQL query (`calls.stored_sql`): a call is stored
when its message id is in neither the `ingested` ledger nor the events received within DEDUPE_DAYS. Zone maps on
`received_at` keep that scan to recent row groups, which is cheap while the recent rows are few: right after `aha
import` of a history (every row received now) every writer transaction read every imported id, 0.25 s of CPU per
transaction at 10M events and 2.3 s at 100M, for eight days, four transactions a second.

This index answers the same question without reading the store. Each id received within the window is kept as two
independent 64-bit hashes (DuckDB's `hash` of the id, and of the id with a suffix: a new id is taken for a stored
one only if both collide, about 2^-128 per pair) and its `received_at` (an entry older than the cutoff never counts,
as in the SQL). Entries live in sorted runs (NumPy arrays, 24 bytes per id): a transaction's new ids are one more
small run, and runs of similar size are merged (dropping expired entries), so a lookup is a binary search per run
and an insert costs O(log n) amortised.

Exactness: the index is built from the store (a snapshot on its own cursor, in a background thread: until it is
ready the writer runs the SQL rule) and then kept by the writer itself, after each commit only (a rolled-back batch
never enters it). Every write path bumps the store's data version; the writer checks it inside each transaction,
and a version it did not write itself (another path wrote) drops the index and builds it again, the SQL rule
answering meanwhile. It holds every id received since its `floor` (the build's cutoff, raised by each merge that
drops expired entries); a window reaching back before that (the clock stepped back) is answered by the SQL rule
until the clock is past it again. tests/ingest/test_recent_ids.py compares it with the SQL rule.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import datetime
from typing import Any

import numpy as np

from aha.store import schema
from aha.store.database import Store

log = logging.getLogger("aha.ingest")

SUFFIX = "\x1f"  # the second hash is of the id with this appended
MIN_BUILD_ROWS = 100_000  # below this many recent rows the SQL rule costs a millisecond or two: no index kept
Run = tuple[np.ndarray, np.ndarray, np.ndarray]  # (first hash, sorted; second hash; received_at in µs)


def hash_sql(column: str) -> str:
    """The two hashes of `column`, as SQL (the same functions for the build and for a batch)."""
    return f"hash({column}) AS h1, hash({column} || chr({ord(SUFFIX)})) AS h2"


def hashes(con: Any, table: str) -> Run:
    """The two hashes and `received_at` (µs) of every row of `table`, in its `_idx` order where it has one."""
    rows = con.execute(f"SELECT {hash_sql('message_id')}, epoch_us(received_at) AS r FROM {table} "
                       f"ORDER BY _idx").fetchnumpy()
    return np.asarray(rows["h1"], np.uint64), np.asarray(rows["h2"], np.uint64), np.asarray(rows["r"], np.int64)


def micros(moment: datetime) -> int:
    """A naive UTC timestamp as DuckDB's `epoch_us` gives it."""
    return int((moment - datetime(1970, 1, 1)).total_seconds() * 1_000_000) if moment.tzinfo is None else int(
        moment.timestamp() * 1_000_000)


class RecentIds:
    """The index of one store's recent message ids (module docstring). Used by one writer thread; built by another."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.version = -1  # the data version the index is exact for (the writer's own writes keep it so)
        self.floor = 0  # µs: the index holds every id received since then (the build's cutoff, the latest drop)
        self.ready = threading.Event()
        self.failed = False
        self._building: list[Run] | None = None  # runs written while the build reads its snapshot
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ build
    def build(self, store: Store, cutoff: datetime, version: int) -> None:
        """Read every id received since `cutoff` on a cursor of its own, in a thread; `ready` is set when done."""
        self.version = version
        self.floor = micros(cutoff)
        self._building = []  # before the snapshot: a write committed meanwhile is in both (harmless) or here
        cursor = store.raw.cursor()
        threading.Thread(target=self._build, args=(cursor, cutoff), name="aha-recent-ids", daemon=True).start()

    def _build(self, cursor: object, cutoff: datetime) -> None:
        try:
            rows = cursor.execute(  # type: ignore[attr-defined]
                f"""SELECT {hash_sql('message_id')}, epoch_us(received_at) AS r FROM (
                        SELECT message_id, received_at FROM {schema.INGESTED} WHERE received_at >= $cutoff
                        UNION ALL
                        SELECT message_id, received_at FROM {schema.EVENTS} WHERE received_at >= $cutoff)
                    ORDER BY h1""", {"cutoff": cutoff}).fetchnumpy()
            base: Run = (rows["h1"].astype(np.uint64), rows["h2"].astype(np.uint64), rows["r"].astype(np.int64))
        except Exception:  # the SQL rule answers instead; the store's own errors surface there
            log.exception("the dedupe index could not be built; the writer checks the store instead")
            with self._lock:  # what was written meanwhile is not kept, nor what comes after (`add`)
                self.failed, self._building = True, None
            return
        finally:
            cursor.close()  # type: ignore[attr-defined]
        with self._lock:
            pending, self._building = self._building or [], None
            self.runs = [base]
            for run in pending:
                self._push(run, None)
        self.ready.set()

    # ------------------------------------------------------------------ use
    def stored(self, h1: np.ndarray, h2: np.ndarray, cutoff: datetime) -> np.ndarray:
        """For each id (its two hashes), whether the index holds it received at or after `cutoff`."""
        bound = micros(cutoff)
        found = np.zeros(len(h1), dtype=bool)
        with self._lock:
            runs = list(self.runs)
        for k1, k2, received in runs:
            lo = np.searchsorted(k1, h1, side="left")
            hi = np.searchsorted(k1, h1, side="right")
            for i in np.flatnonzero(hi > lo):  # a first-hash match: nearly always the same id
                part = slice(int(lo[i]), int(hi[i]))
                if np.any((k2[part] == h2[i]) & (received[part] >= bound)):
                    found[i] = True
        return found

    def add(self, h1: np.ndarray, h2: np.ndarray, received: np.ndarray, cutoff: datetime) -> None:
        """Ids the writer has just committed (none kept by an index whose build failed: it never answers)."""
        if not len(h1):
            return
        order = np.argsort(h1, kind="stable")
        run: Run = (h1[order], h2[order], received[order])
        with self._lock:
            if self.failed:
                return
            if self._building is not None:
                self._building.append(run)
            else:
                self._push(run, micros(cutoff))

    def _push(self, run: Run, bound: int | None) -> None:
        """Append a run; merge the last two while the newer is at least half the older (sizes fall geometrically:
        O(log n) runs), dropping entries received before `bound`."""
        self.runs.append(run)
        while len(self.runs) > 1 and len(self.runs[-1][0]) * 2 >= len(self.runs[-2][0]):
            newer, older = self.runs.pop(), self.runs.pop()
            merged = [np.concatenate((a, b)) for a, b in zip(older, newer, strict=True)]
            if bound is not None:
                self.floor = max(self.floor, bound)
                keep = merged[2] >= bound
                merged = [m[keep] for m in merged]
            order = np.argsort(merged[0], kind="stable")
            self.runs.append((merged[0][order], merged[1][order], merged[2][order]))

    def usable(self, version: int, cutoff: datetime | None = None) -> bool:
        """Whether the index answers for the store at `version` (built, not failed, no other writer since) and for
        the window from `cutoff`: not one reaching back before the ids it holds (the clock stepped back after the
        build or a merge dropped what had left the window; the SQL rule answers until the clock is past again)."""
        return (self.ready.is_set() and not self.failed and self.version == version
                and (cutoff is None or micros(cutoff) >= self.floor))

    def size(self) -> int:
        with self._lock:
            return sum(len(run[0]) for run in self.runs)


_indexes: weakref.WeakKeyDictionary[Store, RecentIds] = weakref.WeakKeyDictionary()
# The stores whose writer keeps an index: the tracking server's (`serve`). Every other writer (dead-letter replay
# on the server's reader or in a CLI, a CLI taking over a dead server's spool) writes a few calls, which the SQL
# rule checks in milliseconds; a build of its own would cost what the server's does (31 s CPU, a 7.6 GB peak at
# 100M recent ids) and, on the server's reader, keep a second index for the server's life.
_served: weakref.WeakSet[Store] = weakref.WeakSet()
_checked: weakref.WeakKeyDictionary[Store, float] = weakref.WeakKeyDictionary()
RECHECK_SECONDS = 30.0  # how often a store without an index is asked whether its recent rows now need one


def index_for(store: Store, cutoff: datetime, version: int, check: bool = False) -> RecentIds | None:
    """The store's index (ready, or being built), started here when there is none (or it is stale: another path
    wrote `version`) and the recent rows are many enough to need one; None where the SQL rule is cheap, and for a
    store no server writes (`serve`)."""
    if store not in _served:
        return None
    index = _indexes.get(store)
    if index is not None and index.version == version:
        return index
    if index is None:
        now = time.monotonic()
        if not check and now - _checked.get(store, -RECHECK_SECONDS) < RECHECK_SECONDS:
            return None
        _checked[store] = now
        if not _many_recent(store, cutoff):
            return None
    else:
        log.info("the store was written by another path (data version %s, the dedupe index at %s): rebuilding it",
                 version, index.version)
    index = RecentIds()
    _indexes[store] = index
    index.build(store, cutoff, version)
    return index


def serve(store: Store) -> None:
    """Let `store`'s writer keep an index (the tracking server's writer: `calls.prepare_dedupe`)."""
    _served.add(store)


def _many_recent(store: Store, cutoff: datetime) -> bool:
    row = store.raw.execute(
        f"""SELECT (SELECT count(*) FROM {schema.EVENTS} WHERE received_at >= $cutoff)
                 + (SELECT count(*) FROM {schema.INGESTED} WHERE received_at >= $cutoff)""",
        {"cutoff": cutoff}).fetchall()
    return bool(row) and int(row[0][0] or 0) >= MIN_BUILD_ROWS
