"""How many events per second does `aha serve` store durably on this machine, and at what CPU cost and latency?

Starts the real server (fsync on) on a fresh database, then load from separate processes: C concurrent clients,
each sending single-event calls (/v1/track) or N-event batches (/v1/batch) for D seconds. The calls look like
analytics-python's (type, userId, event, messageId, properties, timestamp, context.library; the batch's sentAt);
each client formats its bodies from a byte template, so the load generator costs little of the shared CPUs.
Reports acknowledged events/s, p50/p99 request latency, and the CPU seconds of the server's processes (every
thread: HTTP, validation, spool, DuckDB writer; with `--server-arg=--workers=N` the workers too) and of the clients
over the run, per acknowledged event: on a machine shared with the load generator and other tenants, CPU per event
is the figure that travels. Then it stops the server (which
drains everything into DuckDB) and checks the stored count equals the acknowledged count.

    .venv/bin/python benchmarks/bench_ingest.py [--seconds 10] [--clients 8] [--sizes 1,100]
        [--connections 4: each client process keeps 4 raw connections (loadgen.py)] [--server-arg=--workers=2]
        [--history 10000000: events stored before, as an import leaves them: received now, random message ids]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import Server, create_key, free_port, rows

CALL = ('{"type":"track","userId":"u%d","event":"Bench","messageId":"%s-%d","properties":{"plan":"pro","n":%d},'
        '"timestamp":"2026-12-01T10:00:00.000Z","context":{"library":{"name":"analytics-python","version":"2.3.2"}}}')


def body(tag: str, first: int, size: int) -> bytes:
    calls = [CALL % (n % 997, tag, n, n) for n in range(first, first + size)]
    if size == 1:
        return calls[0].encode()
    return b'{"batch":[' + ",".join(calls).encode() + b'],"sentAt":"2026-12-01T10:00:01.000Z"}'


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, every thread, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of `pid` and of each of its child processes (`aha serve --workers N`: the workers)."""
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    return {p: cpu_seconds(p) for p in [pid, *children]}


def client(url: str, key: str, size: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    latencies: list[float] = []
    events = 0
    tag = uuid.uuid4().hex[:8]
    path = "/v1/track" if size == 1 else "/v1/batch"
    deadline = time.perf_counter() + seconds
    n = 0
    with httpx.Client(auth=(key, ""), timeout=30) as http:
        while time.perf_counter() < deadline:
            content = body(tag, n, size)
            n += size
            started = time.perf_counter()
            response = http.post(url + path, content=content, headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                events += size
    out.put((events, latencies, time.process_time()))


def raw_client(url: str, key: str, size: int, seconds: float, out: mp.Queue, connections: int) -> None:  # type: ignore[type-arg]
    """`client` over benchmarks/loadgen.py's raw keep-alive connections, `connections` of them on one asyncio loop,
    each sending pre-encoded bodies (loadgen.Bodies: one `bytes.replace` per body gives every call a new messageId):
    well under a µs of client CPU per event at 100 calls a body (httpx's was 12-14), so the shared cores are the
    server's. The CPU reported is the sending loop's only (the templates are built before it starts)."""
    import asyncio
    import base64

    from benchmarks.loadgen import SLOT, Bodies, Connection

    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    path = "/v1/track" if size == 1 else "/v1/batch"
    latencies: list[float] = []
    events = 0

    async def one(bodies: Bodies) -> None:
        nonlocal events
        connection = Connection(url, auth)
        deadline = time.perf_counter() + seconds
        try:
            while time.perf_counter() < deadline:
                content = bodies.next()
                started = time.perf_counter()
                status, _ = await connection.request("POST", path, content)
                latencies.append(time.perf_counter() - started)
                if status == 200:
                    events += size
        finally:
            connection.close()

    async def all_of_them() -> None:
        await asyncio.gather(*(one(bodies) for bodies in templates))

    # the same calls as `body` (users u0.., messageIds TAG-COUNTER-k), the counter's place left for Bodies to fill
    templates = [Bodies(body(f"{uuid.uuid4().hex[:8]}-", 0, size).replace(b'"messageId":"', b'"messageId":"' + SLOT
                                                                          + b"/")) for _ in range(connections)]
    began = time.process_time()
    asyncio.run(all_of_them())
    out.put((events, latencies, time.process_time() - began))


def history(db: Path, events: int) -> None:
    """`events` stored as `aha import` stores a history: received now, message ids random (as SDKs make them), so
    every one is within the dedupe window that each writer transaction checks (store/recent_ids.py)."""
    import duckdb

    con = duckdb.connect(str(db))
    con.execute(f"""INSERT INTO events (message_id, event, user_id, timestamp, received_at, properties, source)
                    SELECT uuid()::VARCHAR, 'History', 'h' || (i % 50000), TIMESTAMP '2026-11-01' + to_seconds(i),
                           now()::TIMESTAMP, '{{}}', 'import' FROM range({events}) t(i)""")
    con.execute("UPDATE aha_meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'data_version'")
    con.close()


def run(size: int, clients: int, seconds: float, server_args: tuple[str, ...],
        connections: int = 0, prior: int = 0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "aha.duckdb"
        key = create_key(db)
        if prior:
            history(db, prior)
        server = Server(db, free_port(), args=server_args).start()
        assert server.process is not None
        out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        procs = [mp.Process(target=raw_client, args=(server.url, key, size, seconds, out, connections))
                 if connections else mp.Process(target=client, args=(server.url, key, size, seconds, out))
                 for _ in range(clients)]
        cpu_before = tree_cpu(server.process.pid)
        started = time.perf_counter()
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        elapsed = time.perf_counter() - started
        cpu_after = tree_cpu(server.process.pid)
        per_process = [round(cpu - cpu_before.get(p, 0.0), 2) for p, cpu in cpu_after.items()]
        server_cpu = sum(per_process)
        for p in procs:
            p.join()
        load = os.getloadavg()[0]
        workers = httpx.get(server.url + "/health", timeout=30).json().get("workers") or {"calls": 0}
        server.stop()
        acked = sum(r[0] for r in results)
        client_cpu = sum(r[2] for r in results)
        stored = int(rows(db, "SELECT count(*) FROM events")[0][0]) - prior  # type: ignore[call-overload]
        latencies = sorted(x for r in results for x in r[1])
        return {
            "batch_size": size,
            "history": prior,
            "clients": clients,
            "seconds": round(elapsed, 1),
            "events_per_s": round(acked / elapsed),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "server_cpu_s": round(server_cpu, 2),
            "server_cpu_s_per_process": per_process,
            "server_cpu_us_per_event": round(server_cpu / max(acked, 1) * 1e6, 1),
            # with workers: the events they took, their CPU per such event, and the owner's per event of all
            "worker_events": workers["calls"],
            "worker_cpu_us_per_event": round(sum(per_process[1:]) / max(workers["calls"], 1) * 1e6, 1),
            "owner_cpu_us_per_event": round(per_process[0] / max(acked, 1) * 1e6, 1),
            "client_cpu_us_per_event": round(client_cpu / max(acked, 1) * 1e6, 1),
            "load_average": round(load, 1),
            "acknowledged": acked,
            "stored": stored,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sizes", default="1,100", help="calls per request, comma-separated (1: /v1/track)")
    parser.add_argument("--server-arg", action="append", default=[], help="an extra `aha serve` option (repeatable)")
    parser.add_argument("--connections", type=int, default=0,
                        help="per client process, over loadgen.py's raw connections (default: one httpx client)")
    parser.add_argument("--history", type=int, default=0,
                        help="events already stored, received now with random message ids (an imported history)")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        print(json.dumps(run(size, args.clients, args.seconds, tuple(args.server_arg), args.connections,
                             args.history)),
              flush=True)


if __name__ == "__main__":
    main()
