"""Guidance figures (issue 15): the checklist endpoint under concurrent clients, and rule evaluation over many users.

    .venv/bin/python benchmarks/bench_guidance.py                          # 20,000 users (~1M events), 50 clients
    .venv/bin/python benchmarks/bench_guidance.py --users 100000 --clients 50 --requests 2000

1. `aha sample --nudges` into a temporary folder (the sample with two rules).
2. The real `aha serve` on 127.0.0.1; after one warm-up request (the state is built once), `--clients` concurrent
   clients ask `GET /v1/users/{id}/milestones` for random signed-up users with a read key: p50, p99, requests/s;
   then `/health` the same way (the HTTP floor of this machine and client). `--rate R`: open loop, R requests/s.
   `--baseline SRC` measures another aha (a worktree's `src` of an earlier commit) in alternating rounds.
3. `project.run_rules(dry_run=True)` as a whole pass over every user (state built beforehand): seconds, users.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


async def hammer(url: str, key: str, paths: list[str], clients: int, requests: int,
                 rate: float | None = None) -> list[float]:
    """Latencies of `requests` GETs of random `paths` over `clients` connections: closed loop (each client asks again
    as soon as it has its answer), or open loop at `rate` requests/s (arrivals on a fixed schedule, so a slow answer
    delays the ones queued behind it, as real traffic would)."""
    latencies: list[float] = []
    rng = random.Random(1)
    chosen = [rng.choice(paths) for _ in range(requests)]
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120,
                                 limits=limits) as http:
        async def one(path: str, due: float) -> None:
            answer = await http.get(path)
            latencies.append(time.perf_counter() - due)
            assert answer.status_code == 200, answer.text

        if rate is None:
            queue = list(reversed(chosen))

            async def client() -> None:
                while queue:
                    await one(queue.pop(), time.perf_counter())

            await asyncio.gather(*(client() for _ in range(clients)))
        else:
            start = time.perf_counter()
            tasks = []
            for i, path in enumerate(chosen):
                due = start + i / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(one(path, due)))
            await asyncio.gather(*tasks)
    return latencies


def endpoint(db: Path, key: str, users: list[str], clients: int, requests: int, rate: float | None,
             src: str | None = None) -> dict[str, tuple[float, float, float]]:
    """p50, p99 (ms) and requests/s of the checklist endpoint, and of /health (the HTTP floor: the same server and
    clients, no work), on a fresh `aha serve`; `src`: the aha package to run (a baseline worktree's `src`, first on
    PYTHONPATH), else this one."""
    before = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = src
    try:
        server = Server(db, free_port(), args=("--rules-every", "0")).start()
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
    out = {}
    try:
        httpx.get(f"{server.url}/v1/users/{users[0]}/milestones", headers={"Authorization": f"Bearer {key}"},
                  timeout=300).raise_for_status()  # the state is built (or checked) once
        for name, paths in (("checklist", [f"/v1/users/{u}/milestones" for u in users]), ("/health", ["/health"])):
            t = time.perf_counter()
            latencies = asyncio.run(hammer(server.url, key, paths, clients, requests, rate))
            wall = time.perf_counter() - t
            ms = sorted(1000 * x for x in latencies)
            out[name] = (statistics.median(ms), ms[min(len(ms) - 1, int(0.99 * len(ms)))], len(ms) / wall)
    finally:
        server.stop()
    return out


def service_times(project: object, users: list[str]) -> dict[str, float]:
    """One checklist's time in process: through the state view (`Project.user_state`, what each request did before
    the lookup copy) and from the copy (aha.guidance.lookup); and the time to make the copy."""
    from aha.guidance.lookup import ChecklistLookup

    lookup = ChecklistLookup(max_stale=3600)
    store, definitions = project.store, project.definitions  # type: ignore[attr-defined]
    t = time.perf_counter()
    lookup.checklist(store, definitions, "user", users[0])
    made = time.perf_counter() - t
    view, copy = [], []
    for user in users:
        t = time.perf_counter()
        project.user_state(user)  # type: ignore[attr-defined]
        view.append(time.perf_counter() - t)
        t = time.perf_counter()
        lookup.checklist(store, definitions, "user", user)
        copy.append(time.perf_counter() - t)
    return {"n": len(users), "view": 1000 * statistics.median(view), "copy": 1000 * statistics.median(copy),
            "made": made}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--folder", type=Path, help="reuse the sample in this folder (made there when missing)")
    parser.add_argument("--baseline", help="another aha's src folder (a worktree of an earlier commit): the "
                                           "endpoint is measured with it and with this one, in alternating rounds")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--rate", type=float, help="open loop: requests per second (default: closed loop)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="aha-bench-guidance-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "aha.duckdb").exists():
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
        service = service_times(project, users[:: max(1, len(users) // 200)])
        project.close()
    eligible = sum(r.new + r.already + r.too_late for r in run.rules)
    print(f"rules pass (dry run, state built): {rules_seconds:.2f} s over {len(users):,} users "
          f"({eligible:,} eligible across {len(run.rules)} rules)")

    print("one checklist in process (no HTTP), median of {n}: view query {view:.2f} ms; lookup copy {copy:.3f} ms "
          "(making the copy: {made:.2f} s)".format(**service))
    key = create_key(db, f"bench-{os.getpid()}", "read")
    runs = [("baseline", args.baseline), ("this", None)] if args.baseline else [("this", None)]
    load = f"{args.rate:g} requests/s open loop" if args.rate else f"{args.clients} clients closed loop"
    for r in range(args.rounds):
        for name, src in runs:
            for what, (p50, p99, rate) in endpoint(db, key, users, args.clients, args.requests, args.rate,
                                                    src).items():
                print(f"round {r + 1}, {name}: {what}, {load}, {args.requests:,} requests: p50 {p50:.1f} ms, "
                      f"p99 {p99:.1f} ms, {rate:,.0f} requests/s")

if __name__ == "__main__":
    main()
