"""A damaged database file is one line naming it and the fix, never a traceback (outside8).

Before: a file whose blocks were overwritten (a disk error, a copy of a file being written) ended every command in
DuckDB's traceback (`_duckdb.Error: Corrupt database file: computed checksum … does not match`); a file cut short (a
copy or download stopped early) said "could not be read or written … Check the disk and the file's permissions …
imports are idempotent: run the same command again", which no rerun fixes; and a `.duckdb` file that is not one was
"a DUCKDB file, not a DuckDB database. To load it, run `aha import x.duckdb`".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving import AHA, aha, free_port

FIX = ("aha cannot repair it: restore the file from a backup, or import your events again into a new file "
       "(`aha import FILE --db new.duckdb`).")


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("damaged")
    with (folder / "events.jsonl").open("w") as f:
        for i in range(200):
            f.write(json.dumps({"user_id": f"u{i}", "event": "Signed Up", "timestamp": "2026-04-01T10:00:00Z"}) + "\n")
            f.write(json.dumps({"user_id": f"u{i}", "event": "Connected", "timestamp": "2026-04-01T12:00:00Z"}) + "\n")
    (folder / "aha.yaml").write_text("signup: {event: Signed Up}\nmilestones:\n"
                                     "  - {id: connected, event: Connected, within: 3d, level: primary}\n")
    done = aha("import", "events.jsonl", "--db", "good.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert aha("report", "--db", "good.duckdb", cwd=folder).returncode == 0
    return folder


def _copy(folder: Path, name: str) -> Path:
    path = folder / name
    shutil.copy(folder / "good.duckdb", path)
    return path


def _scribble(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * 4096)


@pytest.mark.parametrize("offset", [4096, 12288], ids=["database_header", "first_block"])
def test_a_file_with_overwritten_blocks_is_one_line_naming_the_damage(good: Path, offset: int) -> None:
    path = _copy(good, f"scribbled{offset}.duckdb")
    _scribble(path, offset)
    for command in (("report",), ("rules", "run"), ("import", "events.jsonl")):
        done = aha(*command, "--db", path.name, cwd=good)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, (command, done.stderr)
        assert re.match(r"error: the database file is damaged \(Corrupt database file: computed checksum \d+ does not "
                        rf"match stored checksum \d+ in block at location {offset}\): a block's contents are not "
                        r"what DuckDB wrote there\. ", done.stderr), done.stderr
        assert done.stderr.strip().endswith(FIX), done.stderr


def test_a_file_cut_short_says_so_not_check_the_permissions(good: Path) -> None:
    path = _copy(good, "cut.duckdb")
    os.truncate(path, 8192)  # the first of its two database headers is all a stopped copy kept
    done = aha("report", "--db", path.name, cwd=good)
    assert (done.returncode, done.stderr.strip()) == (1, (
        f'error: the database file is damaged (IO Error: Could not read enough bytes from file "{path}": attempted '
        "to read 4096 bytes from location 8192): it is shorter than DuckDB wrote it (a copy or download stopped "
        f"early, or a disk that filled). {FIX}")), done.stderr


def test_a_duckdb_named_file_that_is_not_one_is_not_told_to_import_itself(good: Path) -> None:
    (good / "text.duckdb").write_text("hello, not a database\n")
    done = aha("report", "--db", "text.duckdb", cwd=good)
    assert (done.returncode, done.stderr.strip()) == (2, (
        "error: --db text.duckdb: does not begin as a DuckDB database does (no DUCK in its header): it is damaged, "
        f"or was written by another program. {FIX}")), done.stderr


def test_the_dashboard_on_a_damaged_or_held_file_is_one_line_not_a_startup_traceback(good: Path) -> None:
    """`aha dashboard` opened the file inside the web server's startup, where a StoreError was uvicorn's traceback
    and "Application startup failed"; `aha serve` already opened it first."""
    (good / "text.db").write_text("hello\n")
    done = aha("dashboard", "--db", "text.db", "--port", "9", cwd=good)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: --db text.db: does not begin as a DuckDB database does"), done.stderr
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect('good.duckdb'); "
                               "print('held', flush=True); sys.stdin.read()"], cwd=good, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done = aha("dashboard", "--db", "good.duckdb", "--port", "9", cwd=good)
    finally:
        holder.communicate("")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: good.duckdb: in use by process {holder.pid}."), done.stderr


def test_a_file_held_by_aha_dashboard_names_it_and_the_way_out(good: Path) -> None:
    """The README runs `aha dashboard`, then commands such as `aha rules run`: they were refused with "in use by
    process N. If it is `aha serve`, wait until it answers …", which a dashboard never does (it announces nothing)."""
    port = free_port()
    dashboard = subprocess.Popen([AHA, "dashboard", "--db", "good.duckdb", "--port", str(port)], cwd=good,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert dashboard.stdout is not None and dashboard.stdout.readline().startswith("dashboard: ")
        done = aha("report", "--db", "good.duckdb", cwd=good)
        while done.returncode == 0:  # the line is printed before the server opens the file: ask until it holds it
            done = aha("report", "--db", "good.duckdb", cwd=good)
    finally:
        dashboard.send_signal(signal.SIGINT)
        dashboard.wait(60)
    assert (done.returncode, done.stderr.strip()) == (2, (
        f"error: good.duckdb: in use by process {dashboard.pid} (aha dashboard). Stop it (Ctrl-C where it runs) and "
        "run the command again; `aha serve` serves the same dashboard and answers aha commands while it runs.")), \
        done.stderr
