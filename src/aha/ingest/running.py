"""The discovery file `<db>.server.json`: how other `aha` processes find a server that holds the database.

DuckDB lets no other process open a file that a writer holds, not even read-only. So `aha serve` announces itself
next to the database (url, pid, started_at and a local token), and the CLI sends its questions there instead of
opening the file. The file is created with mode 0600: the token in it is as powerful as the database file itself
(only the user who could open the file can read it), which gives local users zero setup.

Liveness is decided by the process and its lock, never by a timeout: the server holds an exclusive `flock` on
`<db>.server.lock` for as long as it runs (the kernel drops it when the process ends, even on SIGKILL). A file is
stale when its pid is not alive or nobody holds the lock (the pid was reused); a stale file is ignored and removed.
A server that is alive but slow (a long analysis, a stopped process) keeps its file: commands wait for its answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LOCAL_TOKEN_PREFIX = "aha_local_"
_held: dict[str, int] = {}  # lock file → the descriptor this process holds it with (a server announcing itself)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    url: str
    pid: int
    started_at: str
    token: str
    db: str


def info_path(db: str | Path) -> Path:
    return Path(f"{db}.server.json")


def lock_path(db: str | Path) -> Path:
    return Path(f"{db}.server.lock")


def hold_lock(db: str | Path) -> bool:
    """Take the server lock of `db` for this process's life (until `release_lock`); False when another holds it."""
    path = str(lock_path(db))
    if path in _held:
        return True
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held[path] = fd
    return True


def release_lock(db: str | Path) -> None:
    fd = _held.pop(str(lock_path(db)), None)
    if fd is not None:
        os.close(fd)  # closing drops the flock


def lock_held(db: str | Path) -> bool:
    """Whether some process holds the server lock of `db` (this one included)."""
    if str(lock_path(db)) in _held:
        return True
    try:
        fd = os.open(lock_path(db), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the shared lock if it was granted
    return False


def new_token() -> str:
    return LOCAL_TOKEN_PREFIX + secrets.token_urlsafe(32)


def connect_url(host: str, port: int) -> str:
    """The url a local client uses: a wildcard bind is reached over loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write(db: str | Path, url: str, token: str) -> ServerInfo:
    """Announce this process as the server of `db` (atomically, owner-only), holding its lock (`hold_lock`)."""
    if not hold_lock(db):
        raise RuntimeError(f"{db}: another process holds {lock_path(db)}")
    info = ServerInfo(url=url, pid=os.getpid(), started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                      token=token, db=str(Path(db).resolve()))
    path = info_path(db)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"url": info.url, "pid": info.pid, "started_at": info.started_at, "token": info.token,
                   "db": info.db}, f)
    os.replace(tmp, path)
    return info


def remove(db: str | Path, pid: int | None = None) -> None:
    """Remove the file (only if it is `pid`'s, when given: a newer server may have replaced it)."""
    path = info_path(db)
    if pid is not None:
        current = read(db)
        if current is not None and current.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    if pid == os.getpid():
        release_lock(db)


def read(db: str | Path) -> ServerInfo | None:
    try:
        data = json.loads(info_path(db).read_text(encoding="utf-8"))
        return ServerInfo(url=str(data["url"]), pid=int(data["pid"]), started_at=str(data.get("started_at", "")),
                          token=str(data.get("token", "")), db=str(data.get("db", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return ServerInfo(url="", pid=0, started_at="", token="", db="")  # unreadable or torn: stale


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_live(db: str | Path) -> ServerInfo | None:
    """The running server of `db`, or None; a stale file is removed on the way. No network wait: a server that is
    alive and holds its lock is live however slowly it answers."""
    info = read(db)
    if info is None:
        return None
    if info.pid != os.getpid() and pid_alive(info.pid) and info.url and lock_held(db):
        return info
    remove(db, info.pid if info.pid else None)
    return None
