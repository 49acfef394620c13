"""Pipeline metadata is not event data: aha's own events (the sample's Parquet) re-imported keep their properties as
they were, and the delivery times and loader ids of the usual exports never become properties or segments."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from aha.sample import generate
from aha.store import open_store
from aha.store.importer import import_files

AHA = shutil.which("aha", path=str(Path(sys.executable).parent))


def property_keys(db: Path) -> set[str]:
    store = open_store(db)
    try:
        rows = store.raw.execute("SELECT DISTINCT unnest(json_keys(properties)) FROM events").fetchall()
    finally:
        store.close()
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, users=300, seed=1, start=date(2026, 1, 1), days=30)
    return out


def test_the_samples_parquet_reimported(sample_dir, tmp_path):
    """received_at and source are aha's bookkeeping columns: they were properties of every event (received_at one
    value per event); now they are left out and named, and the signup's own `source` property (the acquisition
    channel, inside `properties`) is kept as it was. Through the console script."""
    assert AHA
    done = subprocess.run([AHA, "import", str(sample_dir / "events-00000.parquet"), "--db", str(tmp_path / "a.duckdb")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "not kept as properties (pipeline metadata, see docs/import.md): received_at, source" in done.stdout
    keys = property_keys(tmp_path / "a.duckdb")
    assert "received_at" not in keys
    store = open_store(tmp_path / "a.duckdb")
    try:
        pairs = store.raw.execute(
            f"""SELECT e.event, e.properties, p.properties FROM events e
                JOIN read_parquet('{sample_dir / "events-00000.parquet"}') p USING (message_id)""").fetchall()
        stored = store.raw.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        store.close()
    assert len(pairs) == stored > 0
    assert all(json.loads(mine) == json.loads(generated) for _, mine, generated in pairs)  # exactly as generated
    channels = {json.loads(mine).get("source") for event, mine, _ in pairs if event == "Signed Up"}
    assert channels <= {"organic", "google_ads", "referral", "linkedin", "partner"} and len(channels) > 1
    assert all("source" not in json.loads(mine) for event, mine, _ in pairs if event != "Signed Up")


EXPORT_CSV = """event,user_id,timestamp,received_at,sent_at,_dlt_load_id,source,plan
Signed Up,u1,2026-01-01T09:00:00Z,2026-01-01T09:00:02Z,2026-01-01T09:00:01Z,17001,newsletter,pro
Used,u1,2026-01-01T10:00:00Z,2026-01-01T10:00:03Z,2026-01-01T10:00:01Z,17001,,
Used,u1,2026-01-01T10:00:00Z,2026-01-01T10:05:00Z,2026-01-01T10:04:59Z,17002,,
"""  # the third row is the second a retry of the second: only its delivery times differ


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_exports_metadata_columns(tmp_path, fmt):
    """received_at, sent_at (Segment) and _dlt_load_id (dlt) are left out; `source` outside aha's layout is data;
    the retried delivery counts once."""
    path = tmp_path / f"export.{fmt}"
    if fmt == "csv":
        path.write_text(EXPORT_CSV)
    else:
        header, *lines = EXPORT_CSV.splitlines()
        rows = [dict(zip(header.split(","), line.split(","), strict=True)) for line in lines]
        path.write_text("\n".join(json.dumps({k: v for k, v in r.items() if v}) for r in rows) + "\n")
    store = open_store(tmp_path / "aha.duckdb")
    try:
        summary = import_files(store, [path])
        props = [json.loads(r[0]) for r in
                 store.raw.execute("SELECT properties FROM events ORDER BY timestamp").fetchall()]
    finally:
        store.close()
    expected = ("received_at", "sent_at", "_dlt_load_id") if fmt == "csv" else ("_dlt_load_id", "received_at",
                                                                                "sent_at")  # JSON: sorted
    assert summary.files[0].left_out == expected
    assert (summary.imported, summary.duplicates) == (2, 1)
    assert props[0] == {"source": "newsletter", "plan": "pro"}
    assert all(not ({"received_at", "sent_at", "_dlt_load_id"} & set(p)) for p in props)


def test_a_mapped_metadata_column_is_used(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(EXPORT_CSV)
    store = open_store(tmp_path / "aha.duckdb")
    try:
        summary = import_files(store, [path], mapping={"timestamp": "received_at"})
        first = store.raw.execute("SELECT min(timestamp) FROM events").fetchone()[0]
        keys = {r[0] for r in store.raw.execute("SELECT DISTINCT unnest(json_keys(properties)) FROM events").fetchall()}
    finally:
        store.close()
    assert str(first) == "2026-01-01 09:00:02"
    assert summary.files[0].left_out == ("sent_at", "_dlt_load_id")
    assert "timestamp" in keys  # the unmapped `timestamp` column is now a plain property


def test_aha_events_as_json_lines(sample_dir, tmp_path):
    """The same events written as JSON lines (`COPY events TO 'x.jsonl'`): the same two columns are left out."""
    import duckdb

    path = tmp_path / "events.jsonl"
    duckdb.connect().execute(f"""COPY (SELECT * REPLACE (CAST(properties AS JSON) AS properties)
                                       FROM read_parquet('{sample_dir / "events-00000.parquet"}') LIMIT 500)
                                 TO '{path}' (FORMAT json)""")
    store = open_store(tmp_path / "aha.duckdb")
    try:
        summary = import_files(store, [path])
        keys = {r[0] for r in store.raw.execute("SELECT DISTINCT unnest(json_keys(properties)) FROM events "
                                                "WHERE event <> 'Signed Up'").fetchall()}
    finally:
        store.close()
    assert summary.files[0].left_out == ("received_at", "source")
    assert summary.imported == 500 and not ({"received_at", "source"} & keys)
