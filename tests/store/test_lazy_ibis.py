"""The store makes its Ibis backend on first use (aha.store.backend): `aha import` imports neither Ibis nor SQLGlot,
and the connection is configured as `ibis.duckdb.connect` configured it, so raw SQL reads and writes the same."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import ibis

from aha.store import open_store
from aha.store.database import limit_memory
from aha.store.importer import import_files
from tests.store.test_import_cli import AHA

EVENTS = ("user_id,event,timestamp,plan\n"
          "u1,signup,2026-01-01T10:00:00+02:00,pro\n"
          "u1,invite,2026-01-02 09:30:00,pro\n"
          "u2,signup,2026-01-03T23:59:59Z,free\n")
COLUMNS = "message_id, event, user_id, anonymous_id, account_id, timestamp, properties, source"  # not received_at


def stored(path: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT {COLUMNS} FROM events ORDER BY timestamp").fetchall()
    finally:
        con.close()


def test_aha_import_imports_no_ibis_and_stores_the_same_rows(tmp_path: Path) -> None:
    """The console script under `-X importtime`: no module of Ibis or SQLGlot is imported; the rows it stores are
    the hand-counted ones, and the same as an import through a store whose Ibis backend was made first."""
    assert AHA, "the aha console script is not installed in this environment"
    (tmp_path / "events.csv").write_text(EVENTS)
    done = subprocess.run([sys.executable, "-X", "importtime", AHA, "import", "events.csv", "--db", "cli.duckdb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "1 file: 3 rows read, 3 imported, 0 duplicates skipped, 0 rejected"
    imported = [line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "aha.store.importer" in imported  # the probe sees the import's own modules
    assert [m for m in imported if re.match(r"(ibis|sqlglot)(\.|$)", m)] == []

    rows = stored(tmp_path / "cli.duckdb")
    assert [(r[1], r[2], r[5]) for r in rows] == [  # timestamps in UTC: +02:00 shifted, none given read as UTC
        ("signup", "u1", datetime(2026, 1, 1, 8, 0)),
        ("invite", "u1", datetime(2026, 1, 2, 9, 30)),
        ("signup", "u2", datetime(2026, 1, 3, 23, 59, 59)),
    ]
    store = open_store(tmp_path / "ibis.duckdb")
    try:
        assert store.ibis.name == "duckdb"  # made before the import: its settings in force
        import_files(store, [tmp_path / "events.csv"])
    finally:
        store.close()
    assert stored(tmp_path / "ibis.duckdb") == rows


def settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT name, value FROM duckdb_settings() ORDER BY name").fetchall())


def test_the_connection_is_configured_as_ibis_configures_it(tmp_path: Path) -> None:
    """Every DuckDB setting of a store's connection, before its Ibis backend exists and after, equals those of
    `ibis.duckdb.connect` on the same file with the store's own two settings; its backend reads the file."""
    path = tmp_path / "aha.duckdb"
    store = open_store(path)
    try:
        assert store._ibis is None  # nothing made yet
        before = settings(store.raw)
        assert before["python_enable_replacements"] == "false" and before["TimeZone"] == "UTC"
        assert store.execute(store.table("events").count()) == 0
        assert settings(store.raw) == before
        cursor = store.cursor()
        assert settings(cursor.raw) == before and cursor.execute(cursor.table("events").count()) == 0
        cursor.close()
    finally:
        store.close()
    backend = ibis.duckdb.connect(str(path))
    try:
        backend.con.execute("SET enable_progress_bar = false")
        limit_memory(backend.con)
        assert settings(backend.con) == before
    finally:
        backend.disconnect()
