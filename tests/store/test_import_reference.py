"""The stored events of an `aha import` of the sample's Parquet equal a reference made without aha's importer: DuckDB
reading the same file directly (the columns as they are, the properties text printed compactly by `json()`), row for
row, stored in (event, timestamp) order. Pins what a bulk import stores while its statements are made cheaper
(issue 17.6)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from aha.sample.generator import generate
from aha.store import open_store
from aha.store.importer import import_files

_COLUMNS = "message_id, event, user_id, anonymous_id, account_id, timestamp, CAST(properties AS VARCHAR)"


def test_an_imported_sample_file_stores_the_rows_duckdb_reads_from_it(tmp_path: Path) -> None:
    generate(tmp_path / "sample", users=300, seed=3)
    files = sorted((tmp_path / "sample").glob("events-*.parquet"))
    assert files
    reference = duckdb.connect().execute(
        """SELECT message_id, event, user_id, anonymous_id, account_id, timestamp, json(properties)
            FROM read_parquet($files)""", {"files": [str(f) for f in files]}).fetchall()
    assert len(reference) > 10_000 and len({r[0] for r in reference}) == len(reference)

    store = open_store(tmp_path / "aha.duckdb")
    try:
        summary = import_files(store, files)
        got = store.raw.execute(f"SELECT {_COLUMNS} FROM events").fetchall()  # in stored order
        again = import_files(store, files)
        count = store.raw.execute("SELECT count(*) FROM events").fetchall()
    finally:
        store.close()

    assert (summary.rows_read, summary.imported, summary.rejected) == (len(reference), len(reference), 0)
    assert sorted(got) == sorted(reference)  # every row once, with its properties as DuckDB prints them
    assert [(r[1], r[5]) for r in got] == sorted((r[1], r[5]) for r in got)  # clustered by event, then time
    assert (again.imported, again.duplicates) == (0, len(reference))  # nothing counted twice
    assert count == [(len(reference),)]
