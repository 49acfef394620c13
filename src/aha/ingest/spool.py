"""When may the server answer 200? Only once the calls are on disk: an append-only spool, fsynced in groups.

The spool is a JSON-lines file beside the database (`aha.duckdb.spool.000001`). Requests hand their encoded lines to
one committer thread, which writes everything pending, fsyncs once, and only then releases the waiting requests
(group commit: requests arriving while a fsync runs share the next one). The writer drains the spool into DuckDB and
records how far it got (generation, byte offset) in the same transaction, so a restart replays exactly the rest.
When a file passes `rotate_bytes` the next write goes to the next generation, whether or not the writer has caught
up (constant load never lets it catch up); the writer deletes a generation once its checkpoint has moved past it.
A write that fails (a full disk: ENOSPC) is cut off the file again and reported to its waiters, and the spool keeps
its thread: the next write tries again, so it recovers by itself when space returns.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

ROTATE_BYTES = 64 * 1024 * 1024

Done = Callable[[int, int, "str | None"], None]  # (generation, end offset, None) once durable; or the error


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


def generations(db_path: Path) -> list[int]:
    """The generations of the spool files beside `db_path`, oldest first."""
    found = (path.name.rsplit(".", 1)[-1] for path in db_path.parent.glob(f"{db_path.name}.spool.*"))
    return sorted(int(suffix) for suffix in found if suffix.isdigit())


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

    def __init__(self, db_path: Path, generation: int, fsync: bool = True, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.db_path = db_path
        self.generation = generation
        self.fsync = fsync
        self.rotate_bytes = rotate_bytes
        self.size = truncate_torn_tail(spool_path(db_path, generation))
        self._fd = self._open(generation)
        self._cond = threading.Condition()
        self._pending: list[tuple[bytes, Done]] = []
        self._closed = False
        self._torn = False  # a failed write may have left part of itself: cut it before the next one
        self.syncs = 0
        self.error: str | None = None  # why the last write failed (cleared by the next one that succeeds)
        self.error_number: int | None = None  # its errno (ENOSPC: the disk is full)
        self._thread = threading.Thread(target=self._run, name="aha-spool", daemon=True)
        self._thread.start()

    def _open(self, generation: int) -> int:
        return os.open(spool_path(self.db_path, generation), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

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
            try:
                self._write(b"".join(data for data, _ in batch))
            except Exception as exc:  # ENOSPC, EIO, …: nothing of this group is acknowledged; the thread lives on
                self.error = f"{type(exc).__name__}: {exc}"
                self.error_number = exc.errno if isinstance(exc, OSError) else None
                for _, done in batch:
                    done(self.generation, self.size, self.error)
                continue
            self.error = self.error_number = None
            self.syncs += 1
            end = self.size
            for data, done in batch:
                end += len(data)
                done(self.generation, end, None)
            self.size = end
            if self.size >= self.rotate_bytes:
                self._rotate()

    def _write(self, data: bytes) -> None:
        """All of `data` durably at the end of the file, or none of it (a partial write is cut off again)."""
        if self._torn:
            os.ftruncate(self._fd, self.size)
            self._torn = False
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if self.fsync:
                os.fdatasync(self._fd)
        except BaseException:
            self._torn = True
            os.ftruncate(self._fd, self.size)  # shrinking needs no space; if this fails, the next write retries it
            self._torn = False
            raise

    def _rotate(self) -> None:
        try:
            fd = self._open(self.generation + 1)
        except OSError as exc:  # stay on this file; the next write tries again
            self.error = f"{type(exc).__name__}: {exc}"
            return
        os.close(self._fd)
        self._fd, self.generation, self.size = fd, self.generation + 1, 0

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        os.close(self._fd)


def remove_older(db_path: Path, generation: int) -> None:
    """Delete the spool files of generations before `generation` (the writer's checkpoint is past them)."""
    for path in db_path.parent.glob(f"{db_path.name}.spool.*"):
        suffix = path.name.rsplit(".", 1)[-1]
        if suffix.isdigit() and int(suffix) < generation:
            path.unlink(missing_ok=True)
