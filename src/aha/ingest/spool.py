"""When may the server answer 200? Only once the calls are on disk: an append-only spool, fsynced in groups.

The spool is a JSON-lines file beside the database (`aha.duckdb.spool.000001`). Requests hand their encoded lines to
one committer thread, which writes everything pending, fsyncs once, and only then releases the waiting requests
(group commit: requests arriving while a fsync runs share the next one). The writer drains the spool into DuckDB and
records how far it got (generation, byte offset) in the same transaction, so a restart replays exactly the rest.
When the writer has caught up and the file is large, the spool rotates to the next generation.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

ROTATE_BYTES = 64 * 1024 * 1024

Done = Callable[[int, int], None]  # (generation, end offset) once durable


def spool_path(db_path: Path, generation: int) -> Path:
    return db_path.with_name(f"{db_path.name}.spool.{generation:06d}")


def truncate_torn_tail(path: Path) -> int:
    """Cut a last line left half-written by a crash (never acknowledged: its fsync never finished); returns size."""
    if not path.exists():
        return 0
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        back = min(size, 1 << 20)
        while True:
            f.seek(size - back)
            chunk = f.read(back)
            cut = chunk.rfind(b"\n")
            if cut >= 0 or back == size:
                break
            back = min(size, back * 2)
        keep = size - back + cut + 1 if cut >= 0 else 0
        if keep != size:
            f.truncate(keep)
            os.fsync(f.fileno())
        return keep


def read_lines(path: Path, offset: int) -> Iterator[tuple[bytes, int]]:
    """Complete lines from `offset` on, each with the offset just after it."""
    if not path.exists():
        return
    with path.open("rb") as f:
        f.seek(offset)
        position = offset
        for line in f:
            if not line.endswith(b"\n"):
                return
            position += len(line)
            yield line, position


class Spool:
    """Appends lines durably; `append` returns at once and calls `done` from the committer thread after fsync."""

    def __init__(self, db_path: Path, generation: int, fsync: bool = True) -> None:
        self.db_path = db_path
        self.generation = generation
        self.fsync = fsync
        path = spool_path(db_path, generation)
        self.size = truncate_torn_tail(path)
        self._file = path.open("ab")
        self._lock = threading.Lock()  # held while writing + syncing, and while rotating
        self._cond = threading.Condition()
        self._pending: list[tuple[bytes, Done]] = []
        self._closed = False
        self.syncs = 0
        self._thread = threading.Thread(target=self._run, name="aha-spool", daemon=True)
        self._thread.start()

    def append(self, data: bytes, done: Done) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("spool is closed")
            self._pending.append((data, done))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                batch, self._pending = self._pending, []
            with self._lock:
                self._file.write(b"".join(data for data, _ in batch))
                self._file.flush()
                if self.fsync:
                    os.fdatasync(self._file.fileno())
                self.syncs += 1
                end = self.size
                for data, done in batch:
                    end += len(data)
                    done(self.generation, end)
                self.size = end

    def rotate_if_drained(self, offset: int, record: Callable[[int], None]) -> bool:
        """Start the next generation if the writer has stored everything up to `offset` == size of a large file.

        `record(new_generation)` must durably store (new_generation, 0) as the checkpoint before the switch.
        """
        if self.size < ROTATE_BYTES or offset != self.size:
            return False
        with self._lock:
            if offset != self.size:
                return False
            old = spool_path(self.db_path, self.generation)
            record(self.generation + 1)
            self.generation += 1
            self._file.close()
            self._file = spool_path(self.db_path, self.generation).open("ab")
            self.size = 0
        old.unlink(missing_ok=True)
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self._file.close()


def remove_older(db_path: Path, generation: int) -> None:
    """Delete spool files of generations already fully stored (left by a crash during rotation)."""
    for path in db_path.parent.glob(f"{db_path.name}.spool.*"):
        suffix = path.name.rsplit(".", 1)[-1]
        if suffix.isdigit() and int(suffix) < generation:
            path.unlink(missing_ok=True)
