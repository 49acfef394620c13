"""Incremental state: append 10,000 events to a history and refresh the report, vs a cold report (issue 17.4).

    .venv/bin/python benchmarks/bench_incremental.py [--sizes 20000,200000] [--new 10000] [--keep DIR]

Sizes are sample users (20,000 ≈ 1M events, 200,000 ≈ 10M, 2,000,000 ≈ 100M). Per size, each step in a fresh
process (its own wall time, peak RSS from `os.wait4`): a cold report (no stored state), then `aha import` of a
Parquet file of `--new` events (half the latest events of the history replayed a day later, half the first
events of some users replayed under new ids who sign up after the last event: their windows are open), then the
refreshed report (the state brought up to date incrementally), the state refresh alone, and a full rebuild's report
on the same data, whose funnel, activation and reach numbers the refreshed report must equal. Wall and CPU seconds
(the process's, every DuckDB thread included) are printed: on a shared machine the CPU figures vary less.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
AHA = str(Path(PYTHON).parent / "aha")


def child(args: argparse.Namespace) -> dict[str, Any]:
    import aha

    p = aha.open(args.db, args.config)
    t, cpu = perf_counter(), process_time()
    ms = p.state(force=args.step in ("full", "cold"))  # a store may hold a state already
    p.store.settle()
    state_seconds, state_cpu = perf_counter() - t, process_time() - cpu
    r = p.report()
    done, done_cpu = perf_counter() - t, process_time() - cpu
    p.close()
    group, timing = r.funnel.groups[0], r.timing.groups[0]
    numbers = {
        "funnel": [s.entities for s in group.steps],
        "activation": [[x.numerator, x.denominator] if x else None for x in r.activation.groups[0].total.rates],
        "reached": {m.milestone_id: m.reached for m in timing.milestones},
    }
    return {"seconds": done, "state_seconds": state_seconds, "cpu": done_cpu, "state_cpu": state_cpu,
            "refreshed": ms.refreshed, "rebuilt": ms.rebuilt,
            "numbers": numbers}


def spawn(argv: list[str]) -> tuple[str, float, Any]:
    """A child process: its output, wall seconds and resource usage (`os.wait4`)."""
    t = perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    if status:
        raise SystemExit(f"{argv} failed ({status})")
    return out, perf_counter() - t, usage


def run(argv: list[str]) -> tuple[dict[str, Any], float, float]:
    """A child process: its JSON answer, wall seconds and peak RSS in MiB."""
    out, wall, usage = spawn(argv)
    last = out.strip().splitlines()[-1] if out.strip() else "{}"
    return (json.loads(last) if last.startswith("{") else {}), wall, usage.ru_maxrss / 1024


def new_events(db: Path, out: Path, count: int, tag: str = "new", days: int = 1) -> None:
    """`count` events after the history's last one: half replay its latest events a day later (active users, most
    of them past their windows), half replay the first events of some users under new ids signing up then."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    latest = con.execute("SELECT max(timestamp) FROM events").fetchall()[0][0]
    half = count // 2
    con.execute(f"""COPY (
        SELECT '{tag}-a-' || message_id AS message_id, event, user_id, anonymous_id, account_id,
               timestamp + INTERVAL {days} DAY AS timestamp, properties
        FROM (SELECT * FROM events ORDER BY timestamp DESC LIMIT {half})
        UNION ALL
        (SELECT '{tag}-b-' || e.message_id, e.event, '{tag}-' || e.user_id, NULL, e.account_id,
               TIMESTAMP '{latest}' + INTERVAL {days} DAY + (e.timestamp - s.t0), e.properties
        FROM events e JOIN (SELECT user_id, min(timestamp) AS t0 FROM events WHERE event = 'Signed Up'
                            GROUP BY user_id ORDER BY user_id LIMIT {max(half // 2, 1)}) s USING (user_id)
        WHERE e.timestamp < s.t0 + INTERVAL 1 DAY
        ORDER BY 1 LIMIT {count - half})  -- the parentheses: unbracketed, the ORDER BY and LIMIT took the union's
    ) TO '{out}' (FORMAT parquet)""")
    con.close()


def bench(users: int, new: int, keep: Path) -> dict[str, Any]:
    base = keep / f"sample-{users}.duckdb"
    config = keep / f"sample-{users}.yaml"
    if not base.exists():
        subprocess.run([AHA, "sample", "--users", str(users), "--db", str(base), "-c", str(config)], check=True,
                       stdout=subprocess.DEVNULL)
    work = keep / f"work-{users}.duckdb"
    shutil.copy(base, work)
    me = [PYTHON, __file__, "--child", "--db", str(work), "--config", str(config)]
    cold, cold_wall, cold_rss = run([*me, "--step", "cold"])
    # The file's first refresh records its statements in the file (aha.analyses.compiled): a warm-up batch of a
    # tenth of the new events, refreshed untimed, as in a file that is refreshed again and again.
    # Both written from the same history, the measured batch two days after the warm-up's (which spans a day), so
    # that it is as new to the refreshed state as a first batch is to a cold one.
    warm, added = keep / f"warm-{users}.parquet", keep / f"new-{users}.parquet"
    new_events(work, warm, max(new // 10, 2), "warm")
    new_events(work, added, new, days=3)
    run([AHA, "import", str(warm), "--db", str(work)])
    run([*me, "--step", "refresh"])
    _, import_wall, _ = run([AHA, "import", str(added), "--db", str(work)])
    fresh, fresh_wall, fresh_rss = run([*me, "--step", "refresh"])
    full, full_wall, _ = run([*me, "--step", "full"])
    events = int(subprocess.run([PYTHON, "-c", f"import duckdb; print(duckdb.connect({str(base)!r}, read_only=True)"
                                 ".execute('SELECT count(*) FROM events').fetchall()[0][0])"],
                                check=True, capture_output=True, text=True).stdout)
    work.unlink()
    return {"users": users, "events": events, "cold": cold, "cold_wall": cold_wall, "cold_rss": cold_rss,
            "import_wall": import_wall, "refresh": fresh, "refresh_wall": fresh_wall, "refresh_rss": fresh_rss,
            "full": full, "full_wall": full_wall, "agree": fresh["numbers"] == full["numbers"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--db")
    parser.add_argument("--config")
    parser.add_argument("--step", default="cold")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    os.environ["AHA_RESULT_CACHE"] = "off"  # children compute every report (aha.analyses.result_cache keeps none)
    keep = args.keep or Path(tempfile.mkdtemp(prefix="aha-incremental-"))
    keep.mkdir(parents=True, exist_ok=True)
    print(f"{'events':>12} {'cold report':>12} {'refresh':>9} {'state':>12} {'ratio':>7} "
          f"{'state ratio':>11} {'full':>7} agree")
    try:
        for users in (int(s) for s in args.sizes.split(",")):
            r = bench(users, args.new, keep)
            ratio = r["refresh"]["seconds"] / r["cold"]["seconds"]
            state_ratio = r["refresh"]["state_seconds"] / r["cold"]["state_seconds"]
            print(f"{r['events']:>12,} {r['cold']['seconds']:>11.2f}s {r['refresh']['seconds']:>8.2f}s "
                  f"{r['cold']['state_seconds']:>5.2f}→{r['refresh']['state_seconds']:>4.2f}s {ratio:>7.1%} "
                  f"{state_ratio:>11.1%} {r['full']['seconds']:>6.2f}s {r['agree']} "
                  f"(CPU: report {r['cold']['cpu']:.2f}→{r['refresh']['cpu']:.2f}s, state "
                  f"{r['cold']['state_cpu']:.2f}→{r['refresh']['state_cpu']:.2f}s; "
                  f"incremental: {r['refresh']['refreshed']}; import {r['import_wall']:.1f}s; "
                  f"peak RSS cold {r['cold_rss']:.0f} MiB, refresh {r['refresh_rss']:.0f} MiB)", flush=True)
            from aha.analyses.incremental import smallest_history  # below it the full build is chosen

            if not r["agree"] or (not r["refresh"]["refreshed"] and r["events"] >= smallest_history()):
                raise SystemExit(f"refresh disagrees with a full rebuild or was not incremental: {json.dumps(r)}")
    finally:
        if not args.keep:
            shutil.rmtree(keep, ignore_errors=True)


if __name__ == "__main__":
    main()
