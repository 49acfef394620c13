"""Where an ingested event's CPU goes when worker processes accept HTTP (`aha serve --workers N`), in process.

A worker decodes, validates and encodes each 100-call batch (bench_ingest.py's bodies); the store's process turns
those spool lines into columns in its writer (`records.lines_tables`) and stores them in one DuckDB transaction of
`--per-transaction` calls (what the writer gathers in 0.25 s at that rate: 12,500 at 50,000 events/s). Prints the
median CPU µs per call of each part (process CPU: DuckDB's threads are counted) over `--rounds` transactions after
two warm-up rounds.

    .venv/bin/python benchmarks/bench_ingest_parts.py [--per-transaction 12500] [--rounds 6]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_ingest import body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-transaction", type=int, default=12_500)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    from aha.ingest import bodies
    from aha.ingest.records import encode, lines_tables
    from aha.ingest.service import now_utc
    from aha.store.calls import write_calls
    from aha.store.database import Store

    per = args.per_transaction
    parts: dict[str, list[float]] = {"worker: decode, validate, encode": [], "owner: the lines to columns": [],
                                     "owner: one DuckDB transaction": []}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "aha.duckdb")
        gc.freeze()
        sent = 0
        for round_ in range(args.rounds + 2):
            began = time.process_time()
            lines = []
            for _ in range(per // 100):
                raw = body(f"r{round_}-", sent, 100)
                sent += 100
                decoded = bodies.decode_body(raw, None, bodies.MAX_BATCH_BYTES)
                outcome = bodies.batch(decoded.doc, "web", now_utc(), len(raw), decoded.escaped, decoded.nesting)
                lines.append(b"".join(encode(r) for r in outcome.records))
            validated = time.process_time()
            calls, dead = lines_tables(b"".join(lines))
            decoded_at = time.process_time()
            write_calls(store, calls, dead, (1, sent), now_utc())
            stored = time.process_time()
            if round_ >= 2:
                for name, seconds in zip(parts, (validated - began, decoded_at - validated, stored - decoded_at),
                                         strict=True):
                    parts[name].append(seconds / per * 1e6)
        store.close()
    print(json.dumps({"per_transaction": per, **{k: round(statistics.median(v), 2) for k, v in parts.items()}}))


if __name__ == "__main__":
    main()
