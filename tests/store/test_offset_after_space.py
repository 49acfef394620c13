"""Times with their offset after a space (Ruby's and Rails' `Time#to_s`: `2024-01-01 12:00:00 +0200`; SQL
Server's datetimeoffset), through the real console script. The refusal gave no format to add; and the documented
`--timestamp-format` with `%z` stopped on a traceback (DuckDB: "excess parameters: tz", the statement reads no
time zone when the text carries its offset)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from aha.store import open_store

AHA = shutil.which("aha", path=str(Path(sys.executable).parent)) or shutil.which("aha")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert AHA, "the aha console script is not installed in this environment"
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_suggested_format_imports_each_time_at_its_offset(tmp_path: Path) -> None:
    """By hand, in UTC: u1 10:00 (+0000), u2 10:00 (12:00 at +0200), u3 11:30 (10:00 at -0130)."""
    (tmp_path / "rails.csv").write_text("user_id,event,timestamp\nu1,a,2024-01-01 10:00:00 +0000\n"
                                        "u2,a,2024-01-01 12:00:00 +0200\nu3,a,2024-01-01 10:00:00 -0130\n")
    refused = run("import", "rails.csv", "--db", "aha.duckdb", cwd=tmp_path)
    assert refused.returncode == 2
    assert ("The times read like '2024-01-01 10:00:00 +0000': add --timestamp-format '%Y-%m-%d %H:%M:%S %z'. "
            in refused.stderr), refused.stderr
    done = run("import", "rails.csv", "--db", "aha.duckdb", "--timestamp-format", "%Y-%m-%d %H:%M:%S %z",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "3 imported" in done.stdout
    store = open_store(tmp_path / "aha.duckdb", read_only=True)
    try:
        got = store.raw.execute("SELECT user_id, timestamp FROM events ORDER BY user_id").fetchall()
    finally:
        store.close()
    assert got == [("u1", datetime(2024, 1, 1, 10)), ("u2", datetime(2024, 1, 1, 10)),
                   ("u3", datetime(2024, 1, 1, 11, 30))]
