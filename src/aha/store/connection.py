"""Connecting to a DuckDB file as aha does: the path checked first (one line naming --db and the fix), another
process's lock waited for a moment, the connection configured as Ibis's DuckDB backend configures one (so raw SQL
sees the same settings whether or not the backend is ever made), and DuckDB's memory capped. Split from
database.py, which re-exports `StoreError`, `connect` and `limit_memory`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import duckdb

from aha import progress
from aha.errors import UserError

MEMORY_LIMIT = "AHA_MEMORY_LIMIT"  # environment: DuckDB's memory limit for aha ("8GB", "40%"); past it, DuckDB spills
DEFAULT_MEMORY_LIMIT = "50%"  # of the machine's memory: DuckDB's own default (80%) leaves little for anything else


class StoreError(UserError):
    """A user-facing problem with the store (missing file, newer schema), with the fix in the message."""



def connect(database: str | Path = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection as Ibis 12's `ibis.duckdb.connect(database, read_only=…)` opens one (`do_connect`: a
    file path made absolute, no config, no extensions), then `configure`d as it is."""
    if not str(database).startswith(("md:", "motherduck:", ":memory:")):
        database = Path(database).absolute()
    con = duckdb.connect(str(database), config={}, read_only=read_only)
    configure(con)
    return con


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """The settings Ibis 12's DuckDB backend gives every connection it is made on (`_post_connect`): timestamps
    without a zone read and written as UTC; no Python variable read as a table (replacement scans). Applied here
    so that raw SQL sees the same settings whether or not the backend was ever made."""
    con.execute("SET timezone = 'UTC'")
    con.execute("SET python_enable_replacements = 'False'")
    progress.track(con)  # while a progress display is on (the command line's): DuckDB's share of each statement


def limit_memory(con: duckdb.DuckDBPyConnection) -> None:
    """Cap DuckDB's memory at AHA_MEMORY_LIMIT (default half the machine's). Beyond it, joins, aggregates and sorts
    spill to `<db>.tmp` beside the file (DuckDB's temp directory for a database file) instead of failing."""
    limit = os.environ.get(MEMORY_LIMIT, "").strip() or DEFAULT_MEMORY_LIMIT
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|%)", limit, flags=re.IGNORECASE):
        raise StoreError(f"{MEMORY_LIMIT}={limit!r}: not a memory size. Give a size with its unit or a share of the "
                         f"machine's memory, e.g. {MEMORY_LIMIT}=8GB or {MEMORY_LIMIT}=40%.")
    con.execute(f"SET memory_limit = '{limit}'")


LOCK_WAIT_SECONDS = 3.0
HEADERS_BYTES = 3 * 4096  # a DuckDB file's main header and its two database headers: less is a creation cut short
DUCKDB_MAGIC = b"DUCK"  # bytes 8-12 of every DuckDB database file (after the header's checksum)
DAMAGED_FIX = ("aha cannot repair it: restore the file from a backup, or import your events again into a new file "
               "(`aha import FILE --db new.duckdb`).")
DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")  # a file so named without DUCKDB_MAGIC is damaged, not events to import


def check_path(path: Path) -> None:
    """Refuse, in one line naming --db and the fix, what is not a DuckDB database or a place to create one.

    DuckDB itself opens a CSV or Parquet file given as a database as a read-only view of it (an import then
    "succeeds" and stores nothing), and answers a directory, a device or a missing folder with a raw IOException.
    """
    example = "aha.duckdb"
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/", str(path)):  # a URL (a Path folds its "//" into "/")
        raise StoreError(f"--db {path}: looks like a URL; aha stores events in a DuckDB file (it reads Parquet and "
                         f"Spark in place: docs/engine.md). Give a file path, e.g. --db {example}.")
    if path.is_dir():
        raise StoreError(f"--db {path}: is a directory, not a DuckDB database. Give a file in it, e.g. "
                         f"--db {path / example}.")
    if not path.exists():
        parent = path.parent
        if not parent.is_dir():
            raise StoreError(f"--db {path}: the directory {parent} does not exist. Create it first "
                             f"(mkdir -p {parent}), or give a path in an existing directory.")
        return
    if not path.is_file():
        raise StoreError(f"--db {path}: is not a regular file (a device or pipe), so it cannot hold a database. "
                         f"Give a DuckDB file path, e.g. --db {example}.")
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise StoreError(f"--db {path}: cannot be read ({exc.strerror}). Check its permissions.") from None
    if head[8:12] != DUCKDB_MAGIC and head and path.suffix.lower() in DUCKDB_SUFFIXES:
        raise StoreError(f"--db {path}: does not begin as a DuckDB database does (no DUCK in its header): it is "
                         f"damaged, or was written by another program. {DAMAGED_FIX}")
    if head[8:12] != DUCKDB_MAGIC:
        kind = ("an empty file" if not head else f"a {path.suffix[1:].upper()} file" if path.suffix
                else "some other kind of file")
        raise StoreError(f"--db {path}: is {kind}, not a DuckDB database. To load it, run "
                         f"`aha import {path} --db {example}`; --db names the database to store into.")


def _connect(path: Path, read_only: bool) -> Any:
    """Connect, waiting a moment for another process's lock (a server shutting down); then one clear line."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    new = not path.exists()
    while True:
        try:
            return connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                if new:  # a full disk leaves a file without its headers, which the next run calls "not a database"
                    for made in (path, Path(f"{path}.wal")):
                        if made.is_file() and made.stat().st_size < HEADERS_BYTES:
                            made.unlink()
                raise
            if time.monotonic() >= deadline:
                match = re.search(r"\(PID (\d+)\)", str(exc))
                raise StoreError(_in_use(path, match.group(1) if match else None)) from None
            time.sleep(0.2)


def _in_use(path: Path, pid: str | None) -> str:
    """Who holds the file and the way out. An `aha dashboard` answers no other command (only `aha serve` announces
    itself in <db>.server.json), so "wait until it answers" would wait for ever: its holder is named from the
    process's command line where the system shows it (/proc), and the message says what to do about that one."""
    holder = f"process {pid}" if pid else "another process"
    command = _aha_command(pid) if pid else None
    if command == "dashboard":
        return (f"{path}: in use by {holder} (aha dashboard). Stop it (Ctrl-C where it runs) and run the command "
                "again; `aha serve` serves the same dashboard and answers aha commands while it runs.")
    if command is not None and command != "serve":
        return f"{path}: in use by {holder} (aha {command}). Wait for it to finish, then run the command again."
    return (f"{path}: in use by {holder}. If it is `aha serve`, wait until it answers (its {path}.server.json lets "
            "aha commands ask it), or stop it and run the command again.")


def _aha_command(pid: str) -> str | None:
    """The aha command process `pid` runs (`dashboard` for `aha dashboard --db …`), or None: not aha, or not shown."""
    try:
        argv = Path(f"/proc/{int(pid)}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except (OSError, ValueError):
        return None
    for i, arg in enumerate(argv[:3]):  # the script itself, or python then the script, or python -m the module
        if Path(arg).name == "aha" or arg == "aha.surfaces.cli.main":
            return next((a for a in argv[i + 1:] if a and not a.startswith("-")), None)
    return None
