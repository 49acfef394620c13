"""How many events per second does `aha serve` store durably on this machine, and at what latency?

Starts the real server (fsync on) on a fresh database, then load from separate processes: C concurrent clients,
each sending single-event calls (/v1/track) or 100-event batches (/v1/batch) for D seconds. Reports acknowledged
events/s and p50/p99 request latency, then stops the server (which drains everything into DuckDB) and checks the
stored count equals the acknowledged count.

    .venv/bin/python benchmarks/bench_ingest.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import Server, create_key, free_port, rows


def client(url: str, key: str, size: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    latencies: list[float] = []
    events = 0
    tag = uuid.uuid4().hex[:8]
    path = "/v1/track" if size == 1 else "/v1/batch"
    deadline = time.perf_counter() + seconds
    n = 0
    with httpx.Client(auth=(key, ""), timeout=30) as http:
        while time.perf_counter() < deadline:
            calls = [{"type": "track", "userId": f"u{n % 997}", "event": "Bench", "messageId": f"{tag}-{n + i}",
                      "properties": {"plan": "pro", "n": n + i}} for i in range(size)]
            n += size
            body = calls[0] if size == 1 else {"batch": calls}
            started = time.perf_counter()
            response = http.post(url + path, content=json.dumps(body), headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                events += size
    out.put((events, latencies))


def run(size: int, clients: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "aha.duckdb"
        key = create_key(db)
        server = Server(db, free_port()).start()
        out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        procs = [mp.Process(target=client, args=(server.url, key, size, seconds, out)) for _ in range(clients)]
        started = time.perf_counter()
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        elapsed = time.perf_counter() - started
        for p in procs:
            p.join()
        server.stop()
        acked = sum(r[0] for r in results)
        stored = int(rows(db, "SELECT count(*) FROM events")[0][0])  # type: ignore[call-overload]
        latencies = sorted(x for r in results for x in r[1])
        return {
            "batch_size": size,
            "clients": clients,
            "events_per_s": round(acked / elapsed),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "acknowledged": acked,
            "stored": stored,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    for size in (1, 100):
        print(json.dumps(run(size, args.clients, args.seconds)))


if __name__ == "__main__":
    main()
