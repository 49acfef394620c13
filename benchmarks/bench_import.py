"""Bulk import speed: `aha import` of Parquet event files into a fresh store, then the same files again (issue 17.6).

    .venv/bin/python benchmarks/bench_import.py 'DIR/events-*.parquet' [--db PATH] [--again] [--json]

Files come from `aha sample --users N --out DIR` (20,000 users ≈ 1M events, 200,000 ≈ 10M). The first pass imports
every file into a new store (validation, dead letters, dedupe against what is stored: the full path a user's import
takes); `--again` then imports the same files a second time, where every row is a duplicate. Each pass prints rows,
wall seconds, CPU seconds (user + system of this process: every DuckDB thread is counted) and rows per wall second;
on a 2-core machine shared with other work the CPU figure is the one that travels.
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_import(store: Any, files: list[str]) -> dict[str, Any]:
    from aha.store.importer import import_files

    wall, cpu = perf_counter(), _cpu()
    summary = import_files(store, files)
    wall, cpu = perf_counter() - wall, _cpu() - cpu
    return {"files": len(files), "rows": summary.rows_read, "imported": summary.imported,
            "duplicates": summary.duplicates, "rejected": summary.rejected, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "rows_per_s": round(summary.rows_read / wall) if wall else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", help="Parquet files, a quoted glob")
    parser.add_argument("--db", help="store to create (default: a temporary file, deleted after)")
    parser.add_argument("--again", action="store_true", help="then import the same files again (all duplicates)")
    parser.add_argument("--json", action="store_true", help="one JSON object per pass")
    args = parser.parse_args(argv)
    files = sorted(glob.glob(args.files)) or [args.files]

    from aha.store import open_store

    with tempfile.TemporaryDirectory(prefix="aha-bench-import-") as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "import.duckdb"
        if db.exists():
            sys.exit(f"{db}: exists; the benchmark imports into a new store. Remove it or pass another --db.")
        store = open_store(db)
        try:
            passes = [("first", timed_import(store, files))]
            if args.again:
                passes.append(("again", timed_import(store, files)))
        finally:
            store.close()
    for name, result in passes:
        if args.json:
            print(json.dumps({"pass": name, **result}))
        else:
            print(f"{name:6s} {result['rows']:>12,} rows ({result['imported']:,} imported, "
                  f"{result['duplicates']:,} duplicates, {result['rejected']:,} rejected) in {result['wall_s']} s "
                  f"wall, {result['cpu_s']} s CPU: {result['rows_per_s']:,} rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
