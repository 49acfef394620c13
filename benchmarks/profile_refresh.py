"""Where an incremental refresh's CPU goes, stage by stage (issue 17.4): not a test, a measuring aid.

    .venv/bin/python benchmarks/profile_refresh.py --keep DIR [--sizes 20000,200000] [--runs 3]

Uses the files `bench_incremental.py --keep DIR` leaves (sample-N.duckdb, sample-N.yaml, new-N.parquet). Per size
it prepares, once, `stated-N.duckdb` (the sample with its state built) and `appended-N.duckdb` (that, after a
warm-up refresh of 1,000 events as bench_incremental does, and `aha import` of the new events), then per run copies
`appended-N.duckdb` and refreshes in a fresh process, timing each stage's CPU (`process_time`: every thread) with the
report's analyses run one after another. The import's CPU is its whole process's (`os.wait4`). Prints one table per
size (median over runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path
from time import process_time
from typing import Any

from bench_incremental import new_events, spawn  # the same warm-up, the same way of running a child

PYTHON = sys.executable
AHA = str(Path(PYTHON).parent / "aha")


def child(db: str, config: str, mode: str) -> dict[str, float]:
    """Run in a fresh process: stage → CPU seconds."""
    start = process_time()
    spent: dict[str, float] = {}
    import aha
    spent["import aha"] = process_time() - start
    t = process_time()
    import ibis  # noqa: F401
    spent["import ibis"] = process_time() - t

    from ibis.backends.sql import SQLBackend

    from aha.analyses import activation, funnel, headline, incremental, overview, signups, state, timing

    compiling = [0.0]
    original_compile = SQLBackend.compile

    def timed_compile(self: Any, *args: Any, **kwargs: Any) -> Any:
        t = process_time()
        try:
            return original_compile(self, *args, **kwargs)
        finally:
            compiling[0] += process_time() - t

    SQLBackend.compile = timed_compile  # type: ignore[method-assign]

    def wrap(module: Any, name: str, label: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + process_time() - t

        setattr(module, name, timed)

    wrap(incremental, "touched", "touched set")
    wrap(incremental, "why_not", "marks check")
    wrap(incremental, "watermarks", "marks check")
    wrap(state, "_spread", "recompute touched (SQL+compile)")
    t = process_time()
    p = aha.open(db, config)
    spent["open"] = process_time() - t
    t = process_time()
    ms = p.state(force=mode in ("full", "cold"))
    p.store.settle()
    spent["state total"] = process_time() - t
    spent["state compile"] = compiling[0]
    compiling[0] = 0.0
    s = p.store
    for label, call in (("report: funnel", lambda: funnel.run(s, ms)),
                        ("report: activation", lambda: activation.run(s, ms)),
                        ("report: headline", lambda: headline.run(s, ms)),
                        ("report: timing", lambda: timing.run(s, ms)),
                        ("report: overview", lambda: overview.run(s, ms)),
                        ("report: signups", lambda: signups.used(s, ms))):
        t = process_time()
        call()
        spent[label] = process_time() - t
    spent["report compile"] = compiling[0]
    spent["refreshed"] = float(ms.refreshed)
    spent["total in process"] = process_time()
    p.close()
    return spent


def run(argv: list[str]) -> tuple[str, float, float]:
    """A child process: its output, wall and CPU seconds."""
    out, wall, usage = spawn(argv)
    return out, wall, usage.ru_utime + usage.ru_stime


def prepare(keep: Path, users: int) -> tuple[Path, Path, float]:
    """stated-N (state built) and appended-N (then the new events imported); the import's CPU."""
    config = keep / f"sample-{users}.yaml"
    stated, appended = keep / f"stated-{users}.duckdb", keep / f"appended-{users}.duckdb"
    cpu_file = keep / f"import-cpu-{users}.txt"
    if not appended.exists():
        shutil.copy(keep / f"sample-{users}.duckdb", stated)
        run([PYTHON, __file__, "--child", "--db", str(stated), "--config", str(config), "--mode", "cold"])
        shutil.copy(stated, appended)
        warm, added = keep / f"warm-{users}.parquet", keep / f"new-{users}.parquet"
        new_events(appended, warm, 1000, "warm")
        new_events(appended, added, 10_000, days=3)
        run([AHA, "import", str(warm), "--db", str(appended)])
        run([PYTHON, __file__, "--child", "--db", str(appended), "--config", str(config), "--mode", "refresh"])
        _, _, cpu = run([AHA, "import", str(added), "--db", str(appended)])
        cpu_file.write_text(str(cpu))
    return stated, appended, float(cpu_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--db")
    parser.add_argument("--config")
    parser.add_argument("--mode", default="refresh")
    parser.add_argument("--modes", default="cold,refresh", help="what each run times (cold: a state built anew)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.db, args.config, args.mode)))
        return
    os.environ["AHA_RESULT_CACHE"] = "off"
    for users in (int(s) for s in args.sizes.split(",")):
        config = args.keep / f"sample-{users}.yaml"
        _, appended, import_cpu = prepare(args.keep, users)
        rows: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.runs):
            for mode in args.modes.split(","):
                work = args.keep / f"profile-{users}.duckdb"
                shutil.copy(args.keep / f"sample-{users}.duckdb" if mode == "cold" else appended, work)
                out, wall, cpu = run([PYTHON, __file__, "--child", "--db", str(work), "--config", str(config),
                                      "--mode", mode])
                stages = json.loads(out.strip().splitlines()[-1])
                stages["process CPU (os.wait4)"] = cpu
                stages["process wall"] = wall
                for k, v in stages.items():
                    rows.setdefault(k, {}).setdefault(mode, []).append(v)
                work.unlink()
        print(f"\n{users} users; import of the new events: {import_cpu:.2f} s CPU (whole process)")
        print(f"{'stage':<36} {'cold':>8} {'refresh':>8}")
        for k, by in rows.items():
            cold, fresh = (statistics.median(by.get(m, [0.0])) for m in ("cold", "refresh"))
            print(f"{k:<36} {cold:>8.3f} {fresh:>8.3f}")


if __name__ == "__main__":
    main()
