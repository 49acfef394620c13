"""`--db` must name a DuckDB database, or a new file in an existing folder (issue 12 item 8).

Before: `aha import x.csv --db existing.csv` said "1 imported", exit 0, and stored nothing (DuckDB opened the CSV as a
read-only source); a directory, /dev/null or a path in a missing folder gave DuckDB's traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serving import aha

CSV = "event,user_id,timestamp\nSigned Up,u1,2026-01-01T00:00:00Z\n"


@pytest.mark.parametrize(("db", "message"), [
    pytest.param("existing.csv", "--db existing.csv: is a CSV file, not a DuckDB database. To load it, run "
                 "`aha import existing.csv --db aha.duckdb`; --db names the database to store into.", id="csv"),
    pytest.param("folder", "--db folder: is a directory, not a DuckDB database. Give a file in it, e.g. "
                 "--db folder/aha.duckdb.", id="directory"),
    pytest.param("/dev/null", "--db /dev/null: is not a regular file (a device or pipe), so it cannot hold a "
                 "database. Give a DuckDB file path, e.g. --db aha.duckdb.", id="device"),
    pytest.param("missing/aha.duckdb", "--db missing/aha.duckdb: the directory missing does not exist. Create it "
                 "first (mkdir -p missing), or give a path in an existing directory.", id="missing_folder"),
    pytest.param("postgres://localhost/aha", "--db postgres:/localhost/aha: postgres: is not a backend aha opens. "
                 "Give a DuckDB file (aha.duckdb), parquet:///path/to/events/, spark:local[2]?parquet=/path/to/events/ "
                 "or spark://HOST:PORT?table=NAME (docs/engine.md says what was tried for other engines).", id="url"),
    pytest.param("parquet:///data/events/", "aha {command} --db parquet:/data/events: aha reads a parquet location "
                 "in place and never writes events into it. Give a DuckDB file, e.g. --db aha.duckdb.", id="lake"),
    # DuckDB's own names: an import into `:memory:` said "1 imported" and kept nothing; `md:` made DuckDB download
    # its MotherDuck extension and connect to that cloud service
    pytest.param(":memory:", "--db :memory:: an in-memory database keeps nothing once the command ends. Give a "
                 "DuckDB file, e.g. --db aha.duckdb.", id="memory"),
    pytest.param("duckdb::memory:x", "--db duckdb::memory:x: an in-memory database keeps nothing once the command "
                 "ends. Give a DuckDB file, e.g. --db aha.duckdb.", id="memory_url"),
    pytest.param("md:shared", "--db md:shared: DuckDB reads md: as its MotherDuck cloud service, which aha does not "
                 "open. Give a DuckDB file, e.g. --db aha.duckdb (for a file so named, its full path: --db "
                 "{cwd}/md:shared).", id="motherduck"),
    pytest.param("empty.duckdb", "--db empty.duckdb: is an empty file, not a DuckDB database. To load it, run "
                 "`aha import empty.duckdb --db aha.duckdb`; --db names the database to store into.", id="empty"),
])
def test_db_that_is_not_a_database_is_refused_in_one_line(tmp_path: Path, db: str, message: str) -> None:
    (tmp_path / "events.csv").write_text(CSV)
    (tmp_path / "existing.csv").write_text(CSV * 3)
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.duckdb").write_bytes(b"")
    before = (tmp_path / "existing.csv").read_text()
    # keys create opens read-write, like import and serve; a missing file is "no such database" to readers
    for command in (("import", "events.csv"), ("keys", "create", "--name", "web"), ("serve", "--port", "9")):
        done = aha(*command, "--db", db, cwd=tmp_path)
        expected = message.format(command=" ".join(command[:2] if command[0] == "keys" else command[:1]),
                                  cwd=tmp_path)
        assert (done.returncode, done.stderr.strip()) == (2, f"error: {expected}"), command
    assert (tmp_path / "existing.csv").read_text() == before
    assert not (tmp_path / "missing").exists()


def test_a_file_named_like_duckdbs_own_names_is_reached_by_its_full_path(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(CSV)
    done = aha("import", "events.csv", "--db", str(tmp_path / "md:shared"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "md:shared").read_bytes()[8:12] == b"DUCK"


def test_a_new_file_in_an_existing_folder_is_created(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(CSV)
    done = aha("import", "events.csv", "--db", "new.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new.duckdb").read_bytes()[8:12] == b"DUCK"
