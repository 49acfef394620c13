"""A full disk, a file that cannot grow, DuckDB out of memory: one red line naming the failure and the fix (exit 1),
never a traceback; nothing half-written is counted, and the same import run again once there is room stores every
row exactly once. The file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes a real write fail in DuckDB as a
full disk does, without mounting a small file system."""

from __future__ import annotations

import errno
import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from aha.surfaces.cli.failures import explained

ROWS = 120_000


def _aha(*args: str, cwd: Path, file_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))  # type: ignore[arg-type]

    return subprocess.run([sys.executable, "-m", "aha.surfaces.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, preexec_fn=limited if file_bytes else None)


def test_an_import_stopped_by_the_file_size_limit_says_so_in_one_line_and_a_rerun_stores_each_row_once(
        tmp_path: Path) -> None:
    with (tmp_path / "events.jsonl").open("w") as f:
        for i in range(ROWS):
            f.write(json.dumps({"user_id": f"u{i}", "event": f"E{i % 7}", "timestamp": "2026-01-02T03:04:05Z",
                                "properties": {"note": "x" * 40 + str(i)}}) + "\n")
    stopped = _aha("import", "events.jsonl", "--db", "aha.duckdb", cwd=tmp_path, file_bytes=2_000_000)
    assert stopped.returncode == 1, stopped.stderr
    assert "Traceback" not in stopped.stderr and stopped.stderr.count("\n") == 1, stopped.stderr
    assert stopped.stderr.startswith("error: the store cannot grow") and "run the same command again" in stopped.stderr
    again = _aha("import", "events.jsonl", "--db", "aha.duckdb", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    con = duckdb.connect(str(tmp_path / "aha.duckdb"), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT user_id) FROM events").fetchone() == (ROWS, ROWS)
    con.close()


def test_a_database_that_could_not_be_created_leaves_no_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text('{"user_id": "u", "event": "E", "timestamp": "2026-01-01T00:00:00Z"}\n')
    stopped = _aha("import", "e.jsonl", "--db", "aha.duckdb", cwd=tmp_path, file_bytes=1)
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    assert not (tmp_path / "aha.duckdb").exists()  # else the next run says "an empty file, not a DuckDB database"
    assert _aha("import", "e.jsonl", "--db", "aha.duckdb", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(("exc", "start"), [
    (duckdb.IOException('IO Error: Could not write file "/d/aha.duckdb": No space left on device'),
     "the disk is full (IO Error: Could not write file \"/d/aha.duckdb\": No space left on device). Free space"),
    (duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256 KiB"),
     "DuckDB ran out of memory (Out of Memory Error: could not allocate block of size 256 KiB). Give it more with "
     "AHA_MEMORY_LIMIT"),
    (OSError(errno.ENOSPC, "No space left on device", "report.html"),
     "the disk is full: cannot write report.html."),
    (PermissionError(errno.EACCES, "Permission denied", "/etc/report.html"),
     "cannot write /etc/report.html: Permission denied."),
])
def test_each_machine_failure_has_its_line(exc: BaseException, start: str) -> None:
    line = explained(exc)
    assert line is not None and line.startswith(start), line


@pytest.mark.parametrize("exc", [ValueError("x"), duckdb.BinderException("Binder Error: column x"),
                                 KeyError("k"), OSError(errno.ENOENT, "No such file")])
def test_defects_keep_their_traceback(exc: BaseException) -> None:
    assert explained(exc) is None
