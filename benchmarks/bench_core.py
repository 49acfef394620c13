"""aha's full activation report vs hand-written DuckDB SQL vs pandas, on the bundled sample at ~1M and ~10M events.

    .venv/bin/python benchmarks/bench_core.py [--sizes 20000,200000] [--repeat 3] [--keep DIR]

Sizes are sample users (20,000 users ≈ 1.06M events). Every measurement runs in a fresh subprocess, so its wall time
and peak RSS (`ru_maxrss` from `os.wait4`) are its own: the sample loader, `aha import` of the event Parquet files,
aha's report from cold (a copy of the loaded store whose milestone state was never built), the hand-written SQL
(`baselines/sql_report.py`) and pandas (`baselines/pandas_report.py`), all on this interpreter's DuckDB (the one aha
uses; each child reports its versions and the script refuses a mix), then aha's report warm (a fresh process, the
state the cold report built reused). The cold report runs twice: with an empty statement cache (the first run
ever: every statement built and compiled) and with the statements kept from an earlier run on another copy of the
file (aha.analyses.statement_cache, `AHA_STATEMENT_CACHE`). The three reports must agree on the funnel
counts, the activation numerators and denominators, and each milestone's reached count and median time to it. The
reports run `--repeat` interleaved rounds and each figure is the median of its rounds (the machine is shared).
Scratch data goes to a temporary directory (removed afterwards) or to `--keep DIR`, where a sample is reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = ROOT / "src" / "aha" / "definitions" / "template.yaml"
MEDIAN_TOLERANCE = 1.0  # seconds: medians must agree to the second

# Hand-copied in baselines/sql_report.py; checked against the template so the baselines cannot drift from it.
WINDOWS = {"workspace": 1800, "data_connected": 86400, "project": 3 * 86400, "first_output": 3 * 86400,
           "core_workflow": 3 * 86400, "collaboration": 7 * 86400, "rows_imported": 7 * 86400,
           "upgrade_intent": 7 * 86400, "admin_setup": 14 * 86400, "_paid": 30 * 86400}
ACCOUNT_WINDOWS = {"workspace_messages": 30 * 86400}


# -- children: each runs in its own process and writes one JSON file -------------------------------------------------


def child_generate(args: argparse.Namespace) -> dict[str, Any]:
    from aha.sample import generate

    info = generate(args.sample, users=args.users, seed=0)
    return {"events": info.events, "seconds": info.seconds}


def child_load(args: argparse.Namespace) -> dict[str, Any]:
    t = perf_counter()
    from aha.sample import load_into
    from aha.store import open_store

    imported = perf_counter()
    store = open_store(args.db)
    store.raw.execute("SET enable_progress_bar = false")
    events = load_into(store, Path(args.sample))
    store.close()
    return {"events": events, "import_seconds": imported - t, "seconds": perf_counter() - imported}


def child_sql(args: argparse.Namespace) -> dict[str, Any]:
    t = perf_counter()
    import duckdb  # noqa: F401  (timed as the method's import)
    from baselines import sql_report

    imported, cpu = perf_counter(), process_time()
    numbers, stages = sql_report.run(args.db, accounts=args.accounts == "1")
    return {"numbers": numbers, "stages": stages, "import_seconds": imported - t, "seconds": perf_counter() - imported,
            "cpu_seconds": process_time() - cpu, "versions": versions()}


def child_pandas(args: argparse.Namespace) -> dict[str, Any]:
    t = perf_counter()
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    from baselines import pandas_report

    imported, cpu = perf_counter(), process_time()
    numbers, stages = pandas_report.run(args.sample, accounts=args.accounts == "1")
    return {"numbers": numbers, "stages": stages, "import_seconds": imported - t, "seconds": perf_counter() - imported,
            "cpu_seconds": process_time() - cpu, "versions": versions()}


def child_aha(args: argparse.Namespace) -> dict[str, Any]:
    t = perf_counter()
    # aha imports these lazily (aha.open, then Wilson intervals and Kaplan–Meier inside the report): count them as
    # import time, reported apart, so that the report's time is the work on the data.
    import ibis.backends.duckdb  # noqa: F401  (aha loads it when it opens a store: 0.16 s of module imports)
    import statsmodels.duration.survfunc
    import statsmodels.stats.proportion  # noqa: F401

    import aha
    import aha.project

    imported, cpu = perf_counter(), process_time()
    stages = _instrument_store()
    p = aha.open(args.db, args.config)
    p.store.raw.execute("SET enable_progress_bar = false")
    state_key = p.store.meta("state_key")  # changed by the report if it built the state (from kept statements too)
    opened = perf_counter()
    r = p.report()
    done = perf_counter()
    built = p.store.meta("state_key") != state_key
    p.close()
    stages["open"] = opened - imported
    queries = sum(v for k, v in stages.items() if k != "open" and not k.startswith(COMPILE))
    stages["python (expressions, to_dict, Kaplan–Meier, results)"] = (done - opened) - queries
    group, timing = r.funnel.groups[0], r.timing.groups[0]
    numbers = {
        "funnel": [s.entities for s in group.steps],
        "activation": {str(n): [rate.numerator, rate.denominator] if rate else [0, 0]
                       for n, rate in zip(r.activation.days, r.activation.groups[0].total.rates, strict=True)},
        "reached": {m.milestone_id: m.reached for m in timing.milestones},
        "median": {m.milestone_id: m.median_seconds for m in timing.milestones},
    }
    return {"numbers": numbers, "stages": stages, "import_seconds": imported - t, "seconds": done - imported,
            "cpu_seconds": process_time() - cpu, "versions": versions(),
            "built_state": built}


def versions() -> dict[str, str]:
    """The query layer's versions in this process (children run on the parent's interpreter: the same ones)."""
    import duckdb
    import ibis
    import sqlglot

    return {"duckdb": duckdb.__version__, "ibis": ibis.__version__, "sqlglot": sqlglot.__version__}


def _instrument_store() -> dict[str, float]:
    """Time every query aha sends, labelled by what it builds (materialise) or which analysis asked (execute)."""
    from aha.store.database import Store

    stages: dict[str, float] = {}

    def timed(label_of: Any, method: Any) -> Any:
        def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
            t = perf_counter()
            try:
                return method(self, *a, **kw)
            finally:
                elapsed = perf_counter() - t  # before the label: naming the caller must not count as its time
                label = label_of(a)
                stages[label] = stages.get(label, 0.0) + elapsed
        return wrapper

    def caller(_: Any) -> str:
        # sys._getframe, not inspect.stack(): that reads every frame's source file, 20 ms a call.
        frame = sys._getframe(2)
        while frame.f_back is not None and Path(frame.f_code.co_filename).name == "database.py":
            frame = frame.f_back
        return f"query from {Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}"

    from ibis.backends.sql.compilers.duckdb import DuckDBCompiler

    DuckDBCompiler.to_sqlglot = timed(lambda a: COMPILE, DuckDBCompiler.to_sqlglot)  # type: ignore[method-assign]
    Store.materialise = timed(lambda a: f"materialise {a[0]}", Store.materialise)  # type: ignore[method-assign]
    Store.append = timed(lambda a: f"materialise {a[0]} (appended part)", Store.append)  # type: ignore[method-assign]
    Store.temp_view = timed(lambda a: "temp views (compiled once, read by name)", Store.temp_view)  # type: ignore[method-assign]
    Store.union_sql = timed(lambda a: "unions compiled part by part", Store.union_sql)  # type: ignore[method-assign]
    Store.memory_table = timed(lambda a: f"materialise {a[0]} (in memory)", Store.memory_table)  # type: ignore[method-assign]
    Store.settle = timed(lambda a: "waiting for the state's write to the file", Store.settle)  # type: ignore[method-assign]
    Store.execute = timed(caller, Store.execute)  # type: ignore[method-assign]
    Store.to_pyarrow = timed(caller, Store.to_pyarrow)  # type: ignore[method-assign]
    Store.scalar = timed(caller, Store.scalar)  # type: ignore[method-assign]
    return stages


COMPILE = "(of which ibis → SQL compilation)"
CHILDREN = {"generate": child_generate, "load": child_load, "sql": child_sql, "pandas": child_pandas,
            "aha": child_aha}


# -- the parent: runs the children, compares, prints -------------------------------------------------------------------


SPAWNED_CPU: list[float] = []
STATEMENTS = "AHA_STATEMENT_CACHE"  # aha.analyses.statement_cache: where the children keep compiled statements


def spawn(argv: list[str], log: Path) -> tuple[float, float, int]:
    """Run a command; (wall seconds, peak RSS MiB, return code) of that process alone. stderr goes to `log`.err.
    Its CPU seconds (user + system, every thread) are in SPAWNED_CPU[-1]."""
    t = perf_counter()
    with log.open("w") as out, log.with_suffix(".err").open("w") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=HERE)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    SPAWNED_CPU.append(usage.ru_utime + usage.ru_stime)
    return perf_counter() - t, usage.ru_maxrss / 1024, proc.returncode


def run_child(kind: str, work: Path, **opts: Any) -> dict[str, Any]:
    result = work / f"{kind}.json"
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--result", str(result)]
    for key, value in opts.items():
        argv += [f"--{key}", str(value)]
    wall, rss, code = spawn(argv, work / f"{kind}.log")
    if code != 0:
        err = (work / f"{kind}.err").read_text()[-3000:]
        sys.exit(f"{kind} failed (exit {code}):\n{err}")
    out = json.loads(result.read_text())
    out.update(process_seconds=wall, rss_mib=rss, process_cpu=SPAWNED_CPU[-1])
    return out


def run_import(sample: Path, work: Path) -> dict[str, Any]:
    """`aha import` through the CLI, into a new store; the wall time includes the CLI's start-up."""
    db = work / "imported.duckdb"
    db.unlink(missing_ok=True)
    files = sorted(str(f) for f in sample.glob("events-*.parquet"))
    aha_cli = Path(sys.executable).with_name("aha")
    wall, rss, code = spawn([str(aha_cli), "import", *files, "--db", str(db), "--json"], work / "import.log")
    if code != 0:
        sys.exit(f"aha import failed (exit {code}):\n{(work / 'import.err').read_text()[-3000:]}")
    summary = json.loads((work / "import.log").read_text())
    db.unlink(missing_ok=True)
    return {"events": summary["imported"], "rows_read": summary["rows_read"], "process_seconds": wall,
            "process_cpu": SPAWNED_CPU[-1],
            "seconds": wall, "rss_mib": rss}


def median_run(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The first round's numbers and stages, with the median wall and process seconds and the largest peak RSS."""
    out = dict(rounds[0])
    for key in ("seconds", "process_seconds", "import_seconds", "cpu_seconds", "process_cpu"):
        if key in out:
            out[key] = statistics.median(r[key] for r in rounds)
    out["rss_mib"] = max(r["rss_mib"] for r in rounds)
    out["rounds"] = [round(r["seconds"], 3) for r in rounds]
    return out


def measure(users: int, work: Path, repeat: int) -> dict[str, Any]:
    sample = work / f"sample-{users}"
    if not any(sample.glob("events-*.parquet")):
        print(f"generating the {users:,}-user sample ...", flush=True)
        run_child("generate", work, sample=sample, users=users)
    loaded = work / f"loaded-{users}.duckdb"
    loaded.unlink(missing_ok=True)
    out: dict[str, Any] = {"users": users}
    print(f"[{users:,} users] sample loader ...", flush=True)
    out["load"] = run_child("load", work, sample=sample, db=loaded)
    events = out["load"]["events"]
    print(f"[{users:,} users] {events:,} events; aha import (CLI) ...", flush=True)
    out["import"] = run_import(sample, work)
    # The reports run `repeat` rounds, the methods interleaved within each round, so that a busy neighbour on this
    # shared machine slows all of them alike; each figure is the median of its rounds (agreement: the first round).
    cold = work / f"cold-{users}.duckdb"
    users_config = users_only_config(work)
    # statements kept by an earlier run on another file (its copy, removed after)
    kept_statements = work / f"statements-kept-{users}"
    shutil.rmtree(kept_statements, ignore_errors=True)
    os.environ[STATEMENTS] = str(kept_statements)
    shutil.copyfile(loaded, cold)
    run_child("aha", work, db=cold, config=TEMPLATE)
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(1, repeat + 1):
        print(f"[{users:,} users] round {round_}/{repeat}: hand-written SQL, pandas, aha report (cold) ...", flush=True)
        for key, kind, opts in (
            ("sql", "sql", {"db": loaded, "accounts": 1}), ("sql_users", "sql", {"db": loaded, "accounts": 0}),
            ("pandas", "pandas", {"sample": sample, "accounts": 1}),
            ("pandas_users", "pandas", {"sample": sample, "accounts": 0}),
            ("aha", "aha", {"db": cold, "config": TEMPLATE}),
            ("aha_kept", "aha", {"db": cold, "config": TEMPLATE}),
            ("aha_users", "aha", {"db": cold, "config": users_config}),
        ):
            if kind == "aha":
                shutil.copyfile(loaded, cold)  # never-built milestone state: the report starts from the events
                empty = work / "statements-empty"
                shutil.rmtree(empty, ignore_errors=True)
                os.environ[STATEMENTS] = str(kept_statements if key == "aha_kept" else empty)
            runs.setdefault(key, []).append(run_child(kind, work, **opts))
            if key == "aha":  # warm: a new process, reading the state the cold report just built and kept
                runs.setdefault("aha_warm", []).append(run_child(kind, work, **opts))
    cold.unlink()
    shutil.rmtree(kept_statements, ignore_errors=True)
    for key, rounds in runs.items():
        out[key] = median_run(rounds)
    out["events"] = events
    if any(r["built_state"] for r in runs["aha_warm"]) or not all(
            r["built_state"] for r in runs["aha"] + runs["aha_kept"]):
        sys.exit("a warm report rebuilt the milestone state, or a cold one did not: the cold/warm split is wrong")
    mixed = {json.dumps(r["versions"], sort_keys=True) for rounds in runs.values() for r in rounds}
    if len(mixed) != 1:
        sys.exit(f"the methods ran on different query-layer versions: {sorted(mixed)}")
    return out


def users_only_config(work: Path) -> Path:
    """The template without account milestones: the same work the baselines do (they compute user milestones)."""
    import yaml

    doc = yaml.safe_load(TEMPLATE.read_text())
    doc["milestones"] = [m for m in doc["milestones"] if m.get("entity", "user") == "user"]
    path = work / "template-users-only.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


COMPARED = {  # each aha configuration with the baselines that compute the same numbers
    "full template": (("aha", "sql", "pandas"), {**WINDOWS, **ACCOUNT_WINDOWS}),
    "user milestones": (("aha_users", "sql_users", "pandas_users"), WINDOWS),
}


def _same(x: Any, y: Any, tol: float) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return abs(float(x) - float(y)) <= tol


def compare(res: dict[str, Any]) -> list[str]:
    """Every number on which the reports differ, as lines `config, what: aha=… sql=… pandas=…`."""
    diffs = []
    steps = ["signup", "workspace", "data_connected", "core_workflow", "collaboration", "_paid"]
    for config, (keys, milestones) in COMPARED.items():
        reports = [res[k]["numbers"] for k in keys]
        checks: list[tuple[str, list[Any], float]] = []
        for i, step in enumerate(steps):
            checks.append((f"funnel step {step}", [x["funnel"][i] if i < len(x["funnel"]) else None for x in reports],
                           0.0))
        for n in reports[1]["activation"]:
            for j, part in enumerate(("numerator", "denominator")):
                checks.append((f"activation day {n} {part}",
                               [x["activation"].get(n, [None, None])[j] for x in reports], 0.0))
        for m in milestones:
            checks.append((f"reached {m}", [x["reached"].get(m) for x in reports], 0.0))
            checks.append((f"median seconds to {m}", [x["median"].get(m) for x in reports], MEDIAN_TOLERANCE))
        for what, values, tol in checks:
            if not all(_same(values[0], v, tol) for v in values[1:]):
                diffs.append(f"{config}, {what}: " + " ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)))
    return diffs


def check_template() -> None:
    """The baselines' hand-copied windows must be the template's, or the comparison means nothing."""
    from aha.definitions import load

    defs = load(TEMPLATE)
    windows = {m.id: int(m.within.total_seconds()) for m in defs.milestones if m.entity == "user"}
    windows["_paid"] = int(defs.paid.within.total_seconds()) if defs.paid else 0
    accounts = {m.id: int(m.within.total_seconds()) for m in defs.milestones if m.entity == "account"}
    if windows != WINDOWS or accounts != ACCOUNT_WINDOWS:
        sys.exit(f"benchmarks/baselines are out of date with {TEMPLATE}: {windows}, {accounts} != "
                 f"{WINDOWS}, {ACCOUNT_WINDOWS}")


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    return {"nproc": len(os.sched_getaffinity(0)), "memory_gib": round(mem_kib / 2**20, 1), "cpu": cpu,
            **versions(), "python": platform.python_version(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3], "aha_revision": _revision()}


def _revision() -> str:
    """The commit measured, and which files under src/ differed from it (others edit src/ while this runs)."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--", "src").splitlines()
    return git("rev-parse", "--short", "HEAD") + (f" + uncommitted {len(dirty)} file(s) in src/" if dirty else "")


LABELS = {"sql": "hand-written DuckDB SQL (template)", "pandas": "pandas (template)",
          "aha": "aha report (cold, template, empty statement cache: first run ever)",
          "aha_kept": "aha report (cold, template, statements kept from a run on another file)",
          "aha_warm": "aha report (warm, template: state built)",
          "sql_users": "hand-written DuckDB SQL (user milestones)", "pandas_users": "pandas (user milestones)",
          "aha_users": "aha report (cold, template minus account milestone)",
          "load": "sample loader (load_into)", "import": "`aha import` (CLI, Parquet)"}
FLOOR = {"sql": "sql", "pandas": "sql", "aha": "sql", "aha_kept": "sql", "aha_warm": "sql", "sql_users": "sql_users",
         "pandas_users": "sql_users", "aha_users": "sql_users"}  # the hand-written SQL computing the same numbers


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| method | events | wall s | CPU s | Python import s | process s | process CPU s | peak RSS MiB "
             "| vs hand-written SQL (wall; CPU) |", "|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        for key in ("sql", "pandas", "aha", "aha_kept", "aha_warm", "sql_users", "pandas_users", "aha_users", "load",
                    "import"):
            r = res[key]
            ratio = "—" if key.startswith("sql") else ""
            if key in FLOOR and not key.startswith("sql"):
                floor = res[FLOOR[key]]
                ratio = f"{r['seconds'] / floor['seconds']:.2f}×; {r['cpu_seconds'] / floor['cpu_seconds']:.2f}×"
            if key in ("load", "import"):
                ratio = f"{res['events'] / r['seconds']:,.0f} rows/s"
            imp = f"{r['import_seconds']:.2f}" if "import_seconds" in r else "—"
            cpu = f"{r['cpu_seconds']:.2f}" if "cpu_seconds" in r else "—"
            process_cpu = f"{r['process_cpu']:.2f}" if "process_cpu" in r else "—"
            lines.append(f"| {LABELS[key]} | {res['events']:,} | {r['seconds']:.2f} | {cpu} | {imp} | "
                         f"{r['process_seconds']:.2f} | {process_cpu} | {r['rss_mib']:,.0f} | {ratio} |")
    return "\n".join(lines)


def summary(res: dict[str, Any]) -> list[str]:
    out = []
    for key in ("aha", "aha_kept", "aha_users"):
        aha = res[key]
        sql, pd_ = (res["sql"], res["pandas"]) if key != "aha_users" else (res["sql_users"], res["pandas_users"])
        out.append(f"{LABELS[key]}: {aha['seconds'] / sql['seconds']:.2f}× hand-written SQL's time (target ≤ 1.0, "
                   f"aim 0.75), {aha['rss_mib'] / sql['rss_mib']:.2f}× its peak RSS; "
                   f"{pd_['seconds'] / aha['seconds']:.2f}× faster than pandas (target ≥ 5), "
                   f"{aha['rss_mib'] / pd_['rss_mib']:.2f}× its peak RSS")
    warm, sql = res["aha_warm"], res["sql"]
    out.append(f"{LABELS['aha_warm']}: {warm['seconds'] / sql['seconds']:.2f}× hand-written SQL's time (issue 14: "
               f"≤ 0.25 at 10M events), {warm['rss_mib'] / sql['rss_mib']:.2f}× its peak RSS")
    for key in ("aha", "aha_kept", "aha_warm", "aha_users"):
        total = res[key]["seconds"]
        ranked = sorted(res[key]["stages"].items(), key=lambda kv: (kv[0] == COMPILE, -kv[1]))
        out.append(f"where the time goes, {LABELS[key]}: " + ", ".join(
            f"{k} {v:.2f} s ({v / total:.0%})" for k, v in ranked if v >= 0.01))
    out.append("wall seconds of each round: " + "; ".join(
        f"{LABELS[k]} {res[k]['rounds']}"
        for k in ("sql", "pandas", "aha", "aha_kept", "aha_warm", "sql_users", "pandas_users", "aha_users")))
    for key in ("sql", "pandas", "sql_users", "pandas_users"):
        out.append(f"{LABELS[key]} stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in res[key]["stages"].items()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,200000", help="sample users per run, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the reports; figures are medians")
    parser.add_argument("--keep", type=Path, help="write scratch data here and keep it (a sample there is reused)")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    for hidden in ("result", "sample", "db", "config", "users", "accounts"):
        parser.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.users:
            args.users = int(args.users)
        out = CHILDREN[args.child](args)
        Path(args.result).write_text(json.dumps(out))
        return

    check_template()
    os.environ["AHA_RESULT_CACHE"] = "off"  # children compute every report (aha.analyses.result_cache keeps none)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    work = args.keep or Path(tempfile.mkdtemp(prefix="aha-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB, DuckDB {info['duckdb']}, "
          f"ibis {info['ibis']}, sqlglot {info['sqlglot']}, Python {info['python']}, "
          f"load average {' '.join(info['loadavg'])}; aha {info['aha_revision']}", flush=True)
    results = []
    try:
        for users in sizes:
            results.append(measure(users, work, args.repeat))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    info["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print()
    print(table(results))
    ok = True
    for res in results:
        print(f"\n{res['events']:,} events ({res['users']:,} users):")
        diffs = compare(res)
        ok = ok and not diffs
        print("AGREE: aha, hand-written SQL and pandas give the same funnel, activation numerators/denominators, "
              "reached counts and medians (full template, account milestone included; and user milestones only)"
              if not diffs else "DISAGREE:\n  " + "\n  ".join(diffs))
        for line in summary(res):
            print(line)
    print(f"\nload average before {' '.join(info['loadavg'])}, after {' '.join(info['loadavg_after'])} "
          f"(the machine is shared; {info['nproc']} CPUs)")
    if args.keep:
        (work / "results.json").write_text(json.dumps({"machine": info, "results": results}, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
