"""Guidance figures (issue 15): the checklist endpoint under concurrent clients, and rule evaluation over many users.

    .venv/bin/python benchmarks/bench_guidance.py                          # 20,000 users (~1M events), 50 clients
    .venv/bin/python benchmarks/bench_guidance.py --users 100000 --clients 50 --requests 2000

1. `aha sample --nudges` into a temporary folder (the sample with two rules).
2. The real `aha serve` on 127.0.0.1; after one warm-up request (the state is built once), `--clients` concurrent
   clients ask `GET /v1/users/{id}/milestones` for random signed-up users with a read key: p50, p99, requests/s.
3. `project.run_rules(dry_run=True)` as a whole pass over every user (state built beforehand): seconds, users.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from tests.serving import Server, aha, create_key, free_port  # noqa: E402


async def hammer(url: str, key: str, users: list[str], clients: int, requests: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    rng = random.Random(1)
    for _ in range(requests):
        queue.put_nowait(rng.choice(users))

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            user = queue.get_nowait()
            t = time.perf_counter()
            answer = await http.get(f"/v1/users/{user}/milestones")
            latencies.append(time.perf_counter() - t)
            assert answer.status_code == 200, answer.text

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120,
                                 limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="aha-bench-guidance-"))
    t = time.perf_counter()
    done = aha("sample", "--users", str(args.users), "--nudges", cwd=folder)
    assert done.returncode == 0, done.stderr
    print(f"sample: {args.users:,} users in {time.perf_counter() - t:.1f} s")
    db = folder / "aha.duckdb"

    import aha as api

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = api.open(str(db), str(folder / "aha.yaml"))
        users = sorted(project.state().to_frame().query("entity_type == 'user'").entity_id.unique())
        t = time.perf_counter()
        run = project.run_rules(dry_run=True)
        rules_seconds = time.perf_counter() - t
        project.close()
    eligible = sum(r.new + r.already + r.too_late for r in run.rules)
    print(f"rules pass (dry run, state built): {rules_seconds:.2f} s over {len(users):,} users "
          f"({eligible:,} eligible across {len(run.rules)} rules)")

    key = create_key(db, "bench", "read")
    server = Server(db, free_port(), extra=("--rules-every", "0")).start()
    try:
        httpx.get(f"{server.url}/v1/users/{users[0]}/milestones", headers={"Authorization": f"Bearer {key}"},
                  timeout=300).raise_for_status()  # the state is built (or checked) once
        t = time.perf_counter()
        latencies = asyncio.run(hammer(server.url, key, users, args.clients, args.requests))
        wall = time.perf_counter() - t
    finally:
        server.stop()
    ms = sorted(1000 * x for x in latencies)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    print(f"checklist endpoint, {args.clients} clients, {len(ms):,} requests: p50 {statistics.median(ms):.1f} ms, "
          f"p99 {p99:.1f} ms, {len(ms) / wall:,.0f} requests/s")


if __name__ == "__main__":
    main()
