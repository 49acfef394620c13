"""The import benchmark at a tiny size, so that it cannot rot (benchmarks/bench_import.py is a script; its timings
are never asserted here): a 300-user sample's Parquet, imported, then imported again as duplicates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from aha.sample.generator import generate

ROOT = Path(__file__).resolve().parents[2]


def test_bench_import_counts_every_row_twice(tmp_path: Path) -> None:
    generate(tmp_path / "sample", users=300)
    files = sorted((tmp_path / "sample").glob("events-*.parquet"))
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_import.py"), str(tmp_path / "sample" / "events-*.parquet"),
         "--again", "--json", "--db", str(tmp_path / "bench.duckdb")],
        capture_output=True, text=True, check=True).stdout
    first, again = (json.loads(line) for line in out.splitlines())
    assert (first["rows"], first["imported"], first["duplicates"], first["rejected"]) == (rows, rows, 0, 0)
    assert (again["rows"], again["imported"], again["duplicates"], again["rejected"]) == (rows, 0, rows, 0)
    assert first["cpu_s"] > 0 and first["wall_s"] > 0
