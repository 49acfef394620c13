"""The floor under `aha import` on this machine: DuckDB alone (no aha) copying Parquet event files into a table of the
events table's columns, with and without the `(event, timestamp)` sort, the JSON properties column as stored
(issue 17.6).

    .venv/bin/python benchmarks/bench_import_floor.py 'DIR/events-*.parquet' [--ways plain,sorted,json,json-sorted]

Each way writes a new DuckDB file in a temporary directory (one transaction, as an import's file) and prints rows,
wall seconds, CPU seconds (user + system of this process: every DuckDB thread counted) and rows per wall second:
- plain: `INSERT … SELECT` the columns, the properties text cast to JSON (DuckDB checks that it parses);
- sorted: the same with `ORDER BY event, timestamp` (what aha stores, per file);
- json / json-sorted: the properties printed by `json()` (parsed and printed compactly, as the import stores them).
No validation, dead letters or dedupe: what no importer of these files into this layout can go below.
"""

from __future__ import annotations

import argparse
import glob
import resource
import tempfile
from pathlib import Path
from time import perf_counter

import duckdb

_DDL = """CREATE TABLE events (message_id VARCHAR NOT NULL, event VARCHAR NOT NULL, user_id VARCHAR,
    anonymous_id VARCHAR, account_id VARCHAR, timestamp TIMESTAMP NOT NULL, received_at TIMESTAMP NOT NULL,
    properties JSON, source VARCHAR)"""

_WAYS = {
    "plain": ("CAST(properties AS JSON)", ""),
    "sorted": ("CAST(properties AS JSON)", "ORDER BY event, timestamp"),
    "json": ("json(properties)", ""),
    "json-sorted": ("json(properties)", "ORDER BY event, timestamp"),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def copy(db: Path, files: list[str], way: str, per_file: bool) -> tuple[int, float, float]:
    props, order = _WAYS[way]
    con = duckdb.connect(str(db))
    con.execute(_DDL)
    wall, cpu = perf_counter(), _cpu()
    for group in ([[f] for f in files] if per_file else [files]):
        con.execute("BEGIN")
        con.execute(
            f"""INSERT INTO events SELECT message_id, event, user_id, anonymous_id, account_id, timestamp,
                    received_at, {props}, source FROM read_parquet($files) {order}""",
            {"files": group},
        )
        con.execute("COMMIT")
    con.execute("CHECKPOINT")
    wall, cpu = perf_counter() - wall, _cpu() - cpu
    rows = con.execute("SELECT count(*) FROM events").fetchone()
    con.close()
    return int(rows[0]) if rows else 0, wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", help="Parquet files, a quoted glob")
    parser.add_argument("--ways", default="plain,sorted,json,json-sorted")
    parser.add_argument("--all-at-once", action="store_true", help="one INSERT over every file (default: per file)")
    args = parser.parse_args()
    files = sorted(glob.glob(args.files)) or [args.files]
    with tempfile.TemporaryDirectory(prefix="aha-import-floor-") as tmp:
        for way in args.ways.split(","):
            db = Path(tmp) / f"{way}.duckdb"
            rows, wall, cpu = copy(db, files, way, not args.all_at_once)
            print(f"{way:12s} {rows:>12,} rows {wall:7.2f} s wall {cpu:7.2f} s CPU "
                  f"{rows / wall:>12,.0f} rows/s wall {rows / cpu:>12,.0f} rows per CPU s", flush=True)
            db.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
