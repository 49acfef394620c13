"""aha's funnel, time-to-value and activation answers vs its peers, on the same generated logs (docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_peers.py [--sizes 20000,200000] [--repeat 3] [--keep DIR]
                                               [--peers-python .venv-peers/bin/python]

Sizes are sample users (20,000 ≈ 1.04M events, 200,000 ≈ 10.5M; `aha.sample.generate`, seed 0, not timed). Each
method runs in a fresh subprocess (wall time, CPU and peak RSS its own), `--repeat` rounds with the methods
interleaved in each round; figures are medians of the rounds:

- aha, cold and warm: `aha.open(db, template minus the account milestone)` then `.funnel()`, `.timing()`,
  `.activation()`, as a user calls them; cold on a copy of the loaded store whose milestone state was never built,
  warm in a new process on the state the cold run built;
- hand-written DuckDB SQL (`baselines/sql_report.py`), pandas (`baselines/pandas_report.py`), polars lazy
  (`baselines/polars_report.py`): the same three answers by aha's rules;
- ClickHouse's windowFunnel through chdb (`baselines/event_funnel.py`): the funnel only, by its own rule;
- retentioneering (`baselines/retentioneering_report.py`), in its own venv (`--peers-python`; its dependencies are
  many): its funnel (an event sequence without a window), time to value and activation (its per-path metrics,
  windows applied in pandas). RETENTIONEERING_NO_TRACK=1 is set for it.

Agreement: every number a method computes by aha's rules must equal aha's (counts exactly, medians to the second);
chdb's and retentioneering's event-sequence funnels must equal `event_funnel.reference` (the same rule in DuckDB
SQL, window 30 days and none); their differences from aha's funnel are printed and explained in docs/benchmarks.md.
A peer that is not installed is skipped with a note (`pip install -e '.[peers]'`; retentioneering: see the doc).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # imported from the tests: baselines and bench_core live beside this file
    sys.path.insert(0, str(HERE))

import bench_core  # noqa: E402  (stdlib only at import: the retentioneering venv runs this file too)

MEDIAN_TOLERANCE = bench_core.MEDIAN_TOLERANCE
ANSWERS = ("funnel", "activation", "reached", "median")  # aha's rules: compared with aha's numbers
EVENT_FUNNELS = {"event_funnel": 30, "event_funnel_unbounded": None}  # compared with event_funnel.reference
METHODS = ("aha", "aha_warm", "aha_cli", "aha_cli_warm", "sql", "polars", "pandas", "chdb", "retentioneering")
LABELS = {"aha": "aha (Python API, cold: state built)", "aha_warm": "aha (Python API, warm: state reused)",
          "aha_cli": "aha CLI (`aha report --json`, cold)", "aha_cli_warm": "aha CLI (`aha report --json`, warm)",
          "sql": "hand-written DuckDB SQL", "polars": "polars (lazy)", "pandas": "pandas",
          "chdb": "ClickHouse windowFunnel (chdb)", "retentioneering": "retentioneering"}
WHAT = {"aha": "funnel, time to value, activation", "aha_warm": "funnel, time to value, activation",
        "aha_cli": "the whole report, one process", "aha_cli_warm": "the whole report, one process",
        "sql": "funnel, time to value, activation", "polars": "funnel, time to value, activation",
        "pandas": "funnel, time to value, activation", "chdb": "event-sequence funnel only",
        "retentioneering": "event-sequence funnel (no window); time to value and activation for 7 of 10 milestones"}
IMPORTS = {"sql": ("duckdb",), "polars": ("polars",), "pandas": ("pandas", "pyarrow.parquet"), "chdb": ("chdb",),
           "retentioneering": ("pandas", "pyarrow.parquet", "retentioneering")}

VERSIONS = {"aha": ("duckdb", "ibis-framework"), "aha_warm": ("duckdb", "ibis-framework"), "sql": ("duckdb",),
            "polars": ("polars",), "pandas": ("pandas", "pyarrow"), "chdb": ("chdb", "chdb-core"),
            "retentioneering": ("retentioneering", "duckdb", "pandas")}


# -- what each method computes (also called in-process by tests/benchmarks) ------------------------------------------


def numbers_of(kind: str, sample: Path, db: Path, config: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """One method's numbers and its stages' seconds: `sample` is the generated Parquet directory, `db` the loaded
    store (aha's and the SQL's input; aha builds its state in it), `config` aha's definitions."""
    if kind in ("aha", "aha_warm"):
        return _aha(db, config)
    if kind == "sql":
        from baselines import sql_report
        return sql_report.run(str(db), accounts=False)
    if kind == "pandas":
        from baselines import pandas_report
        return pandas_report.run(str(sample), accounts=False)
    if kind == "polars":
        from baselines import polars_report
        return polars_report.run(str(sample))
    if kind == "chdb":
        from baselines import event_funnel
        return event_funnel.chdb_run(str(sample))
    if kind == "retentioneering":
        from baselines import retentioneering_report
        return retentioneering_report.run(str(sample))
    raise ValueError(kind)


def _aha(db: Path, config: Path) -> tuple[dict[str, Any], dict[str, float]]:
    import aha

    stages: dict[str, float] = {}
    t = perf_counter()
    p = aha.open(db, config)
    p.store.raw.execute("SET enable_progress_bar = false")
    stages["open"] = perf_counter() - t
    try:
        t = perf_counter()
        funnel = p.funnel()
        stages["funnel (with the state's build when cold)"] = perf_counter() - t
        t = perf_counter()
        timing = p.timing()
        stages["timing"] = perf_counter() - t
        t = perf_counter()
        activation = p.activation()
        stages["activation"] = perf_counter() - t
    finally:
        p.close()
    group, tg = funnel.groups[0], timing.groups[0]
    return {
        "funnel": [s.entities for s in group.steps],
        "activation": {str(n): [rate.numerator, rate.denominator] if rate else [0, 0]
                       for n, rate in zip(activation.days, activation.groups[0].total.rates, strict=True)},
        "reached": {m.milestone_id: m.reached for m in tg.milestones},
        "median": {m.milestone_id: m.median_seconds for m in tg.milestones},
    }, stages


def cli_report(db: Path, config: Path, log: Path) -> dict[str, Any]:
    """`aha report --json` as a user runs it, a process of its own: its numbers, wall and CPU seconds, peak RSS."""
    aha_cli = Path(sys.executable).with_name("aha")
    wall, rss, code = bench_core.spawn([str(aha_cli), "report", "--db", str(db), "--config", str(config), "--json"],
                                       log)
    if code != 0:
        sys.exit(f"aha report failed (exit {code}):\n{log.with_suffix('.err').read_text()[-3000:]}")
    return {"numbers": report_numbers(json.loads(log.read_text())), "stages": {}, "seconds": wall,
            "cpu_seconds": bench_core.SPAWNED_CPU[-1], "process_seconds": wall,
            "process_cpu": bench_core.SPAWNED_CPU[-1], "rss_mib": rss, "versions": {}}


def report_numbers(doc: dict[str, Any]) -> dict[str, Any]:
    """The compared numbers from `aha report --json`."""
    funnel, timing, act = doc["funnel"]["groups"][0], doc["timing"]["groups"][0], doc["activation"]
    rates = act["groups"][0]["total"]["rates"]
    return {
        "funnel": [s["entities"] for s in funnel["steps"]],
        "activation": {str(n): [r["numerator"], r["denominator"]] if r else [0, 0]
                       for n, r in zip(act["days"], rates, strict=True)},
        "reached": {m["milestone_id"]: m["reached"] for m in timing["milestones"]},
        "median": {m["milestone_id"]: m["median_seconds"] for m in timing["milestones"]},
    }


def references(sample: Path) -> dict[str, list[int]]:
    """The event-sequence funnels by the reference rule (DuckDB SQL): what chdb and retentioneering must give."""
    from baselines import event_funnel

    out = {key: event_funnel.reference_on_sample(str(sample), window) for key, window in EVENT_FUNNELS.items()}
    out["event_funnel_aha_windows"] = event_funnel.reference_on_sample(str(sample), None, event_funnel.AHA_WINDOWS)
    return out


def disagreements(numbers: dict[str, dict[str, Any]], refs: dict[str, list[int]]) -> list[str]:
    """Every number on which a method differs from aha (by aha's rules) or from the reference event-sequence funnel,
    as lines `method, what: theirs vs aha's`. Answers a method does not give are not compared."""
    base = numbers.get("aha") or next(iter(numbers.values()))
    diffs = []
    for method, got in numbers.items():
        for answer in ANSWERS:
            if answer not in got or got is base:
                continue
            mine, theirs = got[answer], base[answer]
            keys = range(len(theirs)) if isinstance(theirs, list) else theirs.keys()
            if isinstance(mine, list) and len(mine) != len(theirs):
                diffs.append(f"{method}, {answer}: {len(mine)} values vs aha's {len(theirs)}")
                continue
            for key in keys:
                if isinstance(mine, dict) and key not in mine:
                    continue  # a milestone the peer cannot express (retentioneering: thresholds, properties)
                a, b = mine[key], theirs[key]
                tol = MEDIAN_TOLERANCE if answer == "median" else 0.0
                same = (bench_core._same(a, b, tol) if not isinstance(a, list)
                        else all(bench_core._same(x, y, tol) for x, y in zip(a, b, strict=True)))
                if not same:
                    diffs.append(f"{method}, {answer} {key}: {a} vs aha's {b}")
        for key, ref in refs.items():
            if key in got and got[key] != ref:
                diffs.append(f"{method}, {key}: {got[key]} vs the reference rule's {ref}")
    return diffs


def by_design(numbers: dict[str, dict[str, Any]], refs: dict[str, list[int]]) -> list[str]:
    """aha's funnel beside the event-sequence funnels (not a disagreement: a different rule; docs/benchmarks.md)."""
    from baselines.event_funnel import AS_AHA_STEPS

    aha = numbers.get("aha", {}).get("funnel")
    if aha is None:
        return []
    out = [f"aha's milestone funnel (signup, workspace, data_connected, core_workflow, collaboration, paid): {aha}"]
    for key, name in (("event_funnel", "windowFunnel, one 30-day window"),
                      ("event_funnel_unbounded", "retentioneering funnel_data, no window"),
                      ("event_funnel_aha_windows", "the event-sequence rule with aha's window per step")):
        levels = [refs[key][i] for i in AS_AHA_STEPS]
        more = [x - y for x, y in zip(levels, aha, strict=True)]
        out.append(f"{name} at the same steps: {levels} (more than aha: {more}; every chain level: {refs[key]})")
    return out


# -- children and the parent -------------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> dict[str, Any]:
    t = perf_counter()
    if args.child.startswith("aha"):
        # as in bench_core: aha imports these lazily; count them as import time, reported apart
        import ibis.backends.duckdb  # noqa: F401
        import statsmodels.duration.survfunc
        import statsmodels.stats.proportion  # noqa: F401

        import aha  # noqa: F401
    probe = bench_core._instrument_store() if args.child.startswith("aha") else {}  # shows whether the state was built
    if not args.child.startswith("aha"):
        for module in IMPORTS[args.child]:
            __import__(module)
    imported, cpu = perf_counter(), process_time()
    numbers, stages = numbers_of(args.child, Path(args.sample), Path(args.db), Path(args.config))
    return {"numbers": numbers, "stages": stages, "import_seconds": imported - t, "seconds": perf_counter() - imported,
            "cpu_seconds": process_time() - cpu, "versions": _versions(args.child),
            "built_state": any(k.startswith("materialise aha_entities") for k in probe)}


def _versions(kind: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in VERSIONS[kind]:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def available(kind: str, peers_python: Path | None) -> str | None:
    """None when `kind` can run here, else why not."""
    if kind == "retentioneering":
        return None if peers_python else "no --peers-python with retentioneering (docs/benchmarks.md, Peers)"
    from importlib.util import find_spec

    missing = [m for m in IMPORTS.get(kind, ()) if find_spec(m.split(".")[0]) is None]
    return f"{', '.join(missing)} not installed (pip install -e '.[peers]')" if missing else None


def measure(users: int, work: Path, repeat: int, kinds: list[str], peers_python: Path | None) -> dict[str, Any]:
    sample, loaded = work / f"sample-{users}", work / f"loaded-{users}.duckdb"
    if not any(sample.glob("events-*.parquet")):
        print(f"generating the {users:,}-user sample ...", flush=True)
        bench_core.run_child("generate", work, sample=sample, users=users)
    if not loaded.exists():
        print(f"[{users:,} users] loading the store ...", flush=True)
        bench_core.run_child("load", work, sample=sample, db=loaded)
    config = bench_core.users_only_config(work)
    cold = work / f"cold-{users}.duckdb"
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(1, repeat + 1):
        print(f"[{users:,} users] round {round_}/{repeat}: {', '.join(kinds)} ...", flush=True)
        for kind in kinds:
            if kind == "aha_warm":
                continue
            opts = {"sample": sample, "db": loaded, "config": config}
            if kind == "aha":
                shutil.copyfile(loaded, cold)  # never-built milestone state: the answers start from the events
                opts["db"] = cold
            python = peers_python if kind == "retentioneering" else None
            runs.setdefault(kind, []).append(_run(kind, work, python, opts))
            if kind == "aha":  # warm: a new process on the state the cold run just built; then the CLI likewise
                runs.setdefault("aha_warm", []).append(_run("aha_warm", work, None, opts))
                shutil.copyfile(loaded, cold)
                for key in ("aha_cli", "aha_cli_warm"):
                    runs.setdefault(key, []).append(cli_report(cold, config, work / f"{key}.log"))
    cold.unlink(missing_ok=True)
    warm, cold_runs = runs.get("aha_warm", []), runs.get("aha", [])
    if any(r["built_state"] for r in warm) or not all(r["built_state"] for r in cold_runs):
        sys.exit("a warm run rebuilt the milestone state, or a cold one did not: the cold/warm split is wrong")
    out: dict[str, Any] = {"users": users, "events": _events(loaded)}
    out.update({kind: bench_core.median_run(rounds) for kind, rounds in runs.items()})
    out["references"] = references(sample)
    return out


def _run(kind: str, work: Path, python: Path | None, opts: dict[str, Any]) -> dict[str, Any]:
    result = work / f"{kind}.json"
    argv = [str(python or sys.executable), str(Path(__file__).resolve()), "--child", kind, "--result", str(result)]
    for key, value in opts.items():
        argv += [f"--{key}", str(value)]
    wall, rss, code = bench_core.spawn(argv, work / f"{kind}.log")
    if code != 0:
        sys.exit(f"{kind} failed (exit {code}):\n{(work / f'{kind}.err').read_text()[-3000:]}")
    out = json.loads(result.read_text())
    out.update(process_seconds=wall, rss_mib=rss, process_cpu=bench_core.SPAWNED_CPU[-1])
    return out


def _events(db: Path) -> int:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
    finally:
        con.close()


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| method | answers | events | wall s | CPU s | Python import s | process s | peak RSS MiB "
             "| vs aha cold (wall; CPU) | vs aha warm (wall; CPU) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        cold, warm = res["aha"], res["aha_warm"]
        for kind in METHODS:
            if kind not in res:
                continue
            r = res[kind]
            imp = f"{r['import_seconds']:.2f}" if "import_seconds" in r else "in wall"
            lines.append(f"| {LABELS[kind]} | {WHAT[kind]} | {res['events']:,} | {r['seconds']:.2f} | "
                         f"{r['cpu_seconds']:.2f} | {imp} | {r['process_seconds']:.2f} | "
                         f"{r['rss_mib']:,.0f} | {_ratio(r, cold)} | {_ratio(r, warm)} |")
    return "\n".join(lines)


def _ratio(r: dict[str, Any], aha: dict[str, Any]) -> str:
    return f"{r['seconds'] / aha['seconds']:.2f}×; {r['cpu_seconds'] / aha['cpu_seconds']:.2f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,200000", help="sample users per run, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument("--keep", type=Path, help="write scratch data here and keep it (a sample there is reused)")
    parser.add_argument("--peers-python", type=Path, default=ROOT / ".venv-peers" / "bin" / "python",
                        help="the interpreter that has retentioneering (a separate venv)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    for hidden in ("result", "sample", "db", "config"):
        parser.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.result).write_text(json.dumps(child(args)))
        return

    os.environ["AHA_RESULT_CACHE"] = "off"  # children compute every report (aha.analyses.result_cache keeps none)
    bench_core.check_template()
    os.environ["RETENTIONEERING_NO_TRACK"] = "1"  # the children inherit it: retentioneering sends telemetry otherwise
    peers_python = args.peers_python if args.peers_python.exists() else None
    kinds = []
    for kind in ("aha", "sql", "polars", "pandas", "chdb", "retentioneering"):
        why = available(kind, peers_python)
        if why:
            print(f"skipping {LABELS[kind]}: {why}")
        else:
            kinds.append(kind)
    work = (args.keep or Path(tempfile.mkdtemp(prefix="aha-peers-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    info = bench_core.machine()
    print(f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB, Python {info['python']}, "
          f"load average {' '.join(info['loadavg'])}; aha {info['aha_revision']}", flush=True)
    results = []
    try:
        for users in (int(s) for s in args.sizes.split(",") if s.strip()):
            results.append(measure(users, work, args.repeat, kinds, peers_python))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    info["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print("\n" + table(results))
    ok = True
    for res in results:
        numbers = {k: res[k]["numbers"] for k in METHODS if k in res}
        diffs = disagreements(numbers, res["references"])
        ok = ok and not diffs
        print(f"\n{res['events']:,} events ({res['users']:,} users):")
        print("AGREE: every number computed by aha's rules equals aha's; the event-sequence funnels equal the "
              "reference rule" if not diffs else "DISAGREE:\n  " + "\n  ".join(diffs))
        for line in by_design(numbers, res["references"]):
            print("  " + line)
        print("versions: " + json.dumps({k: res[k]["versions"] for k in METHODS if res.get(k, {}).get("versions")}))
        print("wall seconds of each round: " + "; ".join(f"{LABELS[k]} {res[k]['rounds']}" for k in METHODS
                                                        if k in res))
        for kind in METHODS:
            if res.get(kind, {}).get("stages"):
                print(f"{LABELS[kind]} stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in res[kind]["stages"].items()))
    print(f"\nload average before {' '.join(info['loadavg'])}, after {' '.join(info['loadavg_after'])} "
          f"({info['nproc']} CPUs, shared)")
    if args.keep:
        (work / "peers-results.json").write_text(json.dumps({"machine": info, "results": results}, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
