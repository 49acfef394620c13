"""Discovery's one engine pass vs a naive query per candidate, beside the full report's time (issue 4).

    .venv/bin/python benchmarks/bench_discovery.py                     # 20,000 and 200,000 users (~1M, ~10M events)
    .venv/bin/python benchmarks/bench_discovery.py --sizes 20000 --keep benchmarks/out

Each method runs in its own subprocess on a copy of a loaded sample store. "naive" answers each candidate (event ×
window × threshold) with its own SQL query straight from the events, as a user would without a counts pass; it runs
on a sample of the candidates and its total is extrapolated, and its cells are checked against aha's.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

HERE = Path(__file__).resolve().parents[1]
TEMPLATE = HERE / "src" / "aha" / "definitions" / "template.yaml"
NAIVE_SAMPLE = 30


def child_report(db: str) -> dict[str, Any]:
    import aha

    t = perf_counter()
    aha.open(db, str(TEMPLATE)).report()
    return {"seconds": perf_counter() - t}


def child_discover(db: str) -> dict[str, Any]:
    import aha
    from aha.results import to_jsonable

    project = aha.open(db, str(TEMPLATE))
    project.state()  # the report built it already in this copy: discovery's own cost is what is timed
    t = perf_counter()
    result = project.discover(outcome="retention")
    seconds = perf_counter() - t
    return {"seconds": seconds, "result": to_jsonable(result, "discovery")}


# The landmark population of the window (users active after it, before the bracket, by the template's rule: any
# event but Signed Up and Email Opened), then the candidate's count, both straight from the events.
NAIVE_SQL = """
WITH u AS (
  SELECT s.entity_id, s.t0, r.retained_at IS NOT NULL AS won
  FROM aha_entities s JOIN aha_retention r USING (entity_id)
  WHERE s.entity_type = 'user' AND r.window_end <= $as_of
    AND EXISTS (SELECT 1 FROM events a WHERE a.user_id = s.entity_id AND a.event NOT IN ('Signed Up', 'Email Opened')
                AND a.timestamp >= s.t0 + to_days(CAST($window AS INTEGER)) AND a.timestamp < r.window_start)
), n AS (
  SELECT u.entity_id, u.won, count(e.event) AS n
  FROM u LEFT JOIN events e ON e.user_id = u.entity_id AND e.event = $event
   AND ($key IS NULL OR coalesce(json_extract_string(e.properties, '$."' || $key || '"'), '') = $value)
   AND e.timestamp >= u.t0 AND e.timestamp < u.t0 + to_days(CAST($window AS INTEGER))
  GROUP BY u.entity_id, u.won
)
SELECT count(*) FILTER (WHERE n >= $k AND won), count(*) FILTER (WHERE n >= $k) FROM n
"""


def child_naive(db: str, candidates: str) -> dict[str, Any]:
    import duckdb

    todo = json.loads(Path(candidates).read_text())
    con = duckdb.connect(db)
    as_of = con.execute("SELECT max(timestamp) FROM events").fetchone()[0]
    out = []
    t = perf_counter()
    for c in todo:
        event, _, rest = c["event"].partition(" where ")  # "Event where key = value" property candidates
        key, _, value = rest.partition(" = ")
        a, reached = con.execute(NAIVE_SQL, {"as_of": as_of, "event": event, "window": c["window_days"],
                                             "k": c["threshold"], "key": key or None, "value": value}).fetchone()
        out.append({**c, "naive_a": a, "naive_reached": reached})
    return {"seconds": perf_counter() - t, "checked": out}


CHILDREN = {"report": child_report, "discover": child_discover, "naive": child_naive}


def run_child(kind: str, **opts: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result = Path(f.name)
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--result", str(result)]
    for key, value in opts.items():
        argv += [f"--{key}", value]
    t = perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=HERE)
    if done.returncode:
        sys.exit(f"{kind} failed:\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(result.read_text())
    out["process_seconds"] = perf_counter() - t
    result.unlink()
    return out


def prepare(users: int, work: Path) -> Path:
    from aha.sample import generate, load_into
    from aha.store import open_store

    loaded = work / f"discovery-{users}.duckdb"
    if loaded.exists():
        return loaded
    files = work / f"discovery-sample-{users}"
    if not any(files.glob("events-*.parquet")):
        generate(files, users=users, seed=0)
    store = open_store(loaded)
    load_into(store, files)
    store.close()
    return loaded


def measure(users: int, work: Path) -> list[str]:
    loaded = prepare(users, work)
    copy = work / f"discovery-{users}-run.duckdb"
    shutil.copyfile(loaded, copy)
    report = run_child("report", db=str(copy))
    discover = run_child("discover", db=str(copy))
    candidates = [k for k in discover["result"]["candidates"] if k["supported"]]
    random.Random(0).shuffle(candidates)
    picked = candidates[:NAIVE_SAMPLE]
    todo = work / "naive-candidates.json"
    todo.write_text(json.dumps([{k: c[k] for k in ("event", "window_days", "threshold", "a", "b")} for c in picked]))
    naive = run_child("naive", db=str(copy), candidates=str(todo))
    copy.unlink()
    per_query = naive["seconds"] / max(1, len(picked))
    naive_total = per_query * len(discover["result"]["candidates"])
    wrong = [c for c in naive["checked"] if (c["naive_a"], c["naive_reached"]) != (c["a"], c["a"] + c["b"])]
    ratio = discover["seconds"] / report["seconds"]
    return [
        f"{users:,} users: aha report (cold) {report['seconds']:.2f} s; aha discover {discover['seconds']:.2f} s "
        f"({len(discover['result']['candidates'])} candidates) = {ratio:.2f}× the report (target < 2×)",
        f"  naive per-candidate queries: {per_query:.3f} s each → {naive_total:.1f} s for all candidates "
        f"(measured on {len(picked)}) = {naive_total / discover['seconds']:.0f}× aha's discovery",
        f"  {'AGREE' if not wrong else 'DISAGREE'}: {len(picked) - len(wrong)} of {len(picked)} sampled candidates "
        f"have the same cells by both methods" + (f"; first difference {wrong[0]}" if wrong else ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--result")
    parser.add_argument("--db")
    parser.add_argument("--candidates")
    args = parser.parse_args()
    if args.child:
        opts = {k: v for k, v in (("db", args.db), ("candidates", args.candidates)) if v is not None}
        Path(args.result).write_text(json.dumps(CHILDREN[args.child](**opts)))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="aha-bench-discovery-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for users in (int(s) for s in args.sizes.split(",")):
            for line in measure(users, work):
                print(line, flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
