"""Soak: does `aha serve` keep storing good events, in bounded memory and disk, while bad and slow clients hammer it?

Starts the real server (fsync on) on a fresh database, then for --seconds (default 10 minutes) runs, as separate
processes: good clients (100-event batches, unique messageIds, every 10th batch sent twice as an SDK retry would),
bad clients (lone surrogates, NaN, broken gzip, gzip bombs, wrong or missing keys, malformed JSON, oversized
bodies, boolean ids) and slow clients (connections that send nothing, half a header, or a body shorter than its
Content-Length, reopened as the server closes them). Every --every seconds it prints the server's RSS, the spool's
size on disk and /health's in-flight count. At the end it stops the server (which drains everything) and counts,
from the database, acknowledged events that were not stored (lost) and events stored more than once (doubled).

    .venv/bin/python benchmarks/bench_soak.py [--seconds 600] [--good 3] [--bad 2] [--slow 1] [--every 10]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import Server, create_key, free_port, rows

BATCH = 100


def good_client(url: str, key: str, seconds: float, acked_file: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    tag = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    acked: list[str] = []
    refused = 0
    deadline = time.monotonic() + seconds
    number = 0
    with httpx.Client(auth=(key, ""), timeout=60) as http:
        while time.monotonic() < deadline:
            ids = [f"{tag}-{number}-{i}" for i in range(BATCH)]
            body = json.dumps({"batch": [{"type": "track", "userId": f"u{number % 997}", "event": "Soak",
                                          "messageId": m, "properties": {"n": number}} for m in ids]})
            for _ in range(2 if number % 10 == 0 else 1):  # every 10th batch: retried as an SDK would
                started = time.perf_counter()
                try:
                    response = http.post(url + "/v1/batch", content=body,
                                         headers={"Content-Type": "application/json"})
                except httpx.HTTPError:
                    refused += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code == 200 and response.json()["accepted"] == BATCH:
                    acked.extend(ids)
                else:
                    refused += 1
            number += 1
    Path(acked_file).write_text("\n".join(sorted(set(acked))))
    out.put((len(set(acked)), latencies, refused))


def bad_bodies(key: str) -> list[tuple[str, bytes, dict[str, str], tuple[str, str] | None]]:
    auth = (key, "")
    plain = {"Content-Type": "application/json"}
    gz = {**plain, "Content-Encoding": "gzip"}
    return [
        ("/v1/track", b'{"userId": "x\\ud800", "event": "E"}', plain, auth),
        ("/v1/track", b'{"userId": "x\\ud800", "event": "E"}', plain, None),
        ("/v1/batch", b'{"batch": [' + b",".join([b'{"type":"track","userId":"\\udc00","event":"E"}'] * 50) + b"]}",
         plain, auth),
        ("/v1/track", b'{"userId": "x", "event": "E", "properties": {"p": NaN}}', plain, auth),
        ("/v1/track", b'{"userId": true, "event": "E"}', plain, auth),
        ("/v1/track", b'{"userId": ' + b"9" * 5000 + b', "event": "E"}', plain, auth),
        ("/v1/track", gzip.compress(b'{"userId": "x", "event": "E"}') + b"junk", gz, auth),
        ("/v1/batch", gzip.compress(b" " * 20_000_000), gz, auth),
        ("/v1/track", b'{"userId": "x", "event": ', plain, auth),
        ("/v1/track", b'{"userId": "x", "event": "E"}', plain, ("aha_write_00000000_wrong", "")),
        ("/v1/batch", json.dumps({"writeKey": key, "batch": "nope"}).encode(), plain, None),
        ("/v1/track", json.dumps({"userId": "x", "event": "E", "properties": {"p": "y" * 40_000}}).encode(), plain,
         auth),
    ]


def bad_client(url: str, key: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    statuses: dict[int, int] = {}
    cases = bad_bodies(key)
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < deadline:
            path, body, headers, auth = random.choice(cases)
            try:
                status = http.post(url + path, content=body, headers=headers, auth=auth).status_code
            except httpx.HTTPError:
                status = 0
            statuses[status] = statuses.get(status, 0) + 1
    out.put(statuses)


def slow_client(port: int, key: str, seconds: float, sockets: int) -> None:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    head = (f"POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n").encode()
    deadline = time.monotonic() + seconds
    held: list[socket.socket] = []
    while time.monotonic() < deadline:
        alive = []
        for sock in held:  # keep those the server has not closed; replace the others
            try:
                sock.setblocking(False)
                if sock.recv(1) == b"":
                    sock.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                sock.close()
                continue
            alive.append(sock)
        held = alive
        while len(held) < sockets:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                break
            kind = len(held) % 3
            if kind == 1:
                sock.sendall(head[:25])  # half a header
            elif kind == 2:
                sock.sendall(head + b'{"userId": ')  # a body shorter than its Content-Length
            held.append(sock)
        time.sleep(0.5)
    for sock in held:
        sock.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def spool_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(f"{db.name}.spool.*") if p.exists())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--good", type=int, default=3, help="good client processes")
    parser.add_argument("--bad", type=int, default=2, help="bad client processes")
    parser.add_argument("--slow", type=int, default=1, help="slow client processes (30 sockets each)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "aha.duckdb"
        key = create_key(db)
        server = Server(db, free_port()).start()
        assert server.process is not None
        pid = server.process.pid
        out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        bad_out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        acked_files = [str(Path(tmp) / f"acked{i}.txt") for i in range(args.good)]
        procs = [mp.Process(target=good_client, args=(server.url, key, args.seconds, f, out)) for f in acked_files]
        procs += [mp.Process(target=bad_client, args=(server.url, key, args.seconds, bad_out))
                  for _ in range(args.bad)]
        procs += [mp.Process(target=slow_client, args=(server.port, key, args.seconds, 30)) for _ in range(args.slow)]
        started = time.monotonic()
        for p in procs:
            p.start()
        samples: list[tuple[float, int, int, int]] = []
        print(f"{'t (s)':>7} {'RSS (MB)':>9} {'spool (MB)':>11} {'in flight':>10}")
        while time.monotonic() - started < args.seconds:
            time.sleep(min(args.every, max(0.0, args.seconds - (time.monotonic() - started))))
            try:
                in_flight = int(httpx.get(server.url + "/health", timeout=30).json()["in_flight"])
            except httpx.HTTPError:
                in_flight = -1
            sample = (time.monotonic() - started, rss_kb(pid), spool_bytes(db), in_flight)
            samples.append(sample)
            print(f"{sample[0]:7.0f} {sample[1] / 1024:9.1f} {sample[2] / 2**20:11.1f} {sample[3]:10d}", flush=True)
        results = [out.get() for _ in range(args.good)]
        bad = [bad_out.get() for _ in range(args.bad)]
        elapsed = time.monotonic() - started
        for p in procs:
            p.join()
        server.stop()
        acked = set()
        for f in acked_files:
            acked.update(line for line in Path(f).read_text().splitlines() if line)
        stored = dict(rows(db, "SELECT message_id, count(*) FROM events GROUP BY message_id"))
        letters = rows(db, "SELECT count(*) FROM dead_letters")[0][0]

    latencies = sorted(lat for _, lats, _ in results for lat in lats)
    bad_statuses: dict[int, int] = {}
    for statuses in bad:
        for status, count in statuses.items():
            bad_statuses[status] = bad_statuses.get(status, 0) + count
    rss = [s[1] for s in samples]
    half = len(rss) // 2
    summary = {
        "seconds": round(elapsed, 1),
        "good_events_acknowledged": len(acked),
        "good_events_per_s": round(len(acked) / elapsed, 1),
        "good_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "good_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1) if latencies else None,
        "good_requests_refused": sum(r for _, _, r in results),
        "bad_requests_by_status": dict(sorted(bad_statuses.items())),
        "dead_letters": letters,
        "rss_mb_first_half_max": round(max(rss[:half] or rss) / 1024, 1),
        "rss_mb_second_half_max": round(max(rss[half:] or rss) / 1024, 1),
        "spool_mb_max": round(max(s[2] for s in samples) / 2**20, 1),
        "lost": len(acked - set(stored)),
        "doubled": sum(1 for count in stored.values() if count > 1),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
