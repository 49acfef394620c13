"""A cheap, honest HTTP/1.1 load generator for bench_guidance.py, run as a process of its own.

Raw asyncio streams, one keep-alive connection per client, no HTTP library: its own cost per request is a few tens of
microseconds, so on a small machine the figures are the server's and not the client's. Latency of a request is from
the moment it is written (closed loop: each client asks again as soon as it has its answer) to its last body byte.

    python benchmarks/loadgen.py get URL KEY PATHS_FILE --clients 50 --requests 4000   # prints JSON latencies (s)
    python benchmarks/loadgen.py get URL KEY PATHS_FILE --clients 50 --open-rate 200   # open loop
    python benchmarks/loadgen.py track URL WRITE_KEY USERS_FILE --rate 500 --seconds 30  # sustained tracking
    python benchmarks/loadgen.py track URL WRITE_KEY USERS_FILE --rate 2000 --batch 100  # 100-event batches
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{self.host}:{self.port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._request(method, path, body)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            if not reused:
                raise
            self.close()  # the server closed an idle keep-alive connection (uvicorn: after 5 s): once more
            return await self._request(method, path, body)

    async def _request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else ""
        self.writer.write(f"{method} {path} HTTP/1.1\r\n{self.head}{extra}\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def get(url: str, key: str, paths: list[str], clients: int, requests: int,
              rate: float | None = None) -> list[float]:
    """Latencies of `requests` GETs of random `paths` over `clients` connections: closed loop, or open loop at
    `rate` requests/s (arrivals on a fixed schedule, each taken by an idle connection; a request's latency counts
    from its due time, so waiting for a connection counts too)."""
    rng = random.Random(1)
    queue = [rng.choice(paths) for _ in range(requests)]
    latencies: list[float] = []
    if rate is not None:
        return await _open_loop(url, key, queue, clients, rate)

    async def client() -> None:
        connection = Connection(url, {"Authorization": f"Bearer {key}"})
        try:
            while queue:
                path = queue.pop()
                began = time.perf_counter()
                status, body = await connection.request("GET", path)
                latencies.append(time.perf_counter() - began)
                if status != 200:
                    raise SystemExit(f"{path}: {status} {body[:300]!r}")
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


async def _open_loop(url: str, key: str, paths: list[str], clients: int, rate: float) -> list[float]:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(clients):
        idle.put_nowait(Connection(url, {"Authorization": f"Bearer {key}"}))
    latencies: list[float] = []

    async def one(path: str, due: float) -> None:
        connection = await idle.get()
        try:
            status, body = await connection.request("GET", path)
        finally:
            idle.put_nowait(connection)
        latencies.append(time.perf_counter() - due)
        if status != 200:
            raise SystemExit(f"{path}: {status} {body[:300]!r}")

    start, tasks = time.perf_counter(), []
    for i, path in enumerate(paths):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(path, due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    return latencies


SLOT = b"@@@@@@@@@@@@"  # a fixed-width counter's place in a pre-encoded body (12 digits)


class Bodies:
    """Request bodies from one pre-encoded template: each body is the template with SLOT replaced by the next
    counter (one C-level `bytes.replace`, ~0.1 µs per call of a 100-call body), so every messageId is new and the
    generator spends almost nothing per event. The template's messageIds must hold SLOT (with something that differs
    per call of the body beside it) and a tag of their own per generator, so no two generators send the same id."""

    def __init__(self, template: bytes) -> None:
        if SLOT not in template:
            raise ValueError("the template has no counter slot")
        self.template = template
        self.count = 0

    def next(self) -> bytes:
        self.count += 1
        return self.template.replace(SLOT, b"%012d" % self.count)


def track_bodies(users: list[str], rng: random.Random, size: int) -> Iterator[bytes]:
    """/v1/batch bodies of `size` track calls, each for a user drawn at random (so an incremental update touches as
    many users as a real stream would), pre-encoded but for the user and a counter in the messageId."""
    tag = uuid.uuid4().hex.encode()
    now = datetime.now(UTC).isoformat().encode()
    encoded = [json.dumps(u).encode() for u in users]
    call = (b'{"type":"track","event":"Page Viewed","userId":%s,"timestamp":"' + now + b'","messageId":"' + tag
            + b'-%d","properties":{"path":"/bench"}}')
    count = 0
    while True:
        calls = []
        for _ in range(size):
            count += 1
            calls.append(call % (encoded[rng.randrange(len(encoded))], count))
        yield b'{"batch":[' + b",".join(calls) + b"]}"


async def track(url: str, key: str, users: list[str], rate: float, seconds: float, batch: int = 20) -> int:
    """`rate` events/s in batches of `batch`, on a fixed schedule, for `seconds`; returns the events acknowledged."""
    import base64

    auth = base64.b64encode(f"{key}:".encode()).decode()
    connection = Connection(url, {"Authorization": f"Basic {auth}"})
    bodies = track_bodies(users, random.Random(2), batch)
    start, sent, n = time.perf_counter(), 0, 0
    try:
        while time.perf_counter() - start < seconds:
            due = start + n * batch / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            status, body = await connection.request("POST", "/v1/batch", next(bodies))
            if status != 200:
                raise SystemExit(f"track: {status} {body[:300]!r}")
            sent, n = sent + batch, n + 1
    finally:
        connection.close()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["get", "track"])
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("file", help="paths to GET (get) or user ids to track (track), one a line")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=500.0, help="track: events/s")
    parser.add_argument("--open-rate", type=float, help="get: open loop at this many requests/s (default: closed)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=20, help="track: events per /v1/batch request")
    args = parser.parse_args()
    with open(args.file, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if args.mode == "get":
        began, cpu = time.perf_counter(), time.process_time()
        latencies = asyncio.run(get(args.url, args.key, lines, args.clients, args.requests, args.open_rate))
        json.dump({"latencies": latencies, "wall": time.perf_counter() - began, "cpu": time.process_time() - cpu},
                  sys.stdout)
    else:
        json.dump({"events": asyncio.run(track(args.url, args.key, lines, args.rate, args.seconds, args.batch))},
                  sys.stdout)


if __name__ == "__main__":
    main()
