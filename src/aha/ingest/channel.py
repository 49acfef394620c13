"""How a worker process hands validated calls to the process that owns the store: frames over a socket pair.

Why this shape (`aha serve --workers N`, docs/ingest.md "Worker processes"): HTTP parsing, JSON decoding,
validation and encoding are most of an ingested event's CPU and run under one GIL per process; the spool, its fsync
and the DuckDB writer are cheap per event and must stay single (one checkpoint, one dedupe ledger, one lock). So a
worker does the former and sends the encoded spool lines here; the owner appends them to its one spool (group
commit), and only once they are durable does it answer, and only then does the worker answer 200. Every guarantee
of the single process holds unchanged: the spool, the checkpoint, the replay and the takeover never learn that a
worker exists. A worker that dies loses nothing acknowledged (what it handed over is the owner's); an owner that
dies closes the pair, and its workers stop at once (nothing more can be made durable).

Frames both ways: a header (payload length u32, request id u32, kind u8) and the payload.
Worker → owner: KEY (payload: the write key, ASCII) → answer OK with `name\\0kind`, or NOT_FOUND;
SPOOL (payload: spool lines) → OK once durable, BUSY (past the in-flight bound: 429), FAILED (not written: 503);
READY (the worker serves now) → OK.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Callable

log = logging.getLogger("aha.ingest")

HEADER = struct.Struct("!IIB")
MAX_FRAME = 64 << 20  # a 500 KB batch encodes to a few MB at most (dead letters keep raw text)
KEY, SPOOL, READY = 1, 2, 3  # requests
OK, NOT_FOUND, BUSY, FAILED = 0, 1, 2, 3  # answers


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """(request id, kind, payload); raises IncompleteReadError at the end of the stream."""
    length, request, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
    if length > MAX_FRAME:
        raise ValueError(f"a frame of {length} bytes")
    return request, kind, await reader.readexactly(length) if length else b""


def frame(request: int, kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(len(payload), request, kind) + payload


class Channel:
    """The worker's end: `ask` sends a request and waits for its answer; every waiter fails if the owner is gone."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self.closed = asyncio.Event()

    async def ask(self, kind: int, payload: bytes) -> tuple[int, bytes]:
        if self.closed.is_set():
            raise ConnectionError("the store's process is gone")
        request = next(self._ids) & 0xFFFFFFFF
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        try:
            self._writer.write(frame(request, kind, payload))
            await self._writer.drain()
            return await future
        finally:
            self._waiting.pop(request, None)

    async def run(self) -> None:
        """Deliver answers until the owner closes its end (it stopped or died)."""
        try:
            while True:
                request, kind, payload = await read_frame(self._reader)
                future = self._waiting.get(request)
                if future is not None and not future.done():
                    future.set_result((kind, payload))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            self.closed.set()
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("the store's process is gone"))


Submit = Callable[[bytes, int, Callable[[str | None], None]], bool]  # Ingestor.submit_lines
Check = Callable[[str], "tuple[str, str] | None"]  # KeyRing.check


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, check: Callable[[], Check],
                submit: Submit, ready: Callable[[], None] = lambda: None) -> None:
    """The owner's end for one worker: answer its requests until it closes the pair (it stopped or died)."""
    loop = asyncio.get_running_loop()

    def answer(request: int, kind: int, payload: bytes = b"") -> None:
        if not writer.is_closing():
            writer.write(frame(request, kind, payload))

    def spooled(request: int) -> Callable[[str | None], None]:
        def done(error: str | None) -> None:  # on the spool thread
            loop.call_soon_threadsafe(answer, request, OK if error is None else FAILED)
        return done

    try:
        while True:
            request, kind, payload = await read_frame(reader)
            if kind == KEY:
                found = check()(payload.decode("ascii", "replace"))
                answer(request, OK, f"{found[0]}\0{found[1]}".encode()) if found else answer(request, NOT_FOUND)
            elif kind == SPOOL:
                try:
                    accepted = submit(payload, payload.count(b"\n"), spooled(request))
                except (RuntimeError, ValueError):  # stopping (the spool is closed), or not whole lines
                    log.warning("a worker's calls could not be spooled", exc_info=True)
                    answer(request, FAILED)
                    continue
                if not accepted:
                    answer(request, BUSY)
            elif kind == READY:
                ready()
                answer(request, OK)
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
