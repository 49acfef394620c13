"""Guidance figures (issue 15): the checklist endpoint under concurrent clients, and rule evaluation over many users.

    .venv/bin/python benchmarks/bench_guidance.py                          # 20,000 users (~1M events), 50 clients
    .venv/bin/python benchmarks/bench_guidance.py --users 100000 --clients 50 --requests 2000

1. `aha sample --nudges` into a temporary folder (the sample with two rules).
2. The real `aha serve` on 127.0.0.1; after one warm-up request (the state is built once), `--clients` concurrent
   clients of loadgen.py (a process of its own: raw asyncio HTTP/1.1, keep-alive) ask `GET /v1/users/{id}/milestones`
   for random signed-up users with a read key: p50, p99, requests/s; then `/health` the same way (the HTTP floor of
   this machine and generator); also open loop at each `--rate` requests/s over the same connections (latency from
   each request's due time). Then event-to-state freshness: under `--track-rate` tracked events/s (loadgen.py),
   `--probes` new users sign up through /v1/track; from each 200, their checklist is asked every 5 ms until it
   answers: p50, p99. `--baseline SRC` measures another aha (an export of an earlier commit's `src`) in alternating
   rounds.
3. `project.run_rules(dry_run=True)` as a whole pass over every user (state built beforehand): seconds, users.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "benchmarks"))

from tests.serving import Server, aha, create_key, free_port  # noqa: E402

LOADGEN = Path(__file__).resolve().with_name("loadgen.py")


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = sorted(1000 * x for x in seconds)
    return statistics.median(ms), ms[min(len(ms) - 1, int(0.99 * len(ms)))]


def start_server(db: Path, src: str | None) -> Server:
    """A fresh `aha serve` (rules off) on a copy of `db` (what a run tracks does not reach the next run); `src`: the
    aha package to run (a baseline's `src`, first on PYTHONPATH)."""
    run = db.with_name("run.duckdb")
    for stale in db.parent.glob("run.duckdb*"):
        stale.unlink()
    shutil.copy(db, run)
    db = run
    before = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = src
    try:
        return Server(db, free_port(), args=("--rules-every", "0")).start()
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU seconds so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def endpoint(server: Server, key: str, users: list[str], clients: int, requests: int, folder: Path,
             rate: float | None = None) -> dict[str, tuple[float, float, float, float, float]]:
    """p50, p99 (ms), requests/s, the server's and the generator's CPU ms per request, of the checklist endpoint
    and of /health (the HTTP floor: the same server and generator, no work), from loadgen.py in a process of its
    own. The server's CPU per request is what load on a shared machine does not change much; latency is."""
    assert server.process is not None
    out = {}
    for name, paths in (("checklist", [f"/v1/users/{u}/milestones" for u in users]), ("/health", ["/health"])):
        listed = folder / "paths.txt"
        listed.write_text("\n".join(paths), encoding="utf-8")
        cpu = cpu_seconds(server.process.pid)
        done = subprocess.run([sys.executable, str(LOADGEN), "get", server.url, key, str(listed), "--clients",
                               str(clients), "--requests", str(requests),
                               *(("--open-rate", str(rate)) if rate else ())],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        p50, p99 = percentiles(result["latencies"])
        served = 1000 * (cpu_seconds(server.process.pid) - cpu) / requests
        out[name] = (p50, p99, len(result["latencies"]) / result["wall"], served, 1000 * result["cpu"] / requests)
    return out


def freshness(server: Server, read_key: str, write_key: str, users: list[str], rate: float, probes: int,
              folder: Path) -> tuple[float, float, int]:
    """Event-to-state freshness under sustained tracking: while loadgen.py tracks `rate` events/s for existing users
    (a process of its own), each probe signs up a new user through /v1/track and, from its 200, asks for that user's
    checklist every 5 ms until it answers 200. Returns p50, p99 (ms) and the events the load sent."""
    from loadgen import Connection

    listed = folder / "users.txt"
    listed.write_text("\n".join(users), encoding="utf-8")
    seconds = probes * 0.5 + 5
    load = subprocess.Popen([sys.executable, str(LOADGEN), "track", server.url, write_key, str(listed), "--rate",
                             str(rate), "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)

    async def probe_all() -> list[float]:
        writer = Connection(server.url, {"Authorization": f"Bearer {write_key}"})
        reader = Connection(server.url, {"Authorization": f"Bearer {read_key}"})
        seen: list[float] = []
        await asyncio.sleep(2)  # the load is under way
        for _ in range(probes):
            user = f"fresh-{uuid.uuid4().hex[:12]}"
            body = json.dumps({"event": "Signed Up", "userId": user, "messageId": user,
                               "timestamp": datetime.now(UTC).isoformat()}).encode()
            status, text = await writer.request("POST", "/v1/track", body)
            assert status == 200, text
            acknowledged = time.perf_counter()
            while (await reader.request("GET", f"/v1/users/{user}/milestones"))[0] != 200:
                await asyncio.sleep(0.005)
            seen.append(time.perf_counter() - acknowledged)
            await asyncio.sleep(0.3)
        writer.close()
        reader.close()
        return seen

    # the first checklist makes the server's copy (its later updates are what is measured)
    httpx.get(f"{server.url}/v1/users/{users[0]}/milestones", headers={"Authorization": f"Bearer {read_key}"},
              timeout=300).raise_for_status()
    seen = asyncio.run(probe_all())
    out, _ = load.communicate(timeout=seconds + 120)
    p50, p99 = percentiles(seen)
    return p50, p99, int(json.loads(out)["events"])


def tracking_cpu(server: Server, write_key: str, users: list[str], folder: Path, seconds: float,
                 batch: int = 100, rate: float = 2_000.0) -> tuple[float, int]:
    """The server's CPU ms per tracking request (`batch` events in a /v1/batch) under `rate` events/s for `seconds`
    (loadgen.py `track`), measured before any checklist is asked (so no live update of the checklists runs)."""
    assert server.process is not None
    listed = folder / "users.txt"
    listed.write_text("\n".join(users), encoding="utf-8")
    cpu = cpu_seconds(server.process.pid)
    done = subprocess.run([sys.executable, str(LOADGEN), "track", server.url, write_key, str(listed), "--rate",
                           str(rate), "--seconds", str(seconds), "--batch", str(batch)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    events = int(json.loads(done.stdout)["events"])
    time.sleep(1)  # the writer stores the last batches
    return 1000 * (cpu_seconds(server.process.pid) - cpu) / (events / batch), events


def service_times(project: object, users: list[str]) -> dict[str, float]:
    """One checklist's time in process: through the state view (`Project.user_state`, what each request did before
    the lookup copy) and from the copy (aha.guidance.lookup); and the time to make the copy."""
    from aha.guidance.lookup import ChecklistLookup

    lookup = ChecklistLookup()
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
    parser.add_argument("--rate", type=float, nargs="*", default=[200.0],
                        help="also open loop at these requests/s over the same clients (none: closed loop only)")
    parser.add_argument("--probes", type=int, default=40, help="freshness probes (0: none)")
    parser.add_argument("--track-rate", type=float, default=200.0, help="tracked events/s during the probes")
    parser.add_argument("--track-seconds", type=float, default=0.0,
                        help="first, the server's CPU per tracking request (100-event batches, 2,000 events/s) "
                             "for this long (0: not measured)")
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
        t, cpu = time.perf_counter(), time.process_time()
        run = project.run_rules(dry_run=True)
        rules_seconds, rules_cpu = time.perf_counter() - t, time.process_time() - cpu
        service = service_times(project, users[:: max(1, len(users) // 200)])
        project.close()
    eligible = sum(r.new + r.already + r.too_late for r in run.rules)
    print(f"rules pass (dry run, state built): {rules_seconds:.2f} s ({rules_cpu:.2f} s CPU) over {len(users):,} users "
          f"({eligible:,} eligible across {len(run.rules)} rules)")

    print("one checklist in process (no HTTP), median of {n}: view query {view:.2f} ms; lookup copy {copy:.3f} ms "
          "(making the copy: {made:.2f} s)".format(**service))
    key = create_key(db, f"bench-{os.getpid()}", "read")
    write_key = create_key(db, f"bench-w-{os.getpid()}", "write")
    runs = [("baseline", args.baseline), ("this", None)] if args.baseline else [("this", None)]
    for r in range(args.rounds):
        for name, src in runs:
            server = start_server(db, src)
            try:
                if args.track_seconds:
                    per_request, sent = tracking_cpu(server, write_key, users, folder, args.track_seconds)
                    print(f"round {r + 1}, {name}: tracking, 100-event batches at 2,000 events/s ({sent:,} sent): "
                          f"server CPU {per_request:.2f} ms per request")
                httpx.get(f"{server.url}/v1/users/{users[0]}/milestones", headers={"Authorization": f"Bearer {key}"},
                          timeout=300).raise_for_status()  # the state is built (or checked) once
                for load in (None, *args.rate):
                    how = f"open loop at {load:g}/s" if load else "closed loop"
                    for what, (p50, p99, rate, served, cpu) in endpoint(server, key, users, args.clients,
                                                                        args.requests, folder, load).items():
                        print(f"round {r + 1}, {name}: {what}, {args.clients} clients {how}, {args.requests:,} "
                              f"requests: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {rate:,.0f} requests/s; CPU per "
                              f"request: server {served:.2f} ms, generator {cpu:.2f} ms")
                if args.probes:
                    p50, p99, sent = freshness(server, key, write_key, users, args.track_rate, args.probes, folder)
                    print(f"round {r + 1}, {name}: event-to-state freshness under {args.track_rate:g} tracked "
                          f"events/s ({sent:,} sent), {args.probes} probes: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
            finally:
                server.stop()


if __name__ == "__main__":
    main()
