"""Compiled statements kept per user, outside any one file (issues 14, 17.4): a cold report in a new file runs the
statements an earlier file compiled for the same definitions instead of building and compiling every expression.

Where: `$AHA_STATEMENT_CACHE` (a directory; `off` keeps and reads nothing), else `$XDG_CACHE_HOME/aha/statements`,
else `~/.cache/aha/statements`. The directory is created 0700; it is used only when it is a directory (not a
link) owned by this user and writable by no one else, and an entry only when it is a regular file owned by this
user, writable by no one else, under `MAX_BYTES`, whose JSON holds the very key and version asked for: these are
statements run against the user's data, so nothing another user can write is read, and a corrupt, foreign or
stale entry is ignored (never run). Entries are written to a temporary file and renamed into place (a reader sees
a whole entry or none), named by the SHA-256 of their key and version, and at most `KEPT` are kept: the least
recently used go first.

What a key holds is the caller's (aha.analyses.compiled): everything the statements depend on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path

SWITCH = "AHA_STATEMENT_CACHE"  # environment: the directory, or "off"
KEPT = 256  # entries at most (a cold build is ~2 entries, a report's reads ~10 per definitions and options)
MAX_BYTES = 8 << 20  # an entry larger than this is not read


def folder() -> Path | None:
    """The cache directory, created 0700 if missing; None when off or not safe to use (see the module's note)."""
    value = os.environ.get(SWITCH, "")
    if value.lower() == "off":
        return None
    if value:
        path = Path(value)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "aha" / "statements"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    return path if stat.S_ISDIR(info.st_mode) and _private(info) else None


def _private(info: os.stat_result) -> bool:
    owner = getattr(os, "getuid", lambda: info.st_uid)()
    return info.st_uid == owner and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _entry(where: Path, key: list[str], version: str) -> Path:
    digest = hashlib.sha256(json.dumps([version, key]).encode()).hexdigest()
    return where / f"{digest}.json"


def load(key: list[str], version: str) -> list[str] | None:
    """The statements kept under (`key`, `version`), or None (none kept, off, unsafe, corrupt or foreign)."""
    where = folder()
    if where is None:
        return None
    path = _entry(where, key, version)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not _private(info) or info.st_size > MAX_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            body = json.loads(f.read())
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if not isinstance(body, dict) or body.get("version") != version or body.get("key") != key:
        return None
    statements = body.get("statements")
    if not isinstance(statements, list) or not all(isinstance(s, str) for s in statements):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept longest
    return statements


def save(key: list[str], version: str, statements: list[str]) -> None:
    """Keep `statements` under (`key`, `version`), atomically; drop the least recently used past `KEPT`. A cache
    that cannot be written is not an error: the statements are compiled again next time."""
    where = folder()
    if where is None:
        return
    body = json.dumps({"version": version, "key": key, "statements": statements}).encode()
    if len(body) > MAX_BYTES:
        return
    try:
        fd, temp = tempfile.mkstemp(dir=where, prefix=".entry-", suffix=".tmp")  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.replace(temp, _entry(where, key, version))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _bound(where)
    except OSError:
        return


def _bound(where: Path) -> None:
    entries = []
    for path in where.glob("*.json"):
        with contextlib.suppress(OSError):
            entries.append((path.stat().st_mtime_ns, path))
    if len(entries) <= KEPT:
        return
    entries.sort()
    for _, path in entries[:len(entries) - KEPT]:
        with contextlib.suppress(OSError):
            path.unlink()
