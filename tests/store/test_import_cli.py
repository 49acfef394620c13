"""`aha import` through the real console script: one red line and exit 2 for a mistake, a summary for a good file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

AHA = shutil.which("aha", path=str(Path(sys.executable).parent)) or shutil.which("aha")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert AHA, "the aha console script is not installed in this environment"
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_missing_column_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("distinct_id,event_name,ts\nu1,a,2026-01-01\n")
    done = run("import", "events.csv", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "error: events.csv: no columns 'user_id', 'event', 'timestamp' (columns: distinct_id, event_name, ts). "
        "Map them with --map user_id=distinct_id,event=event_name,timestamp=ts"
    )
    assert "Traceback" not in done.stderr


def test_good_file_prints_summary_and_reimport_counts_duplicates(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(
        "distinct_id,event_name,ts\nu1,signup,2026-01-01 10:00\nu2,signup,later\n"  # unparseable timestamp -> rejected
    )
    args = (
        "import",
        "events.csv",
        "--db",
        "aha.duckdb",
        "--map",
        "user_id=distinct_id,event=event_name",
        "--map",
        "timestamp=ts",
    )
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "1 file: 2 rows read, 1 imported, 0 duplicates skipped, 1 rejected"
    assert lines[1] == "  1 × unparseable timestamp"
    again = run(*args, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["rows_read"], summary["imported"], summary["duplicates"], summary["rejected"]) == (2, 0, 1, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--map", "user_id"), "error: --map 'user_id': write CANONICAL=COLUMN, e.g. --map user_id=distinct_id."),
        (("--timezone", "Mars/Base"), "error: unknown time zone 'Mars/Base'."),
    ],
)
def test_option_mistakes_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "e.csv").write_text("event,user_id,timestamp\na,u1,2026-01-01\n")
    done = run("import", "e.csv", "--db", "aha.duckdb", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1
