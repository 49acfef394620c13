"""Account state vs the user-level report on the b2b sample (issue 18: account state within 1.5× the user report).

    .venv/bin/python benchmarks/bench_accounts.py [--users 20000] [--repeat 3] [--keep DIR]

`--users` sample users of `aha sample --b2b` (20,000 ≈ 1M events, 200,000 ≈ 10M). Every measurement runs in a fresh
process on its own copy of the loaded store whose milestone state was never built (cold), so each pays for the
state it needs, as a first command after an import does:
- user report: `Project.report()` (overview, funnel, time to value, activation by cohort);
- account state: `Project.accounts()`, what `aha accounts` runs: every account's signal entry times, highest signal,
  PQL score and usage summary (members, active in 7/30 days, events in 30 days, milestones reached) computed and
  ranked, the top 50 listed (`--all` lists every account: it adds turning each into a Python object);
- account report: `Project.report(level="account")`, the report with accounts as the unit.
Rounds are interleaved; each figure is the median of `--repeat` rounds, wall and CPU time (user + system of the child,
so DuckDB's threads count). The ratios are account ÷ user report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

HERE = Path(__file__).resolve().parent
TASKS = ("user_report", "account_state", "account_report")
ALL = os.environ.get("AHA_BENCH_ALL_ACCOUNTS") == "1"  # set by --all for the children


def child(task: str, db: Path) -> dict[str, Any]:
    import aha

    began = perf_counter()
    project = aha.open(str(db), str(db.parent / "aha.yaml"))
    if task == "user_report":
        project.report()
    elif task == "account_state":
        listed = project.accounts(top=10**9 if ALL else 50)
        assert listed.total >= len(listed.accounts) > 0
    else:
        project.report(level="account")
    project.close()
    return {"seconds": perf_counter() - began}


def measure(task: str, source: Path, scratch: Path) -> dict[str, float]:
    """`task` in a fresh process on a cold copy of `source`: its wall time and the child's CPU time."""
    folder = scratch / task
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(source, folder / "aha.duckdb")
    shutil.copy(source.parent / "aha.yaml", folder / "aha.yaml")
    began = perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", task, "--db", str(folder / "aha.duckdb")],
                            stdout=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = perf_counter() - began
    out = json.loads(proc.stdout.read() if proc.stdout else b"{}")
    if status != 0:
        raise SystemExit(f"{task} failed ({status})")
    return {"wall": wall, "inside": out["seconds"], "cpu": usage.ru_utime + usage.ru_stime}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="Folder for the sample (reused when present).")
    parser.add_argument("--all", action="store_true", help="List every account, not the top 50.")
    parser.add_argument("--child", choices=TASKS, default=None)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db)))
        return
    if args.all:
        os.environ["AHA_BENCH_ALL_ACCOUNTS"] = "1"
    scratch = Path(tempfile.mkdtemp(prefix="aha-bench-accounts-"))
    home = args.keep or scratch / "sample"
    home.mkdir(parents=True, exist_ok=True)
    db = home / "aha.duckdb"
    if not db.exists():
        aha_cli = Path(sys.executable).parent / "aha"
        subprocess.run([str(aha_cli), "sample", "--b2b", "--users", str(args.users), "--db", str(db)], cwd=home,
                       check=True)
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in TASKS}
    try:
        for _ in range(args.repeat):
            for task in TASKS:
                runs[task].append(measure(task, db, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    med = {t: {k: statistics.median(r[k] for r in runs[t]) for k in ("wall", "inside", "cpu")} for t in TASKS}
    import duckdb

    events = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM events").fetchall()[0][0]
    listed = "every account listed" if args.all else "top 50 listed"
    print(f"b2b sample: {args.users:,} users, {events:,} events; median of {args.repeat} interleaved rounds, cold; "
          f"account state: {listed}")
    print(f"{'':16} {'wall s':>8} {'in-process s':>13} {'cpu s':>8} {'÷ user (wall)':>14} {'÷ user (cpu)':>13}")
    base = med["user_report"]
    for t in TASKS:
        m = med[t]
        print(f"{t:16} {m['wall']:8.2f} {m['inside']:13.2f} {m['cpu']:8.2f} {m['wall'] / base['wall']:14.2f} "
              f"{m['cpu'] / base['cpu']:13.2f}")


if __name__ == "__main__":
    main()
